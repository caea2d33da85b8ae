"""Campaign-copy lints on hand-written variants: each rule fails on a planted violation and passes a clean one;
brand rules from TOML; numbers as a reader reads them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from targetwise.assist.brand import DEFAULT_BRAND, parse_brand_rules
from targetwise.assist.facts import Fact, FactSheet, numbers_in, unknown_numbers
from targetwise.assist.lints import RULES, lint_variant
from targetwise.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
BRAND = parse_brand_rules(
    """
[brand]
name = "Hearth & Home"
tone = "warm"
[rules]
banned_words = ["cheap", "act now"]
banned_claims = ["lowest prices"]
legal_text = "Hearth & Home Ltd, company 0123 4567. Unsubscribe: {unsubscribe_url}"
tokens = ["first_name", "unsubscribe_url"]
[limits]
subject_max_chars = 40
preheader_max_chars = 60
body_max_chars = 400
max_exclamation_marks = 1
""",
    source="brand.toml",
)
FACTS = FactSheet("audience 'garden fans'", (
    Fact("size", "customers", "1,204"),
    Fact("median_order_value", "median spend per order", "£38"),
    Fact("brief", "brief", "20% off the garden range until Sunday"),
    Fact("products", "recommended products", "REGENCY CAKESTAND 3 TIER, Red mug"),
))
LEGAL = "Hearth & Home Ltd, company 0123 4567. Unsubscribe: {unsubscribe_url}"
CLEAN = {
    "subject": "{first_name}, your garden is calling",
    "preheader": "20% off the garden range until Sunday",
    "body": "Hello {first_name}, the new garden range is here, with 20% off until Sunday. "
            "Orders average £38 with us. See you soon! " + LEGAL,
}


def rules_of(variant: dict[str, str]) -> list[str]:
    return lint_variant(variant, brand=BRAND, facts=FACTS).rules_broken


def test_a_clean_variant_passes_every_rule() -> None:
    result = lint_variant(CLEAN, brand=BRAND, facts=FACTS)
    assert result.passed, result.findings
    assert result.to_dict() == {"passed": True, "rules_broken": [], "findings": []}


@pytest.mark.parametrize(
    ("rule", "field", "text", "message"),
    [
        ("length", "subject", "{first_name}, your garden is calling for you now", "subject has 48 characters, more than 40"),
        ("banned_word", "body", "Cheap plants for {first_name}. " + LEGAL, "body uses the banned word 'cheap'"),
        ("banned_word", "preheader", "Act   now on the garden range", "preheader uses the banned word 'act now'"),
        ("banned_claim", "body", "The lowest prices in town. " + LEGAL, "body makes the banned claim 'lowest prices'"),
        ("unknown_token", "subject", "{last_name}, your garden is calling", "subject uses {last_name}, which the brand"),
        ("unfilled_token", "subject", "[First name], your garden is calling", "a bracketed placeholder '[First name]'"),
        ("unfilled_token", "preheader", "Hi {{first_name}}, the garden range", "a double-brace placeholder"),
        ("unfilled_token", "preheader", "Hi *|FNAME|*, the garden range", "a merge tag of another system"),
        ("unfilled_token", "preheader", "Hi {first_name, the garden range", "a lone brace"),
        ("unfilled_token", "body", "Offer ends XXX. " + LEGAL, "a placeholder word 'XXX'"),
        ("number_not_in_facts", "preheader", "30% off the garden range", "preheader states 30%, not in the facts sheet or the brief"),
        ("number_not_in_facts", "body", "Join 5,000 happy gardeners. " + LEGAL, "body states 5,000"),
        ("number_not_in_facts", "subject", "Four days of garden deals", "subject states Four"),
        ("all_caps", "subject", "{first_name}, the garden SALE", "subject has words in capitals: SALE"),
        ("spammy_punctuation", "subject", "Your garden awaits!!", "subject has '!!'"),
        ("spammy_punctuation", "preheader", "Ready? Set? Grow! Now!", "preheader has 2 exclamation marks (the brand allows 1)"),
        ("spammy_punctuation", "preheader", "Save £££ on the garden range", "preheader has '£££'"),
    ],
)
def test_each_rule_fails_on_its_planted_violation(rule: str, field: str, text: str, message: str) -> None:
    variant = {**CLEAN, field: text}
    result = lint_variant(variant, brand=BRAND, facts=FACTS)
    assert result.rules_broken == [rule]
    [finding] = result.findings
    assert finding.field == field and message in finding.message


def test_the_legal_text_is_required_verbatim_and_its_own_numbers_and_capitals_are_allowed() -> None:
    without = {**CLEAN, "body": "Hello {first_name}, the new garden range is here."}
    result = lint_variant(without, brand=BRAND, facts=FACTS)
    assert result.rules_broken == ["legal_text"]
    assert result.findings[0].message == "body does not contain the required legal text verbatim"
    # the legal text's company number is not "a number not in the facts"; re-wrapped whitespace still matches
    rewrapped = {**CLEAN, "body": CLEAN["body"].replace("company 0123 4567.", "company 0123\n4567.")}
    assert lint_variant(rewrapped, brand=BRAND, facts=FACTS).passed


def test_a_product_name_in_capitals_as_the_facts_have_it_is_not_shouting() -> None:
    named = {**CLEAN, "preheader": "The REGENCY CAKESTAND is back"}
    assert lint_variant(named, brand=BRAND, facts=FACTS).passed
    shouted = {**CLEAN, "preheader": "The REGENCY CAKESTAND is BACK"}
    assert lint_variant(shouted, brand=BRAND, facts=FACTS).findings[0].message == "preheader has words in capitals: BACK"


def test_every_rule_is_planted_at_least_once() -> None:
    planted = {r for r, *_ in test_each_rule_fails_on_its_planted_violation.pytestmark[0].args[1]} | {"legal_text"}
    assert planted == set(RULES)


def test_a_variant_breaking_several_rules_lists_each_with_its_field() -> None:
    bad = {"subject": "FREE!! {last_name}", "preheader": "40% off", "body": "Cheap. " + LEGAL}
    result = lint_variant(bad, brand=BRAND, facts=FACTS)
    assert [(f.rule, f.field) for f in result.findings] == [
        ("unknown_token", "subject"), ("all_caps", "subject"), ("spammy_punctuation", "subject"),
        ("number_not_in_facts", "preheader"), ("banned_word", "body"),
    ]
    assert result.rules_broken == ["banned_word", "unknown_token", "number_not_in_facts", "all_caps",
                                   "spammy_punctuation"]


def test_numbers_are_read_as_a_reader_reads_them() -> None:
    text = "C0042 and v2 are codes; £1,234.50 is money, 7.5% a share, twelve a count and {first_name} a token."
    assert numbers_in(text) == [("£1,234.50", Decimal("1234.50")), ("7.5%", Decimal("7.5")), ("twelve", Decimal(12))]
    assert unknown_numbers("1234.5 and 1,234.50 and 1234", {Decimal("1234.5")}) == ["1234"]


def test_brand_rules_from_the_example_file_and_the_defaults() -> None:
    example = parse_brand_rules((REPO / "examples" / "brand.toml").read_text(), source="examples/brand.toml")
    assert example.name == "Hearth & Home" and "unsubscribe_url" in example.tokens
    assert example.subject_max_chars == 60 and "cheap" in example.banned_words
    assert "{unsubscribe_url}" in example.legal_text
    assert DEFAULT_BRAND.tokens == ("first_name",) and DEFAULT_BRAND.legal_text == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[brand]\nname = 'x'\ncolour = 'red'", r"brand rules b\.toml: brand\.colour is not a brand rule"),
        ("[style]\ntone = 'x'", r"\[style\] is not a section of brand rules"),
        ("[limits]\nsubject_max_chars = 0", r"limits\.subject_max_chars must be a whole number of 1 or more"),
        ("[rules]\nbanned_words = 'cheap'", r"rules\.banned_words must be a list of non-empty texts"),
        ("[rules]\ntokens = ['First Name']", r"rules\.tokens holds a token name that is not lower_snake_case"),
        ("[rules]\nlegal_text = 'Unsubscribe: {link}'", r"rules\.legal_text uses tokens not in rules\.tokens: link"),
        ("[rules\n", r"brand rules b\.toml are not valid TOML"),
    ],
)
def test_a_bad_brand_file_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_brand_rules(text, source="b.toml")
