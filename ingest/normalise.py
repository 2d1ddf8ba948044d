"""Text -> typed values, in SQL so that it runs vectorised inside DuckDB.

Hospital and platform exports write numbers and dates in many ways
(full-width digits, ``元``, thousands separators, ``2024年5月1日``,
``2024/5/1``, Excel date serials). These macros accept all of them and
return NULL for anything else; the loader turns "text given but NULL after
normalising" into a quarantine reason that quotes the text.
"""

from __future__ import annotations

import duckdb

from ingest.feeds import Column, Kind

FULL_WIDTH = "０１２３４５６７８９．，－＋／：　"
HALF_WIDTH = "0123456789.,-+/: "

# Dates as written in Chinese exports; named groups feed strptime so invalid
# calendar dates (2024-02-30) come out NULL instead of rolling over.
DATE_PATTERN = (
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:[ T]+(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2}))?(?:\.\d+)?秒?)?$"
)
COMPACT_PATTERN = r"^(\d{4})(\d{2})(\d{2})(?:[ T]?(\d{2})(\d{2})(\d{2}))?$"
# Excel stores dates as days since 1899-12-30; 20000..80000 is 1954..2119,
# wide enough for real dates and narrow enough not to swallow other numbers.
EXCEL_SERIAL_PATTERN = r"^[2-7]\d{4}(\.\d+)?$"

# Every macro has a fast path for text already in its canonical shape (plain
# ASCII codes, numbers DuckDB casts directly, ISO dates) that returns exactly
# what the general path (``*_general``) returns for it, because the general
# path's cleaning leaves such text unchanged; only other text takes the
# general path. Fast paths are CASE branches: DuckDB evaluates CASE lazily but
# every argument of COALESCE. tests/test_ingest_normalise.py checks that both
# paths agree.
ISO_TIMESTAMP = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
ISO_DATE = r"\d{4}-\d{2}-\d{2}"
PLAIN_NUMBER = r"-?[0-9]+(\.[0-9]+)?"

# DuckDB macros repeat their argument wherever the body uses it, so nested
# macros grow into large expressions that take long to plan (a noticeable
# cost per delivery file). Where a general path uses its argument more than
# once, it binds it once with list_transform([arg], v -> …)[1]; that runs only
# in the general branch, for the rare text that needs it.
MACROS = f"""
create or replace temp macro yc_text_general(x) as nullif(trim(translate(x, '　', ' ')), '');
create or replace temp macro yc_text(x) as
    case when contains(x, '　') then yc_text_general(x)
         when starts_with(x, ' ') or ends_with(x, ' ') then nullif(trim(x), '')
         else nullif(x, '') end;
create or replace temp macro yc_halfwidth_general(x) as translate(trim(x), '{FULL_WIDTH}', '{HALF_WIDTH}');
-- The full-width characters are not ASCII: translate changes no ASCII text.
create or replace temp macro yc_halfwidth(x) as list_transform([x], _yc_hw ->
    case when strlen(_yc_hw) = length(_yc_hw) then trim(_yc_hw) else yc_halfwidth_general(_yc_hw) end)[1];
create or replace temp macro yc_code_general(x) as nullif(upper(regexp_replace(yc_halfwidth(x), '\\s+', '', 'g')), '');
create or replace temp macro yc_code(x) as
    case when regexp_full_match(x, '[0-9A-Z]+') then x else yc_code_general(x) end;
create or replace temp macro yc_number_text(x) as nullif(
    regexp_replace(yc_halfwidth(x), '[元¥￥,\\s]|RMB|CNY', '', 'gi'), '');
create or replace temp macro yc_decimal_of(t) as coalesce(
    try_cast(t as decimal(18, 6)), try_cast(try_cast(t as double) as decimal(18, 6)));
create or replace temp macro yc_decimal_general(x) as
    list_transform([yc_number_text(x)], _yc_num -> yc_decimal_of(_yc_num))[1];
create or replace temp macro yc_decimal(x) as
    case when regexp_full_match(x, '{PLAIN_NUMBER}') then yc_decimal_of(x) else yc_decimal_general(x) end;
create or replace temp macro yc_double_general(x) as try_cast(yc_number_text(x) as double);
create or replace temp macro yc_double(x) as
    case when regexp_full_match(x, '{PLAIN_NUMBER}') then try_cast(x as double) else yc_double_general(x) end;
-- Y-M-D H:M:S rebuilt from the groups of DATE_PATTERN / COMPACT_PATTERN
-- (a group the text does not have is ''), then parsed.
create or replace temp macro yc_timestamp_from_parts(p) as try_strptime(
    p.y || '-' || p.m || '-' || p.d || ' ' || coalesce(nullif(p.hh, ''), '0') || ':'
    || coalesce(nullif(p.mi, ''), '0') || ':' || coalesce(nullif(p.ss, ''), '0'),
    '%Y-%m-%d %H:%M:%S');
create or replace temp macro yc_timestamp_of(t) as (
    case
        when regexp_matches(t, '{DATE_PATTERN}') then list_transform(
            [regexp_extract(t, '{DATE_PATTERN}', ['y', 'm', 'd', 'hh', 'mi', 'ss'])],
            _yc_parts -> yc_timestamp_from_parts(_yc_parts))[1]
        when regexp_matches(t, '{COMPACT_PATTERN}') then list_transform(
            [regexp_extract(t, '{COMPACT_PATTERN}', ['y', 'm', 'd', 'hh', 'mi', 'ss'])],
            _yc_parts -> yc_timestamp_from_parts(_yc_parts))[1]
        when regexp_matches(t, '{EXCEL_SERIAL_PATTERN}') then
            timestamp '1899-12-30' + to_microseconds(cast(round(cast(t as double) * 86400000000) as bigint))
    end);
create or replace temp macro yc_timestamp_general(x) as
    list_transform([yc_halfwidth(x)], _yc_ts -> yc_timestamp_of(_yc_ts))[1];
-- The general path rebuilds 'Y-M-D H:M:S' from the pattern's groups and
-- parses that; for ISO text the rebuilt string is the text itself.
create or replace temp macro yc_timestamp(x) as
    case when regexp_full_match(x, '{ISO_TIMESTAMP}') then try_strptime(x, '%Y-%m-%d %H:%M:%S')
         when regexp_full_match(x, '{ISO_DATE}') then try_strptime(x || ' 0:0:0', '%Y-%m-%d %H:%M:%S')
         else yc_timestamp_general(x) end;
-- For ISO dates the cast gives the same date as the general path (checked
-- over every month and day 00-99 of many years).
create or replace temp macro yc_date_general(x) as cast(yc_timestamp(x) as date);
create or replace temp macro yc_date(x) as
    case when regexp_full_match(x, '{ISO_DATE}') then try_cast(x as date) else yc_date_general(x) end;
"""


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(MACROS)


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def typed_expression(column: Column, source: str) -> str:
    """SQL turning the text column ``source`` into the column's type.

    Text already in the canonical shape (the common case) is converted
    directly; other text goes through ``yc_text`` and the general macros,
    with the cleaned text bound once (see MACROS). Each fast branch gives what
    the general one gives for such text, which ``yc_text`` leaves unchanged
    (tests/test_ingest_fast_path.py)."""
    text = f"yc_text({source})"
    if column.default:
        text = f"coalesce({text}, {quote_literal(column.default)})"

    def general(body: str) -> str:
        return f"list_transform([{text}], _yc_v -> {body})[1]"

    match column.kind:
        case Kind.TEXT:
            return text
        case Kind.CODE:
            return f"case when regexp_full_match({source}, '[0-9A-Z]+') then {source} else {general('yc_code(_yc_v)')} end"
        case Kind.DIGITS:
            return (f"case when regexp_full_match({source}, '[0-9]+') then {source} else "
                    + general("case when regexp_matches(yc_code(_yc_v), '^[0-9]+$') then yc_code(_yc_v) end") + " end")
        case Kind.DECIMAL:
            return (f"case when regexp_full_match({source}, '{PLAIN_NUMBER}') then yc_decimal_of({source}) "
                    f"else {general('yc_decimal(_yc_v)')} end")
        case Kind.DOUBLE:
            return (f"case when regexp_full_match({source}, '{PLAIN_NUMBER}') then try_cast({source} as double) "
                    f"else {general('yc_double(_yc_v)')} end")
        case Kind.DATE:
            return (f"case when regexp_full_match({source}, '{ISO_DATE}') then try_cast({source} as date) "
                    f"else {general('yc_date(_yc_v)')} end")
        case Kind.TIMESTAMP:
            return (f"case when regexp_full_match({source}, '{ISO_TIMESTAMP}') then try_strptime({source}, '%Y-%m-%d %H:%M:%S') "
                    f"else {general('yc_timestamp(_yc_v)')} end")
        case Kind.ENUM:
            cases = " ".join(
                f"when {quote_literal(spelling)} then {quote_literal(code)}" for spelling, code in sorted(column.values.items())
            )
            # Fast path: text spelled exactly as an accepted spelling that
            # the general path (trimmed, lower-case, half-width) leaves as is.
            exact = " ".join(
                f"when {quote_literal(spelling)} then {quote_literal(code)}" for spelling, code in sorted(column.values.items())
                if spelling == spelling.lower() == spelling.strip() and not set(spelling) & set(FULL_WIDTH)
            )
            return f"case {source} {exact} else {general(f'case lower(yc_halfwidth(_yc_v)) {cases} end')} end"
    raise ValueError(column.kind)


SQL_TYPES = {
    Kind.TEXT: "varchar", Kind.CODE: "varchar", Kind.DIGITS: "varchar", Kind.ENUM: "varchar",
    Kind.DECIMAL: "decimal(18, 6)", Kind.DOUBLE: "double", Kind.DATE: "date", Kind.TIMESTAMP: "timestamp",
}
KIND_WORDS = {
    Kind.CODE: "a code", Kind.DIGITS: "digits", Kind.DECIMAL: "a number", Kind.DOUBLE: "a number",
    Kind.DATE: "a date", Kind.TIMESTAMP: "a date/time", Kind.ENUM: "one of the allowed values", Kind.TEXT: "text",
}


def value_problems(column: Column, source: str, typed: str) -> list[str]:
    """SQL expressions that give a reason text, or NULL when the value is fine."""
    name = column.name
    problems = []
    if column.required:
        problems.append(f"case when {typed} is null and yc_text({source}) is null then '{name}: required value missing' end")
    problems.append(
        f"case when {typed} is null and yc_text({source}) is not null then "
        f"'{name}: cannot read ' || {quote_literal('“')} || left(yc_text({source}), 60) || {quote_literal('”')} "
        f"|| ' as {KIND_WORDS[column.kind]}' end"
    )
    return problems
