"""Campaign copy: the prompt, its JSON schema, and the model's variants checked and linted.

The model sees the brief, the brand rules and an audience's facts sheet (aggregates
only: segment mix, typical behaviour, top categories, recommended products by name,
CLV band; never a customer row, id or contact value; the client's scrubber refuses a
prompt that holds one). It answers ``{"variants": [{"subject", "preheader", "body"}, ...]}``
under a strict JSON schema; the answer is validated (exactly the variants asked
for, no empty field) with one retry, the brand's legal text is appended to each body
verbatim (the model never writes it), then every variant is linted
(:func:`targetwise.assist.lints.lint_variant`) and carries its result. A variant that
breaks a lint is kept and shown with its findings, never silently dropped or fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from targetwise.assist.brand import BrandRules
from targetwise.assist.client import CallRecord, LLMClient, chat_validated
from targetwise.assist.facts import FactSheet, guard_integers
from targetwise.assist.lints import LintResult, lint_variant

__all__ = ["MAX_VARIANTS", "CopyVariant", "copy_messages", "copy_schema", "generate_copy", "lint_all", "parse_copy_answer",
           "with_legal_text"]

MAX_VARIANTS = 5
PURPOSE = "campaign copy"
_COUNTS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


@dataclass(frozen=True)
class CopyVariant:
    """One e-mail variant and its lint result."""

    subject: str
    preheader: str
    body: str
    lint: LintResult

    def texts(self) -> dict[str, str]:
        return {"subject": self.subject, "preheader": self.preheader, "body": self.body}


class _Variant(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    subject: str = Field(min_length=1)
    preheader: str = Field(min_length=1)
    body: str = Field(min_length=1)

    @field_validator("subject", "preheader", "body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    variants: list[_Variant]


def copy_schema(n_variants: int) -> dict[str, Any]:
    """The JSON schema the model answers under (strict: every key required, nothing else)."""
    variant = {
        "type": "object",
        "properties": {"subject": {"type": "string"}, "preheader": {"type": "string"}, "body": {"type": "string"}},
        "required": ["subject", "preheader", "body"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"variants": {"type": "array", "items": variant, "minItems": n_variants,
                                    "maxItems": n_variants}},
        "required": ["variants"],
        "additionalProperties": False,
    }


def copy_messages(facts: FactSheet, brand: BrandRules, brief: str, n_variants: int) -> list[dict[str, str]]:
    """The chat messages of one copy request: the rules as the system message, brief and facts as the user's."""
    tokens = ", ".join("{" + t + "}" for t in brand.tokens) or "none"
    rules = [
        f"You write marketing e-mails{f' for {brand.name}' if brand.name else ''} in {brand.language}. "
        f"Tone: {brand.tone}.",
        f"Write exactly {_COUNTS.get(n_variants, n_variants)} different variants, each with a subject, a preheader "
        "and a body.",
        "Use only the facts and the brief you are given. Do not state any number (a price, a discount, a count, "
        "a date) that is not written in the facts or the brief.",
        f"Personalisation tokens you may use, written exactly like this: {tokens}. They are filled for each "
        "recipient when the e-mail is sent; do not use any other placeholder.",
        f"Limits: subject at most {brand.subject_max_chars} characters, preheader at most "
        f"{brand.preheader_max_chars}, body at most {brand.body_max_chars}. At most "
        f"{brand.max_exclamation_marks} exclamation mark(s) per field; no words in capitals.",
    ]
    if brand.banned_words:
        rules.append("Never use these words: " + ", ".join(brand.banned_words) + ".")
    if brand.banned_claims:
        rules.append("Never make these claims: " + "; ".join(brand.banned_claims) + ".")
    if brand.legal_text:
        rules.append("The brand's legal footer is added to every body after you write it: do not write one.")
    rules.append('Answer with one JSON object: {"variants": [{"subject": ..., "preheader": ..., "body": ...}]}.')
    rules.append("Whole numbers are written here with a trailing .0 (as in 5.0 orders); write them without it.")
    system = guard_integers("\n".join(rules))  # targetwise's own integers, never a bare token equal to an id
    user = "\n".join([f"Brief: {brief}", "", f"Facts about the audience ({facts.title}; aggregates of its members):",
                      *facts.prompt_lines()])
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def parse_copy_answer(answer: dict[str, Any], n_variants: int) -> list[dict[str, str]]:
    """The model's variants as texts; ``ValueError`` (sent back to the model once) when the answer is off-schema."""
    try:
        parsed = _Answer.model_validate(answer)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise ValueError(f"the answer does not follow the schema ({problems})") from None
    if len(parsed.variants) != n_variants:
        raise ValueError(f"the answer has {len(parsed.variants)} variants; exactly {n_variants} were asked for")
    return [v.model_dump() for v in parsed.variants]


def with_legal_text(texts: list[dict[str, str]], brand: BrandRules) -> list[dict[str, str]]:
    """Each body with the brand's legal text appended verbatim (the model is told not to write it)."""
    if not brand.legal_text:
        return texts
    return [{**t, "body": f"{t['body'].rstrip()}\n\n{brand.legal_text}"} for t in texts]


def lint_all(texts: list[dict[str, str]], *, brand: BrandRules, facts: FactSheet) -> list[CopyVariant]:
    return [CopyVariant(**t, lint=lint_variant(t, brand=brand, facts=facts)) for t in texts]


def generate_copy(
    client: LLMClient, *, facts: FactSheet, brand: BrandRules, brief: str, n_variants: int
) -> tuple[list[CopyVariant], list[CallRecord]]:
    """Ask the model for ``n_variants`` variants (one retry on an off-schema answer) and lint each."""
    texts, records = chat_validated(
        client, purpose=PURPOSE, messages=copy_messages(facts, brand, brief, n_variants),
        schema=copy_schema(n_variants), schema_name="campaign_copy",
        validate=lambda answer: parse_copy_answer(answer, n_variants),
    )
    return lint_all(with_legal_text(texts, brand), brand=brand, facts=facts), records
