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

MACROS = f"""
create or replace temp macro yc_text(x) as nullif(trim(translate(x, '　', ' ')), '');
create or replace temp macro yc_halfwidth(x) as translate(trim(x), '{FULL_WIDTH}', '{HALF_WIDTH}');
create or replace temp macro yc_code(x) as nullif(upper(regexp_replace(yc_halfwidth(x), '\\s+', '', 'g')), '');
create or replace temp macro yc_number_text(x) as nullif(
    regexp_replace(yc_halfwidth(x), '[元¥￥,\\s]|RMB|CNY', '', 'gi'), '');
create or replace temp macro yc_decimal(x) as coalesce(
    try_cast(yc_number_text(x) as decimal(18, 6)),
    try_cast(try_cast(yc_number_text(x) as double) as decimal(18, 6)));
create or replace temp macro yc_double(x) as try_cast(yc_number_text(x) as double);
create or replace temp macro yc_timestamp_of(t) as (
    case
        when regexp_matches(t, '{DATE_PATTERN}') then try_strptime(
            regexp_extract(t, '{DATE_PATTERN}', 1) || '-' || regexp_extract(t, '{DATE_PATTERN}', 2) || '-'
            || regexp_extract(t, '{DATE_PATTERN}', 3) || ' '
            || coalesce(nullif(regexp_extract(t, '{DATE_PATTERN}', 4), ''), '0') || ':'
            || coalesce(nullif(regexp_extract(t, '{DATE_PATTERN}', 5), ''), '0') || ':'
            || coalesce(nullif(regexp_extract(t, '{DATE_PATTERN}', 6), ''), '0'),
            '%Y-%m-%d %H:%M:%S')
        when regexp_matches(t, '{COMPACT_PATTERN}') then try_strptime(
            regexp_extract(t, '{COMPACT_PATTERN}', 1) || '-' || regexp_extract(t, '{COMPACT_PATTERN}', 2) || '-'
            || regexp_extract(t, '{COMPACT_PATTERN}', 3) || ' '
            || coalesce(nullif(regexp_extract(t, '{COMPACT_PATTERN}', 4), ''), '0') || ':'
            || coalesce(nullif(regexp_extract(t, '{COMPACT_PATTERN}', 5), ''), '0') || ':'
            || coalesce(nullif(regexp_extract(t, '{COMPACT_PATTERN}', 6), ''), '0'),
            '%Y-%m-%d %H:%M:%S')
        when regexp_matches(t, '{EXCEL_SERIAL_PATTERN}') then
            timestamp '1899-12-30' + to_microseconds(cast(round(cast(t as double) * 86400000000) as bigint))
    end);
create or replace temp macro yc_timestamp(x) as yc_timestamp_of(yc_halfwidth(x));
create or replace temp macro yc_date(x) as cast(yc_timestamp(x) as date);
"""


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(MACROS)


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def typed_expression(column: Column, source: str) -> str:
    """SQL turning the text column ``source`` into the column's type."""
    text = f"coalesce(yc_text({source}), {quote_literal(column.default)})" if column.default else f"yc_text({source})"
    match column.kind:
        case Kind.TEXT:
            return text
        case Kind.CODE:
            return f"yc_code({text})"
        case Kind.DIGITS:
            return f"case when regexp_matches(yc_code({text}), '^[0-9]+$') then yc_code({text}) end"
        case Kind.DECIMAL:
            return f"yc_decimal({text})"
        case Kind.DOUBLE:
            return f"yc_double({text})"
        case Kind.DATE:
            return f"yc_date({text})"
        case Kind.TIMESTAMP:
            return f"yc_timestamp({text})"
        case Kind.ENUM:
            cases = " ".join(
                f"when {quote_literal(spelling)} then {quote_literal(code)}" for spelling, code in sorted(column.values.items())
            )
            return f"case lower(yc_halfwidth({text})) {cases} end"
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
