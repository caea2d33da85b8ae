"""Deterministic lints of one campaign-copy variant against the brand rules and the facts sheet.

Every variant, whoever wrote it, is checked by the same rules (:data:`RULES`), each
finding naming the rule, the field and what is wrong:

* ``length``: a field longer than the brand's limit (characters as written, tokens included);
* ``banned_word`` / ``banned_claim``: a banned word (whole word, any case) or claim (phrase, any case);
* ``legal_text``: the body does not contain the brand's required legal text verbatim;
* ``unknown_token``: a ``{token}`` the brand does not declare (nothing would fill it at send time);
* ``unfilled_token``: a placeholder in another syntax that would reach the customer as written:
  ``{{name}}``, ``[First name]``, ``<<name>>``, ``%NAME%``, ``*|FNAME|*``, a lone brace, ``XXX``, ``TBD``,
  ``TODO``, ``lorem ipsum``;
* ``number_not_in_facts``: a number (digits or a number word) that is neither in the facts sheet
  nor in the brand's legal text: copy may not invent a discount, a count or a price;
* ``all_caps``: a word of four or more capital letters (shouting; shorter acronyms such as UK pass, and so
  do words written in capitals in the facts sheet, e.g. a product name as the catalogue has it);
* ``spammy_punctuation``: ``!!``, ``??``, ``?!``, repeated currency signs, or more exclamation marks
  in one field than the brand allows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from targetwise.assist.brand import TOKEN, BrandRules
from targetwise.assist.facts import FactSheet, numbers_in, unknown_numbers

__all__ = ["FIELDS", "RULES", "LintFinding", "LintResult", "lint_variant"]

FIELDS = ("subject", "preheader", "body")
RULES = ("length", "banned_word", "banned_claim", "legal_text", "unknown_token", "unfilled_token",
         "number_not_in_facts", "all_caps", "spammy_punctuation")
_PLACEHOLDERS = (
    (re.compile(r"\{\{[^{}]*\}\}"), "a double-brace placeholder"),
    (re.compile(r"\[[^\]\n]{1,40}\]"), "a bracketed placeholder"),
    (re.compile(r"<<[^<>\n]*>>"), "an angle-bracket placeholder"),
    (re.compile(r"%[A-Za-z_]{2,}%"), "a percent-sign placeholder"),
    (re.compile(r"\*\|[A-Za-z_]+\|\*"), "a merge tag of another system"),
    (re.compile(r"\b(?:XXX+|TBD|TODO)\b|lorem ipsum", re.IGNORECASE), "a placeholder word"),
)
_CAPS = re.compile(r"(?<![\w{])[A-Z]{4,}(?![\w}])")
_SPAM = re.compile(r"!{2,}|\?{2,}|\?!|!\?|([$£€¥])\1+")


@dataclass(frozen=True)
class LintFinding:
    """One broken rule: ``rule`` (one of :data:`RULES`), the ``field`` it is in, and what is wrong."""

    rule: str
    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class LintResult:
    """The lints of one variant: ``passed`` when no rule is broken."""

    findings: tuple[LintFinding, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return not self.findings

    @property
    def rules_broken(self) -> list[str]:
        return sorted({f.rule for f in self.findings}, key=RULES.index)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "rules_broken": self.rules_broken,
                "findings": [f.to_dict() for f in self.findings]}


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _word_pattern(phrase: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in phrase.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def _without_legal(text: str, legal: str) -> str:
    """``text`` with the brand's legal text taken out (its numbers and capitals are the brand's own)."""
    if not legal:
        return text
    return re.sub(r"\s+".join(re.escape(w) for w in legal.split()), " ", text)


def _field_findings(name: str, text: str, brand: BrandRules, allowed: set[Decimal],
                    named: set[str]) -> list[LintFinding]:
    found: list[LintFinding] = []
    limit = brand.max_chars(name)
    if len(text) > limit:
        found.append(LintFinding("length", name, f"{name} has {len(text)} characters, more than {limit}"))
    own = _without_legal(text, brand.legal_text) if name == "body" else text
    for word in brand.banned_words:
        if _word_pattern(word).search(own):
            found.append(LintFinding("banned_word", name, f"{name} uses the banned word {word!r}"))
    for claim in brand.banned_claims:
        if _norm(claim) in _norm(own):
            found.append(LintFinding("banned_claim", name, f"{name} makes the banned claim {claim!r}"))
    unknown = sorted({t for t in TOKEN.findall(text) if t not in brand.tokens})
    if unknown:
        declared = ", ".join("{" + t + "}" for t in brand.tokens) or "none"
        found.append(LintFinding("unknown_token", name, f"{name} uses {', '.join('{' + t + '}' for t in unknown)}, "
                                 f"which the brand does not declare (declared tokens: {declared})"))
    placeholders: list[str] = []
    rest = own
    for pattern, what in _PLACEHOLDERS:  # before the tokens: {{first_name}} holds {first_name}
        placeholders += [f"{what} {m.group(0)!r}" for m in pattern.finditer(rest)]
        rest = pattern.sub(" ", rest)
    rest = TOKEN.sub(" ", rest)
    if "{" in rest or "}" in rest:
        placeholders.append("a lone brace (a token written as {name} with both braces)")
    if placeholders:
        found.append(LintFinding("unfilled_token", name, f"{name} has {'; '.join(placeholders)}: it would be sent "
                                 "as written"))
    invented = unknown_numbers(TOKEN.sub(" ", own), allowed)
    if invented:
        found.append(LintFinding("number_not_in_facts", name, f"{name} states {', '.join(invented)}, not in the facts "
                                 "sheet or the brief"))
    shouted = sorted(set(_CAPS.findall(rest)) - named)
    if shouted:
        found.append(LintFinding("all_caps", name, f"{name} has words in capitals: {', '.join(shouted)}"))
    spam = sorted({m.group(0) for m in _SPAM.finditer(own)})
    marks = own.count("!")
    if spam or marks > brand.max_exclamation_marks:
        parts = [f"{' '.join(repr(s) for s in spam)}"] if spam else []
        if marks > brand.max_exclamation_marks:
            parts.append(f"{marks} exclamation marks (the brand allows {brand.max_exclamation_marks})")
        found.append(LintFinding("spammy_punctuation", name, f"{name} has {'; '.join(parts)}"))
    return found


def lint_variant(variant: Mapping[str, str], *, brand: BrandRules, facts: FactSheet) -> LintResult:
    """The findings of every rule over the variant's subject, preheader and body (in :data:`FIELDS` order)."""
    allowed = facts.numbers() | {value for _, value in numbers_in(brand.legal_text)}
    named = {w for f in facts.facts for w in _CAPS.findall(f.text)}  # a catalogue name in capitals is not shouting
    findings: list[LintFinding] = []
    for name in FIELDS:
        findings += _field_findings(name, str(variant.get(name, "")), brand, allowed, named)
    if brand.legal_text and _norm(brand.legal_text) not in _norm(str(variant.get("body", ""))):
        findings.append(LintFinding("legal_text", "body", "body does not contain the required legal text verbatim"))
    return LintResult(tuple(findings))
