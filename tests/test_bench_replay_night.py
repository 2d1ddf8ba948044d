"""benchmarks/replay_night.py: a warehouse restored by copy is trusted again
only after its records are re-stamped, and then the next build starts from
the retired publication, as the round's measured night did."""

from __future__ import annotations

import os
import shutil

import duckdb

from benchmarks.replay_night import restamp_restored_records
from foundation.layout import Layout
from foundation.publication import record_retired, retire_publication, take_retired_publication, write_record


def _publish(layout: Layout, run_id: str) -> None:
    """A stand-in publish: a new DuckDB file renamed in, the replaced one retired."""
    new = layout.warehouse / f"{run_id}.duckdb"
    duckdb.connect(str(new)).execute(f"create table marker as select '{run_id}' as run_id").close()
    retirement = retire_publication(layout.published, layout.warehouse, layout.retired_publication)
    os.replace(new, layout.published)
    write_record(layout.warehouse, run_id, f"sha-of-{run_id}", layout.published.stat().st_size, 0o644, layout.published)
    if retirement:
        record_retired(layout.retired_publication, retirement)


def test_a_restored_copy_is_trusted_only_after_its_records_are_restamped(tmp_path):
    original = Layout(tmp_path / "original")
    original.state.mkdir(parents=True)
    _publish(original, "night-1")
    _publish(original, "night-2")
    assert original.retired_publication.exists()

    # Copied as is: new inodes and change times, so the retired file is not trusted (and is discarded).
    copied = Layout(tmp_path / "copied")
    shutil.copytree(original.warehouse, copied.warehouse)
    assert take_retired_publication(copied.published, copied.warehouse, copied.retired_publication,
                                    copied.state / "build.duckdb") is None
    assert not copied.retired_publication.exists()

    # Copied and re-stamped: the build starts from the retired publication (night-1's file).
    restored = Layout(tmp_path / "restored")
    shutil.copytree(original.warehouse, restored.warehouse)
    assert len(restamp_restored_records(restored.warehouse)) == 2
    build = restored.state / "build.duckdb"
    taken = take_retired_publication(restored.published, restored.warehouse, restored.retired_publication, build)
    assert taken is not None and taken.verified and taken.sha256 == "sha-of-night-1"
    with duckdb.connect(str(build), read_only=True) as con:
        assert con.execute("select run_id from marker").fetchone() == ("night-1",)
