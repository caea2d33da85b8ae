"""Per-destination identifier normalisation and hashing for ad-platform exports.

E-mail and phone rules live in :mod:`targetwise.identifiers` (a pure module with no
I/O, importable from every layer, including erasure in ``io``) and are re-exported
here. This module adds the mailing-address keys of the upload files: first and
last name, country and postal code.

Sources (the vendors' upload-file guides):

* Google Ads, "Format your customer data file"
  (https://support.google.com/google-ads/answer/7659867) and "Formatting guidelines
  for uploading hashed data" (https://support.google.com/google-ads/answer/7476159):
  names lower case, spaces before, after and in between removed; Google's data
  file template (linked from those pages) writes countries as two-letter codes
  (``us``, ``cn``) and zips as they are (``94016``, ``WC2H 8LG``). Display & Video
  360, "Prepare user data" (https://developers.google.com/display-video/api/guides/
  tasks/upload-customer-match-audience/prepare-data): only first name, last name,
  e-mail and phone are hashed; country and zip are sent in plain text.
* Meta, "How to format a customer list when creating a custom audience"
  (https://www.facebook.com/business/help/2082575038703844) and the Marketing API's
  "Customer File Custom Audiences" hashing and normalising table
  (https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences):
  every key is SHA-256 hashed; ``fn``/``ln`` lower case without punctuation
  (letters in UTF-8), ``country`` a lower-case ISO 3166-1 alpha-2 code, ``zip`` lower
  case without spaces or dashes, US zips their first five digits.
"""

from __future__ import annotations

import re
import unicodedata

from targetwise.errors import ConfigError, DataValidationError, Location
from targetwise.identifiers import *  # noqa: F403
from targetwise.identifiers import __all__ as _identifiers_all
from targetwise.identifiers import _check_destination, normalise_email, normalise_phone, sha256_hex

__all__ = [
    *_identifiers_all,
    "hash_address_part",
    "normalise_contact_email",
    "normalise_country",
    "normalise_e164",
    "normalise_name",
    "normalise_zip",
]

_SPACES = re.compile(r"\s+")
_COUNTRY = re.compile(r"^[a-z]{2}$")
_US_ZIP = re.compile(r"^([0-9]{5})(?:[0-9]{4})?$")


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise DataValidationError(
            f"{what} must be text, got {type(value).__name__}",
            location=Location(value=value),
            fix=f"drop missing {what}s before hashing",
        )
    return unicodedata.normalize("NFC", value)


def normalise_name(value: str, destination: str) -> str:
    """A first or last name in the destination's normal form (before hashing).

    Google: lower case, trimmed, runs of spaces inside made one. Meta: lower case,
    letters only (accents kept, UTF-8; spaces, hyphens, apostrophes and dots dropped).

    >>> normalise_name("  Mary  Ann ", "google_customer_match")
    'mary ann'
    >>> normalise_name("O'Brien-Smith", "meta")
    'obriensmith'
    """
    _check_destination(destination)
    text = _text(value, "name").strip().lower()
    name = _SPACES.sub(" ", text) if destination == "google_customer_match" else "".join(c for c in text if c.isalpha())
    if not name or not any(c.isalpha() for c in name):
        raise DataValidationError(
            f"not a name: {value!r} (no letters)", location=Location(value=value), fix="correct or drop this name"
        )
    return name


def normalise_country(value: str) -> str:
    """A two-letter ISO 3166-1 alpha-2 code, lower case (both destinations): ``" GB "`` -> ``"gb"``."""
    code = _text(value, "country").strip().lower()
    if not _COUNTRY.match(code):
        raise DataValidationError(
            f"not a two-letter country code: {value!r}",
            location=Location(value=value),
            fix="store ISO 3166-1 alpha-2 codes (e.g. GB, DE, US)",
        )
    return code


def normalise_zip(value: str | int, destination: str, country: str | None = None) -> str:
    """A postal code in the destination's normal form.

    Google (sent unhashed): trimmed, inner runs of spaces made one, upper case
    (``wc2h  8lg`` -> ``WC2H 8LG``). Meta (hashed): lower case, no spaces or dashes;
    for ``country`` ``us`` the first five digits (``94016-1234`` -> ``94016``).
    """
    _check_destination(destination)
    text = _text(str(value) if isinstance(value, int) and not isinstance(value, bool) else value, "zip").strip()
    if not text or not text.replace(" ", "").replace("-", "").isalnum():
        raise DataValidationError(
            f"not a postal code: {value!r}", location=Location(value=value), fix="correct or drop this postal code"
        )
    if destination == "google_customer_match":
        return _SPACES.sub(" ", text).upper()
    compact = re.sub(r"[\s-]", "", text).lower()
    if country is not None and country.strip().lower() == "us":
        match = _US_ZIP.match(compact)
        if match is None:
            raise DataValidationError(
                f"not a US zip code: {value!r} (5 digits, or 5+4)", location=Location(value=value),
                fix="correct or drop this zip code",
            )
        return match.group(1)
    return compact


def hash_address_part(value: str | int, *, kind: str, destination: str, country: str | None = None) -> str:
    """A mailing-address key as the destination's file wants it: hashed where the vendor hashes it.

    ``kind`` is ``first_name``, ``last_name``, ``country`` or ``zip``. Google hashes
    names only (country and zip travel in plain text); Meta hashes all four.
    """
    _check_destination(destination)
    if kind in ("first_name", "last_name"):
        if not isinstance(value, str):
            raise DataValidationError(f"{kind} must be text", location=Location(value=value), fix="drop it")
        return sha256_hex(normalise_name(value, destination))
    if kind == "country":
        if not isinstance(value, str):
            raise DataValidationError("country must be text", location=Location(value=value), fix="drop it")
        code = normalise_country(value)
        return code if destination == "google_customer_match" else sha256_hex(code)
    if kind == "zip":
        postal = normalise_zip(value, destination, country)
        return postal if destination == "google_customer_match" else sha256_hex(postal)
    raise ConfigError(f"unknown address part {kind!r}", fix="use first_name, last_name, country or zip")


def normalise_contact_email(value: str) -> str:
    """An e-mail address as the e-mail tools (Klaviyo, HubSpot, Mailchimp) receive it, in plain text.

    Trimmed and lower case, checked like the ad platforms' addresses (one '@', a dotted domain), with
    no Gmail rewriting: these tools store the address to mail it, so ``jo.hn@gmail.com`` stays as is.
    HubSpot and Mailchimp match addresses case-insensitively; sending one form keeps a sync idempotent.
    """
    return normalise_email(value, "meta")  # Meta's rule is exactly trim + lower case + the same check


def normalise_e164(value: str | int, default_country_code: str | int | None = None) -> str:
    """A phone number in E.164 with its ``+`` (``+447911123456``): Klaviyo's ``phone_number`` and
    Google's hashed form; national numbers need ``default_country_code``."""
    return normalise_phone(value, "google_customer_match", default_country_code)
