"""One SQL source for DuckDB and Apache Spark (issue 17, docs/scale-out.md):
the dbt project's SQL uses only what both engines accept, and the constructs
the engines spell differently go through the dispatched macros of
dbt_project/macros/cross_engine.sql (duckdb__ / spark__ implementations).

The lint reads every model, macro and data test, drops comments, string
literals and Jinja, and fails on the DuckDB-only constructs that broke the
Spark build in the issue's measured feasibility run. It reads files only
(no dbt, no database): fast."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from foundation.layout import DBT_PROJECT_DIR

DISPATCH_FILE = DBT_PROJECT_DIR / "macros" / "cross_engine.sql"

# (pattern on SQL without comments / literals / Jinja, what to write instead)
DUCKDB_ONLY = [
    (r"\bformat\s*\(", "{% call format_text('…{}…') %} args {% endcall %}"),
    (r"\bstrftime\s*\(", "year_month_text() / date_text_zh() (Spark: date_format)"),
    (r"\bdate_diff\s*\(", "days_between(start, end)"),
    (r"\*\s*exclude\s*\(", "star_except([...], alias=...)"),
    (r"\bany_value\s*\(", "any_of(expr) or first_by(expr, order)"),
    (r"\bstring_agg\s*\(", "sorted_string_agg() / distinct_string_agg()"),
    (r"\b(generate_series|range|unnest)\s*\(", "month_series() or (values …) as t(col)"),
    (r"\bunion\s+(all\s+)?by\s+name\b", "union all with the columns listed in one order"),
    (r"\barg_(min|max)\s*\(", "min_by / max_by (both engines)"),
    (r"\bquantile_(cont|disc)\s*\(", "percentile_cont(q) within group (order by x)"),
    (r"::", "cast(x as type)"),
    (r"\bnot\s+materialized\b", "{{ not_materialized() }}"),
    (r"\bas\s+(varchar|text|hugeint)\b", "cast(x as string) (Spark's varchar needs a length)"),
    (r"\[", "no list literals: (values …) as t(col), or a macro"),
    (r"\blist_\w+\s*\(|\blist\s*\(", "no DuckDB list functions"),
    (r"\bover\s*\([^)]*\b(count|sum|min|max|avg)\s*\(", "an aggregate as a column first, then the window"),
    # Spark reads an unaliased 'all' in a select list under `group by all`
    # as a column named all
    (r"(\bselect|,)\s*<all>\s*(,|\bfrom\b)", "alias the literal: 'all' as region_level"),
]

MACRO_CALL = re.compile(r"adapter\.dispatch\('(\w+)', 'yaocai'\)")


def sql_text(source: str) -> str:
    """The SQL a reader of both engines sees: no Jinja comments, no SQL
    comments, Jinja expressions and statements reduced to a placeholder,
    string literals reduced to <lit> (their contents are data, e.g. the
    '[' of a regular expression), except 'all' (<all>)."""
    text = re.sub(r"\{#.*?#\}", " ", source, flags=re.S)
    text = re.sub(r"\{\{.*?\}\}", " J ", text, flags=re.S)
    text = re.sub(r"\{%.*?%\}", " ", text, flags=re.S)
    text = re.sub(r"'(?:[^']|'')*'", lambda m: "<all>" if m.group(0).lower() == "'all'" else "<lit>", text)
    return re.sub(r"--[^\n]*", " ", text)


def violations(source: str) -> list[str]:
    text = sql_text(source)
    found = []
    for pattern, instead in DUCKDB_ONLY:
        for match in re.finditer(pattern, text, flags=re.I):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"line {line}: {match.group(0).strip()!r} (use {instead})")
    return found


def project_sql_files() -> list[Path]:
    files = [
        path
        for folder in ("models", "macros", "tests")
        for path in sorted((DBT_PROJECT_DIR / folder).rglob("*.sql"))
        if path != DISPATCH_FILE
    ]
    assert len(files) > 60  # the models are where they are expected
    return files


def test_project_sql_has_no_duckdb_only_constructs_outside_the_dispatch_macros():
    problems = {
        str(path.relative_to(DBT_PROJECT_DIR)): found
        for path in project_sql_files()
        if (found := violations(path.read_text(encoding="utf-8")))
    }
    assert problems == {}


@pytest.mark.parametrize(
    "snippet",
    [
        "select format('{}（{}）', a, b) as detail from t",
        "select strftime(month, '%Y-%m') from t",
        "select date_diff('day', a, b) from t",
        "select l.* exclude (month) from l",
        "select any_value(name) from t group by all",
        "select string_agg(x, ',' order by x) from t",
        "select cast(unnest(generate_series(a, b, interval 1 month)) as date) from t",
        "select * from a union all by name select * from b",
        "select arg_min(x, y) from t",
        "select quantile_cont(x, 0.1) from t",
        "select null::varchar as x",
        "select cast(month as varchar) from t",
        "select unnest(['drug', 'hvc']) as g",
        "select x from t group by x qualify row_number() over (partition by y order by count(*) desc) = 1",
        "select 'all', null, month, sum(x) from t group by all",
    ],
)
def test_the_lint_catches_each_construct(snippet):
    assert violations(snippet)


@pytest.mark.parametrize(
    "snippet",
    [
        "-- format('{}') in a comment is fine\nselect 1 as one",
        "{# any_value(x) in a Jinja comment #}select 1 as one",
        "select regexp_extract(reason, '（([^（）]*)）$', 1) as code from t",
        "select 'all' as region_level, null as admdvs, month from t group by all",
        "select {{ any_of('name') }} as name, cast(m as string) from t",
        "select min_by(x, y), percentile_cont(0.1) within group (order by x) from t",
        "select name from (values ('a'), ('b')) as names(name)",
    ],
)
def test_the_lint_accepts_portable_sql(snippet):
    assert violations(snippet) == []


def test_every_dispatched_macro_has_a_duckdb_and_a_spark_implementation():
    source = DISPATCH_FILE.read_text(encoding="utf-8")
    dispatched = MACRO_CALL.findall(source)
    assert len(dispatched) >= 9
    for name in dispatched:
        assert re.search(rf"{{% macro duckdb__{name}\(", source), name
        assert re.search(rf"{{% macro spark__{name}\(", source), name
