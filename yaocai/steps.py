"""The nightly pipeline's steps, in order: the one list that `yaocai run`
(yaocai/pipeline.py), the Airflow DAG (dags/yaocai_nightly.py), the
benchmarks (benchmarks/run.py) and the tests read.

Kept apart from yaocai/pipeline.py so that the DAG file can read the list
when Airflow parses it without importing DuckDB, dbt or GX: each step names
its function in yaocai.pipeline, which is imported only when a step runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

# Where a run's data come from: landing files, the provincial platform's API
# (ingest/platform_client.py), or both.
SOURCES = ("files", "api", "both")

# Which engine runs the dbt build: DuckDB in-process (the default), or Apache
# Spark through dbt-spark (yaocai/spark_engine.py; docs/scale-out.md).
ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class Step:
    name: str                 # the DAG's task id; `benchmarks/run.py --step NAME`
    label: str                # how the step's line starts in `yaocai run`'s output
    function: str             # the function of yaocai.pipeline that does it: f(ctx) -> dict with a "line"
    writes: bool              # writes the lake or the publication: one writer at a time (the DAG's pool)
    timeout: timedelta        # the DAG's execution_timeout, sized for a province (benchmarks/RESULTS.md)
    sources: tuple[str, ...] = SOURCES  # the step runs only for these sources
    after_publish: bool = False  # a failure leaves the publication standing (the run is not failed)
    reports_progress: bool = False  # takes progress= (a callback for long steps) in `yaocai run`

    def runs_for(self, source: str) -> bool:
        return source in self.sources


# Province scale: a full rebuild of 20 M lines takes 7–14 min on 2 cores, a
# night 1–2 min (benchmarks/RESULTS.md, on two machines); a first load of
# years of history takes longer. Each writer also waits up to 10 min for the
# warehouse lock.
STEPS = (
    Step("pull_platform", "platform pull", "pull_platform_step", writes=True, timeout=timedelta(hours=2),
         sources=("api", "both")),
    Step("ingest", "ingest", "ingest_step", writes=True, timeout=timedelta(hours=2), reports_progress=True),
    Step("reviews", "reviews", "reviews_step", writes=True, timeout=timedelta(minutes=30)),
    Step("dbt_build", "dbt build", "build_step", writes=True, timeout=timedelta(hours=3)),
    Step("gate", "gate", "gate_step", writes=False, timeout=timedelta(hours=1)),
    Step("publish", "publish", "publish_step", writes=True, timeout=timedelta(minutes=30)),
    Step("reports", "reports", "reports_step", writes=False, timeout=timedelta(hours=1), after_publish=True),
)

STEP_NAMES = tuple(step.name for step in STEPS)
