"""The vendor destination adapters against local servers that check every request like the vendor would.

Each test sends real batches through ``Destination.send`` with a real ``httpx.Client`` to a fake in
``vendor_servers`` (documented paths, headers, bodies, hashes, batch limits; the vendor's answers,
errors and 429s), then checks the vendor's resulting state (who is on the list), the BatchResult
(applied counts, attempts, dead letters) and that no detail carries personal data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from targetwise.config import Settings
from targetwise.destinations import DESTINATIONS, Batch, Member, RetryPolicy
from targetwise.errors import ConfigError
from vendor_servers import GoogleAds, HubSpot, Klaviyo, Mailchimp, MetaAudiences, VendorServer, as_json

# Meta's published examples ("Customer information parameters", Conversions API; the same rules apply to
# Custom Audiences): normal form -> SHA-256.
META_EMAIL = ("John_Smith@gmail.com", "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f")
META_PHONE = ("+1 (650) 555-1212", "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176")
META_FN = ("John", "96d9632f363564cc3032521409cf22a852f2032eec099ed5967c0d000cec607a")
META_LN = ("Smith", "6627835f988e2c5e50533d491163072d3f4f41f5c8b04630150debb3722ca2dd")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def batch(action: str, members: list[Member], version: int = 1) -> Batch:
    return Batch(sync_id="s1", audience_id="a1", audience_name="lapsing VIPs", version=version, action=action,
                 members=tuple(members), idempotency_key=f"s1-v{version}-p0-{action}-00000")


def people(n: int, start: int = 0) -> list[Member]:
    return [Member(customer_id=f"c{i}", email=f"Person{i}@Example.com ", phone=f"+4479111{i:05d}",
                   first_name="Ann", last_name=f"Lee{i}", country="GB", postal_code="SW1A 1AA")
            for i in range(start, start + n)]


@pytest.fixture(scope="module")
def server() -> Iterator[VendorServer]:
    running = VendorServer()
    yield running
    running.close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"G_TOKEN": "ya29.test", "G_DEV": "dev-123", "META_TOKEN": "EAAB-test", "KL_KEY": "pk_test",
                        "HS_TOKEN": "pat-na1-test", "MC_KEY": "0123abcd-us6"}.items():
        monkeypatch.setenv(name, value)


def make(kind: str, options: dict[str, str], waits: list[float] | None = None):
    destination = DESTINATIONS[kind].from_options(options, Settings())
    destination.policy = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)
    destination.sleep = (waits if waits is not None else []).append
    return destination


# --- Google Customer Match --------------------------------------------------------------------------------

def google(server: VendorServer, **extra: str):
    fake = server.install(GoogleAds(customer_id="1234567890", user_list_id="777", token="ya29.test",
                                    developer_token="dev-123", login_customer_id=extra.get("login_customer_id")))
    options = {"customer_id": "123-456-7890", "user_list_id": "777", "token_env": "G_TOKEN",
               "developer_token_env": "G_DEV", "base_url": server.url, **extra}
    return fake, options


def test_google_adds_then_removes_with_google_normal_forms(server, client, tokens) -> None:
    fake, options = google(server, login_customer_id="9998887777")
    waits: list[float] = []
    destination = make("google_customer_match", options, waits)
    gmail = Member(customer_id="g", email="  Jo.Hn+News@GoogleMail.com ", phone="(650) 555-1212",
                   first_name=" Mary  Ann ", last_name="Lee", country="us", postal_code="94016")
    result = destination.send(batch("add", [gmail, *people(3)]), client)
    assert fake.violations == []
    assert (result.status, result.applied, result.attempts) == ("ok", 4, 1)
    # Google's rules by hand: Gmail dots and +suffix dropped; phone national with no default country code is
    # refused (the member still matches by e-mail and address, and the detail counts it)
    assert sha("john@googlemail.com") in fake.members and sha("person0@example.com") in fake.members
    assert "1 phone" in result.detail
    assert [p for _, p in fake.requests] == [
        "/v26/customers/1234567890/offlineUserDataJobs:create", "/v26/customers/1234567890/offlineUserDataJobs/1"
        ":addOperations", "/v26/customers/1234567890/offlineUserDataJobs/1:run"]
    removed = destination.send(batch("remove", people(2), version=2), client)
    assert (removed.status, removed.applied) == ("ok", 2)
    assert fake.members == {sha("john@googlemail.com"), sha("person2@example.com")}
    assert waits == []


def test_google_address_and_phone_are_documented_forms(server, client, tokens) -> None:
    from targetwise.destinations.google_ads import google_user_data

    data = google_user_data(Member(customer_id="x", email="a@b.co", phone="020 7031 3000", first_name=" Mary  Ann ",
                                   last_name="LEE", country="gb", postal_code="wc2h  8lg"), "44")
    assert data == {"userIdentifiers": [
        {"hashedEmail": sha("a@b.co")}, {"hashedPhoneNumber": sha("+442070313000")},
        {"addressInfo": {"hashedFirstName": sha("mary ann"), "hashedLastName": sha("lee"), "countryCode": "GB",
                         "postalCode": "WC2H 8LG"}}]}


def test_google_partial_failure_is_not_counted_as_applied(server, client, tokens) -> None:
    fake, options = google(server)
    fake.refuse_emails = {sha("person1@example.com")}
    result = make("google_customer_match", options).send(batch("add", people(3)), client)
    assert (result.status, result.applied) == ("ok", 2)
    assert "1 operation(s) refused by Google: The SHA256 encoded value is malformed." in result.detail
    assert fake.members == {sha("person0@example.com"), sha("person2@example.com")}


def test_google_rate_limit_then_success_and_a_wrong_list_is_a_dead_letter(server, client, tokens) -> None:
    fake, options = google(server)
    fake.script = [as_json(429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}, {"Retry-After": "7"})]
    waits: list[float] = []
    result = make("google_customer_match", options, waits).send(batch("add", people(2)), client)
    assert (result.status, result.applied, result.attempts) == ("ok", 2, 2)
    assert waits == [7.0] and len(fake.jobs) == 1 and "create job: HTTP 429, then HTTP 200" in result.detail
    wrong = make("google_customer_match", {**options, "user_list_id": "1"}).send(batch("add", people(2)), client)
    assert wrong.status == "dead_letter" and wrong.applied == 0
    assert "Google Ads HTTP 400: INVALID_ARGUMENT The user list does not exist." in wrong.detail
    assert "offlineUserDataJobError=INVALID_USER_LIST_ID" in wrong.detail


# --- Meta Custom Audiences ------------------------------------------------------------------------------

def meta(server: VendorServer):
    fake = server.install(MetaAudiences(audience_id="23851234", token="EAAB-test"))
    return fake, {"audience_id": "23851234", "token_env": "META_TOKEN", "base_url": server.url}


def test_meta_rows_hash_to_metas_published_examples(server, client, tokens) -> None:
    fake, options = meta(server)
    john = Member(customer_id="j", email=META_EMAIL[0], phone=META_PHONE[0], first_name=META_FN[0],
                  last_name=META_LN[0], country="US", postal_code="94016-1234")
    result = make("meta_custom_audiences", options).send(batch("add", [john]), client)
    assert fake.violations == [] and (result.status, result.applied) == ("ok", 1)
    assert fake.rows == [[META_EMAIL[1], META_PHONE[1], META_FN[1], META_LN[1], sha("94016"), sha("us")]]
    assert fake.requests == [("POST", "/v25.0/23851234/users")]


def test_meta_add_then_delete_and_full_batches(server, client, tokens) -> None:
    fake, options = meta(server)
    destination = make("meta_custom_audiences", options)
    assert destination.max_batch_size == MetaAudiences.MAX_USERS
    added = destination.send(batch("add", people(MetaAudiences.MAX_USERS)), client)
    assert fake.violations == [] and (added.status, added.applied) == ("ok", 10_000)
    removed = destination.send(batch("remove", people(4_000)), client)
    assert (removed.status, removed.applied) == ("ok", 4_000)
    assert fake.requests[-1] == ("DELETE", "/v25.0/23851234/users")
    assert len(fake.members) == 6_000 and sha("person9999@example.com") in fake.members


def test_meta_throttling_errors_and_dead_letters(server, client, tokens) -> None:
    fake, options = meta(server)
    fake.script = [as_json(429, {"error": {"code": 17}}, {"Retry-After": "3"}),
                   MetaAudiences.error(400, 80003, "There have been too many calls to this ad-account.")]
    waits: list[float] = []
    result = make("meta_custom_audiences", options, waits).send(batch("add", people(2)), client)
    assert (result.status, result.applied, result.attempts) == ("ok", 2, 3) and len(fake.members) == 2
    assert waits == [3.0, 0.01]  # Retry-After, then the policy's first backoff for Meta's own throttling code
    fake.script = [MetaAudiences.error(400, 80003, "There have been too many calls to this ad-account.")] * 3
    stuck = make("meta_custom_audiences", options).send(batch("add", people(5, start=10)), client)
    assert (stuck.status, stuck.applied, stuck.attempts) == ("dead_letter", 0, 3) and len(fake.members) == 2
    assert "code 80003 There have been too many calls" in stuck.detail
    fake.script = [as_json(503, {"error": {"code": 2}})] * 3
    down = make("meta_custom_audiences", options).send(batch("add", people(1, start=20)), client)
    assert down.status == "dead_letter" and "HTTP 503 x3 (gave up after 3 attempts)" in down.detail
    gone = make("meta_custom_audiences", {**options, "audience_id": "999"}).send(batch("add", people(1)), client)
    assert gone.status == "dead_letter" and "Meta HTTP 400: GraphMethodException code 100 (#100) Unsupported" in gone.detail
    fake.script = [MetaAudiences.error(400, 100, "Invalid entry person0@example.com, phone +44 7911 100000")] * 1
    leaky = make("meta_custom_audiences", options).send(batch("add", people(1)), client)
    assert leaky.status == "dead_letter" and "person0" not in leaky.detail and "7911" not in leaky.detail
    assert "Invalid entry <e-mail>, phone <number>" in leaky.detail


# --- Klaviyo --------------------------------------------------------------------------------------------

def klaviyo(server: VendorServer):
    fake = server.install(Klaviyo(list_id="Y6nRLr", key="pk_test"))
    return fake, {"list_id": "Y6nRLr", "token_env": "KL_KEY", "base_url": server.url, "default_country_code": "44"}


def test_klaviyo_imports_into_the_list_then_removes_by_profile_id(server, client, tokens) -> None:
    fake, options = klaviyo(server)
    destination = make("klaviyo", options)
    national = Member(customer_id="n", email="Nat@Example.com", phone="07911 123456")
    added = destination.send(batch("add", [national, *people(149)]), client)
    assert fake.violations == [] and (added.status, added.applied) == ("ok", 150)
    assert fake.phones["nat@example.com"] == "+447911123456" and len(fake.members) == 150
    removed = destination.send(batch("remove", [*people(120), Member(customer_id="z", email="nobody@x.org")]), client)
    assert fake.violations == [] and (removed.status, removed.applied) == ("ok", 120)
    assert "1 address(es) unknown to Klaviyo" in removed.detail
    # 121 addresses: two look-ups (100 + 21, the page-size maximum), then one DELETE
    assert [m for m, _ in fake.requests[-3:]] == ["GET", "GET", "DELETE"]
    assert fake.members == {fake.profiles["nat@example.com"], *(fake.profiles[f"person{i}@example.com"]
                                                                 for i in range(120, 149))}


def test_klaviyo_rate_limit_and_invalid_list(server, client, tokens) -> None:
    fake, options = klaviyo(server)
    fake.script = [Klaviyo.error(429, "throttled", "Request was throttled.", "Expected available in 2 seconds.")]
    fake.script[0][1]["Retry-After"] = "2"
    waits: list[float] = []
    result = make("klaviyo", options, waits).send(batch("add", people(3)), client)
    assert (result.status, result.applied, result.attempts, waits) == ("ok", 3, 2, [2.0])
    wrong = make("klaviyo", {**options, "list_id": "XXXX"}).send(batch("add", people(3)), client)
    assert wrong.status == "dead_letter" and wrong.applied == 0
    assert "Klaviyo HTTP 400: invalid Invalid input. List does not exist." in wrong.detail


# --- HubSpot --------------------------------------------------------------------------------------------

def hubspot(server: VendorServer):
    fake = server.install(HubSpot(list_id="42", token="pat-na1-test"))
    return fake, {"list_id": "42", "token_env": "HS_TOKEN", "base_url": server.url}


def test_hubspot_upserts_contacts_then_changes_list_membership(server, client, tokens) -> None:
    fake, options = hubspot(server)
    destination = make("hubspot", options)
    assert destination.max_batch_size == HubSpot.MAX_BATCH
    added = destination.send(batch("add", people(100)), client)
    assert fake.violations == [] and (added.status, added.applied) == ("ok", 100) and len(fake.members) == 100
    assert fake.properties[fake.contacts["person7@example.com"]] == {
        "email": "person7@example.com", "firstname": "Ann", "lastname": "Lee7", "phone": "+447911100007"}
    again = destination.send(batch("add", people(100)), client)  # a retry of the same batch: nothing doubles
    assert again.applied == 100 and len(fake.contacts) == 100 and len(fake.members) == 100
    removed = destination.send(batch("remove", [*people(30), Member(customer_id="u", email="who@x.org")]), client)
    assert (removed.status, removed.applied) == ("ok", 30) and len(fake.members) == 70
    assert "who@x.org" not in fake.contacts  # a removal never creates a contact
    assert "1 contact(s) unknown to HubSpot" in removed.detail


def test_hubspot_rate_limit_and_missing_list(server, client, tokens) -> None:
    fake, options = hubspot(server)
    fake.script = [HubSpot.error(429, "RATE_LIMITS", "You have reached your ten_secondly_rolling limit.")]
    waits: list[float] = []
    result = make("hubspot", options, waits).send(batch("add", people(2)), client)
    assert (result.status, result.applied, waits) == ("ok", 2, [0.01])  # no Retry-After: the policy's backoff
    wrong = make("hubspot", {**options, "list_id": "9"}).send(batch("add", people(2)), client)
    assert wrong.status == "dead_letter" and "HubSpot HTTP 404: OBJECT_NOT_FOUND List 9 does not exist." in wrong.detail


# --- Mailchimp ------------------------------------------------------------------------------------------

def mailchimp(server: VendorServer):
    fake = server.install(Mailchimp(list_id="a1b2c3", segment_id="55", key="0123abcd-us6"))
    return fake, {"list_id": "a1b2c3", "segment_id": "55", "token_env": "MC_KEY", "base_url": f"{server.url}/3.0"}


def test_mailchimp_subscribes_new_contacts_tags_and_untags(server, client, tokens) -> None:
    fake, options = mailchimp(server)
    fake.contacts["person0@example.com"] = "unsubscribed"  # an existing contact must stay as it is
    destination = make("mailchimp", options)
    added = destination.send(batch("add", people(500)), client)
    assert fake.violations == [] and (added.status, added.applied) == ("ok", 500)
    assert fake.contacts["person0@example.com"] == "unsubscribed" and fake.contacts["person1@example.com"] == "subscribed"
    assert "499 new contact(s) joined the audience as subscribed" in added.detail and "refused" not in added.detail
    removed = destination.send(batch("remove", [*people(200), Member(customer_id="q", email="q@x.org")]), client)
    assert (removed.status, removed.applied) == ("ok", 200) and len(fake.tagged) == 300
    assert "1 address(es) not untagged" in removed.detail and len(fake.contacts) == 500  # nobody unsubscribed


def test_mailchimp_auth_error_rate_limit_and_datacentre(server, client, tokens, monkeypatch) -> None:
    from targetwise.destinations.mailchimp import mailchimp_host

    fake, options = mailchimp(server)
    fake.script = [Mailchimp.error(429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections.")]
    fake.script[0][1]["Retry-After"] = "1"
    waits: list[float] = []
    assert make("mailchimp", options, waits).send(batch("add", people(2)), client).applied == 2 and waits == [1.0]
    monkeypatch.setenv("MC_KEY", "wrong-us6")
    denied = make("mailchimp", options).send(batch("add", people(2)), client)
    assert denied.status == "dead_letter" and "Mailchimp HTTP 401: API Key Invalid" in denied.detail
    assert mailchimp_host("0123abcd-us21") == "https://us21.api.mailchimp.com/3.0"
    with pytest.raises(ConfigError, match="no data-centre suffix"):
        mailchimp_host("0123abcd")


# --- options, secrets and batch limits (all five) -------------------------------------------------------

MINIMAL = {
    "google_customer_match": {"customer_id": "1234567890", "user_list_id": "7", "token_env": "G_TOKEN",
                              "developer_token_env": "G_DEV"},
    "meta_custom_audiences": {"audience_id": "23851234", "token_env": "META_TOKEN"},
    "klaviyo": {"list_id": "Y6nRLr", "token_env": "KL_KEY"},
    "hubspot": {"list_id": "42", "token_env": "HS_TOKEN"},
    "mailchimp": {"list_id": "a1b2c3", "segment_id": "55", "token_env": "MC_KEY"},
}
DOCUMENTED_LIMIT = {"google_customer_match": 10_000, "meta_custom_audiences": 10_000, "klaviyo": 1000,
                    "hubspot": 100, "mailchimp": 500}
PURPOSE = {"google_customer_match": "ads", "meta_custom_audiences": "ads", "klaviyo": "email", "hubspot": "email",
           "mailchimp": "email"}


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_options_store_env_names_never_secrets(kind: str, tokens, monkeypatch) -> None:
    cls = DESTINATIONS[kind]
    assert (cls.max_batch_size, cls.consent_purpose) == (DOCUMENTED_LIMIT[kind], PURPOSE[kind])
    destination = cls.from_options(MINIMAL[kind], Settings())
    described = destination.describe()
    assert cls.from_options(described, Settings()).describe() == described
    assert not {"ya29.test", "dev-123", "EAAB-test", "pk_test", "pat-na1-test", "0123abcd-us6"} & set(described.values())
    with pytest.raises(ConfigError, match="unknown option"):
        cls.from_options({**MINIMAL[kind], "tokn_env": "X"}, Settings())
    with pytest.raises(ConfigError, match="is not an environment variable name"):
        cls.from_options({**MINIMAL[kind], "token_env": "pk_live secret"}, Settings())
    with pytest.raises(ConfigError, match="plain http to a remote host"):
        cls.from_options({**MINIMAL[kind], "base_url": "http://api.example.com"}, Settings())
    monkeypatch.delenv(MINIMAL[kind]["token_env"])
    with pytest.raises(ConfigError, match=f"environment variable {MINIMAL[kind]['token_env']} .* is not set"):
        destination.send(batch("add", people(1)), httpx.Client())


def test_ids_are_checked_where_they_are_given() -> None:
    with pytest.raises(ConfigError, match="option 'customer_id' must be digits, got '123-abc'"):
        DESTINATIONS["google_customer_match"].from_options(
            {**MINIMAL["google_customer_match"], "customer_id": "123-abc"}, Settings())
    with pytest.raises(ConfigError, match="needs the option 'segment_id'"):
        DESTINATIONS["mailchimp"].from_options({"list_id": "a1", "token_env": "MC_KEY"}, Settings())
    with pytest.raises(ConfigError, match="default_country_code must be 1-3 digits"):
        DESTINATIONS["klaviyo"].from_options({**MINIMAL["klaviyo"], "default_country_code": "044"}, Settings())


def test_members_without_a_usable_email_are_counted_not_sent(server, client, tokens) -> None:
    fake, options = hubspot(server)
    members = [*people(2), Member(customer_id="n"), Member(customer_id="b", email="not-an-address")]
    result = make("hubspot", options).send(batch("add", members), client)
    assert (result.status, result.applied) == ("ok", 2) and len(fake.contacts) == 2
    assert "2 member(s) without a usable e-mail skipped" in result.detail and "not-an-address" not in result.detail


def test_contact_normal_forms_and_redaction() -> None:
    from targetwise.campaigns.hashing import normalise_contact_email, normalise_e164
    from targetwise.destinations._vendor import redact
    from targetwise.errors import DataValidationError

    assert normalise_contact_email("  Jo.Hn+News@GMail.com ") == "jo.hn+news@gmail.com"  # no Gmail rewriting
    assert normalise_e164("020 7031 3000", 44) == "+442070313000"
    assert normalise_e164("+1 (650) 555-1212") == "+16505551212"
    with pytest.raises(DataValidationError, match="not an e-mail address: 'a@b'"):
        normalise_contact_email("a@b")
    with pytest.raises(DataValidationError, match="has no country code"):
        normalise_e164("07911 123456")
    assert redact("bad row ann@x.org +44 7911 123456 hash " + "ab" * 32) == "bad row <e-mail> <number> hash <hash>"
    assert redact("x" * 300).endswith("...") and len(redact("x" * 300)) == 160


# --- end to end: `targetwise sync add ... --destination meta_custom_audiences` then `sync run` ------------

def _write_run(ws, frequency: dict[str, int]) -> str:
    import pandas as pd

    from targetwise.io import outputs as out
    from targetwise.io.runs import RunStore

    writer = RunStore(ws).begin(as_of="2024-01-01", parameters={})
    with writer.stage("features"):
        writer.write_table(out.FEATURES, pd.DataFrame({"customer_id": list(frequency),
                                                       "frequency": list(frequency.values())}))
    return writer.commit().run_id


def _ingest(ws, table: str, frame) -> None:
    from targetwise.io.ingest import ingest_arrow
    from targetwise.io.readers import source_from_frame

    ingest_arrow(ws, table, source_from_frame(frame, name=table))


@pytest.mark.slow  # 9 s here: the CLI, two runs, ingest
def test_cli_sync_sends_the_full_list_then_only_the_delta_to_meta(workspace, server, monkeypatch) -> None:
    import pandas as pd
    from typer.testing import CliRunner

    from targetwise.cli.app import app
    from targetwise.io.runs import RunStore
    from targetwise.usecases.audiences import create_audience
    from targetwise.usecases.live_audiences import promote_and_refresh
    from targetwise.usecases.runs import active_run

    run1 = {f"C{i:02d}": i % 10 for i in range(30)}  # frequency >= 5: C05-C09, C15-C19, C25-C29
    run2 = {f"C{i:02d}": (i + 3) % 10 for i in range(30)}  # >= 5: C02-C06, C12-C16, C22-C26
    _ingest(workspace, "customer_pii", pd.DataFrame({
        "customer_id": list(run1), "email": [f" {c}@Shop.example " for c in run1], "phone": None}))
    RunStore(workspace).promote(_write_run(workspace, run1))
    create_audience(workspace, active_run(workspace), name="Frequent buyers",
                    conditions=[{"field": "frequency", "op": ">=", "value": 5}], created_by=None)
    fake = server.install(MetaAudiences(audience_id="23851234", token="EAAB-e2e"))
    monkeypatch.setenv("META_E2E_TOKEN", "EAAB-e2e")
    runner = CliRunner()
    where = ["--workspace", str(workspace.path)]
    added = runner.invoke(app, ["sync", "add", "frequent-buyers", "--destination", "meta_custom_audiences",
                                "--option", "audience_id=23851234", "--option", "token_env=META_E2E_TOKEN",
                                "--option", f"base_url={server.url}", *where])
    assert added.exit_code == 0, added.output
    assert "EAAB-e2e" not in added.output and "token_env=META_E2E_TOKEN" in added.output

    def hashed(ids: set[str]) -> set[str]:
        return {sha(f"{c.lower()}@shop.example") for c in ids}

    first = runner.invoke(app, ["sync", "run", "--all", *where])
    assert first.exit_code == 0, first.output
    members1 = {c for c, f in run1.items() if f >= 5}
    assert fake.violations == [] and fake.requests == [("POST", "/v25.0/23851234/users")]
    assert fake.received_per_request == [15] and fake.members == hashed(members1)

    # between the runs C12 denies ads (Meta's purpose): it must not be sent although it joins the audience
    _ingest(workspace, "consent", pd.DataFrame({"customer_id": ["C12"], "purpose": ["ads"], "status": ["denied"],
                                                "recorded_at": ["2023-12-01"]}))
    promote_and_refresh(workspace, _write_run(workspace, run2))
    second = runner.invoke(app, ["sync", "run", "--all", *where])
    assert second.exit_code == 0, second.output
    target = {c for c, f in run2.items() if f >= 5} - {"C12"}
    assert fake.requests[1:] == [("DELETE", "/v25.0/23851234/users"), ("POST", "/v25.0/23851234/users")]
    assert fake.received_per_request[1:] == [len(members1 - target), len(target - members1)]  # only the delta
    assert fake.members == hashed(target)
    again = runner.invoke(app, ["sync", "run", "--all", *where])  # nothing changed: nothing is sent
    assert again.exit_code == 0 and len(fake.requests) == 3
