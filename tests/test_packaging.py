"""Packaging and habits (issue 14, item 10): the CLI without Airflow, the dbt project
as package data, ruff and mypy clean."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Runs a CLI command in a fresh interpreter and reports which of our and Airflow's
# modules it loaded. `--help` exits through SystemExit; other commands return.
_PROBE = """
import json, sys
from yaocai.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("airflow", "yaocai_demo", "yaocai", "ingest"))
print(json.dumps({"status": status, "loaded": loaded}))
"""


def _cli_modules(*argv: str) -> tuple[int, list[str]]:
    completed = subprocess.run([sys.executable, "-c", _PROBE, *argv], cwd=REPO, capture_output=True, text=True,
                               timeout=120, check=False)
    assert completed.stdout.strip(), completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return result["status"], result["loaded"]


def test_the_cli_never_imports_airflow(tmp_path):
    status, loaded = _cli_modules("--help")
    assert status == 0
    assert not [m for m in loaded if m.split(".")[0] == "airflow"]

    # `yaocai run` loads the whole pipeline (ingest, dbt runner, gate, publish) before
    # it checks its arguments; a missing --landing then stops it with status 2.
    status, loaded = _cli_modules("run", "--warehouse", str(tmp_path / "w"), "--as-of", "2026-10-31")
    assert status == 2
    assert "yaocai.pipeline" in loaded and "ingest.loader" in loaded
    assert not [m for m in loaded if m.split(".")[0] == "airflow"]
    # The demo generator is not part of the pipeline.
    assert not [m for m in loaded if m.split(".")[0] == "yaocai_demo"]

    status, loaded = _cli_modules("demo-data", "--landing", str(tmp_path / "landing"), "--lines", "1000")
    assert status == 0
    assert "yaocai_demo.landing" in loaded
    assert not [m for m in loaded if m.split(".")[0] == "airflow"]


def test_the_dbt_project_is_package_data_and_every_file_of_it_ships():
    from importlib.resources import files

    from foundation.layout import DBT_PROJECT_DIR

    packaged = Path(str(files("yaocai.dbt_project")))
    assert DBT_PROJECT_DIR == packaged
    assert (packaged / "dbt_project.yml").is_file()

    # Every file dbt reads must match a package-data pattern, or a wheel would miss it.
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert setuptools["package-dir"]["yaocai.dbt_project"] == "dbt_project"
    patterns = setuptools["package-data"]["yaocai.dbt_project"]
    shipped = {path for pattern in patterns for path in (REPO / "dbt_project").glob(pattern)}
    generated = {"target", "logs", "dbt_packages", "__pycache__"}
    project_files = {path for path in (REPO / "dbt_project").rglob("*")
                     if path.is_file() and not generated & set(path.relative_to(REPO / "dbt_project").parts)
                     and path.name not in ("__init__.py", ".user.yml")}
    assert project_files, "no dbt project files found"
    assert sorted(str(p.relative_to(REPO)) for p in project_files - shipped) == []


def test_ruff_is_clean():
    completed = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(REPO)], cwd=REPO,
                               capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.slow
def test_mypy_is_clean():
    # Settings and the files checked are in pyproject.toml [tool.mypy]. The cache
    # (.mypy_cache/) makes runs after the first take seconds; a cold run, a minute or more.
    completed = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True,
                               timeout=900, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
