"""The scrubber: what a prompt to a model endpoint may not contain, checked before it is sent.

Data minimisation is enforced here, not hoped for: every request that
:class:`targetwise.assist.client.LLMClient` sends passes :meth:`Scrubber.check`
first, which refuses (:class:`~targetwise.errors.PromptRefusedError`, nothing is
sent) a text holding

* anything shaped like an e-mail address;
* anything shaped like a phone number (an international ``+`` number, or a run of
  digits and separators with 9 to 15 digits);
* any customer id, e-mail or phone number present in the workspace, as a whole
  token (``C0042`` refuses ``"... C0042 ..."`` but not ``"C00421"``; phone numbers
  compare on their digits).

The refusal names the kind of value and where it starts, never the value itself,
so the error message does not repeat the personal data it is refusing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from targetwise.errors import PromptRefusedError
from targetwise.io.workspace import Workspace

__all__ = ["Scrubber", "scrubber_for"]

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# an international number, or digit groups joined by single separators (spaces, dots, dashes, brackets)
PHONE = re.compile(
    r"(?<![\w.])(?:\+|00)?\(?\d{1,6}\)?(?:[ .\-/]{1,2}\(?\d{1,8}\)?){1,6}(?!\w|\.\d)"
    r"|(?<![\w.])\+?\d{9,15}(?!\w|\.\d)"
)
# a token: word characters, with inner dots/dashes ("C-001", "12680.5"); a sentence's full stop is not part of it
TOKEN = re.compile(r"\w(?:[\w.\-]*\w)?")
MIN_PHONE_DIGITS = 9
MAX_PHONE_DIGITS = 15
_FIX = (
    "remove personal data and customer ids from the text; an amount or count that equals a customer id can be "
    "written with a thousands separator or a unit (e.g. 15,000 or 15k)"
)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


class Scrubber:
    """Refuses texts holding e-mails, phone numbers or any of ``forbidden`` as a whole token.

    ``forbidden`` is the workspace's customer ids, e-mails and phone numbers
    (:func:`scrubber_for`); a value of 6 digits or more that looks like a phone
    number is also compared on its digits alone.
    """

    def __init__(self, forbidden: Iterable[str]) -> None:
        self.forbidden: set[str] = set()
        self.forbidden_digits: set[str] = set()
        for value in forbidden:
            text = str(value).strip()
            if not text:
                continue
            self.forbidden.add(text)
            self.forbidden.add(text.lower())
            if re.fullmatch(r"[\d\s().+\-/]+", text) and len(_digits(text)) >= 6:
                self.forbidden_digits.add(_digits(text))

    def findings(self, text: str) -> list[tuple[str, int]]:
        """(kind, character offset) of each refused value in ``text``, in order; empty when it may be sent."""
        found: list[tuple[str, int]] = [("an e-mail address", m.start()) for m in EMAIL.finditer(text)]
        for match in PHONE.finditer(text):
            digits = _digits(match.group())
            if MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS or digits in self.forbidden_digits:
                found.append(("a phone number", match.start()))
        for match in TOKEN.finditer(text):
            token = match.group()
            if token in self.forbidden or token.lower() in self.forbidden:
                found.append(("a customer id or contact value from the workspace", match.start()))
        return sorted(found, key=lambda item: item[1])

    def check(self, text: str, *, where: str = "prompt") -> str:
        """``text`` unchanged when it may leave the machine; else :class:`PromptRefusedError` (nothing is sent)."""
        found = self.findings(text)
        if found:
            kind, offset = found[0]
            raise PromptRefusedError(
                f"the {where} was not sent to the model endpoint: it contains {kind} at character {offset + 1}"
                + (f" ({len(found)} such values in all)" if len(found) > 1 else ""),
                fix=_FIX,
                details={"refused": len(found), "kinds": sorted({k for k, _ in found})},
            )
        return text


def scrubber_for(ws: Workspace) -> Scrubber:
    """The scrubber of ``ws``: its customer ids, e-mails and phone numbers (``Workspace.identifying_values``)."""
    ids, emails, phones = ws.identifying_values()
    return Scrubber(ids | emails | phones)
