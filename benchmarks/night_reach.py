"""How much of the months a night rebuilds really changed (issue 18, "sub-month recomputation").

An incremental build recomputes whole months (yaocai/incremental.py): the
benchmark's night of 75 k lines at 20 M recomputes October's 1.2 M lines and
every table built on them. Recomputing only part of a month could pay only
if most of the month's rows came out as they were. This compares the
publication a night made with the one before it (the retired publication,
WAREHOUSE/state/retired_publication.duckdb, after an incremental night) and
prints, for every table of both with a ``month`` column, its rows in the
months the night rebuilt (the newer file's ``main.build_info``) and how many
of them are new or changed: rows that any finer recomputation would still
have had to compute and write.

Rows reach further than the night's own lines because a line's reference and
an institution's benchmark depend on its product's whole month: the peer
median over public institutions (int_peer_median_prices) and the P10 and
median of price_benchmarks move with any new price-eligible line of the
product, and with them every line and institution row of that product.

    python benchmarks/night_reach.py WAREHOUSE/state/retired_publication.duckdb WAREHOUSE/yaocai.duckdb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script
    sys.path.insert(0, str(REPO))

from ingest.normalise import quote_literal  # noqa: E402 (after the path is set)


def _month_tables(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[tuple[str, str], list[str]]:
    """(schema, table) → column names, for the tables with a date ``month`` column."""
    rows = con.execute(
        "select schema_name, table_name, list(column_name order by column_index) "
        "from duckdb_columns() where database_name = ? group by all "
        "having bool_or(column_name = 'month' and data_type = 'DATE')", [catalog]).fetchall()
    return {(schema, table): columns for schema, table, columns in rows}


def changed_rows(before: Path, after: Path) -> dict:
    """The months ``after``'s build rebuilt, and per table with a month
    column in both files (same columns): its rows in those months and how
    many of them are not in ``before`` (EXCEPT ALL: new or changed)."""
    con = duckdb.connect()
    try:
        con.execute(f"attach {quote_literal(str(before))} as before_night (read_only)")
        con.execute(f"attach {quote_literal(str(after))} as after_night (read_only)")
        build = con.execute("select build_mode, rebuilt_months from after_night.main.build_info").fetchone()
        if build is None or build[0] != "incremental":
            raise SystemExit(f"{after} was not built incrementally: no months to compare")
        months = build[1]
        before_tables = _month_tables(con, "before_night")
        tables = []
        for (schema, table), columns in sorted(_month_tables(con, "after_night").items()):
            if before_tables.get((schema, table)) != columns:
                continue  # new, or its columns changed: nothing to compare row by row
            name = f'"{schema}"."{table}"'
            in_months = "where month in (select unnest(?::date[]))"
            rows, changed = con.execute(
                f"select (select count(*) from after_night.{name} {in_months}), "
                f"(select count(*) from (select * from after_night.{name} {in_months} "
                f"                       except all select * from before_night.{name} {in_months}))",
                [months, months, months]).fetchone()
            tables.append({"table": f"{schema}.{table}", "rows": rows, "changed": changed})
    finally:
        con.close()
    tables.sort(key=lambda t: -t["rows"])
    return {"months": [m.isoformat() for m in months], "tables": tables}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="how much of the months a night rebuilt really changed (issue 18)")
    parser.add_argument("before", type=Path, help="the publication before the night (e.g. state/retired_publication.duckdb)")
    parser.add_argument("after", type=Path, help="the night's publication (WAREHOUSE/yaocai.duckdb)")
    args = parser.parse_args(argv)
    figures = changed_rows(args.before, args.after)
    print(f"months rebuilt: {', '.join(figures['months'])}")
    width = max((len(t["table"]) for t in figures["tables"]), default=5)
    print(f"{'table':<{width}}  {'rows':>12}  {'new or changed':>15}")
    for t in figures["tables"]:
        share = f" ({t['changed'] / t['rows']:.1%})" if t["rows"] else ""
        print(f"{t['table']:<{width}}  {t['rows']:>12,}  {t['changed']:>15,}{share}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
