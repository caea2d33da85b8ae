"""Identifier normalisation and SHA-256 per ad platform, against published vectors.

Sources of the expected values:
* Meta, "Customer information parameters" (Conversions API): ``John_Smith@gmail.com``
  normalises to ``john_smith@gmail.com`` with SHA-256 ``62a14e44...0f62f``; the US
  number ``(650)555-1212`` normalises to ``16505551212`` with SHA-256 ``e323ec62...3176``.
* Google Ads API (Customer Match / enhanced conversions samples): trim, lowercase,
  drop ``.`` before ``@gmail.com`` / ``@googlemail.com``; phones in E.164, e.g. the
  Google Ads API team's examples ``+12125650000`` and ``+442070313000``. SHA-256 of
  ``test@gmail.com`` is ``87924606...ca674`` (checked with hashlib).
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from targetwise.campaigns.hashing import (
    DESTINATIONS,
    hash_identifier,
    hash_identifiers,
    normalise_email,
    normalise_phone,
    sha256_hex,
)
from targetwise.errors import ConfigError, DataValidationError

GOOGLE = "google_customer_match"
META = "meta"


def test_destinations() -> None:
    assert DESTINATIONS == ("google_customer_match", "meta")


def test_meta_published_email_vector() -> None:
    assert normalise_email("John_Smith@gmail.com", META) == "john_smith@gmail.com"
    assert (
        hash_identifier(" John_Smith@gmail.com ", kind="email", destination=META)
        == "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    )


def test_meta_published_phone_vector() -> None:
    assert normalise_phone("(650)555-1212", META, default_country_code="1") == "16505551212"
    assert (
        hash_identifier("(650)555-1212", kind="phone", destination=META, default_country_code=1)
        == "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
    )


def test_google_email_rules_and_vector() -> None:
    expected = "87924606b4131a8aceeeae8868531fbb9712aaa07a5d3a756b26ce0f5d6ca674"
    assert sha256_hex("test@gmail.com") == expected == hashlib.sha256(b"test@gmail.com").hexdigest()
    for raw in ["test@gmail.com", "  TEST@gmail.com ", "t.e.s.t@gmail.com", "Te.st+promo@Gmail.com"]:
        assert normalise_email(raw, GOOGLE) == "test@gmail.com"
        assert hash_identifier(raw, kind="email", destination=GOOGLE) == expected
    assert normalise_email("Jo.Hn+News@GoogleMail.com", GOOGLE) == "john@googlemail.com"
    # Dots and +suffix are kept for other domains, and Meta never rewrites Gmail addresses.
    assert normalise_email("Jo.Hn+News@Example.co.uk", GOOGLE) == "jo.hn+news@example.co.uk"
    assert normalise_email("t.e.s.t+x@gmail.com", META) == "t.e.s.t+x@gmail.com"


def test_google_phone_e164() -> None:
    assert normalise_phone("+1 212-565-0000", GOOGLE) == "+12125650000"
    assert normalise_phone("+44 (0)20 7031 3000", GOOGLE) == "+442070313000"
    assert normalise_phone("0044 20 7031 3000", GOOGLE) == "+442070313000"
    assert normalise_phone("020 7031 3000", GOOGLE, default_country_code="44") == "+442070313000"
    assert normalise_phone("(650) 555-1212", GOOGLE, default_country_code="+1") == "+16505551212"
    assert hash_identifier(
        "650.555.1212", kind="phone", destination=GOOGLE, default_country_code=1
    ) == sha256_hex("+16505551212")


def test_meta_phone_digits_only_no_leading_zeros() -> None:
    assert normalise_phone("+44 (0)20 7031 3000", META) == "442070313000"
    assert normalise_phone("020 7031 3000", META, default_country_code=44) == "442070313000"
    assert normalise_phone("00 44 20 7031 3000", META) == "442070313000"


def test_italian_numbers_keep_their_leading_zero() -> None:
    # Italian landlines have no trunk prefix: Rome 06 ... is +39 06 ... in E.164.
    assert normalise_phone("06 6982 0000", GOOGLE, default_country_code=39) == "+390669820000"
    assert normalise_phone("+39 06 6982 0000", META) == "390669820000"


@pytest.mark.parametrize(
    "bad", ["john.smith", "a@b", "two@@example.com", "sp ace@example.com", "", "@example.com"]
)
def test_invalid_email_names_value(bad: str) -> None:
    with pytest.raises(DataValidationError, match="not an e-mail address") as caught:
        normalise_email(bad, META)
    assert repr(bad) in str(caught.value)
    assert "Fix:" in str(caught.value)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("555-1212 ext 4", "not a phone number"),
        ("+1 555", "8-15"),
        ("+1234567890123456", "8-15"),
        ("07700 900123", "no country code"),
    ],
)
def test_invalid_phone(bad: str, message: str) -> None:
    with pytest.raises(DataValidationError, match=message):
        normalise_phone(bad, GOOGLE)


def test_unknown_destination_and_bad_country_code() -> None:
    with pytest.raises(ConfigError, match="unknown destination"):
        normalise_email("a@example.com", "tiktok")
    with pytest.raises(ConfigError, match="default_country_code"):
        normalise_phone("07700 900123", META, default_country_code="044")
    with pytest.raises(ConfigError, match="kind"):
        hash_identifier("a@example.com", kind="name", destination=META)  # type: ignore[arg-type]


def test_hash_column_keeps_missing_and_names_bad_row() -> None:
    emails = pd.Series(["Test@Gmail.com", None, "x@example.org"], name="email")
    hashed = hash_identifiers(emails, kind="email", destination=GOOGLE)
    assert hashed.iloc[0] == "87924606b4131a8aceeeae8868531fbb9712aaa07a5d3a756b26ce0f5d6ca674"
    assert hashed.iloc[1] is None
    assert hashed.iloc[2] == sha256_hex("x@example.org")
    with pytest.raises(DataValidationError, match=r"row 2, column 'email', value 'nope'"):
        hash_identifiers(pd.Series(["a@example.com", "nope"], name="email"), kind="email", destination=META)
