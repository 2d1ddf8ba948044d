"""Shared by the tests that run dbt themselves, outside a pipeline run."""

from __future__ import annotations

import os
from pathlib import Path


def profile_env(folder: Path, lake: Path) -> dict[str, str]:
    """The environment for dbt_project/profiles.yml with every file it writes
    under ``folder`` (build file, working schemas, target, spill; the
    defaults are relative to the working directory) and ``lake`` attached
    as the lake, as yaocai.pipeline.dbt_env gives a run's dbt process.
    The compiled SQL and run results go to ``folder / "target"``."""
    return {**os.environ, "YAOCAI_BUILD_DB": str(folder / "build.duckdb"), "YAOCAI_LAKE_DB": str(lake),
            "YAOCAI_WORK_DB": str(folder / "work.duckdb"), "YAOCAI_DBT_TARGET_PATH": str(folder / "target"),
            "YAOCAI_DUCKDB_TEMP_DIR": str(folder / "duckdb_tmp"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
