"""Spark's cost per line: a full ``dbt build --target spark`` of one lake,
timed per stage in wall and CPU seconds (the JVM's and Python's).

The build is the one ``yaocai.spark_engine`` runs (same session settings
from profiles.yml, same lake registration and spec UDF), without the copy of
the marts into DuckDB. Run it on two lake sizes: the difference is Spark's
cost per line, the rest is its per-node overhead (docs/scale-out.md,
"Throughput, partitioning and sizing").

    .venv/bin/python benchmarks/spark_build.py --lake /tmp/yaocai-bench/warehouse-1M/state/lake.duckdb \\
        --work /tmp/spark-bench-1M --driver-memory 2g

Prints one JSON document; --work must be outside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script
    sys.path.insert(0, str(REPO))

from yaocai.spark_engine import (  # noqa: E402 (after the path is set)
    PARSED_SPEC_SPARK_TYPE, dbt_build_arguments, parse_spec_row, register_lake, session_settings, start_session)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def jvm_cpu_seconds(pid: int) -> float:
    """User + system CPU of the session's JVM (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def python_cpu_seconds() -> float:
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def jvm_peak_rss_mb(pid: int) -> int:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmHWM"))
    return int(line.split()[1]) // 1024


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True, help="a warehouse's state/lake.duckdb")
    parser.add_argument("--work", type=Path, required=True, help="emptied first; Spark's tables and logs")
    parser.add_argument("--as-of", default="2026-10-31")
    parser.add_argument("--driver-memory", default="1g")
    args = parser.parse_args(argv)
    if args.work.resolve().is_relative_to(REPO):
        parser.error("--work must be outside the repository")
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    os.environ["YAOCAI_SPARK_WAREHOUSE"] = str(args.work / "warehouse")
    settings = {**session_settings(), "spark.driver.memory": args.driver_memory}

    stages: dict[str, dict[str, Any]] = {}
    wall, cpu = time.monotonic(), python_cpu_seconds()
    spark = start_session(args.work, settings)
    pid = spark.sparkContext._gateway.proc.pid
    tables = register_lake(spark, args.lake, args.work / "lake")
    spark.udf.register("yaocai_parse_spec", parse_spec_row, PARSED_SPEC_SPARK_TYPE)
    lines = spark.sql("select count(*) from lake.purchases").collect()[0][0]
    stages["session, lake to Parquet, lake tables"] = {
        "wall": round(time.monotonic() - wall, 1), "cpu_jvm": round(jvm_cpu_seconds(pid), 1),
        "cpu_python": round(python_cpu_seconds() - cpu, 1), "tables": len(tables)}

    from dbt.cli.main import dbtRunner

    wall, jvm, cpu = time.monotonic(), jvm_cpu_seconds(pid), python_cpu_seconds()
    result = dbtRunner().invoke(["--quiet", *dbt_build_arguments(args.work / "target", args.work / "logs",
                                                                  json.dumps({"as_of": args.as_of}), full=True)])
    nodes = json.loads((args.work / "target" / "run_results.json").read_text())["results"]
    stages["dbt build"] = {
        "wall": round(time.monotonic() - wall, 1), "cpu_jvm": round(jvm_cpu_seconds(pid) - jvm, 1),
        "cpu_python": round(python_cpu_seconds() - cpu, 1), "nodes": len(nodes), "success": result.success,
        "failed": [n["unique_id"] for n in nodes if n["status"] in ("error", "fail")],
        "slowest_models": sorted(((round(n["execution_time"], 1), n["unique_id"].split(".")[-1]) for n in nodes
                                  if n["unique_id"].startswith("model.")), reverse=True)[:8]}
    report = {"lake": str(args.lake), "purchase_lines": lines, "driver_memory": args.driver_memory,
              "load_after": os.getloadavg(), "jvm_peak_rss_mb": jvm_peak_rss_mb(pid), "stages": stages}
    spark.stop()
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
