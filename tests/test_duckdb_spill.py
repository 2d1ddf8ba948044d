"""A dbt build that spills to disk keeps working (issue 6: memory stays bounded).

dbt-duckdb runs ``SET key = value`` for every entry of the profile's
``settings`` on each new cursor, and DuckDB refuses ``SET temp_directory``
(even to the same path) once it has spilled there. The spill directory is
therefore given as a connect-time ``config_options`` entry.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import jinja2
import yaml

PROFILES = Path(__file__).resolve().parent.parent / "dbt_project" / "profiles.yml"


def build_profile(env: dict[str, str]) -> dict:
    def env_var(name: str, default: str = "") -> str:
        return env.get(name, default)

    rendered = jinja2.Template(PROFILES.read_text()).render(env_var=env_var)
    return yaml.safe_load(rendered)["yaocai"]["outputs"]["build"]


def test_spill_directory_is_set_once_at_connect():
    profile = build_profile({})
    assert "temp_directory" not in profile.get("settings", {})
    assert "temp_directory" in profile["config_options"]


def test_a_new_cursor_after_a_spill_applies_the_settings(tmp_path):
    spill = tmp_path / "spill"
    profile = build_profile({"YAOCAI_DUCKDB_TEMP_DIR": str(spill), "YAOCAI_DUCKDB_MEMORY_LIMIT": "64MB"})
    con = duckdb.connect(str(tmp_path / "build.duckdb"), config=profile["config_options"])
    for key, value in profile["settings"].items():
        con.execute(f"SET {key} = '{value}'")
    # A sort larger than the memory limit spills to the directory.
    con.execute("create table t as select md5(i::varchar) as s, i from range(2000000) r(i)")
    assert con.execute("select count(*) from (select s from t order by s)").fetchone()[0] == 2_000_000
    cursor = con.cursor()
    for key, value in profile["settings"].items():  # what dbt-duckdb does for every model
        cursor.execute(f"SET {key} = '{value}'")
    assert cursor.execute("select current_setting('temp_directory')").fetchone()[0] == str(spill)
    con.close()


def test_dbt_by_hand_has_the_pipelines_default_memory_limit():
    # One default (foundation/layout.py); the profile's fallback for `dbt` run by hand must not drift from it.
    from foundation.layout import DEFAULT_DUCKDB_MEMORY_LIMIT

    assert build_profile({})["settings"]["memory_limit"] == DEFAULT_DUCKDB_MEMORY_LIMIT
    assert build_profile({"YAOCAI_DUCKDB_MEMORY_LIMIT": "3GB"})["settings"]["memory_limit"] == "3GB"
    # GB is decimal in DuckDB: 5GB = 4.6 GiB, the ~0.9 GiB of headroom below 6 GiB the default is chosen for
    assert duckdb.connect(config={"memory_limit": DEFAULT_DUCKDB_MEMORY_LIMIT}).execute(
        "select current_setting('memory_limit')").fetchone()[0] == "4.6 GiB"
