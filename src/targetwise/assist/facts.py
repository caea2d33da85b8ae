"""Fact sheets: what targetwise computed about an audience, a segment or a customer, as the words it shows.

A :class:`FactSheet` is the only material a text written for a marketer (a campaign
e-mail, a summary in words) may draw numbers from. Each :class:`Fact` is a label and
its display text (``"median orders": "14"``, ``"share of revenue": "41.0%"``); the
numbers a text may contain are the numbers written in those display texts
(:meth:`FactSheet.numbers`), compared by value (``1,234`` = ``1234`` = ``1234.0``).

:func:`numbers_in` reads the numbers of a text the way a reader would: digit groups
with thousands separators and decimals, not the digits inside a word or a code
(``v2``, ``C0042``, ``{first_name}``), and the number words two to twenty, the tens,
``dozen``, ``hundred``, ``thousand`` and ``million`` (``"one"`` is left out: it is far
more often a pronoun than a count).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["NAMES", "Fact", "FactSheet", "guard_integers", "numbers_in", "unknown_numbers"]

# a number as written: 1,234.5 or 1234 or .5 is not one (a sentence's full stop before digits is rare)
NUMBER = re.compile(r"(?<![\w.])[£$€¥]?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\d])%?")
_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "dozen": 12, "hundred": 100, "thousand": 1000, "million": 1_000_000,
    "twice": 2, "double": 2, "triple": 3, "half": Decimal("0.5"),
}
#: facts that are names as the shop wrote them (products, segments, the audience): sent as they are
NAMES = frozenset({"audience", "name", "rfm_segment", "cluster_name", "products", "recommended_products", "brief"})
# a whole-token integer: the scrubber refuses a token equal to a customer id, so in a shop with integer ids
# ("1" .. "2500") every "5 orders" would be refused; targetwise's own integers are sent as "5.0"
BARE_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\w]|[.,]\d)")
NUMBER_WORD = re.compile(r"\b(" + "|".join(sorted(_WORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def guard_integers(text: str) -> str:
    """``text`` with every number one token with a decimal point ("5 orders" -> "5.0 orders", "1,204" ->
    "1204.0": the scrubber reads "1,204" as the tokens 1 and 204; "7.5" stays): what targetwise computed may
    go to a model even in a shop whose customer ids are integers."""
    return BARE_NUMBER.sub(lambda m: m.group(1).replace(",", "") + (m.group(2) or ".0"), text)


def numbers_in(text: str) -> list[tuple[str, Decimal]]:
    """(as written, value) of every number in ``text``, in order of appearance."""
    found: list[tuple[int, str, Decimal]] = []
    for match in NUMBER.finditer(text):
        whole, decimals = match.group(1).replace(",", ""), match.group(2)
        value = Decimal(f"{whole}.{decimals}" if decimals else whole)
        found.append((match.start(), match.group(0), value))
    for match in NUMBER_WORD.finditer(text):
        found.append((match.start(), match.group(0), Decimal(_WORDS[match.group(1).lower()])))
    return [(raw, value) for _, raw, value in sorted(found, key=lambda item: item[0])]


@dataclass(frozen=True)
class Fact:
    """One computed fact: ``name`` (a stable key), ``label`` (what it is, in words) and ``text`` (its value as shown)."""

    name: str
    label: str
    text: str

    def line(self) -> str:
        return f"- {self.label}: {self.text}"


@dataclass(frozen=True)
class FactSheet:
    """The facts about one subject (``title``: e.g. "RFM segment Champions"), in the order they are shown."""

    title: str
    facts: tuple[Fact, ...] = field(default_factory=tuple)

    def get(self, name: str) -> str | None:
        """The display text of fact ``name`` (None when the sheet lacks it)."""
        return next((f.text for f in self.facts if f.name == name), None)

    def lines(self) -> list[str]:
        return [f.line() for f in self.facts]

    def prompt_lines(self) -> list[str]:
        """The lines as sent to a model: computed integers guarded (:func:`guard_integers`), names as written."""
        return [f.line() if f.name in NAMES else guard_integers(f.line()) for f in self.facts]

    def numbers(self) -> set[Decimal]:
        """Every number written in the facts' labels and texts (by value)."""
        return {value for f in self.facts for _, value in numbers_in(f"{f.label}: {f.text}")}

    def with_facts(self, extra: Iterable[Fact]) -> FactSheet:
        return FactSheet(self.title, (*self.facts, *extra))

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "facts": [{"name": f.name, "label": f.label, "text": f.text} for f in self.facts]}


def unknown_numbers(text: str, allowed: set[Decimal]) -> list[str]:
    """The numbers of ``text`` (as written) whose value is not in ``allowed``, each once, in order."""
    seen: list[str] = []
    for raw, value in numbers_in(text):
        if value not in allowed and raw not in seen:
            seen.append(raw)
    return seen
