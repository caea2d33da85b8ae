"""Brand rules for campaign copy, from a TOML file (``examples/brand.toml``).

The file has three sections; every key is optional (the defaults are below)::

    [brand]
    name = "Hearth & Home"
    tone = "warm, plain-spoken, never pushy"
    language = "en-GB"

    [rules]
    banned_words = ["cheap", "act now"]             # whole words or phrases, any case
    banned_claims = ["lowest prices", "risk-free"]  # phrases the copy may not contain
    legal_text = "You get this e-mail because you subscribed. Unsubscribe: {unsubscribe_url}"
    tokens = ["first_name", "unsubscribe_url"]      # personalisation tokens, filled at send time

    [limits]
    subject_max_chars = 60
    preheader_max_chars = 110
    body_max_chars = 1500
    max_exclamation_marks = 1                        # per field

Personalisation tokens are written ``{first_name}`` in the copy and filled by the
sending system for each recipient; targetwise never fills them and never puts real
values in a prompt. A mistake in the file is one :class:`~targetwise.errors.ConfigError`
naming the file, the key and the value.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass
from typing import Any

from targetwise.errors import ConfigError, Location

__all__ = ["DEFAULT_BRAND", "TOKEN", "BrandRules", "parse_brand_rules"]

TOKEN = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_TOKEN_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_SECTIONS: dict[str, dict[str, type]] = {
    "brand": {"name": str, "tone": str, "language": str},
    "rules": {"banned_words": list, "banned_claims": list, "legal_text": str, "tokens": list},
    "limits": {"subject_max_chars": int, "preheader_max_chars": int, "body_max_chars": int,
               "max_exclamation_marks": int},
}


@dataclass(frozen=True)
class BrandRules:
    """What campaign copy must respect (see the module docstring); ``source`` says where the rules came from."""

    name: str = ""
    tone: str = "clear, friendly and factual"
    language: str = "en"
    banned_words: tuple[str, ...] = ()
    banned_claims: tuple[str, ...] = ()
    legal_text: str = ""
    tokens: tuple[str, ...] = ("first_name",)
    subject_max_chars: int = 60
    preheader_max_chars: int = 110
    body_max_chars: int = 1500
    max_exclamation_marks: int = 1
    source: str = "the default brand rules"

    def max_chars(self, field_name: str) -> int:
        return {"subject": self.subject_max_chars, "preheader": self.preheader_max_chars,
                "body": self.body_max_chars}[field_name]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_BRAND = BrandRules()


def _bad(source: str, key: str, value: Any, why: str, fix: str) -> ConfigError:
    return ConfigError(f"brand rules {source}: {key} {why}", location=Location(file=source, column=key, value=value),
                       fix=fix)


def parse_brand_rules(text: str, *, source: str) -> BrandRules:
    """The rules of a brand TOML text (``source`` names the file in errors)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"brand rules {source} are not valid TOML: {exc}", location=Location(file=source),
                          fix="check the file against examples/brand.toml") from None
    values: dict[str, Any] = {}
    for section, table in raw.items():
        known = _SECTIONS.get(section)
        if known is None or not isinstance(table, dict):
            raise _bad(source, f"[{section}]", None, "is not a section of brand rules",
                       f"use the sections {', '.join(f'[{s}]' for s in _SECTIONS)} (see examples/brand.toml)")
        for key, value in table.items():
            kind = known.get(key)
            where = f"{section}.{key}"
            if kind is None:
                raise _bad(source, where, value, "is not a brand rule", f"[{section}] takes {', '.join(known)}")
            if kind is int:
                if isinstance(value, bool) or not isinstance(value, int) or value < (0 if "exclamation" in key else 1):
                    raise _bad(source, where, value, "must be a whole number"
                               + (" of 0 or more" if "exclamation" in key else " of 1 or more"), f"e.g. {key} = 60")
            elif kind is list:
                if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                    raise _bad(source, where, value, "must be a list of non-empty texts", f'e.g. {key} = ["cheap"]')
                value = tuple(v.strip() for v in value)
            elif not isinstance(value, str):
                raise _bad(source, where, value, "must be a text", f'e.g. {key} = "..."')
            values[key] = value.strip() if isinstance(value, str) else value
    rules = BrandRules(**values, source=source)
    for token in rules.tokens:
        if not _TOKEN_NAME.fullmatch(token):
            raise _bad(source, "rules.tokens", token, "holds a token name that is not lower_snake_case",
                       'write token names like "first_name" (the copy writes them {first_name})')
    undeclared = sorted({t for t in TOKEN.findall(rules.legal_text) if t not in rules.tokens})
    if undeclared:
        raise _bad(source, "rules.legal_text", rules.legal_text, f"uses tokens not in rules.tokens: {', '.join(undeclared)}",
                   f"add {', '.join(repr(t) for t in undeclared)} to rules.tokens")
    if rules.legal_text and len(rules.legal_text) >= rules.body_max_chars:
        raise _bad(source, "rules.legal_text", len(rules.legal_text),
                   f"is {len(rules.legal_text)} characters, not shorter than limits.body_max_chars "
                   f"({rules.body_max_chars})", "raise limits.body_max_chars or shorten the legal text")
    return rules
