"""Full rebuild or incremental build: which, and which months (issue 6).

A province's history is ~20 M purchase lines; a night adds ~60 k. An
incremental build starts from a copy of the previous publication and has
the month-incremental dbt models (macros/incremental.sql) recompute only the
months whose lines changed; everything else is rebuilt from those tables.

The publication records what it was built from (``main.build_info`` and
``incremental.purchase_composition``: lines per delivered purchases file ×
month). The next build compares that with the lake now:

* months to rebuild = months where some file's line count differs (a new
  file, a restated or withdrawn file, a late correction to an old month)
  plus, when the as-of date moved forward, the months from the old as-of
  month to the new one (lines in them change their ``is_after_as_of``);
* anything else that could change history forces a full rebuild: no
  previous publication or one without build records, a previous
  publication whose bytes differ from the checksum recorded when it was
  published (edited by hand; foundation/publication.py), another dbt project
  (models, macros, seeds, thresholds), another DuckDB/dbt version, changed
  catalogue / listed-price / VBP / institution deliveries, an earlier as-of
  date, a dated seed row (a monitoring threshold) coming into or going out
  of force between the two as-of dates, or ``YAOCAI_FULL_REBUILD=1``.

Comparing compositions rather than remembering "what was loaded since"
makes the decision depend only on the lake and the publication: a run that
failed after ingest leaves its months unpublished, so the next run rebuilds
them too.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import duckdb

from foundation.layout import DBT_PROJECT_DIR

# dbt project content that decides what a build computes (target/, logs/
# and the like are outputs).
FINGERPRINTED = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests")

PURCHASE_COMPOSITION_SQL = """
    select _file_id as file_id,
           cast(date_trunc('month', purc_retn_stoin_time) as date) as month,
           count(*) as line_count
    from purchases
    group by all
"""

# Deliveries other than purchases: any change to them may change any month.
DIMENSIONS_SQL = """
    select feed, file_id from ingest_manifest
    where status = 'loaded' and feed <> 'purchases'
    order by feed, file_id
"""


@dataclass
class BuildPlan:
    mode: str  # full | incremental
    reason: str
    rebuild_months: list[str] = field(default_factory=list)  # incremental: 'YYYY-MM-01', sorted
    code_fingerprint: str = ""
    dimension_fingerprint: str = ""

    @property
    def incremental(self) -> bool:
        return self.mode == "incremental"

    def dbt_vars(self, as_of: str) -> dict:
        return {"as_of": as_of, **({"rebuild_months": self.rebuild_months} if self.incremental else {})}

    def line(self) -> str:
        if not self.incremental:
            return f"full rebuild ({self.reason})"
        months = self.rebuild_months
        shown = ", ".join(m[:7] for m in months[:6]) + (f" … ({len(months)} months)" if len(months) > 6 else "")
        return f"incremental: {len(months)} month{'s' if len(months) != 1 else ''} rebuilt ({shown or 'none'})"


def code_fingerprint(project_dir: Path = DBT_PROJECT_DIR) -> str:
    digest = hashlib.sha256()
    for package in ("duckdb", "dbt-core", "dbt-duckdb"):
        digest.update(f"{package}=={version(package)}\n".encode())
    for name in FINGERPRINTED:
        root = project_dir / name
        paths = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in paths:
            if path.exists():
                digest.update(path.relative_to(project_dir).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def dimension_fingerprint(lake: duckdb.DuckDBPyConnection) -> str:
    rows = lake.execute(DIMENSIONS_SQL).fetchall()
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def purchase_composition(lake: duckdb.DuckDBPyConnection) -> set[tuple[str, dt.date, int]]:
    return {(f, m, n) for f, m, n in lake.execute(PURCHASE_COMPOSITION_SQL).fetchall()}


def _previous_build(published: Path) -> tuple[dict, set[tuple[str, dt.date, int]]] | None:
    """build_info and composition recorded in the publication, or None."""
    if not published.exists():
        return None
    con = duckdb.connect(str(published), read_only=True)
    try:
        tables = {(s, t) for s, t in con.execute("select schema_name, table_name from duckdb_tables()").fetchall()}
        if ("main", "build_info") not in tables or ("incremental", "purchase_composition") not in tables:
            return None
        row = con.execute("select as_of, code_fingerprint, dimension_fingerprint from main.build_info").fetchone()
        composition = {(f, m, n) for f, m, n in
                       con.execute("select file_id, month, line_count from incremental.purchase_composition").fetchall()}
    finally:
        con.close()
    if row is None:
        return None
    return {"as_of": row[0], "code_fingerprint": row[1], "dimension_fingerprint": row[2]}, composition


def dated_seed_rows_changing(before: dt.date, after: dt.date, project_dir: Path = DBT_PROJECT_DIR) -> list[str]:
    """Rows of dated seeds (effective_from ≤ as_of < effective_to, e.g. the
    monitoring thresholds) in force at one as-of date and not the other:
    such a change can move every month's findings, so it needs a full build."""
    changed = []
    for path in sorted((project_dir / "seeds").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if "effective_from" not in row:
                    break
                start = dt.date.fromisoformat(row["effective_from"])
                end = dt.date.fromisoformat(row["effective_to"]) if row.get("effective_to") else dt.date.max

                def in_force(day: dt.date) -> bool:
                    return start <= day < end  # noqa: B023 (called in this iteration only)

                if in_force(before) != in_force(after):
                    changed.append(f"{path.stem} {row.get('name', '')} from {row['effective_from']}".strip())
    return changed


def _months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months


def plan_build(lake: duckdb.DuckDBPyConnection, published: Path, as_of: dt.date,
               composition: set[tuple[str, dt.date, int]], unverified: str | None = None) -> BuildPlan:
    """Decide how tonight's build is made (see the module docstring).
    ``published``: the previous publication (the build step passes its
    verified copy); ``unverified``: why the previous publication cannot be
    trusted (changed since it was published, no checksum recorded:
    foundation/publication.py), which forces a full rebuild."""
    code, dims = code_fingerprint(), dimension_fingerprint(lake)

    def full(reason: str) -> BuildPlan:
        return BuildPlan("full", reason, code_fingerprint=code, dimension_fingerprint=dims)

    if os.environ.get("YAOCAI_FULL_REBUILD", "").strip() not in ("", "0"):
        return full("YAOCAI_FULL_REBUILD is set")
    if unverified:
        return full(unverified)
    previous = _previous_build(published)
    if previous is None:
        return full("no previous publication with build records")
    info, previous_composition = previous
    if info["code_fingerprint"] != code:
        return full("the dbt project or the DuckDB/dbt version changed since the last publication")
    if info["dimension_fingerprint"] != dims:
        return full("catalogue, listed-price, VBP or institution deliveries changed")
    if as_of < info["as_of"]:
        return full(f"as-of date {as_of} is before the last publication's {info['as_of']}")
    changed = dated_seed_rows_changing(info["as_of"], as_of)
    if changed:
        return full(f"a dated seed row comes into or goes out of force: {changed[0]}")
    months = {m for _, m, _ in composition ^ previous_composition}
    if as_of > info["as_of"]:
        months.update(_months_between(info["as_of"], as_of))
    return BuildPlan("incremental", "only purchase lines changed",
                     rebuild_months=sorted(m.isoformat() for m in months),
                     code_fingerprint=code, dimension_fingerprint=dims)


BUILD_INFO_COMMENTS = {
    "": "本次发布的构建方式 How this publication was built: full rebuild or incremental, and which months were "
        "recomputed (yaocai/incremental.py)",
    "run_id": "运行编号 Run that built it",
    "as_of": "数据截止日 As-of date",
    "build_mode": "构建方式 full = everything recomputed; incremental = previous publication + rebuilt months",
    "reason": "原因 Why this mode was chosen",
    "rebuilt_months": "重算月份 Months recomputed by an incremental build (NULL for a full rebuild: all months)",
    "code_fingerprint": "代码指纹 sha256 of the dbt project and DuckDB/dbt versions; a change forces a full rebuild",
    "dimension_fingerprint": "维表指纹 sha256 of the catalogue, listed-price, VBP and institution deliveries",
    "built_at": "构建时间 When the build finished",
}


def record_build(build: duckdb.DuckDBPyConnection, plan: BuildPlan, run_id: str, as_of: dt.date,
                 composition: set[tuple[str, dt.date, int]]) -> None:
    """Write build_info and the purchase composition into the build file."""
    build.execute("create schema if not exists incremental")
    build.execute("create or replace table incremental.purchase_composition "
                  "(file_id varchar, month date, line_count bigint)")
    if composition:
        build.executemany("insert into incremental.purchase_composition values (?, ?, ?)", sorted(composition))
    build.execute(
        """create or replace table main.build_info as
           select ?::varchar as run_id, ?::date as as_of, ?::varchar as build_mode, ?::varchar as reason,
                  ?::date[] as rebuilt_months, ?::varchar as code_fingerprint,
                  ?::varchar as dimension_fingerprint, current_timestamp::timestamp as built_at""",
        [run_id, as_of, plan.mode, plan.reason, plan.rebuild_months if plan.incremental else None,
         plan.code_fingerprint, plan.dimension_fingerprint],
    )
    for column, text in BUILD_INFO_COMMENTS.items():
        target = "table main.build_info" if not column else f"column main.build_info.{column}"
        build.execute(f"comment on {target} is '{text}'")


def rebuilt_tables(plan_file: Path, manifest_file: Path) -> dict[str, list[str]]:
    """Published month-incremental tables → the months an incremental build
    rebuilt (their other rows are the previous publication's); {} after a
    full rebuild, or when the build's records are missing (validate all)."""
    if not plan_file.exists() or not manifest_file.exists():
        return {}
    plan = json.loads(plan_file.read_text())
    if plan.get("mode") != "incremental":
        return {}
    nodes = json.loads(manifest_file.read_text()).get("nodes", {}).values()
    return {node["name"]: list(plan["rebuild_months"]) for node in nodes
            if node.get("resource_type") == "model" and node.get("schema") == "main"
            and node.get("config", {}).get("materialized") == "incremental"}
