"""Campaign copy over a hand-made run: the facts sheet's known values, the prompt, variants from a local
chat-completions server (recorded answers) with their lints, drafts and approval, and nothing personal sent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from llm_server import LLMServer
from service_fixtures import load_workspace_tables, make_run
from targetwise.config import get_settings
from targetwise.errors import ConfigError, DataValidationError, ModelOutputError, PromptRefusedError
from targetwise.io.audit import AuditLog
from targetwise.io.copy_drafts import CopyStore
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.usecases.audiences import create_audience
from targetwise.usecases.copy import approve_copy, audience_facts, campaign_copy
from targetwise.usecases.runs import active_run

REPO = Path(__file__).resolve().parents[1]
PERSONAL = re.compile(r"\bC[1-4]\b|@|example\.com|7031|555 1212|650")
LEGAL = "You receive this e-mail because you subscribed at hearth-and-home.example. Unsubscribe: {unsubscribe_url}"
GOOD = {"subject": "{first_name}, the garden range is here", "preheader": "Blue plate and Garden gnome, picked for you",
        "body": "Hello {first_name}, our customers' favourites are back: Red mug, Blue plate and Garden gnome. "
                "10% off until Sunday."}
BAD = {"subject": "FREE gifts for {last_name}!!", "preheader": "40% off everything",
       "body": "Cheap prices, the lowest prices anywhere. Unsubscribe [here]."}
GOOD_2 = {**GOOD, "subject": "New in the garden, {first_name}"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A workspace with a run and one audience (C1..C4 in three segments; C4 objected to profiling)."""
    root = tmp_path_factory.mktemp("copy")
    settings = get_settings(workspace=root / "ws", duckdb_threads=1)
    ws = Workspace.init(settings.workspace, settings)
    load_workspace_tables(ws, root)
    RunStore(ws).promote(make_run(ws).run_id)
    audience = create_audience(ws, active_run(ws), name="Garden fans", created_by=None, conditions=[
        {"field": "rfm_segment", "op": "in", "value": ["Champions", "At Risk", "Hibernating"]}])
    return root / "ws", audience.id


def open_ws(path: Path, server: LLMServer | None = None) -> Workspace:
    extra = {} if server is None else {"llm_base_url": server.base_url, "llm_model": "recorded-model"}
    return Workspace.open(path, get_settings(workspace=path, duckdb_threads=1, llm_max_retries=0, **extra))


def test_the_facts_sheet_holds_known_aggregates_and_no_objector(base: tuple[Path, str]) -> None:
    path, audience_id = base
    ws = open_ws(path)
    facts = audience_facts(ws, active_run(ws), audience_id)
    # members C1, C2, C3 (C4 objected): frequencies 12/2/5, spend 1200/80/400, order value 100/40/80,
    # recency 3/200/10, categories home/-/garden, CLV 380/7.5/115 of all 380/7.5/115/0.75 (tertiles 7.5 and 115)
    assert facts.lines() == [
        "- audience: Garden fans",
        "- customers: 3",
        "- RFM segments: Champions 67%, At Risk 33%",
        "- behavioural clusters: Big spenders 67%, Lapsed 33%",
        "- median orders per customer: 5",
        "- median total spend per customer: £400",
        "- median spend per order: £80",
        "- median time since the last order: 10 days",
        "- top categories (share of members): garden 50%, home 50%",
        "- products most recommended to them: Red mug, Blue plate, Garden gnome",  # P1 twice, then P2, P3
        "- median customer lifetime value: £115",
        "- CLV band: middle (the middle third of all customers)",
    ]


def test_without_an_endpoint_it_says_so_and_a_dry_run_shows_facts_and_prompt(base: tuple[Path, str]) -> None:
    path, audience_id = base
    ws = open_ws(path)
    with pytest.raises(ConfigError, match=r"no model endpoint is configured.*--dry-run"):
        campaign_copy(ws, active_run(ws), audience_id=audience_id, brief="the new garden range")
    dry = campaign_copy(ws, active_run(ws), audience_id=audience_id, brief="the new garden range, 10% off",
                        n_variants=2, brand_path=REPO / "examples" / "brand.toml", dry_run=True)
    assert dry.record is None and CopyStore(ws).list() == []
    system, user = (m["content"] for m in dry.messages)
    assert "Write exactly two different variants" in system and "Tone: warm, plain-spoken" in system
    assert "Never use these words: cheap, act now, guarantee, hurry." in system
    assert "The brand's legal footer is added to every body after you write it: do not write one." in system
    assert LEGAL not in system + user  # appended by targetwise, verbatim, after generation
    assert user.startswith("Brief: the new garden range, 10% off\n\nFacts about the audience (audience 'Garden fans'; aggregates of its members):\n- audience: Garden fans")
    assert "\n".join(dry.facts.prompt_lines()) in user
    assert "- median total spend per customer: £400.0" in user and "- customers: 3.0" in user  # no bare integer
    assert not PERSONAL.search(system + user)


def test_variants_from_the_model_are_linted_saved_as_drafts_and_nothing_personal_is_sent(base: tuple[Path, str]) -> None:
    path, audience_id = base
    with LLMServer() as server:
        ws = open_ws(path, server)
        server.reply({"variants": [GOOD, BAD, GOOD_2]})
        outcome = campaign_copy(ws, active_run(ws), audience_id=audience_id, brief="the new garden range, 10% off "
                                "until Sunday", brand_path=REPO / "examples" / "brand.toml", created_by="key-1")
    assert server.protocol_errors == [] and len(server.requests) == 1
    body = server.requests[0]
    assert body["response_format"]["json_schema"]["name"] == "campaign_copy"
    assert body["response_format"]["json_schema"]["schema"]["properties"]["variants"]["minItems"] == 3
    assert not PERSONAL.search(server.sent_text())  # no customer id, e-mail or phone of the workspace
    record = outcome.record
    assert record is not None and CopyStore(ws).get(record["id"]) == record
    assert [v["status"] for v in record["variants"]] == ["draft", "draft", "draft"]
    good, bad, good_2 = record["variants"]
    assert good["lint"] == {"passed": True, "rules_broken": [], "findings": []} and good_2["lint"]["passed"]
    assert bad["lint"]["rules_broken"] == ["banned_word", "banned_claim", "unknown_token",
                                           "unfilled_token", "number_not_in_facts", "all_caps", "spammy_punctuation"]
    assert {"rule": "number_not_in_facts", "field": "preheader",
            "message": "preheader states 40%, not in the facts sheet or the brief"} in bad["lint"]["findings"]
    assert (good["subject"], bad["body"]) == (GOOD["subject"], f"{BAD['body']}\n\n{LEGAL}")  # as written + legal text
    assert record["brief"] == "the new garden range, 10% off until Sunday" and record["model"] == "recorded-model"
    _, entries = AuditLog(ws).query(action="llm_call")
    assert entries[0].details["purpose"] == "campaign copy" and entries[0].details["outcome"] == "ok"

    with pytest.raises(DataValidationError, match=r"variant 2 of .* fails its lints \(banned_word, .*\): not approved"):
        approve_copy(ws, record["id"], variant=2, approved_by="key-2")
    with pytest.raises(DataValidationError, match=r"has no variant 4.*choose one of 1, 2, 3"):
        approve_copy(ws, record["id"], variant=4, approved_by="key-2")
    approved = approve_copy(ws, record["id"], variant=1, approved_by="key-2")
    assert [v["status"] for v in approved["variants"]] == ["approved", "draft", "draft"]
    assert approved["variants"][0]["approved_by"] == "key-2" and approved["variants"][0]["approved_despite"] == []
    forced = approve_copy(ws, record["id"], variant=2, approved_by="key-3", despite_lints=True)
    assert forced["variants"][1]["status"] == "approved"
    assert forced["variants"][1]["approved_despite"] == bad["lint"]["rules_broken"]
    assert json.loads((ws.artifacts / "copy" / f"{record['id']}.json").read_text()) == forced


def test_an_off_schema_answer_is_retried_once_with_the_error_then_refused(base: tuple[Path, str]) -> None:
    path, audience_id = base
    with LLMServer() as server:
        ws = open_ws(path, server)
        server.reply({"variants": [GOOD]}).reply({"variants": [GOOD, GOOD_2]})
        outcome = campaign_copy(ws, active_run(ws), audience_id=audience_id, brief="garden range", n_variants=2)
        assert outcome.record is not None and len(outcome.record["variants"]) == 2
        assert "the answer has 1 variants; exactly 2 were asked for" in server.requests[1]["messages"][-1]["content"]
        server.reply({"variants": [{"subject": "x"}]}).reply("not json at all")
        with pytest.raises(ModelOutputError, match="was invalid twice"):
            campaign_copy(ws, active_run(ws), audience_id=audience_id, brief="garden range", n_variants=2)


def test_a_brief_with_personal_data_is_never_sent(base: tuple[Path, str]) -> None:
    path, audience_id = base
    with LLMServer() as server:
        ws = open_ws(path, server)
        server.reply({"variants": [GOOD]})
        with pytest.raises(PromptRefusedError, match="it contains an e-mail address"):
            campaign_copy(ws, active_run(ws), audience_id=audience_id, brief="like Ann.Lee+shop@GMail.com asked",
                          n_variants=1)
        with pytest.raises(PromptRefusedError, match="a customer id or contact value from the workspace"):
            campaign_copy(ws, active_run(ws), audience_id=audience_id, brief="thank C2 for the review", n_variants=1)
    assert server.requests == []


@pytest.mark.parametrize(("brief", "variants", "message"), [
    ("   ", 3, "the brief is empty"), ("x" * 1001, 3, "the brief has 1001 characters, more than 1000"),
    ("garden", 6, "variants must be 1 to 5, got 6"),
])
def test_bad_requests_are_one_clear_error(base: tuple[Path, str], brief: str, variants: int, message: str) -> None:
    path, audience_id = base
    ws = open_ws(path)
    with pytest.raises(DataValidationError, match=message):
        campaign_copy(ws, active_run(ws), audience_id=audience_id, brief=brief, n_variants=variants, dry_run=True)


def test_the_prompts_pass_the_scrubber_in_a_shop_with_integer_customer_ids(base: tuple[Path, str]) -> None:
    """Ids 1..20000: no number targetwise writes into a copy or summary prompt is a token equal to one."""
    from targetwise.assist.brand import parse_brand_rules
    from targetwise.assist.copy import copy_messages
    from targetwise.assist.explain import _messages
    from targetwise.assist.scrub import Scrubber
    from targetwise.usecases.explain import customer_summary, segment_summary

    path, audience_id = base
    ws = open_ws(path)
    run = active_run(ws)
    scrubber = Scrubber({str(i) for i in range(1, 20_001)})
    brand = parse_brand_rules((REPO / "examples" / "brand.toml").read_text(), source="brand.toml")
    facts = audience_facts(ws, run, audience_id)
    sheets = [facts, segment_summary(ws, run, "Lapsed").facts, customer_summary(ws, run, "C1").facts]
    for message in [*copy_messages(facts, brand, "the garden range", 3), *(m for s in sheets for m in _messages(s))]:
        assert scrubber.findings(message["content"]) == [], message["content"]
    assert "- orders: 12.0 orders" in _messages(sheets[2])[1]["content"]
    assert scrubber.findings("the garden range, 10% off")  # what the marketer types is still checked as typed
