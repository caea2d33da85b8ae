"""The layering rules of docs/architecture.md, checked on the source itself.

- io is the only code that runs SQL or opens a database connection;
- the CLI never imports the service (its ``serve`` command starts it through
  ``targetwise.service.app.serve``, nothing else);
- run files are named only in ``targetwise.io.outputs``; manifest stage records are
  read only through ``RunInfo.stage(s)``;
- one public namespace per capability; modules stay small.

Each check parses the source (AST), so a comment or docstring that mentions SQL does
not trip it, and a violation names the file and line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "targetwise"
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|DELETE\s+FROM|CREATE\s+(OR\s+REPLACE\s+)?(TEMP\s+)?(TABLE|VIEW)|"
                 r"UPDATE\s+\w+\s+SET|COPY\s+\w+\s+TO|ATTACH\s)", re.IGNORECASE | re.DOTALL)
SQL_CALLS = {"execute", "executemany", "sql", "raw_sql", "read_sql", "read_sql_query"}
RUN_FILE = re.compile(r"^(features|segments|clv|propensity|recommendations|uplift)/[\w{}]+\.(parquet|json|png)$")


def modules(under: Path = SRC) -> list[Path]:
    return sorted(p for p in under.rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(SRC.parent).as_posix()


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def docstrings(module: ast.Module) -> set[int]:
    """ids of the string constants that are docstrings (allowed to mention anything)."""
    ids = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


#: targetwise.schema declares the canonical tables and renders their DDL text; only io executes it
DDL_DECLARATIONS = {"targetwise/schema.py"}


def outside_io() -> list[Path]:
    return [p for p in modules() if not rel(p).startswith("targetwise/io/") and rel(p) not in DDL_DECLARATIONS]


def test_no_sql_outside_io() -> None:
    found = []
    for path in outside_io():
        module = tree(path)
        skip = docstrings(module)
        for node in ast.walk(module):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
                if name in SQL_CALLS:
                    found.append(f"{rel(path)}:{node.lineno} calls .{name}()")
                if name == "connect" and isinstance(node.func.value, ast.Name) and node.func.value.id == "duckdb":
                    found.append(f"{rel(path)}:{node.lineno} opens duckdb")
                if name == "connect" and any(k.arg == "read_only" for k in node.keywords):
                    found.append(f"{rel(path)}:{node.lineno} opens the workspace database")
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                    and SQL.search(node.value)):
                found.append(f"{rel(path)}:{node.lineno} holds SQL {node.value[:40]!r}")
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(n == "duckdb" or n.startswith("duckdb.") for n in names):
                    found.append(f"{rel(path)}:{node.lineno} imports duckdb")
    assert found == [], "SQL and database access belong in targetwise.io:\n" + "\n".join(found)


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """The detectors above fire on a planted violation (so an empty result means something)."""
    planted = ast.parse('con.execute("SELECT customer_id FROM transactions")\nimport duckdb\n')
    calls = [n for n in ast.walk(planted) if isinstance(n, ast.Call) and n.func.attr in SQL_CALLS]  # type: ignore[attr-defined]
    strings = [n for n in ast.walk(planted) if isinstance(n, ast.Constant) and SQL.search(str(n.value))]
    assert len(calls) == 1 and len(strings) == 1
    assert RUN_FILE.match("propensity/importance_{key}.parquet") and not RUN_FILE.match("docs/x.md")


def imports_of(path: Path) -> list[tuple[int, str, list[str]]]:
    out = []
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.lineno, node.module, [a.name for a in node.names]))
    return out


def test_the_cli_never_imports_the_service() -> None:
    found = []
    for path in modules(SRC / "cli"):
        for line, module, names in imports_of(path):
            if module == "targetwise.service" or module.startswith("targetwise.service."):
                allowed = rel(path) == "targetwise/cli/service.py" and module == "targetwise.service.app" and names == ["serve"]
                if not allowed:
                    found.append(f"{rel(path)}:{line} imports {module} {names}")
    assert found == []


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("io", ("targetwise.features", "targetwise.usecases", "targetwise.pipeline", "targetwise.service",
                "targetwise.cli", "targetwise.reports", "targetwise.campaigns")),
        ("features", ("targetwise.usecases", "targetwise.pipeline", "targetwise.service", "targetwise.cli")),
        ("usecases", ("targetwise.pipeline", "targetwise.service", "targetwise.cli", "targetwise.reports")),
        ("assist", ("targetwise.usecases", "targetwise.pipeline", "targetwise.service", "targetwise.cli",
                    "targetwise.reports")),
        ("pipeline", ("targetwise.service", "targetwise.cli")),
        ("service", ("targetwise.cli", "targetwise.pipeline.stages")),
    ],
)
def test_layers_import_only_downwards(layer: str, forbidden: tuple[str, ...]) -> None:
    found = [
        f"{rel(path)}:{line} imports {module}"
        for path in modules(SRC / layer)
        for line, module, _ in imports_of(path)
        if any(module == f or module.startswith(f + ".") for f in forbidden)
    ]
    assert found == []


def test_run_files_are_named_only_in_their_declarations() -> None:
    found = []
    for path in modules():
        if rel(path) == "targetwise/io/outputs.py":
            continue
        module = tree(path)
        skip = docstrings(module)
        for node in ast.walk(module):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                    and RUN_FILE.match(node.value)):
                found.append(f"{rel(path)}:{node.lineno} names {node.value!r}")
            if isinstance(node, ast.JoinedStr):  # f"propensity/importance_{key}.parquet"
                text = "".join(v.value if isinstance(v, ast.Constant) else "{x}" for v in node.values)
                if RUN_FILE.match(text.replace("{x}", "x")):
                    found.append(f"{rel(path)}:{node.lineno} builds a run path {text!r}")
    assert found == [], "use targetwise.io.outputs:\n" + "\n".join(found)


def test_stage_records_are_read_through_run_info() -> None:
    found = []
    for path in modules():
        if rel(path) == "targetwise/io/runs.py":
            continue
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value == "stages":
                found.append(f"{rel(path)}:{node.lineno} reads manifest['stages']")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                    and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == "stages"):
                found.append(f"{rel(path)}:{node.lineno} reads manifest.get('stages')")
    assert found == []


def test_one_public_namespace_per_capability() -> None:
    import importlib

    assert not (SRC / "models").exists()
    for name in ("clv", "segment", "propensity", "recommend", "uplift"):
        package = importlib.import_module(f"targetwise.{name}")
        assert Path(package.__file__).name == "__init__.py", f"targetwise.{name} is not the package itself"
        assert not (SRC / f"{name}.py").exists()


def test_modules_stay_small() -> None:
    big = {rel(p): n for p in modules() if (n := len(p.read_text(encoding="utf-8").splitlines())) > 700}
    assert big == {}
    for split in ("targetwise/io/ingest.py", "targetwise/synthetic.py"):
        assert len((SRC.parent / split).read_text(encoding="utf-8").splitlines()) < 600


def test_errors_live_in_the_one_tree() -> None:
    """Public exceptions are in targetwise.errors (private control-flow ones, e.g. the UI's redirect, may not be)."""
    found = []
    for path in modules():
        if rel(path) == "targetwise/errors.py":
            continue
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_") and any(
                isinstance(b, ast.Name) and (b.id.endswith("Error") or b.id == "Exception") for b in node.bases
            ):
                found.append(f"{rel(path)}:{node.lineno} defines {node.name}")
    assert found == []


def test_one_fitted_check() -> None:
    """Every "not fitted" refusal goes through targetwise._fitted.check_fitted."""
    found = []
    for path in modules():
        if rel(path) == "targetwise/_fitted.py":
            continue
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.Raise) and node.exc is not None:
                call = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(call, ast.Name) and call.id == "NotFittedError":
                    found.append(f"{rel(path)}:{node.lineno} raises NotFittedError itself")
    assert found == []


def test_benchmarks_import_only_what_exists() -> None:
    """Benchmarks are not run by the suite; their imports of targetwise must still resolve."""
    import importlib

    missing = []
    for path in sorted((SRC.parents[1] / "benchmarks").glob("*.py")):
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("targetwise"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if not hasattr(module, alias.name):
                        try:
                            importlib.import_module(f"{node.module}.{alias.name}")
                        except ImportError:
                            missing.append(f"benchmarks/{path.name}:{node.lineno} {node.module}.{alias.name}")
    assert missing == []
