"""DuckDB threads in the dbt build follow the machine (issue 14, item 11);
dbt's threads follow the lines the build recomputes (issue 18)."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from foundation.layout import duckdb_threads
from yaocai.incremental import BuildPlan
from yaocai.pipeline import RunContext, dbt_env, lines_recomputed


def test_default_is_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.delenv("YAOCAI_DUCKDB_THREADS", raising=False)
    assert duckdb_threads() == len(os.sched_getaffinity(0))


def test_override_and_its_way_into_the_dbt_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("YAOCAI_DUCKDB_THREADS", "3")
    assert duckdb_threads() == 3
    ctx = RunContext(landing=str(tmp_path), warehouse=str(tmp_path), as_of="2026-10-31", run_id="r1")
    assert dbt_env(ctx, lines_recomputed=10)["YAOCAI_DUCKDB_THREADS"] == "3"


@pytest.mark.parametrize("bad", ["0", "-2", "many"])
def test_a_bad_override_is_a_clear_error(monkeypatch, bad):
    monkeypatch.setenv("YAOCAI_DUCKDB_THREADS", bad)
    with pytest.raises(ValueError):
        duckdb_threads()


def test_dbt_threads_follow_the_lines_the_build_recomputes(monkeypatch, tmp_path):
    """A full rebuild of a large lake builds one model at a time; a night on
    the same lake recomputes its months only and keeps two dbt threads."""
    monkeypatch.delenv("YAOCAI_DBT_THREADS", raising=False)
    september, october = dt.date(2026, 9, 1), dt.date(2026, 10, 1)
    composition = {("f1", september, 1_500_000), ("f2", october, 1_500_000), ("f3", october, 300_000)}
    full = BuildPlan("full", "first build")
    night = BuildPlan("incremental", "only purchase lines changed", rebuild_months=["2026-10-01"])
    assert lines_recomputed(full, composition) == 3_300_000
    assert lines_recomputed(night, composition) == 1_800_000
    ctx = RunContext(landing=str(tmp_path), warehouse=str(tmp_path), as_of="2026-10-31", run_id="r1")
    assert dbt_env(ctx, lines_recomputed(full, composition))["YAOCAI_DBT_THREADS"] == "1"
    assert dbt_env(ctx, lines_recomputed(night, composition), incremental=True)["YAOCAI_DBT_THREADS"] == "2"
    monkeypatch.setenv("YAOCAI_DBT_THREADS", "1")  # the operator's override wins
    assert dbt_env(ctx, lines_recomputed(night, composition), incremental=True)["YAOCAI_DBT_THREADS"] == "1"
