"""Write result tables to files atomically (temp file, then rename): CSV or Parquet by extension."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from targetwise.errors import ConfigError, WorkspaceError

__all__ = ["write_table"]


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
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
            frame.to_csv(partial, index=False, compression="gzip" if suffix.endswith(".gz") else None)
        partial.replace(target)
    except OSError as exc:
        raise WorkspaceError(f"cannot write {target}: {exc.strerror}", fix="check free space and permissions") from None
    return target
