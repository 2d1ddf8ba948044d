"""DuckDB threads in the dbt build follow the machine (issue 14, item 11)."""

from __future__ import annotations

import os

import pytest

from foundation.layout import duckdb_threads
from yaocai.pipeline import RunContext, dbt_env


def test_default_is_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.delenv("YAOCAI_DUCKDB_THREADS", raising=False)
    assert duckdb_threads() == len(os.sched_getaffinity(0))


def test_override_and_its_way_into_the_dbt_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("YAOCAI_DUCKDB_THREADS", "3")
    assert duckdb_threads() == 3
    ctx = RunContext(landing=str(tmp_path), warehouse=str(tmp_path), as_of="2026-10-31", run_id="r1")
    assert dbt_env(ctx, lake_lines=10)["YAOCAI_DUCKDB_THREADS"] == "3"


@pytest.mark.parametrize("bad", ["0", "-2", "many"])
def test_a_bad_override_is_a_clear_error(monkeypatch, bad):
    monkeypatch.setenv("YAOCAI_DUCKDB_THREADS", bad)
    with pytest.raises(ValueError):
        duckdb_threads()
