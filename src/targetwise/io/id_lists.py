"""Customer id lists a marketer brings (a seed for a lookalike, a list from another tool): read, never guessed.

Two shapes are accepted, both UTF-8 text:

* a CSV file with a header that has a ``customer_id`` column (other columns are ignored);
* one id per line, no header (a first line ``customer_id`` is taken as a header).

Blank lines and surrounding spaces are left out and counted; an id listed twice counts once, and the
repeats are counted. Anything else (no ``customer_id`` column in a multi-column file, an empty file,
bytes that are not UTF-8) is refused in one line that names the file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from targetwise.errors import DataValidationError, Location

__all__ = ["MAX_IDS", "IdList", "read_id_list"]

#: most ids one file may hold
MAX_IDS = 1_000_000


@dataclass(frozen=True)
class IdList:
    """The distinct ids of a file, in file order, and what was left out of it (counts)."""

    ids: tuple[str, ...]
    blank: int
    repeated: int
    source: str


def read_id_list(content: bytes, *, source: str) -> IdList:
    """The customer ids of ``content`` (the bytes of the file named ``source``); see the module docstring."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataValidationError(
            f"{source}: byte {exc.start} is not UTF-8 text", location=Location(file=source),
            fix="save the id list as UTF-8 CSV (a customer_id column) or one id per line",
        ) from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise DataValidationError(f"{source} is empty", location=Location(file=source),
                                  fix="give a CSV with a customer_id column, or one id per line")
    header = [cell.strip() for cell in rows[0]]
    if "customer_id" in header:
        column = header.index("customer_id")
        body = rows[1:]
    elif len(header) == 1:
        column, body = 0, rows
    else:
        raise DataValidationError(
            f"{source} has {len(header)} columns ({', '.join(repr(h) for h in header[:5])}) and none is customer_id",
            location=Location(file=source), fix="name the id column customer_id, or give one id per line",
        )
    seen: dict[str, None] = {}
    blank = repeated = 0
    for row in body:
        value = row[column].strip() if len(row) > column else ""
        if not value:
            blank += 1
        elif value in seen:
            repeated += 1
        else:
            seen[value] = None
    if not seen:
        raise DataValidationError(f"{source} lists no customer id", location=Location(file=source),
                                  fix="give a CSV with a customer_id column, or one id per line")
    if len(seen) > MAX_IDS:
        raise DataValidationError(
            f"{source} lists {len(seen):,} ids, more than the {MAX_IDS:,} one audience file may hold",
            location=Location(file=source), fix="split the list, or select the customers with conditions",
        )
    return IdList(tuple(seen), blank, repeated, source)
