#!/usr/bin/env python3
"""Are two published DuckDB files the same publication?

    .venv/bin/python scripts/compare_publications.py A.duckdb B.duckdb

Proof for a restructuring that must not change behaviour (issue 14): the
published file is the product's interface (docs/data-contract.md §3), so
two builds of the same data by two versions of the code must publish the
same schemas, tables and views, the same columns in the same order with the
same types, the same table and column comments, and the same rows.

Rows are compared as multisets (order-independent): first exactly in
DuckDB (EXCEPT ALL both ways); rows left over are paired on their non-float
columns and their floats compared to a relative tolerance of 1e-9 (a
changed plan may sum in another order). Exit status 0 when identical, 1
with a list of differences otherwise.

Columns in VOLATILE differ between any two runs by design and are left out
of the row comparison (their presence, type and comment are still checked).
"""

from __future__ import annotations

import argparse
import math
import sys
from decimal import Decimal
from pathlib import Path

import duckdb

REL_TOL = 1e-9
FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")

# --across-engines: a Spark build against a DuckDB build of the same lake
# (issue 17; docs/scale-out.md "Money rounding across engines"): money and
# other decimals may differ by one cent (the engines round a double to a
# decimal differently), and a double near 0 by 1e-9 absolute (0 on one
# engine, 7e-14 on the other: summation order) where a relative tolerance
# cannot apply.
ACROSS_ENGINES_DECIMAL_TOL = 0.01
ACROSS_ENGINES_FLOAT_ABS_TOL = 1e-9

# (table, column) → why it differs between two runs of the same code on the same data.
VOLATILE = {
    # Run history: ids are as-of date + wall-clock start time; times are wall clock.
    ("runs", "run_id"): "as-of + start time of the run",
    ("runs", "started_at"): "wall clock",
    ("runs", "finished_at"): "wall clock",
    ("runs", "published_at"): "wall clock",
    ("runs", "message"): "mentions run folders and durations",
    # Build record: the run, its time, and the sha256 of the dbt project's files,
    # which changes with any edit to the project (the point of a restructuring).
    ("build_info", "run_id"): "the run that built it",
    ("build_info", "built_at"): "wall clock",
    ("build_info", "code_fingerprint"): "sha256 of the dbt project files, changes with any edit",
    # Deliveries and quarantine say which ingest run loaded a file, and when.
    ("deliveries", "run_id"): "the ingest run",
    ("deliveries", "loaded_at"): "wall clock",
    ("quarantine", "run_id"): "the ingest run",
    ("quarantine", "quarantined_at"): "wall clock",
}


def _catalog(con: duckdb.DuckDBPyConnection, db: str) -> dict:
    tables = {(s, t): c for s, t, c in con.execute(
        "select schema_name, table_name, comment from duckdb_tables() where database_name = ?", [db]).fetchall()}
    views = {(s, v): sql for s, v, sql in con.execute(
        "select schema_name, view_name, sql from duckdb_views() where database_name = ? and not internal",
        [db]).fetchall()}
    columns: dict[tuple[str, str], list[tuple[str, str, str | None]]] = {}
    for s, t, name, dtype, comment in con.execute(
            "select schema_name, table_name, column_name, data_type, comment from duckdb_columns() "
            "where database_name = ? order by schema_name, table_name, column_index", [db]).fetchall():
        columns.setdefault((s, t), []).append((name, dtype, comment))
    schemas = {s for (s,) in con.execute(
        "select schema_name from duckdb_schemas() where database_name = ? and not internal", [db]).fetchall()}
    return {"tables": tables, "views": views, "columns": columns, "schemas": schemas}


def _sort_key(row: tuple) -> tuple:
    return tuple((0, "") if v is None else (1, repr(v)) if not isinstance(v, (int, float, str)) else (1, v)
                 for v in row)


def _floats_close(a: object, b: object, abs_tol: float = 0.0, rel_tol: float = 0.0) -> bool:
    if a is None or b is None:
        return a is b
    a, b = float(a), float(b)  # type: ignore[arg-type]
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=max(REL_TOL, rel_tol), abs_tol=abs_tol) or a == b


def _cent_inherited_tolerance(ra: tuple, rb: tuple, decimal_idx: list[int]) -> float:
    """Across engines, a double computed from an amount the engines rounded
    a cent apart (e.g. purchases ÷ agreed amount) differs by that amount's
    relative difference: twice the largest such difference in the row (a
    ratio of two such amounts carries both), 0 when the row's decimals agree."""
    worst = 0.0
    for i in decimal_idx:
        a, b = ra[i], rb[i]
        if a is not None and b is not None and a != b and max(abs(a), abs(b)):
            worst = max(worst, float(abs(a - b) / max(abs(a), abs(b))))
    return 2 * worst


def _decimals_close(a: object, b: object, tol: float) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= tol  # type: ignore[operator]  # Decimal - Decimal; exact, no float rounding


def _compare_rows(con, table: tuple[str, str], cols: list[tuple[str, str, str | None]],
                  decimal_tol: float = 0.0, float_abs_tol: float = 0.0) -> list[str]:
    schema, name = table
    kept = [(c, t) for c, t, _ in cols if (name, c) not in VOLATILE]
    if not kept:
        return []
    select = ", ".join(f'"{c}"' for c, _ in kept)
    a_rel, b_rel = f'a."{schema}"."{name}"', f'b."{schema}"."{name}"'
    problems = []
    n_a = con.execute(f"select count(*) from {a_rel}").fetchone()[0]
    n_b = con.execute(f"select count(*) from {b_rel}").fetchone()[0]
    if n_a != n_b:
        problems.append(f"{schema}.{name}: row count {n_a} vs {n_b}")
    only_a = con.execute(f"select {select} from {a_rel} except all select {select} from {b_rel}").fetchall()
    only_b = con.execute(f"select {select} from {b_rel} except all select {select} from {a_rel}").fetchall()
    if not only_a and not only_b:
        return problems
    float_idx = [i for i, (_, t) in enumerate(kept) if t in FLOAT_TYPES]
    # decimals join the tolerant columns only when a decimal tolerance is asked for
    decimal_idx = [i for i, (_, t) in enumerate(kept) if decimal_tol and t.startswith("DECIMAL")]
    other_idx = [i for i in range(len(kept)) if i not in float_idx and i not in decimal_idx]
    float_idx = float_idx + decimal_idx

    def key(row: tuple) -> tuple:
        return _sort_key(tuple(row[i] for i in other_idx)) + _sort_key(tuple(row[i] for i in float_idx))

    only_a.sort(key=key)
    only_b.sort(key=key)
    mismatched = []
    if len(only_a) != len(only_b):
        mismatched = [("A only", r) for r in only_a[:3]] + [("B only", r) for r in only_b[:3]]
    else:
        for ra, rb in zip(only_a, only_b):
            same_others = all(ra[i] == rb[i] for i in other_idx)
            inherited = _cent_inherited_tolerance(ra, rb, decimal_idx)
            close = all(_decimals_close(ra[i], rb[i], Decimal(str(decimal_tol))) if i in decimal_idx
                        else _floats_close(ra[i], rb[i], float_abs_tol, inherited) for i in float_idx)
            if not same_others or not close:
                mismatched.append(("A", ra))
                mismatched.append(("B", rb))
    if mismatched:
        shown = "; ".join(f"{side}: {dict(zip([c for c, _ in kept], row))}" for side, row in mismatched[:4])
        problems.append(f"{schema}.{name}: {len(only_a)} rows only in A, {len(only_b)} only in B "
                        f"(beyond {REL_TOL:g} float tolerance); e.g. {shown}")
    return problems


def compare(path_a: Path, path_b: Path, decimal_tol: float = 0.0, float_abs_tol: float = 0.0) -> tuple[list[str], dict]:
    """Differences between two publications; ``decimal_tol`` (absolute, on
    DECIMAL columns) and ``float_abs_tol`` (on doubles, besides the relative
    1e-9) are 0 unless comparing across engines (ACROSS_ENGINES_*)."""
    con = duckdb.connect()
    con.execute(f"attach '{path_a}' as a (read_only)")
    con.execute(f"attach '{path_b}' as b (read_only)")
    cat_a, cat_b = _catalog(con, "a"), _catalog(con, "b")
    problems: list[str] = []
    stats = {"tables": 0, "columns": 0, "rows": 0}
    for kind in ("schemas",):
        if cat_a[kind] != cat_b[kind]:
            problems.append(f"schemas differ: only in A {sorted(cat_a[kind] - cat_b[kind])}, "
                            f"only in B {sorted(cat_b[kind] - cat_a[kind])}")
    for kind in ("tables", "views"):
        for missing, side in ((set(cat_a[kind]) - set(cat_b[kind]), "A"), (set(cat_b[kind]) - set(cat_a[kind]), "B")):
            for item in sorted(missing):
                problems.append(f"{kind[:-1]} {'.'.join(item)} only in {side}")
    for view in sorted(set(cat_a["views"]) & set(cat_b["views"])):
        if cat_a["views"][view] != cat_b["views"][view]:
            problems.append(f"view {'.'.join(view)}: definition differs")
    for table in sorted(set(cat_a["tables"]) & set(cat_b["tables"])):
        label = ".".join(table)
        if cat_a["tables"][table] != cat_b["tables"][table]:
            problems.append(f"{label}: table comment {cat_a['tables'][table]!r} vs {cat_b['tables'][table]!r}")
        cols_a, cols_b = cat_a["columns"].get(table, []), cat_b["columns"].get(table, [])
        if [(c, t) for c, t, _ in cols_a] != [(c, t) for c, t, _ in cols_b]:
            problems.append(f"{label}: columns/types differ: A {[(c, t) for c, t, _ in cols_a]} "
                            f"vs B {[(c, t) for c, t, _ in cols_b]}")
            continue
        for (c, _, comment_a), (_, _, comment_b) in zip(cols_a, cols_b):
            if comment_a != comment_b:
                problems.append(f"{label}.{c}: column comment {comment_a!r} vs {comment_b!r}")
        problems.extend(_compare_rows(con, table, cols_a, decimal_tol, float_abs_tol))
        stats["tables"] += 1
        stats["columns"] += len(cols_a)
        stats["rows"] += con.execute(f'select count(*) from a."{table[0]}"."{table[1]}"').fetchone()[0]
    con.close()
    return problems, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--across-engines", action="store_true",
                        help=f"builds by two engines: decimals to {ACROSS_ENGINES_DECIMAL_TOL:g}, doubles also to "
                             f"{ACROSS_ENGINES_FLOAT_ABS_TOL:g} absolute")
    args = parser.parse_args(argv)
    for path in (args.a, args.b):
        if not path.is_file():
            parser.error(f"{path} is not a file")
    tolerances = (ACROSS_ENGINES_DECIMAL_TOL, ACROSS_ENGINES_FLOAT_ABS_TOL) if args.across_engines else (0.0, 0.0)
    problems, stats = compare(args.a, args.b, *tolerances)
    if problems:
        print(f"DIFFERENT: {len(problems)} difference(s)")
        for problem in problems:
            print(" -", problem)
        return 1
    volatile = ", ".join(f"{t}.{c}" for t, c in VOLATILE)
    print(f"IDENTICAL: {stats['tables']} tables, {stats['columns']} columns, {stats['rows']:,} rows, "
          f"comments included (rows compared without the volatile columns {volatile}; floats to {REL_TOL:g} relative"
          + (f", decimals to {tolerances[0]:g}, doubles also to {tolerances[1]:g} absolute" if args.across_engines else "")
          + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
