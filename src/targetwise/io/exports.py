"""Write result tables to files atomically (temp file, then rename): CSV or Parquet by extension.

Every CSV the project writes goes through :func:`write_csv` (or
:func:`csv_bytes`), which applies :func:`csv_safe_frame` first: a text
cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
read by spreadsheet programs as a formula (CSV formula injection), so it gets a
leading single quote, OWASP's rule. ``=HYPERLINK("x")`` is written
``'=HYPERLINK("x")``. Numeric columns are left alone (``-3.5`` in a float
column is a number, and readers must still parse it as one); Parquet keeps the
values as they are, since no spreadsheet evaluates it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO, Any

import pandas as pd

from targetwise.errors import ConfigError, WorkspaceError

__all__ = ["FORMULA_PREFIXES", "csv_bytes", "csv_safe_frame", "escape_csv_cell", "write_csv", "write_table"]

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def escape_csv_cell(value: Any) -> Any:
    """``value`` with a ``'`` in front if it is text a spreadsheet would run as a formula; anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names cannot start a formula in a spreadsheet.

    Only text columns (object, string and categorical dtypes) are touched, cell by
    cell with :func:`escape_csv_cell`; numeric, boolean and date columns keep
    their dtype and values. Idempotent: an escaped cell starts with ``'``.

    >>> csv_safe_frame(pd.DataFrame({"customer_id": ["=1+1", "C2"], "clv": [-3.5, 2.0]})).to_dict("list")
    {'customer_id': ["'=1+1", 'C2'], 'clv': [-3.5, 2.0]}
    """
    safe = frame.copy()
    for position, dtype in enumerate(frame.dtypes):
        if isinstance(dtype, pd.CategoricalDtype):
            column = frame.iloc[:, position].astype(object)
        elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            column = frame.iloc[:, position]
        else:
            continue
        # map() keeps missing values missing (NaN / None / NA are not str)
        safe.isetitem(position, column.map(escape_csv_cell))
    safe.columns = [escape_csv_cell(name) for name in frame.columns]
    return safe


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as UTF-8 CSV (header, no index), escaped by :func:`csv_safe_frame`: what the API sends."""
    buffer = io.BytesIO()
    write_csv(frame, buffer)
    return buffer.getvalue()


def write_csv(frame: pd.DataFrame, target: str | os.PathLike[str] | IO[bytes], *, compression: str | None = None) -> None:
    """Write ``frame`` as CSV (header, no index) escaped by :func:`csv_safe_frame`: the one CSV writer.

    ``compression`` is pandas' (``"gzip"`` for ``.csv.gz``). A cell holding a
    carriage return must be quoted, or readers split the row there.

    Python's csv writer quotes only the characters of its line terminator, so a
    frame with such a cell is written with CRLF line ends (RFC 4180's own, which
    every reader takes); any other frame keeps plain LF ends.
    """
    safe = csv_safe_frame(frame)
    text = [safe.iloc[:, i] for i, dtype in enumerate(safe.dtypes) if not pd.api.types.is_numeric_dtype(dtype)]
    has_cr = any("\r" in str(name) for name in safe.columns) or any(
        column.map(lambda v: isinstance(v, str) and "\r" in v).any() for column in text
    )
    safe.to_csv(target, index=False, compression=compression, lineterminator="\r\n" if has_cr else "\n")


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` to ``path`` (.csv, .csv.gz or .parquet) via a temp file and a rename; CSV is escaped."""
    target = Path(path)
    suffix = "".join(target.suffixes[-2:]).lower() if target.suffix.lower() == ".gz" else target.suffix.lower()
    if suffix not in (".csv", ".parquet", ".csv.gz"):
        raise ConfigError(f"cannot write {target.name}: unknown format", fix="name the file .csv, .csv.gz or .parquet")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        if suffix == ".parquet":
            frame.to_parquet(partial, index=False)
        else:
            write_csv(frame, partial, compression="gzip" if suffix.endswith(".gz") else None)
        partial.replace(target)
    except OSError as exc:
        raise WorkspaceError(f"cannot write {target}: {exc.strerror}", fix="check free space and permissions") from None
    return target
