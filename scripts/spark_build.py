"""Experimental: build the dbt project on Apache Spark (a local session) from a
DuckDB lake, to measure how far the models run there (issue 17;
docs/scale-out.md). Not part of `yaocai run`.

    PYTHONPATH=. SPARK_VENV/bin/python scripts/spark_build.py \
        --lake WAREHOUSE/state/lake.duckdb --work /tmp/spark-build [--as-of 2026-10-31]

SPARK_VENV is a virtualenv with the optional extra `spark` (pyproject.toml:
dbt-spark[session], pyspark) and duckdb. Steps: the lake's tables are
copied to Parquet and registered as tables of the Spark schema `lake` (what
the sources read on Spark: models/staging/_lake__sources.yml); the spec
parser (ingest/specs.py) is registered as the Spark Python UDF
`yaocai_parse_spec` (on DuckDB it is a DuckDB function: ingest/dbt_plugin.py);
then `dbt build --target spark` runs in this process, so dbt-spark's
`method: session` reuses this session and its UDF. Prints dbt's result per
node and a summary line; exits 1 when a node failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
DBT_PROJECT = REPO / "dbt_project"

# ingest/duckdb_functions.py PARSED_SPEC_TYPE, in Spark's spelling
PARSED_SPEC_SPARK_TYPE = (
    "struct<parse_status:string,refusal_reason:string,content_amount:double,content_unit:string,"
    "fill_volume_ml:double,pack_count:int,container:string,percentage:double,basis_note:string,"
    "refusal_detail:string>"
)


def lake_to_parquet(lake: Path, folder: Path) -> list[str]:
    """Every table of the lake's main schema as one Parquet file; the table names."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(lake), read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'main' order by 1"
            ).fetchall()
        ]
        for name in names:
            con.execute(f"copy main.{name} to '{folder / name}.parquet' (format parquet)")
    finally:
        con.close()
    return names


def parse_spec_row(spec: str | None) -> dict:
    from ingest.specs import parse_spec

    return parse_spec(spec).as_dict()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True, help="WAREHOUSE/state/lake.duckdb")
    parser.add_argument("--work", type=Path, required=True, help="an empty folder for Spark's files")
    parser.add_argument("--as-of", default="2026-10-31")
    parser.add_argument("--select", default=None, help="dbt node selection (default: everything)")
    parser.add_argument(
        "--no-unit-tests",
        action="store_true",
        help="leave dbt's unit tests out (a failing unit test skips its model and everything downstream)",
    )
    parser.add_argument(
        "--export", type=Path, default=None, help="write every table of Spark schema main (the marts) here as Parquet"
    )
    args = parser.parse_args(argv)

    started = time.monotonic()
    names = lake_to_parquet(args.lake, args.work / "lake-parquet")

    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.warehouse.dir", str(args.work / "spark-warehouse"))
        .config("spark.sql.parser.quotedRegexColumnNames", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sql("create database if not exists lake")
    for name in names:
        spark.read.parquet(str(args.work / "lake-parquet" / f"{name}.parquet")).write.mode("overwrite").saveAsTable(
            f"lake.{name}"
        )
    spark.udf.register("yaocai_parse_spec", parse_spec_row, PARSED_SPEC_SPARK_TYPE)
    loaded = time.monotonic()

    from dbt.cli.main import dbtRunner

    command = [
        "build",
        "--target",
        "spark",
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(args.work / "target"),
        "--log-path",
        str(args.work / "logs"),
        "--vars",
        json.dumps({"as_of": args.as_of}),
        "--no-use-colors",
    ]
    if args.no_unit_tests:
        command += ["--exclude-resource-type", "unit_test"]
    if args.select:
        command += ["--select", args.select]
    result = dbtRunner().invoke(command)
    finished = time.monotonic()
    statuses: dict[str, int] = {}
    for node in result.result or []:
        status = str(node.status)
        statuses[status] = statuses.get(status, 0) + 1
        if status not in ("success", "pass"):
            print(f"{status}: {node.node.unique_id}: {(node.message or '')[:300]}")
    print(
        f"spark build: lake {len(names)} tables loaded in {loaded - started:.1f}s; dbt build {finished - loaded:.1f}s; "
        + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    )
    if args.export:
        # the marts, one Parquet folder each, for a comparison with a DuckDB publication
        for row in spark.sql("show tables in main").collect():
            spark.table(f"main.{row.tableName}").write.mode("overwrite").parquet(str(args.export / row.tableName))
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
