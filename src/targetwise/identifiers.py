"""Normalise and SHA-256-hash customer identifiers for ad-platform audience uploads.

Each destination matches on the SHA-256 of *its own* normal form, so one
wrong character loses the match silently. The rules, per destination:

``google_customer_match`` (Google Ads Customer Match; Google Ads API samples
``normalize_and_hash_email_address`` and the "Formatting guidelines for
uploading hashed data" help page):

* email: trim, lowercase; for ``gmail.com`` / ``googlemail.com`` drop every
  ``.`` and any ``+suffix`` from the part before ``@``;
* phone: E.164 with the leading ``+`` (``+16505551212``).

``meta`` (Meta Conversions API / Custom Audiences, "Customer information
parameters": ``John_Smith@gmail.com`` -> ``john_smith@gmail.com`` ->
``62a14e44...``; US ``(650)555-1212`` -> ``16505551212`` -> ``e323ec62...``):

* email: trim, lowercase (no Gmail-specific rewriting);
* phone: digits only, country code included, no ``+``, no leading zeros.

Hashes are lowercase hex SHA-256 of the UTF-8 normal form. Phone numbers
given without ``+`` or ``00`` are read as national numbers: their leading
trunk zeros are dropped (except for Italy, San Marino and the Vatican, whose
numbers keep the leading 0 after the country code) and
``default_country_code`` is prefixed; without a default they are rejected
rather than guessed.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

import pandas as pd

from targetwise.errors import ConfigError, DataValidationError, Location

__all__ = [
    "DESTINATIONS",
    "IdentifierKind",
    "hash_identifier",
    "hash_identifiers",
    "normalise_email",
    "normalise_phone",
    "sha256_hex",
]

DESTINATIONS: tuple[str, ...] = ("google_customer_match", "meta")
IdentifierKind = Literal["email", "phone"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_PHONE_SYMBOLS = re.compile(r"[\s\-.()/]")
_COUNTRY_CODE = re.compile(r"^[1-9][0-9]{0,2}$")
# Countries whose national significant number keeps its leading 0 (no trunk prefix).
_KEEP_LEADING_ZERO = frozenset({"39", "378", "379"})


def _check_destination(destination: str) -> None:
    if destination not in DESTINATIONS:
        raise ConfigError(
            f"unknown destination {destination!r}; expected one of {list(DESTINATIONS)}",
            fix="pass destination='google_customer_match' or 'meta'",
        )


def sha256_hex(text: str) -> str:
    """Lowercase hex SHA-256 of ``text`` encoded as UTF-8 (64 characters)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalise_email(value: str, destination: str) -> str:
    """The destination's normal form of an e-mail address.

    >>> normalise_email("  Jo.Hn+News@GoogleMail.com ", "google_customer_match")
    'john@googlemail.com'
    >>> normalise_email("  Jo.Hn+News@GoogleMail.com ", "meta")
    'jo.hn+news@googlemail.com'
    """
    _check_destination(destination)
    if not isinstance(value, str):
        raise DataValidationError(
            f"e-mail must be text, got {type(value).__name__}",
            location=Location(value=value),
            fix="drop missing e-mails before hashing",
        )
    email = value.strip().lower()
    if not _EMAIL.match(email):
        raise DataValidationError(
            f"not an e-mail address: {value!r} (expected one '@' and a dotted domain, no spaces)",
            location=Location(value=value),
            fix="correct or drop this address before exporting",
        )
    local, domain = email.split("@")
    if destination == "google_customer_match" and domain in _GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        if not local:
            raise DataValidationError(
                f"Gmail address {value!r} has an empty name once dots and '+suffix' are removed",
                location=Location(value=value),
                fix="correct or drop this address",
            )
    return f"{local}@{domain}"


def normalise_phone(value: str | int, destination: str, default_country_code: str | int | None = None) -> str:
    """The destination's normal form of a phone number.

    ``+``/``00`` prefixes mark an international number; anything else is a
    national number, needing ``default_country_code`` (e.g. ``"44"`` or ``1``).

    >>> normalise_phone("(650) 555-1212", "google_customer_match", default_country_code=1)
    '+16505551212'
    >>> normalise_phone("+44 (0)20 7031 3000", "meta")
    '442070313000'
    """
    _check_destination(destination)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataValidationError(
            f"phone must be text, got {type(value).__name__}",
            location=Location(value=value),
            fix="drop missing phone numbers before hashing",
        )
    text = str(value).strip()
    compact = _PHONE_SYMBOLS.sub("", text.replace("(0)", ""))
    international = compact.startswith("+") or compact.startswith("00")
    digits = compact[1:] if compact.startswith("+") else compact[2:] if compact.startswith("00") else compact
    if not digits.isdigit() or not digits.isascii():
        raise DataValidationError(
            f"not a phone number: {value!r} (only digits, spaces, '+', '-', '.', '/', '()' are allowed)",
            location=Location(value=value),
            fix="remove extensions and letters, or drop this number",
        )
    if not international:
        if default_country_code is None:
            raise DataValidationError(
                f"phone {value!r} has no country code ('+' or '00' prefix)",
                location=Location(value=value),
                fix="store numbers in international form (+44...) or pass default_country_code=",
            )
        code = str(default_country_code).lstrip("+")
        if not _COUNTRY_CODE.match(code):
            raise ConfigError(
                f"default_country_code must be 1-3 digits not starting with 0, got {default_country_code!r}",
                fix="pass e.g. default_country_code='44'",
            )
        digits = code + (digits if code in _KEEP_LEADING_ZERO else digits.lstrip("0"))
    digits = digits.lstrip("0")
    if not 8 <= len(digits) <= 15:
        raise DataValidationError(
            f"phone {value!r} gives {len(digits)} digits with country code; E.164 numbers have 8-15",
            location=Location(value=value),
            fix="check the number and its country code",
        )
    return f"+{digits}" if destination == "google_customer_match" else digits


def hash_identifier(
    value: str | int,
    *,
    kind: IdentifierKind,
    destination: str,
    default_country_code: str | int | None = None,
) -> str:
    """SHA-256 hex of the destination's normal form of one e-mail or phone number."""
    if kind == "email":
        return sha256_hex(normalise_email(str(value) if isinstance(value, int) else value, destination))
    if kind == "phone":
        return sha256_hex(normalise_phone(value, destination, default_country_code))
    raise ConfigError(
        f"kind must be 'email' or 'phone', got {kind!r}", fix="pass kind='email' or kind='phone'"
    )


def hash_identifiers(
    values: pd.Series,
    *,
    kind: IdentifierKind,
    destination: str,
    default_country_code: str | int | None = None,
) -> pd.Series:
    """Hash a column; missing values stay missing, the first invalid value raises naming its row.

    The row in the error is 1-based position in ``values``.
    """
    hashed: list[str | None] = []
    for row, value in enumerate(values.tolist(), start=1):
        if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
            hashed.append(None)
            continue
        try:
            hashed.append(
                hash_identifier(
                    value, kind=kind, destination=destination, default_country_code=default_country_code
                )
            )
        except DataValidationError as error:
            raise DataValidationError(
                error.message,
                fix=error.fix,
                location=Location(
                    row=row, column=str(values.name) if values.name is not None else None, value=value
                ),
            ) from None
    return pd.Series(hashed, index=values.index, name=values.name, dtype=object)
