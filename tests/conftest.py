"""The suite's order: the longest test files first.

scripts/test.sh (the README's test command, which CI runs) spreads the
suite over two pytest-xdist workers, a whole file to a worker (`--dist
loadfile`: a file's module fixtures, such as a pipeline run, are built
once), in the order collected (`--no-loadscope-reorder`). Handing out the
longest files first keeps one worker from starting the Spark file when the
other is nearly done. Seconds are one process's, measured with
`pytest --durations=0` on a clean clone of 08e7bdf (2 cores, 2026-12-02):
the whole suite took 49 min in one process. A file not listed keeps its
place after these.
"""

from __future__ import annotations

import pytest

LONGEST_FILES_SECONDS = {
    "test_spark_engine.py": 914,
    "test_airflow_deployed.py": 572,
    "test_faults.py": 373,
    "test_pipeline_integration.py": 327,
    "test_incremental.py": 229,
    "test_hostile_platform_and_outputs.py": 170,
    "test_officer_outputs.py": 125,
    "test_hostile_files.py": 65,
    "test_threshold_values.py": 57,
    "test_platform_pull.py": 31,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # sorted() is stable: tests keep their order within a file, and unlisted files theirs
    items[:] = sorted(items, key=lambda item: -LONGEST_FILES_SECONDS.get(item.path.name, 0))
