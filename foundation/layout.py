"""Where things live in a warehouse directory.

WAREHOUSE/
  yaocai.duckdb            the publication analysts open (read-only)
  state/lake.duckdb        everything accepted + quarantine + manifest + runs
  state/runs/<run_id>/     one folder per run: build file, dbt target, gate
                           results (JSON + Data Docs), run log
  state/retired_publication.duckdb
                           the publication the last publish replaced, which
                           the next incremental build starts from
                           (foundation/publication.py)
  reports/<as-of>/         the officers' workbook (.xlsx) and HTML report
  review_inbox/            workbooks officers return with review decisions
                           (processed/ once applied, needs_fix/ when a row is bad)
  docs/                    dbt docs (lineage, column docs) of the publication
  .yaocai.lock             held while a step writes
  .yaocai.run.lock         held by `yaocai run` for the whole run
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _dbt_project_dir() -> Path:
    """The dbt project: package data ``yaocai.dbt_project`` (the repository's
    dbt_project/ folder, mapped in pyproject.toml), so an installed wheel finds
    it as well as an editable install; a clone that was never installed falls
    back to the folder beside this package."""
    try:
        return Path(str(files("yaocai.dbt_project")))
    except ModuleNotFoundError:
        return REPO_ROOT / "dbt_project"


DBT_PROJECT_DIR = _dbt_project_dir()
PUBLISHED_NAME = "yaocai.duckdb"


@dataclass(frozen=True)
class Layout:
    warehouse: Path

    @property
    def published(self) -> Path:
        return self.warehouse / PUBLISHED_NAME

    @property
    def state(self) -> Path:
        return self.warehouse / "state"

    @property
    def lake(self) -> Path:
        return self.state / "lake.duckdb"

    @property
    def lock(self) -> Path:
        """Held by any step while it writes the lake or the publication."""
        return self.warehouse / ".yaocai.lock"

    @property
    def run_lock(self) -> Path:
        """Held by ``yaocai run`` for its whole run."""
        return self.warehouse / ".yaocai.run.lock"

    @property
    def retired_publication(self) -> Path:
        """The publication the last publish replaced (foundation/publication.py)."""
        return self.state / "retired_publication.duckdb"

    @property
    def dbt_parse_cache(self) -> Path:
        """dbt's parse of the project, reused by the next build (yaocai/dbt_runner.py)."""
        return self.state / "dbt_parse"

    def run_dir(self, run_id: str) -> Path:
        return self.state / "runs" / run_id

    def build_db(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "build.duckdb"

    def gate_dir(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "gate"

    @property
    def reports(self) -> Path:
        return self.warehouse / "reports"

    def report_dir(self, as_of: str) -> Path:
        return self.reports / as_of

    @property
    def review_inbox(self) -> Path:
        return self.warehouse / "review_inbox"

    @property
    def docs(self) -> Path:
        return self.warehouse / "docs"

    def ensure(self) -> None:
        (self.state / "runs").mkdir(parents=True, exist_ok=True)


# DuckDB's memory limit by default. It caps DuckDB's buffer pool, not the
# process: the dbt build's peak RSS was the limit plus ~0.5 GB (8 GB limit:
# 8,091 MiB at 20 M lines, benchmarks/RESULTS.md), and the target is a peak
# RSS of at most 6 GiB at 20 M lines (issue 18). 5 GB (4,768 MiB) leaves
# ~0.9 GiB for that overshoot; above the limit DuckDB spills to disk.
DEFAULT_DUCKDB_MEMORY_LIMIT = "5GB"


def duckdb_memory_limit() -> str:
    """DuckDB spills to disk above this (YAOCAI_DUCKDB_MEMORY_LIMIT, default DEFAULT_DUCKDB_MEMORY_LIMIT)."""
    return os.environ.get("YAOCAI_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT)


def duckdb_threads() -> int:
    """Threads DuckDB uses in the dbt build: YAOCAI_DUCKDB_THREADS when set,
    else every core this process may run on (its CPU affinity, which
    container CPU sets and taskset narrow; os.cpu_count() would count the
    whole host)."""
    override = os.environ.get("YAOCAI_DUCKDB_THREADS", "").strip()
    if override:
        threads = int(override)
        if threads < 1:
            raise ValueError(f"YAOCAI_DUCKDB_THREADS must be a positive whole number, not {override!r}")
        return threads
    if hasattr(os, "sched_getaffinity"):  # Linux; not on macOS
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
