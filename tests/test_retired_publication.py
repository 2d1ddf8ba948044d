"""The publication a publish replaces is kept for the next build to start
from instead of a copy (foundation/publication.py take_retired_publication;
issue 18). It is taken only while it and the publication in place are
untouched and no connection holds it; otherwise the build copies the
publication, as before. tests/test_incremental.py checks that a night built
from it equals a full rebuild."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from foundation.files import sha256_of
from foundation.publication import (discard_retired, record_retired, retire_publication,
                                    take_retired_publication, write_record)


def _publish(root: Path, run_id: str, rows: int) -> dict:
    """A real DuckDB file published the way publish_step does it: read-only,
    renamed in, the old one retired when untouched."""
    built = root / f"{run_id}.duckdb"
    con = duckdb.connect(str(built))
    con.execute(f"create table t as select range as i from range({rows})")
    con.close()
    built.chmod(0o444)
    published, retired = root / "yaocai.duckdb", root / "state" / "retired_publication.duckdb"
    retirement = retire_publication(published, root, retired)
    os.replace(built, published)
    write_record(root, run_id, sha256_of(published), published.stat().st_size, 0o444, published)
    if retirement:
        record_retired(retired, retirement)
    return {"published": published, "retired": retired, "target": root / "previous.duckdb", "retirement": retirement}


@pytest.fixture
def wh(tmp_path: Path) -> dict:
    (tmp_path / "state").mkdir()
    first = _publish(tmp_path, "run-1", 10)
    first_bytes = first["published"].read_bytes()
    second = _publish(tmp_path, "run-2", 20)
    return {**second, "root": tmp_path, "first_bytes": first_bytes}


def _take(wh: dict):
    return take_retired_publication(wh["published"], wh["root"], wh["retired"], wh["target"])


def test_the_replaced_publication_is_taken_once_and_writable(wh):
    assert wh["retirement"]["run_id"] == "run-1"
    check = _take(wh)
    assert check is not None and check.verified
    assert check.sha256 == __import__("hashlib").sha256(wh["first_bytes"]).hexdigest()
    assert wh["target"].read_bytes() == wh["first_bytes"] and os.access(wh["target"], os.W_OK)
    con = duckdb.connect(str(wh["target"]))  # the build writes to it
    con.execute("insert into t values (99)")
    con.close()
    assert duckdb.connect(str(wh["published"]), read_only=True).execute("select count(*) from t").fetchone()[0] == 20
    assert not wh["retired"].exists() and _take(wh) is None


@pytest.mark.parametrize("touch", ["retired edited", "retired utime", "publication chmod", "record lost"])
def test_a_touched_file_is_not_taken(wh, touch):
    if touch == "retired edited":
        wh["retired"].chmod(0o644)
        con = duckdb.connect(str(wh["retired"]))
        con.execute("insert into t values (-1)")
        con.close()
    elif touch == "retired utime":
        os.utime(wh["retired"], ns=(0, 0))
    elif touch == "publication chmod":  # the publication in place may have been edited: the build must hash it
        wh["published"].chmod(0o644)
    else:
        wh["retired"].with_name(wh["retired"].name + ".json").unlink()
    assert _take(wh) is None
    assert not wh["retired"].exists() and not wh["target"].exists()


def test_a_publication_touched_before_the_next_publish_is_not_retired(wh):
    wh["published"].chmod(0o644)  # e.g. an analyst made it writable to edit it
    third = _publish(wh["root"], "run-3", 30)
    assert third["retirement"] is None and not third["retired"].exists()


def test_a_retired_file_a_connection_still_holds_is_not_taken(wh):
    # An analyst's connection opened before the publish holds the old file.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
                               "print('holding', flush=True); sys.stdin.readline()", str(wh["retired"])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert _take(wh) is None
    finally:
        holder.communicate("done\n", timeout=30)
    assert not wh["retired"].exists()
    discard_retired(wh["retired"])  # nothing left to remove: no error
