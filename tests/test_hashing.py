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
    hash_address_part,
    hash_identifier,
    hash_identifiers,
    normalise_country,
    normalise_email,
    normalise_name,
    normalise_phone,
    normalise_zip,
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


# -- mailing-address keys of the upload files ------------------------------------------------------
# Google ("Formatting guidelines for uploading hashed data", support.google.com/google-ads/answer/7476159;
# DV360 "Prepare user data"): names lower case, extra spaces removed, hashed; country and zip in plain
# text, as in Google's template rows (``us``, ``94016``, ``WC2H 8LG``). Meta ("Customer File Custom
# Audiences", hashing and normalising): fn/ln lower case, no punctuation; country a lower-case ISO code;
# zip lower case, no spaces or dashes, US zips their first 5 digits; every key hashed.


def test_known_sha256_answers() -> None:
    # a literal digest (not recomputed by the test) of the usual example address
    assert sha256_hex("test@example.com") == "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
    assert hash_identifier(" Test@Example.com ", kind="email", destination=META) == (
        "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
    )
    assert hash_identifier("TEST@example.com", kind="email", destination=GOOGLE) == (
        "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
    )


def test_names_per_destination() -> None:
    assert normalise_name("  Mary   Ann ", GOOGLE) == "mary ann"
    assert normalise_name("O'Brien-Smith", META) == "obriensmith"
    assert normalise_name("  Zo\u00eb ", META) == "zo\u00eb"  # accents kept (UTF-8), as Meta asks
    assert normalise_name("Zoe\u0308", GOOGLE) == "zo\u00eb"  # one Unicode form (NFC), so one hash
    assert hash_address_part("John", kind="first_name", destination=META) == (
        "96d9632f363564cc3032521409cf22a852f2032eec099ed5967c0d000cec607a"
    )
    assert hash_address_part(" SMITH ", kind="last_name", destination=GOOGLE) == (
        "6627835f988e2c5e50533d491163072d3f4f41f5c8b04630150debb3722ca2dd"
    )
    with pytest.raises(DataValidationError, match="no letters"):
        normalise_name(" -. ", META)


def test_country_and_zip_plain_for_google_hashed_for_meta() -> None:
    assert normalise_country(" US ") == "us"
    assert hash_address_part("US", kind="country", destination=GOOGLE) == "us"
    assert hash_address_part("US", kind="country", destination=META) == (
        "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"
    )
    assert normalise_zip(" wc2h  8lg ", GOOGLE) == "WC2H 8LG"
    assert normalise_zip("SW1A 1AA", META, "GB") == "sw1a1aa"
    assert normalise_zip("94016-1234", META, "us") == "94016"
    assert normalise_zip(94016, META, "us") == "94016"
    assert hash_address_part("94016-1234", kind="zip", destination=META, country="US") == (
        "ea49a862bf6e195fe92e0886ed8a89c6565137f3e90c0742d2a00952b307dd55"
    )
    assert hash_address_part("94016", kind="zip", destination=GOOGLE) == "94016"
    with pytest.raises(DataValidationError, match="two-letter country code"):
        normalise_country("United Kingdom")
    with pytest.raises(DataValidationError, match="not a US zip code"):
        normalise_zip("9401", META, "us")
    with pytest.raises(DataValidationError, match="not a postal code"):
        normalise_zip("12#4", GOOGLE)
    with pytest.raises(ConfigError, match="unknown address part"):
        hash_address_part("x", kind="city", destination=META)
