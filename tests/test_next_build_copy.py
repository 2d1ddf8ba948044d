"""The copy of the publication the reports step makes for the next build
(foundation/publication.py take_build_copy; issue 18). The build takes it
only while both files are untouched; otherwise it copies the publication
itself, as before. tests/test_incremental.py checks that a night built from
it equals a full rebuild."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from foundation.publication import (copy_for_next_build, discard_build_copy, install_build_copy, sha256_of,
                                    take_build_copy, write_record)


@pytest.fixture
def warehouse(tmp_path: Path) -> dict[str, Path]:
    published = tmp_path / "yaocai.duckdb"
    published.write_bytes(os.urandom(3 * 2**20 + 17))
    published.chmod(0o444)
    write_record(tmp_path, "run-1", sha256_of(published), published.stat().st_size, 0o444, published)
    copy = tmp_path / "state" / "next_build.duckdb"
    copy.parent.mkdir(exist_ok=True)
    return {"root": tmp_path, "published": published, "copy": copy, "target": tmp_path / "previous.duckdb"}


def _prepare(wh: dict[str, Path]) -> None:
    sha256 = copy_for_next_build(wh["published"], wh["root"], wh["copy"])
    assert sha256 == sha256_of(wh["published"])
    assert install_build_copy(wh["root"], wh["copy"], sha256)


def _take(wh: dict[str, Path]):
    return take_build_copy(wh["published"], wh["root"], wh["copy"], wh["target"])


def test_an_untouched_copy_is_taken_and_is_the_publication(warehouse):
    _prepare(warehouse)
    check = _take(warehouse)
    assert check is not None and check.verified and check.sha256 == sha256_of(warehouse["published"])
    assert warehouse["target"].read_bytes() == warehouse["published"].read_bytes()
    assert not warehouse["copy"].exists() and _take(warehouse) is None  # taken once


@pytest.mark.parametrize("touch", ["copy edited", "copy utime", "publication chmod", "publication edited"])
def test_a_touched_copy_or_publication_is_not_taken(warehouse, touch):
    _prepare(warehouse)
    if touch == "copy edited":
        with warehouse["copy"].open("r+b") as handle:
            handle.write(b"x")
    elif touch == "copy utime":
        os.utime(warehouse["copy"], ns=(0, 0))
    elif touch == "publication chmod":  # the owner making it writable is enough: the build hashes it
        warehouse["published"].chmod(0o644)
    else:
        warehouse["published"].chmod(0o644)
        with warehouse["published"].open("r+b") as handle:
            handle.write(b"y")
    assert _take(warehouse) is None
    assert not warehouse["copy"].exists() and not warehouse["target"].exists()


def test_a_copy_of_an_earlier_publication_is_not_taken(warehouse):
    _prepare(warehouse)
    newer = warehouse["published"]
    newer.chmod(0o644)
    newer.write_bytes(os.urandom(1000))
    write_record(warehouse["root"], "run-2", sha256_of(newer), 1000, 0o444, newer)
    assert _take(warehouse) is None and not warehouse["copy"].exists()


def test_a_copy_is_installed_only_if_the_publication_is_still_the_one_copied(warehouse):
    sha256 = copy_for_next_build(warehouse["published"], warehouse["root"], warehouse["copy"])
    assert sha256 is not None
    write_record(warehouse["root"], "run-2", "0" * 64, 1, 0o444, warehouse["published"])  # published meanwhile
    assert not install_build_copy(warehouse["root"], warehouse["copy"], sha256)
    assert not [p for p in warehouse["copy"].parent.iterdir() if p.name.startswith("next_build")]  # nor the partial


def test_a_copy_without_its_record_is_never_taken(warehouse):
    _prepare(warehouse)
    warehouse["copy"].with_name("next_build.duckdb.json").unlink()
    assert _take(warehouse) is None and not warehouse["copy"].exists()
    discard_build_copy(warehouse["copy"])  # nothing left to remove: no error
