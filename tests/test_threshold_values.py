"""threshold() (dbt_project/macros/monitoring.sql) writes the value in force
at the as-of date into a model's SQL as a literal (issue 18), read from the
seed monitoring_thresholds when the model runs: the dated row in force
then, the exact double, and a clear error naming the threshold when no row
is in force. Checked on dbt's compiled SQL of a copy of the project whose
seed has a second, dated version of one threshold and lacks another."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from foundation.layout import DBT_PROJECT_DIR
from tests.dbt_support import profile_env

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL = "int_anomalies__price_rise_institution"  # reads price_rise_institution_min_rise and price_anomaly_min_amount

# Seeds the copy, then compiles the model at each as-of date given, in one
# process (dbt's start-up once); prints a JSON line per date: the compiled
# SQL, or dbt's error.
COMPILE_AT = """
import json, sys
from pathlib import Path
from dbt.cli.main import dbtRunner
project, target, dates = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
common = ["--project-dir", project, "--profiles-dir", project, "--no-use-colors"]
seeded = dbtRunner().invoke(["seed", "--select", "monitoring_thresholds", *common])
assert seeded.success, seeded.exception
for as_of in dates:
    done = dbtRunner().invoke(["compile", "--select", "%s", "--vars", json.dumps({"as_of": as_of}), *common])
    sql = next(target.rglob("%s.sql")).read_text() if done.success else None
    print(json.dumps({"as_of": as_of, "sql": sql, "error": None if done.success else str(done.exception)}))
    for old in target.rglob("%s.sql"):
        old.unlink()
""" % (MODEL, MODEL, MODEL)


def _project_with_seed(tmp_path: Path, edit) -> Path:
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    seed = project / "seeds" / "monitoring_thresholds.csv"
    with seed.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    fields = list(rows[0])
    rows = edit(rows)
    with seed.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return project


def _compile(tmp_path: Path, project: Path, *dates: str) -> dict[str, dict]:
    duckdb.connect(str(tmp_path / "lake.duckdb")).close()  # the profile attaches a lake; compiling reads none of it
    target = tmp_path / "target"  # profile_env's
    done = subprocess.run([sys.executable, "-c", COMPILE_AT, str(project), str(target), *dates],
                          env=profile_env(tmp_path, tmp_path / "lake.duckdb"),
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"as_of"')]
    return {r["as_of"]: r for r in results}


def _literals(sql: str) -> list[str]:
    return re.findall(r"cast\(([0-9.eE+-]+) as double\)", sql)


def test_the_value_in_force_at_the_as_of_date_is_written_into_the_sql(tmp_path):
    def dated(rows):
        for row in rows:
            if row["name"] == "price_rise_institution_min_rise":
                row["effective_to"] = "2026-11-01"
                rows.append({**row, "value": "0.45", "effective_from": "2026-11-01", "effective_to": ""})
                return rows
        raise AssertionError("price_rise_institution_min_rise is not in the seed")

    project = _project_with_seed(tmp_path, dated)
    compiled = _compile(tmp_path, project, "2026-10-31", "2026-11-30")
    october, november = compiled["2026-10-31"]["sql"], compiled["2026-11-30"]["sql"]
    assert october and november, compiled
    # no subquery on the seed left (its relation is quoted; comments name the csv)
    assert '"monitoring_thresholds"' not in october + november
    # the minimum amount (1000) and the rise in force at each date
    assert sorted(set(map(float, _literals(october)))) == [0.3, 1000.0]
    assert sorted(set(map(float, _literals(november)))) == [0.45, 1000.0]


def test_a_threshold_with_no_row_in_force_stops_the_model_with_its_name(tmp_path):
    project = _project_with_seed(tmp_path, lambda rows: [r for r in rows if r["name"] != "price_anomaly_min_amount"])
    compiled = _compile(tmp_path, project, "2026-10-31")
    result = compiled["2026-10-31"]
    assert result["sql"] is None
    assert "threshold 'price_anomaly_min_amount': 0 rows" in result["error"], result
