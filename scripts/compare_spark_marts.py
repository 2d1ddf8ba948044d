#!/usr/bin/env python3
"""Do the marts of a Spark build equal a DuckDB publication's? (issue 17;
docs/scale-out.md). Experimental measurement, not yet a test.

    .venv/bin/python scripts/compare_spark_marts.py PUBLISHED.duckdb SPARK_EXPORT/ OUT/

SPARK_EXPORT is the `--export` folder of scripts/spark_build.py (one Parquet
folder per table of Spark's schema main). Writes OUT/duckdb_side.duckdb (the
publication's tables that Spark also built) and OUT/spark_side.duckdb (the
Spark tables cast to the publication's column types), then runs
scripts/compare_publications.py on the two (rows as multisets, floats to
1e-9 relative) and exits with its status.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("published", type=Path)
    parser.add_argument("spark_export", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    duckdb_side, spark_side = args.out / "duckdb_side.duckdb", args.out / "spark_side.duckdb"
    for path in (duckdb_side, spark_side):
        path.unlink(missing_ok=True)
    a, b = duckdb.connect(str(duckdb_side)), duckdb.connect(str(spark_side))
    a.execute(f"attach '{args.published}' as pub (read_only)")
    published = {
        r[0]
        for r in a.execute(
            "select table_name from duckdb_tables() where database_name = 'pub' and schema_name = 'main'"
        ).fetchall()
    }
    exported = sorted(p.name for p in args.spark_export.iterdir() if p.is_dir())
    both = [t for t in exported if t in published]
    print(f"{len(both)} tables compared; published but not built on Spark: {sorted(published - set(exported))}")
    for table in both:
        a.execute(f"create table main.{table} as select * from pub.main.{table}")
        columns = a.execute(
            "select column_name, data_type from duckdb_columns() "
            "where database_name = 'pub' and schema_name = 'main' and table_name = ? order by column_index",
            [table],
        ).fetchall()
        select = ", ".join(f'cast("{name}" as {type_}) as "{name}"' for name, type_ in columns)
        b.execute(
            f"create table main.{table} as select {select} from read_parquet('{args.spark_export / table}/*.parquet')"
        )
    a.execute("detach pub")
    a.close()
    b.close()
    return subprocess.run(
        [sys.executable, str(HERE / "compare_publications.py"), str(duckdb_side), str(spark_side)]
    ).returncode


if __name__ == "__main__":
    sys.exit(main())
