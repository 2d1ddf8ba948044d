"""The dbt build on Apache Spark (``yaocai run --engine spark``; issue 17,
docs/scale-out.md "Running yaocai on Spark").

The pipeline's build step runs ``python -m yaocai.spark_engine ARGS…`` as a
subprocess (like yaocai/dbt_runner.py for DuckDB: the JVM and its memory
end with the step, and every line goes to the step's log). In that process:

1. the lake's tables are written as Parquet (ingest/lake_parquet.py) under
   WAREHOUSE/state/spark/lake/ and registered as external tables of the
   Spark schema ``lake`` (what the sources read on Spark:
   models/staging/_lake__sources.yml);
2. a Spark session is started with the ``spark`` target's
   ``server_side_parameters`` of dbt_project/profiles.yml (the one home of
   the settings: ``YAOCAI_SPARK_MASTER`` default ``local[2]``,
   ``YAOCAI_SPARK_DRIVER_MEMORY`` default ``1g``, ``YAOCAI_SPARK_WAREHOUSE``
   …), with Hive support and its metastore under WAREHOUSE/state/spark/, so
   the Spark tables outlive the run;
3. the spec parser (ingest/specs.py) is registered as the Python UDF
   ``yaocai_parse_spec`` (on DuckDB it is a DuckDB function:
   ingest/dbt_plugin.py);
4. ``dbt build --target spark`` runs in this process: dbt-spark's
   ``method: session`` calls ``getOrCreate()`` and so reuses this session
   with its UDF and lake tables;
5. the tables the publication keeps (every schema but the pipeline's
   working ones) are exported as Parquet and copied into the run's DuckDB
   build file with the types their contracts declare (the models' YAML, in
   DuckDB's spelling) and their descriptions as comments, so the unchanged
   gate, publish and reports run on them (``copy_marts_to_duckdb``).

dbt's unit tests are left out on Spark: they test the models' logic on
fixtures, which the DuckDB build does, and two of them compare doubles
exactly (docs/scale-out.md); the figures of a Spark build are checked
against DuckDB's by tests/test_spark_engine.py. The exit status is dbt
build's (0 ok, 1 a model or test failed, 2 an error).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from foundation.layout import DBT_PROJECT_DIR, Layout

# ingest/duckdb_functions.py PARSED_SPEC_TYPE, in Spark's spelling
PARSED_SPEC_SPARK_TYPE = (
    "struct<parse_status:string,refusal_reason:string,content_amount:double,content_unit:string,"
    "fill_volume_ml:double,pack_count:int,container:string,percentage:double,basis_note:string,"
    "refusal_detail:string>"
)
LAKE_SCHEMA = "lake"  # dbt_project.yml var spark_lake_schema


def spark_state(layout: Layout) -> Path:
    """Spark's files for a warehouse: lake/ (Parquet), warehouse/ (the
    tables dbt builds), metastore_db/ (their catalogue)."""
    return layout.state / "spark"


def spark_env(layout: Layout) -> dict[str, str]:
    """Defaults the pipeline gives the profile's env_var()s for this warehouse
    (a value already in the environment wins)."""
    return {"YAOCAI_SPARK_WAREHOUSE": os.environ.get("YAOCAI_SPARK_WAREHOUSE")
            or str(spark_state(layout) / "warehouse")}


def session_settings(profiles_dir: Path = DBT_PROJECT_DIR) -> dict[str, str]:
    """The ``spark`` target's server_side_parameters of profiles.yml, with its
    ``env_var()`` calls rendered from the environment."""
    import jinja2
    import yaml  # type: ignore[import-untyped]

    def env_var(name: str, default: str | None = None) -> str:
        value = os.environ.get(name, default)
        if value is None:
            raise KeyError(f"profiles.yml needs the environment variable {name}")
        return value

    profile = yaml.safe_load((profiles_dir / "profiles.yml").read_text())
    parameters = profile["yaocai"]["outputs"]["spark"]["server_side_parameters"]
    environment = jinja2.Environment()
    return {key: environment.from_string(str(value)).render(env_var=env_var) for key, value in parameters.items()}


def start_session(state: Path, settings: dict[str, str]):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.enableHiveSupport().appName("yaocai")
    for key, value in settings.items():
        builder = builder.config(key, value)
    metastore = state / "metastore_db"
    builder = (builder
               # the catalogue of the Spark tables, kept with the warehouse (not the working directory)
               .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                       f"jdbc:derby:;databaseName={metastore};create=true")
               # and the catalogue's derby.log beside it, not in whatever directory the run started in
               .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={state}")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false"))  # progress bars in the step log: noise
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the UDF's workers: this virtualenv
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # a local session listens on loopback only
    spark = builder.getOrCreate()
    # WARN would repeat "Using an existing Spark session" for every model; errors still show
    spark.sparkContext.setLogLevel(os.environ.get("YAOCAI_SPARK_LOG_LEVEL", "ERROR"))
    return spark


def parse_spec_row(spec: str | None) -> dict:
    from ingest.specs import parse_spec

    return parse_spec(spec).as_dict()


def register_lake(spark, lake_db: Path, folder: Path, months: list[str] | None = None) -> list[str]:
    """The lake's tables as external Parquet tables of Spark schema ``lake``;
    with ``months`` (an incremental build), only those months of the
    purchases are written again (the others are as the last build wrote them)."""
    from ingest.lake_parquet import write_lake_parquet

    locations = write_lake_parquet(lake_db, folder, months)
    spark.sql(f"create database if not exists {LAKE_SCHEMA}")
    for name, location in sorted(locations.items()):
        spark.sql(f"drop table if exists {LAKE_SCHEMA}.{name}")
        spark.catalog.createTable(f"{LAKE_SCHEMA}.{name}", path=str(location), source="parquet")
        if spark.sql(f"describe table {LAKE_SCHEMA}.{name}").filter("col_name = '# Partition Information'").count():
            spark.catalog.recoverPartitions(f"{LAKE_SCHEMA}.{name}")
    return sorted(locations)


# In WAREHOUSE/state/spark/: the run whose build left the Spark tables as
# they are (written when a build ends, removed when one starts).
BUILT_FOR = "built_for.json"


def dbt_build_arguments(target_path: Path, log_path: Path, dbt_vars: str, full: bool) -> list[str]:
    """The ``dbt build`` of a Spark build: this module's and the Spark
    benchmark's (benchmarks/spark_build.py), which must measure the same
    build. Without unit tests (see the module's docstring)."""
    return ["build", "--target", "spark", "--exclude-resource-type", "unit_test",
            "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(target_path), "--log-path", str(log_path), "--vars", dbt_vars, "--no-use-colors",
            # A full build starts from nothing, as DuckDB's does from an empty
            # file: without it, the month-incremental tables kept from the last
            # Spark build would count as incremental and keep their old months.
            *(["--full-refresh"] if full else [])]


def incremental_refusal(layout: Layout, previous_publication: Path) -> str | None:
    """Why an incremental build on Spark cannot start from the Spark tables
    (None when it can). Spark keeps its tables in WAREHOUSE/state/spark/, not
    in the publication; an incremental build adds the rebuilt months to them,
    so they must be the ones the previous publication was copied from: built
    by the run that published it (not a DuckDB run since, nor a Spark build
    whose run failed later, nor a build that stopped half-way)."""
    import duckdb

    try:
        built_for = json.loads((spark_state(layout) / BUILT_FOR).read_text())["run_id"]
    except (OSError, ValueError, KeyError):
        return "no complete Spark build to start from"
    con = duckdb.connect(str(previous_publication), read_only=True)
    try:
        published = con.execute("select run_id from main.build_info").fetchone()
    finally:
        con.close()
    if published is None or published[0] != built_for:
        return (f"the Spark tables are from run {built_for}, not from the last publication's "
                f"{published[0] if published else '(unknown)'}")
    return None


def published_models(manifest: dict, working_schemas: list[str]) -> list[dict]:
    """The models dbt builds as tables the publication keeps (every schema
    but the working ones: the marts of ``main``, and the month-incremental
    tables of ``incremental`` that the next DuckDB build reads back),
    sorted by schema and name."""
    nodes = [node for node in manifest["nodes"].values()
             if node["resource_type"] == "model" and node["schema"] not in working_schemas
             and node["config"]["materialized"] in ("table", "incremental")]
    return sorted(nodes, key=lambda node: (node["schema"], _name(node)))


def _select_order(spark, node: dict) -> list[str]:
    """The model's columns in the order of its select, as DuckDB's table has
    them: Spark puts a table's partition columns last (the month-incremental
    models are partitioned by month on Spark), and a later DuckDB build
    appends to the copied ``incremental`` tables by position. Resolving the
    compiled select only plans it (no Spark job runs). Only a partitioned
    table has moved a column; the others are taken as they are (a model that
    read its previous version compiled to a ``__previous`` copy that is
    gone by now: dbt_project/macros/incremental.sql)."""
    compiled = node.get("compiled_code")
    table = spark.table(f"{node['schema']}.{_name(node)}")
    if not compiled or not node["config"].get("partition_by"):
        return table.columns
    ordered = spark.sql(compiled).columns
    return ordered if sorted(ordered) == sorted(table.columns) else table.columns


def _name(node: dict) -> str:
    return node["alias"] or node["name"]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _declared_types(node: dict) -> list[tuple[str, str]] | None:
    """(column, type) as the model's contract declares them; None when the
    model has no enforced contract."""
    if not node["config"].get("contract", {}).get("enforced"):
        return None
    columns = list(node["columns"].values())
    missing = [c["name"] for c in columns if not c.get("data_type")]
    if not columns or missing:
        raise ValueError(f"model {_name(node)} has no contract type for {missing or 'any column'}")
    return [(c["name"], c["data_type"]) for c in columns]


def _spark_types_as_duckdb(con, files: str) -> list[tuple[str, str]]:
    """An uncontracted table's types as DuckDB's build makes them: Spark's
    Parquet types, but a decimal wider than 18 digits (a sum: Spark gives
    decimal(p + 10, s), DuckDB decimal(38, s)) as decimal(38, s)."""
    import re

    types = []
    for name, type_, *_ in con.execute(f"describe select * from read_parquet({_quote(files)})").fetchall():
        wide = re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", type_)
        types.append((name, f"DECIMAL(38,{wide.group(2)})" if wide and int(wide.group(1)) > 18 else type_))
    return types


def copy_marts_to_duckdb(export: Path, manifest: dict, build_db: Path, working_schemas: list[str]) -> list[str]:
    """Each exported table into ``build_db`` with the types its contract
    declares (what DuckDB's build makes of a contracted model), and the
    YAML descriptions as comments where the model persists them (the
    DuckDB build's persist_docs)."""
    import duckdb

    copied = []
    con = duckdb.connect(str(build_db))
    try:
        for node in published_models(manifest, working_schemas):
            schema, name = node["schema"], _name(node)
            files = str(export / schema / name / "*.parquet")
            columns = _declared_types(node) or _spark_types_as_duckdb(con, files)
            definition = ", ".join(f'"{column}" {type_}' for column, type_ in columns)
            select = ", ".join(f'cast("{column}" as {type_})' for column, type_ in columns)
            relation = f'"{schema}"."{name}"'
            con.execute(f'create schema if not exists "{schema}"')
            con.execute(f"create or replace table {relation} ({definition})")
            con.execute(f"insert into {relation} select {select} from read_parquet({_quote(files)})")
            persist = node["config"].get("persist_docs") or {}
            if persist.get("relation") and node.get("description"):
                con.execute(f"comment on table {relation} is {_quote(node['description'])}")
            for column in node["columns"].values() if persist.get("columns") else ():
                if column.get("description"):
                    con.execute(f'comment on column {relation}."{column["name"]}" '
                                f"is {_quote(column['description'])}")
            copied.append(f"{schema}.{name}")
        con.execute("checkpoint")
    finally:
        con.close()
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--build-db", type=Path, required=True, help="the run's DuckDB build file")
    parser.add_argument("--vars", required=True, help="dbt --vars (JSON)")
    parser.add_argument("--target-path", type=Path, required=True)
    parser.add_argument("--log-path", type=Path, required=True)
    parser.add_argument("--run-id", default=None, help="recorded as the run the Spark tables were built for")
    parser.add_argument("--working-schemas", required=True,
                        help="comma-separated schemas the publication drops (yaocai/pipeline.py WORKING_SCHEMAS)")
    args = parser.parse_args(argv)

    layout = Layout(args.warehouse)
    state = spark_state(layout)
    state.mkdir(parents=True, exist_ok=True)
    os.environ.update({k: v for k, v in spark_env(layout).items() if k not in os.environ})
    started = time.monotonic()
    spark = start_session(state, session_settings())
    # The Spark tables are about to change: until this build is complete no
    # later build may start from them (incremental_refusal).
    (state / BUILT_FOR).unlink(missing_ok=True)
    rebuild_months = json.loads(args.vars).get("rebuild_months")
    tables = register_lake(spark, layout.lake, state / "lake", rebuild_months)
    spark.udf.register("yaocai_parse_spec", parse_spec_row, PARSED_SPEC_SPARK_TYPE)
    loaded = time.monotonic()
    print(f"spark: session {spark.sparkContext.master}, {len(tables)} lake tables registered in "
          f"{loaded - started:.1f}s", flush=True)

    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(dbt_build_arguments(args.target_path, args.log_path, args.vars,
                                                    full=rebuild_months is None))
    built = time.monotonic()
    if (args.target_path / "run_results.json").exists():
        shutil.copyfile(args.target_path / "run_results.json", args.target_path / "build_results.json")
    if not result.success:
        return 2 if result.exception is not None else 1
    (args.target_path / "docs_result.json").write_text(json.dumps(
        {"ok": False, "error": "dbt docs are generated by DuckDB builds only"}))
    manifest = json.loads((args.target_path / "manifest.json").read_text())
    export = args.build_db.parent / "spark_marts"
    shutil.rmtree(export, ignore_errors=True)
    working = args.working_schemas.split(",")
    for node in published_models(manifest, working):
        spark.table(f"{node['schema']}.{_name(node)}").select(*_select_order(spark, node)).write.mode(
            "overwrite").parquet(str(export / node["schema"] / _name(node)))
    spark.stop()
    copied = copy_marts_to_duckdb(export, manifest, args.build_db, working)
    shutil.rmtree(export, ignore_errors=True)
    if args.run_id:
        (state / BUILT_FOR).write_text(json.dumps({"run_id": args.run_id}))
    print(f"spark: dbt build {built - loaded:.1f}s; {len(copied)} tables copied into {args.build_db} in "
          f"{time.monotonic() - built:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
