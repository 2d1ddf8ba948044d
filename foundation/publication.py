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
  in the file, so they are not in the copy either. Most nights need no copy:
  the build starts from the publication the last publish replaced
  (:func:`take_retired_publication`);
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

from foundation.files import READ_CHUNK_BYTES, stat_stamp

MODE_ENV = "YAOCAI_PUBLISHED_FILE_MODE"
DEFAULT_MODE = 0o444
RECORD_NAME = "publication.json"


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


def write_record(warehouse: Path, run_id: str, sha256: str, size: int, mode: int, published: Path | None = None) -> dict:
    """Remember what was published (through a temporary name: never half a
    record); ``published``: the file in place, whose stat fingerprint is
    recorded too (see :func:`take_retired_publication`)."""
    record = {"file": "yaocai.duckdb", "run_id": run_id, "sha256": sha256, "size": size, "mode": f"{mode:04o}",
              "published_at": dt.datetime.now().replace(microsecond=0).isoformat(),
              **({"fingerprint": stat_stamp(published)} if published is not None else {})}
    path = record_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_record(path, record)
    return record


def write_json_record(path: Path, data: dict) -> None:
    """Through a temporary name: a reader never sees half a record."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


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
        while chunk := source.read(READ_CHUNK_BYTES):
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


# The file an incremental build starts from, without copying the publication.
# Copying and hashing it was most of a night's fixed cost (20 M lines: 9.7 s
# for 4.6 GB; issue 18). So the publish keeps the publication it replaces
# (a hard link, no I/O) as WAREHOUSE/state/retired_publication.duckdb, and
# the next build starts from it: it is two publishes old, so the build's plan
# (yaocai/incremental.py, from the build records inside it) rebuilds the
# months both nights changed. It is kept and taken only while nothing has
# touched it: its fingerprint (size, inode, mtime, ctime; ctime cannot be
# set back by a writer, as ingest/lake.py file_fingerprints) is the one
# recorded at its own publish when it is retired, and the one recorded at its
# retirement when it is taken; and no process has it open through DuckDB (an
# analyst's connection opened before the publish: DuckDB's file lock says
# so), since the build writes to it. The publication in place must be
# untouched too, else the build copies and checks it as before, which tells
# an edit (a full rebuild that says so) from none.
RETIRED_ENV = "YAOCAI_KEEP_RETIRED_PUBLICATION"


def retired_record(retired: Path) -> Path:
    """Where the retired publication's record (its sha256 and fingerprint) is kept."""
    return retired.with_name(retired.name + ".json")


def keep_retired_publication() -> bool:
    """``YAOCAI_KEEP_RETIRED_PUBLICATION=0``: keep no second publication-sized
    file; every incremental build copies the publication."""
    return os.environ.get(RETIRED_ENV, "1").strip() != "0"


def discard_retired(retired: Path) -> None:
    """Removes a retired publication and its record (the record first: a
    file without its record is never taken)."""
    retired_record(retired).unlink(missing_ok=True)
    retired.unlink(missing_ok=True)


def retire_publication(published: Path, warehouse: Path, retired: Path) -> dict | None:
    """Before a new publication is renamed in: links the current one to
    ``retired`` if it is untouched since its publish. Returns what
    :func:`record_retired` records once the rename is done, or None."""
    discard_retired(retired)
    record = read_record(warehouse)
    if record is None or not published.exists() or record.get("fingerprint") != stat_stamp(published):
        return None
    os.link(published, retired)
    return {"sha256": record["sha256"], "run_id": record.get("run_id")}


def record_retired(retired: Path, retirement: dict) -> None:
    """After the rename: the retired file's fingerprint as it is now (the
    rename changed its ctime: one link fewer)."""
    write_json_record(retired_record(retired), {**retirement, "fingerprint": stat_stamp(retired)})


def take_retired_publication(published: Path, warehouse: Path, retired: Path, destination: Path) -> Verification | None:
    """Moves the retired publication to ``destination`` for the build to start
    from, when it and the publication in place are untouched and nothing
    holds it open; returns a verified Verification. None (and the retired
    file removed) otherwise: the caller copies the publication as before."""
    try:
        made = json.loads(retired_record(retired).read_text())
    except (OSError, ValueError):
        discard_retired(retired)
        return None
    record = read_record(warehouse)
    usable = (record is not None and published.exists() and record.get("fingerprint") == stat_stamp(published)
              and retired.exists() and made.get("fingerprint") == stat_stamp(retired))
    if usable:
        retired.chmod(retired.stat().st_mode | 0o200)  # the build writes to it; it was published read-only
        try:  # read-write: refused while a connection opened before its retirement holds it, even read-only
            duckdb.connect(str(retired)).close()
        except duckdb.Error as exc:
            if not _lock_conflict(exc):
                raise
            usable = False
    if not usable:
        discard_retired(retired)
        return None
    retired_record(retired).unlink()
    os.replace(retired, destination)
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
