"""Ingest: the SQL that parses one source column into its canonical kind (ids, numbers, timestamps,
booleans, JSON), read by DuckDB over the source view ``src``; a value that does not parse is NULL
(the checks of :mod:`._ingest_stage` then name the reason)."""

from __future__ import annotations

import pyarrow as pa

from targetwise.io.mapping import EPOCH_FORMATS
from targetwise.schema import Column


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _is_text(arrow_type: pa.DataType) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _id_expr(s: str, arrow_type: pa.DataType, null_values: tuple[str, ...]) -> str:
    """SQL of an id as text: trimmed, NULL when blank or one of ``null_values``; a typed number as
    its integer text (NULL for a float that is not a whole number: the check ``invalid_id``)."""
    t = pa.types
    if t.is_integer(arrow_type):
        return f"CAST({s} AS VARCHAR)"  # digits, as in a CSV
    if t.is_floating(arrow_type):
        # pandas turns an integer id column with one missing value into float64 (17850.0): a whole
        # number is its integer text, so the customer is the one loaded from CSV as 17850. NaN is
        # missing (pandas' NA); a fraction, an infinity, or a float beyond the integers it holds
        # exactly (2^53 for float64) is no id. -0.0 is 0.
        exact = 2 ** {16: 11, 32: 24, 64: 53}[arrow_type.bit_width]
        return (
            f"CASE WHEN isfinite({s}) AND {s} = trunc({s}) AND abs({s}) <= {exact} "
            f"THEN CAST(CAST({s} AS BIGINT) AS VARCHAR) END"
        )
    if t.is_decimal(arrow_type):
        return f"CASE WHEN {s} = trunc({s}) THEN CAST(CAST({s} AS HUGEINT) AS VARCHAR) END"
    v = s if _is_text(arrow_type) else f"CAST({s} AS VARCHAR)"
    # Spaces and tabs around an id are padding (spreadsheet exports), never part of it; a blank
    # id is NULL. Trim only when needed (trimming every value costs ~2.5x): `v < '!'` is true
    # exactly for '' and values starting with a byte below '!' (space, tab, control characters,
    # which trim leaves as they are), one comparison instead of `= ''` and two starts_with
    # (0.30 -> 0.24 s for three id columns per million lines).
    padded = f"{v} < '!' OR ends_with({v}, ' ') OR ends_with({v}, chr(9))"
    trimmed = f"trim({v}, ' ' || chr(9))"
    if not null_values:
        return f"CASE WHEN {padded} THEN NULLIF({trimmed}, '') ELSE {v} END"
    # 'NULL', 'N/A', ... mean no id. strlen (bytes, read from the string header) skips the list for
    # every id longer than its longest entry: +3% for three id columns, where the bare IN cost +15%.
    listed = ", ".join(_lit(n) for n in null_values)
    longest = max(len(n.encode()) for n in null_values)
    return (
        f"CASE WHEN {padded} THEN CASE WHEN {trimmed} IN ('', {listed}) THEN NULL ELSE {trimmed} END "
        f"WHEN strlen({v}) <= {longest} AND {v} IN ({listed}) THEN NULL ELSE {v} END"
    )


# Unix time from year 1 to 9999 (the range of a timestamp), in microseconds.
_EPOCH_MICROS = (-62_135_596_800_000_000, 253_402_300_799_999_999)


def _epoch_expr(count: str, micros_per_unit: int) -> str:
    """SQL of the naive UTC timestamp ``count`` units (BIGINT SQL) after 1970-01-01; NULL out of range."""
    lo, hi = (bound // micros_per_unit for bound in _EPOCH_MICROS)
    return f"CASE WHEN {count} BETWEEN {lo} AND {hi} THEN make_timestamp({count} * {micros_per_unit}) END"


def _reads_as_timestamp(arrow_type: pa.DataType, fmt: str | None) -> bool:
    """Whether a column of this type can fill a timestamp column: timestamps and dates, text, numbers
    read as Unix time (date_format epoch_s/epoch_ms) and integers read with a strptime format (20110313)."""
    t = pa.types
    if t.is_timestamp(arrow_type) or t.is_date(arrow_type) or _is_text(arrow_type):
        return True
    if fmt in EPOCH_FORMATS:
        return t.is_integer(arrow_type) or t.is_floating(arrow_type) or t.is_decimal(arrow_type)
    return fmt is not None and t.is_integer(arrow_type)


Separators = tuple[str, str | None]  # (decimal, thousands) of a mapping's number columns
PLAIN_NUMBERS: Separators = (".", None)


def _number_text(s: str, separators: Separators, *, strict: bool = True) -> str:
    """SQL of a text number written with ``separators`` (e.g. ``1.234,50`` for ``(",", ".")``) as the
    plain text a cast reads (``1234.50``). Thousands separators must group whole thousands (``1.5`` is
    no number when ``.`` separates thousands), so nothing is misread; a value of another shape is NULL
    (``strict``: then quarantined as invalid) or left as it is."""
    decimal, thousands = separators
    whole = "[0-9]+" if thousands is None else f"(?:[0-9]+|[0-9]{{1,3}}(?:[{thousands}][0-9]{{3}})+)"
    pattern = f"[+-]?(?:{whole}(?:[{decimal}][0-9]+)?|[{decimal}][0-9]+)"
    text = f"trim({s})"
    plain = text if thousands is None else f"replace({text}, {_lit(thousands)}, '')"
    if decimal != ".":
        plain = f"replace({plain}, {_lit(decimal)}, '.')"
    return f"CASE WHEN regexp_full_match({text}, {_lit(pattern)}) THEN {plain} ELSE {'NULL' if strict else s} END"


def _parse_expr(
    column: Column,
    src_col: str,
    arrow_type: pa.DataType,
    *,
    tz: str,
    fmt: str | None,
    null_values: tuple[str, ...] = (),
    separators: Separators = PLAIN_NUMBERS,
) -> str:
    s = f"src.{_q(src_col)}"
    is_text = _is_text(arrow_type)
    kind = column.kind
    if kind == "id":
        return _id_expr(s, arrow_type, null_values)
    if kind == "string":
        return f"NULLIF({s}, '')" if is_text else f"NULLIF(CAST({s} AS VARCHAR), '')"
    if kind in ("integer", "number") and is_text and separators != PLAIN_NUMBERS:
        # the mapping declares the file's separators: only numbers written with them are read
        n = _number_text(s, separators)
        if kind == "integer":
            return f"CASE WHEN TRY_CAST({n} AS DOUBLE) = TRY_CAST({n} AS BIGINT) THEN TRY_CAST({n} AS BIGINT) END"
        return f"CASE WHEN isfinite(TRY_CAST({n} AS DOUBLE)) THEN TRY_CAST({n} AS DOUBLE) END"
    if kind == "integer":
        if pa.types.is_integer(arrow_type):
            return f"CAST({s} AS BIGINT)"
        # DuckDB's cast accepts digit separators ('1_000'); text in a file never means that
        no_sep = f"strpos({s}, '_') = 0 AND " if is_text else ""
        return (
            f"CASE WHEN {no_sep}TRY_CAST({s} AS DOUBLE) = TRY_CAST({s} AS BIGINT) "
            f"THEN TRY_CAST({s} AS BIGINT) END"
        )
    if kind == "number":
        no_sep = f"strpos({s}, '_') = 0 AND " if is_text else ""
        return f"CASE WHEN {no_sep}isfinite(TRY_CAST({s} AS DOUBLE)) THEN TRY_CAST({s} AS DOUBLE) END"
    if kind == "timestamp":
        if pa.types.is_timestamp(arrow_type) and arrow_type.tz is not None:
            return f"timezone('UTC', {s})"
        if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
            if tz == "UTC":  # the round trip through UTC is the identity, and costs a time-zone lookup per row
                return f"CAST({s} AS TIMESTAMP)"
            return f"timezone('UTC', timezone({_lit(tz)}, CAST({s} AS TIMESTAMP)))"
        if fmt in EPOCH_FORMATS:  # Unix time is UTC whatever the shop's zone
            unit = EPOCH_FORMATS[fmt]
            if pa.types.is_integer(arrow_type):
                return _epoch_expr(f"TRY_CAST({s} AS BIGINT)", unit)
            if not is_text:  # float or decimal seconds: to the microsecond
                return _epoch_expr(f"TRY_CAST(round(CAST({s} AS DOUBLE) * {unit}) AS BIGINT)", 1)
            # digits only (an optional minus): a cast alone would also take '1_000' and '1e9'
            trimmed = f"trim({s}, ' ' || chr(9))"
            digits = f"TRY_CAST(CASE WHEN regexp_full_match({trimmed}, '-?[0-9]{{1,19}}') THEN {trimmed} END AS BIGINT)"
            return _epoch_expr(digits, unit)
        if fmt:
            text = f"trim({s})" if is_text else f"CAST({s} AS VARCHAR)"  # an integer such as 20110313
            if "%z" in fmt or "%Z" in fmt:
                return f"timezone('UTC', TRY_STRPTIME({text}, {_lit(fmt)}))"
            return f"timezone('UTC', timezone({_lit(tz)}, TRY_STRPTIME({text}, {_lit(fmt)})))"
        # Session TimeZone is `tz` while staging: naive text is read as business time,
        # explicit offsets are honoured, and the result is converted to naive UTC.
        general = f"timezone('UTC', TRY_CAST(trim({s}) AS TIMESTAMPTZ))"
        # Fast path (4x cheaper) for the common shapes that cannot carry an offset:
        # YYYY-MM-DD, YYYY-MM-DD HH:MM and YYYY-MM-DD HH:MM:SS (space or T). Fixed-shape LIKE
        # patterns test them without cutting characters out of every value (s[14], s[17]: ~40%
        # slower); a value of another shape just takes the general path.
        plain = (
            f"(length({s}) = 10 AND strpos({s}, '+') = 0 AND NOT ends_with({s}, 'Z'))"
            + "".join(f" OR {s} LIKE '____-__-__{sep}__:__{sec}'" for sec in (":__", "") for sep in (" ", "T"))
        )
        naive = f"TRY_CAST({s} AS TIMESTAMP)"
        if tz != "UTC":
            naive = f"timezone('UTC', timezone({_lit(tz)}, {naive}))"
        return f"CASE WHEN {plain} THEN {naive} ELSE {general} END"
    if kind == "boolean":
        if pa.types.is_boolean(arrow_type):
            return s
        text = f"lower(trim(CAST({s} AS VARCHAR)))"
        return (
            f"CASE WHEN {text} IN ('true','t','1','yes','y') THEN true "
            f"WHEN {text} IN ('false','f','0','no','n') THEN false END"
        )
    if kind == "json":
        return f"CASE WHEN json_valid(CAST({s} AS VARCHAR)) THEN CAST({s} AS VARCHAR) END" if is_text else f"CAST(to_json({s}) AS VARCHAR)"
    raise AssertionError(kind)


def _is_plain_typed(arrow_type: pa.DataType) -> bool:
    """Numbers, timestamps, dates and booleans: their text form is never blank."""
    t = pa.types
    return t.is_integer(arrow_type) or t.is_floating(arrow_type) or t.is_timestamp(arrow_type) or (
        t.is_date(arrow_type) or t.is_boolean(arrow_type)
    )
