"""Request and response models of the API: ``XPublic`` out, ``XCreate``/``XRequest`` in.

Internals (frames, run folders, key hashes) never leave the service except
through these models, so the OpenAPI document describes exactly what clients get.

Request models say what validation does: a value the service would refuse as
null, empty or blank (an empty quantity, a null filter value, an audience name
without a letter or digit) is refused here, at the edge, with a 422 naming the
field, and the OpenAPI schema declares it (``minLength``, ``pattern``, no
``null``). Booleans are not numbers (strict types). What remains for a 422 from
deeper down is a rule no schema can state: a filter field the served run does
not have, a date that does not parse.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, StringConstraints

Scalar = str | int | float | bool | None
#: Text holding at least one non-blank character (blank values are refused as missing).
NonBlank = Annotated[StrictStr, StringConstraints(min_length=1, pattern=r"\S")]
FilterScalar = StrictStr | StrictInt | StrictFloat


class ErrorBody(BaseModel):
    code: str
    message: str
    fix: str | None = None
    location: dict[str, Any] | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorPublic(BaseModel):
    """The one error shape of every non-2xx answer."""

    error: ErrorBody


class HealthPublic(BaseModel):
    status: Literal["ok"]
    version: str
    active_run: str | None


class RunScoped(BaseModel):
    run_id: str
    as_of: str | None


class SegmentOfCustomer(BaseModel):
    rfm_score: Scalar = None
    rfm_segment: str | None = None
    cluster: int | None = None
    cluster_name: str | None = None
    reason: str | None = None


class ClvOfCustomer(BaseModel):
    p_alive: float | None = None
    expected_purchases: float | None = None
    expected_spend: float | None = None
    clv: float | None = None
    clv_lower: float | None = None
    clv_upper: float | None = None
    horizon: Scalar = None
    time_unit: str | None = None


class Driver(BaseModel):
    feature: str
    value: Scalar = None
    contribution: float | None = None
    text: str | None = None


class PropensityOfCustomer(BaseModel):
    p_purchase_30d: float | None = None
    p_churn_90d: float | None = None
    drivers: list[Driver] = Field(default_factory=list, description="Top drivers of p_purchase_30d, strongest first.")
    expected_days_to_next_order: float | None = Field(
        default=None,
        description="Restricted mean E[min(T, H)] of the days T to the next order over the task's horizon H "
        "(90 in the standard run): H means no order expected within the horizon.",
    )


class FactPublic(BaseModel):
    name: str
    label: str
    text: str = Field(description="The value as shown (the numbers a summary may contain are these).")


class SummaryPublic(BaseModel):
    """A summary in words, written from the run's facts only (the same text on the API, the UI and the CLI)."""

    text: str
    engine: Literal["template", "llm"] = Field(
        description="'template': the embedded template; 'llm': the model's rephrasing, which passed the number check.")
    check: str | None = Field(description="'passed', or why the template text is shown; null when no model was asked.")
    facts: list[FactPublic]


class SendTimeOfCustomer(BaseModel):
    """When and where to reach the customer (stage ``sendtime``; docs/engage.md)."""

    best_weekday: int = Field(description="0 = Monday ... 6 = Sunday, shop time.")
    best_weekday_name: str
    best_hour: int = Field(description="0-23, shop time (the setting business_timezone).")
    best_channel: str
    confidence: float = Field(description="Posterior probability that the recommended hour band is the customer's best.")
    source: Literal["personal", "segment", "global"] = Field(description="The level carrying most of the estimate's weight.")
    summary: str


class CustomerPublic(RunScoped):
    """Everything the served run knows about one customer; a section is null when its stage did not run."""

    customer_id: str
    features: dict[str, Scalar] | None
    segment: SegmentOfCustomer | None
    clv: ClvOfCustomer | None
    propensity: PropensityOfCustomer | None
    send_time: SendTimeOfCustomer | None = Field(default=None, description="Best send time and channel (null without engagements).")
    unavailable: dict[str, str] = Field(description="Section -> why it is null (stage did not run, or customer not scored).")
    summary: SummaryPublic | None = Field(default=None, description="The customer in words (segment, behaviour, CLV "
                                          "with interval, purchase chance and why, recommendations).")


class RecommendationItem(BaseModel):
    rank: int
    product_id: str
    name: str | None
    score: float | None
    reason: str | None


class RecommendationsPublic(RunScoped):
    customer_id: str
    source: Literal["personal", "popular"]
    items: list[RecommendationItem]


class SimilarItem(BaseModel):
    rank: int
    product_id: str
    name: str | None
    score: float | None


class SimilarPublic(RunScoped):
    product_id: str
    items: list[SimilarItem]


class SegmentProfile(BaseModel):
    """A behavioural cluster (``kind`` 'cluster') or an RFM segment (``kind`` 'rfm', ``cluster`` null).

    ``features``: per key feature its segment ``mean`` and ``median`` and ``vs_overall``, the segment
    median divided by the median of all customers (1.0: typical; null when that median is 0)."""

    model_config = ConfigDict(extra="allow")

    name: str
    kind: Literal["cluster", "rfm"] = "cluster"
    cluster: int | None = None
    size: int
    share: float | None = None
    revenue_share: float | None = None
    description: str | None = None
    features: dict[str, dict[str, float | None]] = Field(default_factory=dict)


class RfmCell(BaseModel):
    r: int = Field(description="Recency score (5: bought most recently).")
    fm: int = Field(description="Frequency-monetary score: mean of the F and M scores, rounded half up.")
    count: int
    segment: str | None = Field(description="The RFM segment of the cell's customers (the most common one).")


class RfmGridPublic(BaseModel):
    """Customers per recency score (rows, best first) and frequency-monetary score (columns)."""

    recency: list[int]
    fm: list[int]
    cells: list[list[RfmCell]]
    total: int
    unscored: int = Field(description="Customers without a three-digit RFM score (left out of the grid).")


class SegmentMove(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_segment: str = Field(alias="from", serialization_alias="from")
    to_segment: str = Field(alias="to", serialization_alias="to")
    count: int


class SegmentMovesPublic(BaseModel):
    """From -> to counts of customers' segments, previous run -> this run (customers in both)."""

    by: Literal["rfm", "cluster"]
    previous_run_id: str | None = Field(description="Null when there is no earlier run with segments.")
    previous_as_of: str | None
    compared: int = Field(description="Customers in both runs.")
    stayed: int = Field(description="Of them, those who kept their segment.")
    joined: int = Field(description="Customers new in this run.")
    left: int = Field(description="Customers of the previous run no longer in this one.")
    moves: list[SegmentMove] = Field(description="Largest first; empty when there is no previous run.")
    explanation: str


class SegmentsPublic(RunScoped):
    segments: list[SegmentProfile] = Field(description="The behavioural clusters.")
    rfm_segments: list[SegmentProfile] = Field(default_factory=list, description="The RFM segments, Champions first.")
    rfm_grid: RfmGridPublic | None = None
    moves: list[SegmentMovesPublic] = Field(
        default_factory=list, description="Moves between RFM segments and between clusters since the previous run."
    )


class SegmentMember(BaseModel):
    customer_id: str
    rfm_segment: str | None
    cluster: int | None
    reason: str | None


class MembersPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[SegmentMember]


class SegmentPublic(RunScoped):
    profile: SegmentProfile
    members: MembersPage
    summary: SummaryPublic | None = Field(default=None, description="The segment in words (size, shares, what sets it "
                                          "apart, CLV of its members, recommended products).")


class ConditionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(min_length=1, max_length=120, examples=["clv"])
    op: Literal["==", "!=", ">", ">=", "<", "<=", "in"]
    value: FilterScalar | Annotated[list[FilterScalar], Field(min_length=1, max_length=1000)] = Field(
        examples=[100],
        description="A number or text; for 'in' a list of 1 to 1,000 of them. Never null: a missing value "
        "matches no condition.",
    )


class AudienceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=80,
        pattern="[A-Za-z0-9]",
        examples=["high value at risk"],
        description="Needs at least one letter or digit (the audience id is made of them).",
    )
    conditions: list[ConditionIn] = Field(default_factory=list, max_length=50)


class AudiencePreview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conditions: list[ConditionIn] = Field(default_factory=list, max_length=50)


class AudienceSizePublic(RunScoped):
    size: int
    excluded: dict[str, int]


class AudiencePublic(BaseModel):
    id: str
    name: str
    version: int
    size: int
    run_id: str
    definition: list[dict[str, Any]]
    excluded: dict[str, int]
    created_at: str
    created_by: str | None
    source: dict[str, Any] | None = Field(
        default=None, description="Where the members came from when not from conditions alone: {kind: ids, file, "
        "listed, ...} for an id file, {kind: lookalike, seed, size, method, expected_similarity, ...} for a lookalike.")


class AudienceList(BaseModel):
    audiences: list[AudiencePublic]


class PlanRequest(BaseModel):
    """A campaign to plan over the served run's customers."""

    model_config = ConfigDict(extra="forbid")

    score: str = Field(
        default="uplift",
        min_length=1,
        max_length=120,
        description="'uplift' (every uplift_<arm> column of the run: one arm each) or one uplift_<arm> column: "
        "a plan for incremental profit (404 with how to get one when the run has no uplift model). Any other "
        "numeric column is a response probability (e.g. p_purchase_30d): a ranking of expected responders "
        "(kind 'responders') within budget/max_contacts, with no incremental or profit claim.",
    )
    contact_cost: float = Field(ge=0, le=1e9, description="Cost per contact (currency).")
    value_per_conversion: float | Literal["clv"] | None = Field(
        default=None,
        description="Incremental plans (required there): margin per incremental conversion (currency), or 'clv' "
        "for each customer's CLV times `margin` (never below 0). Not used by a response score.",
    )
    margin: float = Field(default=1.0, ge=0, le=1, description="With value_per_conversion 'clv': the share of CLV that is profit.")
    budget: float | None = Field(default=None, ge=0, le=1e15, description="Maximum total contact cost.")
    max_contacts: int | None = Field(default=None, ge=0, le=100_000_000, description="Maximum number of contacts.")
    holdout_fraction: float = Field(default=0.1, ge=0, le=0.9)
    audience_id: str | None = Field(default=None, min_length=1, max_length=60, description="Plan only over this audience.")
    channel: Literal["email", "sms", "ads"] = Field(
        default="email", description="The channel the campaign uses: customers who opted out of it are left out."
    )
    random_state: int = Field(default=0, ge=0, le=2**32 - 1)
    discount_rate: float = Field(
        default=0.0, ge=0, lt=1,
        description="Score 'value_uplift' only: the share of a contacted customer's expected revenue the offer gives "
        "away, added to their contact cost (a discount's cost scales with the basket).",
    )


class CurvePoint(BaseModel):
    depth: int
    contact_fraction: float
    cost: float
    incremental_conversions: float | None = Field(description="Conversion-uplift plans; null for value-uplift plans.")
    incremental_margin: float | None = Field(
        default=None, description="Value-uplift plans: cumulative expected incremental margin (currency).")
    profit: float
    feasible: bool


class ResponderPoint(BaseModel):
    depth: int
    contact_fraction: float
    cost: float
    expected_responders: float
    feasible: bool


class PlanPublic(RunScoped):
    """A plan for incremental profit (``kind`` 'incremental') or a ranking of expected responders
    (``kind`` 'responders': the incremental and profit fields are null, ``profit_curve`` is empty)."""

    kind: Literal["incremental", "responders"]
    score: str
    arms: list[str]
    customers_considered: int
    excluded_opt_out: int = Field(description="Left out by consent: objected to profiling or opted out of the channel.")
    chosen_depth: int
    n_contacted: int
    n_holdout: int
    total_cost: float
    expected_responders: float | None = Field(
        default=None,
        description="Responders only: the sum of the contacted customers' response probabilities; customers "
        "expected to respond, not caused by the campaign.",
    )
    outcome: Literal["conversions", "margin"] | None = Field(
        default=None,
        description="Incremental plans: 'conversions' (score 'uplift': conversion uplift x value per conversion) or "
        "'margin' (score 'value_uplift': incremental revenue x margin; no conversions are predicted).",
    )
    expected_incremental_conversions: float | None = None
    incremental_conversions_interval: tuple[float, float] | None = None
    expected_incremental_margin: float | None = Field(
        default=None, description="Incremental plans: expected incremental margin of the contacted customers (currency).")
    incremental_margin_interval: tuple[float, float] | None = None
    expected_profit: float | None = None
    profit_interval: tuple[float, float] | None = None
    interval_method: str | None = None
    confidence: float | None = None
    by_reason: dict[str, int]
    notes: list[str] = Field(default_factory=list, description="What the figures mean (always said for a response score).")
    profit_curve: list[CurvePoint] = Field(description="Incremental plans: at most 101 points along the contact depth.")
    responder_curve: list[ResponderPoint] = Field(
        default_factory=list, description="Responder rankings: at most 101 points along the contact depth."
    )


class EffectInterval(BaseModel):
    effect: float
    ci_low: float
    ci_high: float


class ReadoutRow(BaseModel):
    """One arm x segment x metric of a campaign readout."""

    arm: str
    segment: str = Field(description="'all' or a segment of the active run.")
    metric: Literal["conversion_rate", "revenue_per_customer"] = Field(
        description="conversion_rate: incremental conversion rate (a share, 0.01 = 1 point); revenue_per_customer: "
        "incremental revenue per exposed customer (currency)."
    )
    label: str
    n_treated: int
    n_control: int
    unadjusted: EffectInterval
    cuped: EffectInterval = Field(description="Adjusted on the pre-period covariate (CUPED), Welch interval.")
    variance_reduction: float = Field(description="Share of the effect's sampling variance CUPED removed.")


class CampaignReadoutPublic(BaseModel):
    """`targetwise campaign report ID --json`, the same object."""

    campaign_id: str
    confidence: float
    covariate: str
    pre_period_days: int
    method: str
    results: list[ReadoutRow]
    skipped_segments: list[str]


class PowerRequest(BaseModel):
    """A holdout test to size (two-sided two-proportion z-test)."""

    model_config = ConfigDict(extra="forbid")

    baseline_rate: float = Field(gt=0, lt=1, description="Expected conversion rate of the holdout.")
    mde: float = Field(gt=0, lt=1, description="Minimum detectable effect, absolute (0.01 = one percentage point).")
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Two-sided significance level.")
    power: float = Field(default=0.8, gt=0, lt=1)
    cuped_r2: float | None = Field(
        default=None, ge=0, lt=1, description="Share of the outcome's variance a pre-period covariate explains.")
    cuped_from_campaign: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="Take the CUPED variance reduction from this earlier campaign's readout.")


class PowerPublic(BaseModel):
    """`targetwise campaign power ... --json`, the same object."""

    baseline_rate: float
    mde: float
    target_rate: float
    alpha: float
    power: float
    cuped_r2: float
    n_per_arm: int = Field(description="Customers in each of treated and holdout (with CUPED when cuped_r2 > 0).")
    n_per_arm_unadjusted: int
    n_total: int
    test: str


class EventIn(BaseModel):
    """One transaction line; values are validated exactly like `targetwise ingest transactions`."""

    model_config = ConfigDict(extra="forbid")

    customer_id: StrictStr | StrictInt | None = Field(default=None, description="Null or empty: an anonymous line.")
    order_id: NonBlank | StrictInt
    ordered_at: Annotated[NonBlank, Field(max_length=64, examples=["2011-12-09 12:50:00"])]
    product_id: NonBlank | StrictInt
    quantity: StrictInt | StrictFloat | NonBlank
    unit_price: StrictFloat | StrictInt | NonBlank
    channel: str | None = None
    store: str | None = None
    currency: str | None = None


class EventsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transactions: list[EventIn] = Field(min_length=1, max_length=10_000)


class IngestPublic(BaseModel):
    load_id: int
    table: str
    source: str
    rows_read: int
    rows_loaded: int
    rows_updated: int
    rows_anonymous: int
    rows_quarantined: int
    reasons: dict[str, int]
    return_lines: int
    returns_linked: int
    non_product_lines: int
    already_loaded: bool
    warnings: list[str]


class RunPublic(BaseModel):
    run_id: str
    as_of: str | None
    created_at: str
    active: bool
    stages: dict[str, str]


class RunsPublic(BaseModel):
    active: str | None
    runs: list[RunPublic]


class AuditEntryPublic(BaseModel):
    at: str
    key_id: str | None
    action: str
    method: str
    route: str
    status: int
    subject: str | None
    details: dict[str, Any]


class AuditPublic(BaseModel):
    total: int
    limit: int
    offset: int
    entries: list[AuditEntryPublic]


class ConsentCreate(BaseModel):
    """One consent decision; appended to the ledger (the newest decision per purpose wins)."""

    model_config = ConfigDict(extra="forbid")

    customer_id: Annotated[NonBlank, Field(max_length=200)]
    purpose: Literal["profiling", "email", "sms", "ads"]
    status: Literal["granted", "denied", "revoked"]
    source: str = Field(default="api", min_length=1, max_length=200, examples=["web form"])


class ConsentDecision(BaseModel):
    purpose: str
    status: str
    recorded_at: str | None
    source: str | None


class ConsentPublic(BaseModel):
    """Current status per purpose ('granted' when nothing is recorded) and every recorded decision."""

    customer_id: str
    status: dict[str, str]
    history: list[ConsentDecision]


class ErasurePublic(BaseModel):
    """What an erasure removed; the customer appears only as a pseudonym."""

    subject: str
    erased_at: str
    rows_removed: int
    tables: dict[str, int]
    files: dict[str, int]
    deleted_files: list[str]
    runs_rewritten: list[str]
    runs_url_complete: bool = Field(True, description="False: copies at the runs URL may still hold the person.")
    runs_url_unpublished: list[str] = Field([], description="Runs at the runs URL not rewritten yet (erase again).")


class CohortRow(BaseModel):
    """One acquisition-month cohort in one month since its first order (definitions: docs/cohorts.md)."""

    cohort_month: str = Field(description="Month of the cohort's first purchase, YYYY-MM (UTC).")
    months_since_first: int = Field(description="Calendar months since the cohort month (0 = the cohort month).")
    customers: int = Field(description="Customers whose first purchase is in cohort_month.")
    active_customers: int = Field(description="Of them, customers with a purchase line in this month.")
    retention: float = Field(description="active_customers / customers.")
    revenue: float = Field(description="Net sales (purchases minus returns) of the cohort in this month, shop currency.")
    cumulative_revenue_per_customer: float = Field(
        description="The cohort's revenue from month 0 to this month, divided by customers."
    )


class CohortsPublic(RunScoped):
    """The served run's cohort table, with the figures its heatmap is summarised by."""

    cohorts: int = Field(description="Acquisition months with at least one customer.")
    customers: int = Field(description="Customers in all cohorts (each customer is in exactly one).")
    retention_month_1: float | None = Field(
        description="Share of customers buying in the month after their first order (cohorts old enough to have it)."
    )
    retention_month_3: float | None = Field(description="The same, three months after the first order.")
    rows: list[CohortRow]


class AudienceDraftRequest(BaseModel):
    """An audience described in words, to be read into conditions (nothing is saved)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=500,
                      examples=["champions and loyal customers who have not ordered in 60 days and are worth over 500"])


class AudienceDraftPublic(RunScoped):
    """Conditions read from the text (the audience condition language), their live size and what was not read."""

    text: str
    conditions: list[dict[str, Any]] = Field(description="As POST /v1/audiences takes them: {field, op, value}.")
    where: list[str] = Field(description="The same conditions as `targetwise audience create --where` strings.")
    size: int = Field(description="Customers meeting every condition now, profiling objections excluded.")
    excluded: dict[str, int]
    explanation: list[str] = Field(description="One sentence per condition, with any default it assumed.")
    unresolved: list[str] = Field(description="Parts of the text that could not be read (never silently dropped).")
    engine: Literal["embedded", "llm"]


class CopyRequest(BaseModel):
    """E-mail copy for a saved audience (``dry_run``: the facts sheet and the prompt only; nothing sent or saved)."""

    model_config = ConfigDict(extra="forbid")

    audience_id: str = Field(min_length=1, max_length=200)
    brief: str = Field(min_length=1, max_length=1000, examples=["the new garden range, 10% off until Sunday"])
    variants: int = Field(default=3, ge=1, le=5)
    dry_run: bool = False


class LintFindingPublic(BaseModel):
    rule: str
    field: str
    message: str


class LintPublic(BaseModel):
    passed: bool
    rules_broken: list[str]
    findings: list[LintFindingPublic]


class CopyVariantPublic(BaseModel):
    variant: int
    subject: str
    preheader: str
    body: str
    lint: LintPublic
    status: Literal["draft", "approved"]
    approved_by: str | None
    approved_at: str | None
    approved_despite: list[str] = Field(description="The lint rules it broke when approved anyway.")


class CopySetPublic(BaseModel):
    id: str
    created_at: str
    created_by: str | None
    audience_id: str
    run_id: str
    brief: str
    brand_source: str
    model: str
    facts: dict[str, Any]
    variants: list[CopyVariantPublic]


class CopyPublic(BaseModel):
    dry_run: bool
    facts: dict[str, Any] = Field(description="The facts sheet the copy is written from (aggregates only).")
    messages: list[dict[str, str]] = Field(description="The prompt: the chat messages sent (or, dry run, that would be).")
    copy_set: CopySetPublic | None = Field(description="The saved drafts (null on a dry run).")


class CopyList(BaseModel):
    copy_sets: list[CopySetPublic]


class CopyApprove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant: int = Field(ge=1, le=5)
    despite_lints: bool = Field(default=False, description="Approve a variant that fails its lints (recorded).")



# the forecast schemas live in their own module (this one is near its size limit)
from targetwise.service.schemas_forecasts import ForecastRow, ForecastSeriesSummary, ForecastsPublic  # noqa: E402, F401
