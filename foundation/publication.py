"""The published file as something outside hands can touch (issue 13, item 6).

Analysts are told to open ``WAREHOUSE/yaocai.duckdb`` read-only, but nothing
stopped one from opening it read-write and editing rows; the next nightly
build (incremental: it starts from a copy of the publication) then carried
the edits into the new publication, and while the analyst's read-write
connection stayed open every run failed at its start: DuckDB holds an
exclusive lock on a file opened read-write, so the run's own read-only opens
of the publication were refused ("Could not set lock on file").

So:

- the publication is made read-only (``YAOCAI_PUBLISHED_FILE_MODE``, octal,
  default 0444) before it is renamed into place, and its sha256 is recorded
  in ``WAREHOUSE/state/publication.json`` when it is published;
- the build never opens the publication in place: it copies its bytes (no
  lock needed) while hashing them, and uses the copy only when the hash is
  the recorded one; otherwise it rebuilds in full and says why. Edits that an
  open connection has not yet checkpointed live in ``yaocai.duckdb.wal``, not
  in the file, so they are not in the copy either. The copy is usually made
  ahead of time, after the publish (:func:`take_build_copy`);
- other reads of the publication during a run (closing abandoned runs, the
  gate's comparison with the previous publication, the reports) go through
  :func:`read_only`, which falls back to a private copy when a writer holds
  the lock;
- publishing is a rename, which works while the old file is open: the
  analyst's connection keeps the old (now unlinked) file, and its edits are
  lost with it when it closes; a write-ahead log left next to the new file
  by such a connection belongs to the old file and is moved into the run's
  folder (:func:`move_stale_wal`).

Mode 0444 does not stop the file's owner or root (they may chmod it back or
ignore it); the checksum is what catches an edit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb

MODE_ENV = "YAOCAI_PUBLISHED_FILE_MODE"
DEFAULT_MODE = 0o444
RECORD_NAME = "publication.json"
_CHUNK = 4 * 2**20


class PublicationModeError(ValueError):
    pass


def published_file_mode() -> int:
    """The mode the publication gets: ``YAOCAI_PUBLISHED_FILE_MODE`` (octal,
    e.g. 0440 to keep it within the warehouse's group), never writable."""
    text = os.environ.get(MODE_ENV, "").strip()
    if not text:
        return DEFAULT_MODE
    try:
        mode = int(text, 8)
    except ValueError:
        raise PublicationModeError(f"{MODE_ENV} must be an octal file mode such as 0444 or 0440, not {text!r}") from None
    if mode & 0o7333 or not mode & 0o400:
        raise PublicationModeError(f"{MODE_ENV}={text}: the publication must be readable by its owner and "
                                   "writable, executable or setuid by nobody (e.g. 0444, 0440, 0400)")
    return mode


def record_path(warehouse: Path) -> Path:
    return Path(warehouse) / "state" / RECORD_NAME


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_record(warehouse: Path, run_id: str, sha256: str, size: int, mode: int, published: Path | None = None) -> dict:
    """Remember what was published (through a temporary name: never half a
    record); ``published``: the file in place, whose stat fingerprint is
    recorded too (see :func:`take_build_copy`)."""
    record = {"file": "yaocai.duckdb", "run_id": run_id, "sha256": sha256, "size": size, "mode": f"{mode:04o}",
              "published_at": dt.datetime.now().replace(microsecond=0).isoformat(),
              **({"fingerprint": _fingerprint(published)} if published is not None else {})}
    path = record_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, path)
    return record


def read_record(warehouse: Path) -> dict | None:
    try:
        return json.loads(record_path(warehouse).read_text())
    except (OSError, ValueError):
        return None


@dataclass
class Verification:
    verified: bool      # the copy is byte-identical to what was published
    reason: str         # why not (empty when verified)
    sha256: str | None  # of the file as it is now (None: no publication)


def copy_verified(published: Path, warehouse: Path, destination: Path | None) -> Verification:
    """Copy the publication's bytes to ``destination`` while hashing them and
    compare with the checksum recorded at publish time. Reading the bytes
    needs no DuckDB lock, so an analyst's open connection does not stop it.
    The copy is left in place either way (the caller removes it if unused).
    ``destination`` None: only hash and compare (a build that does not start
    from a copy: the Spark engine's)."""
    if not published.exists():
        return Verification(False, "no previous publication", None)
    digest = hashlib.sha256()
    # Hashing (CPU; hashlib releases the GIL) overlaps writing the copy (I/O):
    # the pass costs about the longer of the two, not their sum.
    with open(published, "rb") as source, \
            (open(destination, "wb") if destination is not None else contextlib.nullcontext()) as target, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="yaocai-sha256") as hasher:
        pending = None
        while chunk := source.read(_CHUNK):
            if pending is not None:
                pending.result()
            pending = hasher.submit(digest.update, chunk)
            if target is not None:
                target.write(chunk)
        if pending is not None:
            pending.result()
    sha = digest.hexdigest()
    record = read_record(warehouse)
    if record is None or not record.get("sha256"):
        return Verification(False, f"no checksum was recorded for the previous publication ({record_path(warehouse)})",
                            sha)
    if record["sha256"] != sha:
        return Verification(False, f"the previous publication was modified after it was published (sha256 now "
                                   f"{sha[:12]}…, recorded {record['sha256'][:12]}… by run {record.get('run_id')}); "
                                   "its edits are not carried over", sha)
    return Verification(True, "", sha)


# The copy an incremental build starts from, made ahead of time. Copying and
# hashing the publication was most of a night's fixed cost (20 M lines: 9.7 s
# for 4.6 GB; issue 18), and is I/O: the reports step makes the copy while it
# writes the workbook (CPU), and the next build takes it instead of copying
# when (1) the publication is untouched since it was published, by its stat
# fingerprint in publication.json, and (2) the copy is of that publication
# and untouched since it was made, by its own record beside it ({"sha256":
# of its bytes, which were the publication's, and its fingerprint}). A
# fingerprint is size, inode, mtime and ctime; ctime cannot be set back by a
# writer, so any write to either file (an analyst's edit, a chmod) makes the
# build copy and hash the publication as before, which tells an edit from
# none (as ingest/lake.py file_fingerprints does for landing files).
def _copy_record(copy: Path) -> Path:
    return copy.with_name(copy.name + ".json")


def _fingerprint(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "inode": st.st_ino, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}


def discard_build_copy(copy: Path) -> None:
    """Removes a prepared copy and its record (the record first: a copy
    without its record is never taken)."""
    _copy_record(copy).unlink(missing_ok=True)
    copy.unlink(missing_ok=True)
    _partial(copy).unlink(missing_ok=True)


def _partial(copy: Path) -> Path:
    return copy.with_name(copy.name + ".partial")


def copy_for_next_build(published: Path, warehouse: Path, copy: Path) -> str | None:
    """Copies the publication, hashing it, beside ``copy`` (a partial name);
    returns the hash when it is the recorded one, else None and no file.
    The caller installs the copy with :func:`install_build_copy` under the
    warehouse lock, so that a build never takes it half made."""
    partial = _partial(copy)
    partial.unlink(missing_ok=True)
    check = copy_verified(published, warehouse, partial)
    if not check.verified:
        partial.unlink(missing_ok=True)
        return None
    return check.sha256


def install_build_copy(warehouse: Path, copy: Path, sha256: str) -> bool:
    """Renames the partial copy (hash ``sha256``) into place with its record
    if the publication recorded now is still the one copied; False and
    nothing kept otherwise."""
    record = read_record(warehouse)
    partial = _partial(copy)
    _copy_record(copy).unlink(missing_ok=True)
    copy.unlink(missing_ok=True)
    if record is None or record.get("sha256") != sha256 or not partial.exists():
        partial.unlink(missing_ok=True)
        return False
    os.replace(partial, copy)
    path = _copy_record(copy)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"sha256": sha256, **_fingerprint(copy)}, indent=2))
    os.replace(tmp, path)
    return True


def take_build_copy(published: Path, warehouse: Path, copy: Path, destination: Path) -> Verification | None:
    """Moves the prepared copy to ``destination`` when the publication is
    untouched since it was published and the copy is of it and untouched
    since it was made; returns what :func:`copy_verified` would. None (and
    the copy removed) otherwise: the caller copies the publication as before."""
    try:
        made = json.loads(_copy_record(copy).read_text())
    except (OSError, ValueError):
        discard_build_copy(copy)
        return None
    record = read_record(warehouse)
    usable = (record is not None and record.get("sha256") == made.get("sha256") and published.exists()
              and record.get("fingerprint") == _fingerprint(published) and copy.exists()
              and _fingerprint(copy) == {k: made.get(k) for k in ("size", "inode", "mtime_ns", "ctime_ns")})
    if not usable:
        discard_build_copy(copy)
        return None
    _copy_record(copy).unlink()
    os.replace(copy, destination)
    return Verification(True, "", made["sha256"])


def _lock_conflict(exc: Exception) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


@contextlib.contextmanager
def readable_path(published: Path) -> Iterator[Path]:
    """A path that can be opened read-only: the publication itself, or, when
    a read-write connection elsewhere holds its lock, a private copy of its
    bytes (removed afterwards)."""
    try:
        duckdb.connect(str(published), read_only=True).close()
    except duckdb.Error as exc:
        if not _lock_conflict(exc):
            raise
    else:
        yield published
        return
    with tempfile.TemporaryDirectory(prefix="yaocai-publication-", dir=published.parent / "state"
                                     if (published.parent / "state").is_dir() else None) as tmp:
        copy = Path(tmp) / published.name
        shutil.copyfile(published, copy)
        yield copy


@contextlib.contextmanager
def read_only(published: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the publication (see :func:`readable_path`)."""
    with readable_path(published) as path:
        con = duckdb.connect(str(path), read_only=True)
        try:
            yield con
        finally:
            con.close()


def move_stale_wal(published: Path, keep_in: Path) -> Path | None:
    """A ``yaocai.duckdb.wal`` next to a freshly renamed publication was
    written by a read-write connection to the *previous* file; replaying it
    against the new one would be wrong. Move it into the run's folder."""
    wal = published.with_name(published.name + ".wal")
    if not wal.exists():
        return None
    keep_in.mkdir(parents=True, exist_ok=True)
    target = keep_in / "previous-publication.wal"
    os.replace(wal, target)
    return target
