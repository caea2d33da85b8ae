"""Documentation that is generated from code must match the code."""

from __future__ import annotations

from pathlib import Path

from targetwise.config import Settings, settings_markdown
from targetwise.schema import tables_markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands() -> None:
    head = README[:1200]
    assert "make demo" in head and "make test" in head
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert ci.strip().splitlines()[-1] == "make test"


def test_canonical_tables_section_matches_schema() -> None:
    assert tables_markdown() in README


def test_every_setting_is_documented() -> None:
    assert settings_markdown() in README
    for name in Settings.model_fields:
        assert f"TARGETWISE_{name.upper()}" in README


def test_every_run_config_value_is_documented() -> None:
    from targetwise.runconfig import RunConfig, run_config_markdown

    assert run_config_markdown() in README
    for section, field in RunConfig.model_fields.items():
        if section == "random_state":
            continue
        for name in field.default_factory.model_fields:  # type: ignore[union-attr]
            assert f"`{section}.{name}`" in README


def test_architecture_doc_names_every_layer_and_stage() -> None:
    from targetwise.pipeline.stages import STAGES

    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for folder in ("io", "features", "usecases", "pipeline", "service", "cli", "campaigns", "reports"):
        assert f"`targetwise/{folder}/`" in doc, folder
    for name in STAGES:
        assert f"pipeline/stages/{name}.py" in doc, name


def test_feature_reference_matches_code() -> None:
    from targetwise.features import feature_reference_markdown

    doc = (Path(__file__).resolve().parents[1] / "docs" / "features.md").read_text(encoding="utf-8")
    assert feature_reference_markdown() in doc


def test_benchmark_results_summary_is_merged_from_the_per_area_records() -> None:
    import subprocess
    import sys

    script = ROOT / "benchmarks" / "merge_results.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
