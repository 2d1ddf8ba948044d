"""No model joins a large table by comparing every row with every row
(issue 18).

DuckDB hashes a join on the equalities of its condition. A condition it
cannot split into comparisons of one side with the other, such as a test
on one side only or an OR over both sides in a LEFT JOIN's ON, makes it a
BLOCKWISE_NL_JOIN: every left row against every right row. Two such joins
were found by hand with EXPLAIN: int_payment_standard_lines (47 s of the
20 M rebuild, ~8 s without it) and int_platform_invoices (invoices × pay
orders: 43 s at 100 k of each against 0.2 s hashed, and quadratic beyond;
the benchmark's landing has no platform feeds, so no benchmark showed it).

Here every model is built by dbt on an empty lake, each compiled model is
EXPLAINed, and the joins that are not hash joins must be exactly the ones
listed below, each with why it is cheap. Whether a join is hashed depends
on its condition, not on the rows; with no rows DuckDB plans a range join
as a nested loop, where at scale it may pick a merge join, hashed neither
way. A new one fails the test until it is made a hash join or listed with
its reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from foundation.layout import DBT_PROJECT_DIR
from ingest.duckdb_functions import register
from ingest.lake import ensure_lake
from tests.dbt_support import profile_env

pytestmark = pytest.mark.slow

# DuckDB's join operators that do not hash (HASH_JOIN is the one that does).
UNHASHED = ("BLOCKWISE_NL_JOIN", "NESTED_LOOP_JOIN", "CROSS_PRODUCT", "PIECEWISE_MERGE_JOIN", "IE_JOIN")

# A value of a seed in force at a date: settlement_rule() (macros/settlement.sql)
# is a max() over the seed settlement_rules (a few dozen rows), joined by
# effective_from ≤ the row's date, or a single row when it is the citywide
# value at the as-of date.
_RULE_IN_FORCE = "settlement_rule(): a seed of a few dozen rows"
# A one-row table (coverage start, coefficients, a threshold) beside every row.
_ONE_ROW = "one row on the other side"

ALLOWED: dict[tuple[str, str, str], tuple[int, str]] = {
    # (model, operator, condition): (how many, why it is cheap)
    ("int_institution_months", "NESTED_LOOP_JOIN", "month >= first_month"):
        (1, "institutions × the months since their first upload: thousands × tens"),
    ("int_platform_targets", "CROSS_PRODUCT", ""): (1, "cities × the four category groups, by design"),
    ("credit_evaluation_evidence", "CROSS_PRODUCT", ""): (1, _RULE_IN_FORCE),
    ("credit_evaluation_evidence", "NESTED_LOOP_JOIN", "SUBQUERY > fill_rate"): (1, _RULE_IN_FORCE),
    ("platform_purchase_ratio_by_orders", "NESTED_LOOP_JOIN", "first_month <= month"): (1, _ONE_ROW),
    ("platform_unmatched_receipts", "NESTED_LOOP_JOIN", "receipt_date >= covered_from"): (1, _ONE_ROW),
    ("price_spec_normalisation", "CROSS_PRODUCT", ""): (1, _ONE_ROW),
    ("payment_standard_excess_lines", "CROSS_PRODUCT", ""): (2, _RULE_IN_FORCE),
    ("settlement_direct_ledger", "NESTED_LOOP_JOIN", "effective_from <= receipt_date"): (2, _RULE_IN_FORCE),
    ("settlement_direct_ledger", "NESTED_LOOP_JOIN", "effective_from <= settled_date"): (1, _RULE_IN_FORCE),
    ("settlement_prepayment", "CROSS_PRODUCT", ""): (2, _RULE_IN_FORCE),
    ("settlement_prepayment_ledger", "NESTED_LOOP_JOIN", "effective_from <= period_start"): (1, _RULE_IN_FORCE),
    ("settlement_retained_savings", "CROSS_PRODUCT", ""): (4, _RULE_IN_FORCE),
}

# Seeds, then every model, on an empty lake, in one process (dbt's start-up once).
BUILD_EMPTY = """
import sys
from dbt.cli.main import dbtRunner
project = sys.argv[1]
common = ["--project-dir", project, "--profiles-dir", project, "--no-use-colors", "--vars", '{"as_of": "2026-10-31"}']
for command in (["seed"], ["run"]):
    done = dbtRunner().invoke([*command, *common])
    if not done.success:
        sys.exit(f"dbt {command[0]} failed: {done.exception}")
"""


@pytest.fixture(scope="module")
def explained(tmp_path_factory) -> Iterator[tuple[duckdb.DuckDBPyConnection, Path]]:
    """The build file of an empty-lake build, with the lake and the working
    schemas attached as dbt attaches them, and the compiled models' folder."""
    tmp = tmp_path_factory.mktemp("join_plans")
    lake = duckdb.connect(str(tmp / "lake.duckdb"))
    ensure_lake(lake)
    lake.close()
    done = subprocess.run([sys.executable, "-c", BUILD_EMPTY, str(DBT_PROJECT_DIR)],
                          env=profile_env(tmp, tmp / "lake.duckdb"), cwd=tmp,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    con = duckdb.connect(str(tmp / "build.duckdb"), read_only=True)
    con.execute(f"attach '{tmp / 'lake.duckdb'}' as lake (read_only)")
    con.execute(f"attach '{tmp / 'work.duckdb'}' as work (read_only)")
    register(con)  # yaocai_parse_spec(), as ingest/dbt_plugin.py gives dbt's connections
    yield con, tmp / "target" / "compiled"
    con.close()


def _unhashed_joins(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[str, str]]:
    """(operator, condition) of every join in the plan that is not a hash join."""
    found: list[tuple[str, str]] = []

    def walk(node: dict) -> None:
        if node.get("name") in UNHASHED:
            info = node.get("extra_info") or {}
            found.append((node["name"], str(info.get("Conditions") or info.get("Condition") or "")))
        for child in node.get("children", []):
            walk(child)

    for node in json.loads(con.execute("explain (format json) " + sql).fetchall()[0][1]):
        walk(node)
    return found


def _compiled_models(compiled: Path) -> dict[str, Path]:
    models = {path.stem: path for path in compiled.rglob("*.sql") if "models" in path.relative_to(compiled).parts}
    assert len(models) >= 70, sorted(models)
    return models


def test_every_join_that_is_not_hashed_is_a_listed_small_one(explained):
    con, compiled = explained
    found: Counter[tuple[str, str, str]] = Counter()
    for name, path in sorted(_compiled_models(compiled).items()):
        for operator, condition in _unhashed_joins(con, path.read_text()):
            found[(name, operator, condition)] += 1
    expected = {key: count for key, (count, _why) in ALLOWED.items()}
    assert dict(found) == expected, (
        "joins that are not hash joins changed; make a new one a hash join, or list it in ALLOWED with why "
        f"it stays small:\nnew or more: {dict(found - Counter(expected))}\ngone or fewer: {dict(Counter(expected) - found)}")


_ON_KEYS = "\n        on p.fixmedins_code = i.fixmedins_code\n        and p.invoice_no = i.invoice_no\n    "
_SAME_SUPPLIER = "p.supplier_name is null or i.supplier_name is null or p.supplier_name = i.supplier_name"


@pytest.mark.parametrize(("model", "hashed", "unhashed"), [
    # the two faults this test was written after, put back
    ("int_payment_standard_lines", "and m.receipt_date < gp.valid_to",
     "and m.receipt_date < gp.valid_to and m.payment_standard is null"),
    ("int_platform_invoices", f"inner join payments as p{_ON_KEYS}where {_SAME_SUPPLIER}",
     f"left join payments as p{_ON_KEYS}and ({_SAME_SUPPLIER})"),
])
def test_the_check_finds_a_join_that_compares_every_row_with_every_row(explained, model, hashed, unhashed):
    con, compiled = explained
    sql = _compiled_models(compiled)[model].read_text()
    assert hashed in sql
    assert not [op for op, _ in _unhashed_joins(con, sql) if op == "BLOCKWISE_NL_JOIN"]
    assert [op for op, _ in _unhashed_joins(con, sql.replace(hashed, unhashed, 1)) if op == "BLOCKWISE_NL_JOIN"]

