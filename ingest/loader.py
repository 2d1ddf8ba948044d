"""Load a landing directory into the lake: raw tables + quarantine + manifest.

Flow for one delivery file:
1. its sha256 is looked up in ``ingest_manifest``: a file already seen (under
   any name) is a no-op, so re-running is always safe;
2. if the same path was loaded before with other content, the new file is a
   restatement: the old file's rows leave the lake (manifest: superseded);
3. the reader decodes it; every row is staged as text with its row number;
4. SQL types each value, applies the feed's rules, the key and reference
   checks; rows with any reason go to ``quarantine``, the rest to the feed's
   table;
5. the manifest records rows_in = rows_loaded + rows_quarantined.
Steps 2-5 of a file run in one transaction: a crash leaves no half file.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import errno
import hashlib
import json
import logging
import os
import signal
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingest import checks, limits, readers
from ingest.feeds import FEEDS, Feed, header_index, normalise_header
from ingest.lake import ensure_lake
from ingest.normalise import SQL_TYPES, install_macros, quote_ident, quote_literal, typed_expression, value_problems
from ingest.readers import Delivery, FileRejected, HeaderIncomplete, read_delivery
from foundation.faults import failpoint
from foundation.files import sha256_of, stat_stamp

log = logging.getLogger(__name__)

ACCEPTED_SUFFIXES = {".csv", ".txt", ".xlsx", ".jsonl", ".ndjson", ".json"}
# Files still being written by the provider are skipped (documented in the
# README): temporary names, and, once a feed folder uses ``.done`` markers,
# any file without its marker.
IN_PROGRESS_SUFFIXES = {".tmp", ".part", ".partial", ".crdownload", ".filepart"}
DONE_MARKER = ".done"


@dataclass
class FileResult:
    feed: str
    source_file: str
    file_id: str
    status: str  # loaded | duplicate_delivery | rejected | already_rejected | skipped_incomplete
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    message: str = ""


@dataclass
class IngestReport:
    run_id: str
    files: list[FileResult] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return sum(f.rows_in for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    def summary(self) -> str:
        by_status: dict[str, int] = {}
        for f in self.files:
            by_status[f.status] = by_status.get(f.status, 0) + 1
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) or "no files"
        return f"{statuses}; rows in {self.rows_in:,} = loaded {self.rows_loaded:,} + quarantined {self.rows_quarantined:,}"


def landing_file_id(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    """sha256 of the file, from lake table file_fingerprints when the file
    is unchanged since it was last hashed (see its comment in lake.py)."""
    key = str(path.absolute())
    st = stat_stamp(path)
    stamp = [st["size"], st["inode"], st["mtime_ns"], st["ctime_ns"]]
    row = con.execute("select file_id from file_fingerprints where path = ? and size_bytes = ? and inode = ? "
                      "and mtime_ns = ? and ctime_ns = ?", [key, *stamp]).fetchone()
    if row:
        return row[0]
    file_id = sha256_of(path)
    con.execute("insert or replace into file_fingerprints values (?, ?, ?, ?, ?, ?, current_timestamp)",
                [key, *stamp, file_id])
    return file_id


def delivery_files(feed_dir: Path) -> tuple[list[Path], list[Path], list[tuple[Path, str]]]:
    """(complete deliveries, files skipped as still being written, entries
    that are never read with the reason), sorted by name.

    A file of an unknown type is a complete delivery: reading it rejects it
    once, by content, like any unreadable file."""
    if not feed_dir.is_dir():
        return [], [], []
    entries = sorted(p for p in feed_dir.iterdir() if not p.name.startswith((".", "~$")))
    uses_markers = any(p.suffix == DONE_MARKER and p.is_file() and not p.is_symlink() for p in entries)
    complete, incomplete, not_read = [], [], []
    for path in entries:
        if path.is_symlink():
            # Symbolic links are never followed: a delivery is a regular file
            # inside its feed folder (a link could point anywhere on the machine).
            not_read.append((path, "a symbolic link, not followed: links may point anywhere on the machine; "
                                   "copy the file itself into the feed folder"))
        elif path.is_dir():
            not_read.extend((inner, f"in the sub-folder {path.name}/: only files directly in the feed folder "
                                    f"{feed_dir.name}/ are read; move it up into {feed_dir.name}/")
                            for inner in _files_below(path))
        elif not path.is_file() or path.suffix == DONE_MARKER:
            continue
        elif path.suffix.lower() in IN_PROGRESS_SUFFIXES:
            incomplete.append(path)
        elif uses_markers and not path.with_name(path.name + DONE_MARKER).exists():
            incomplete.append(path)
        else:
            complete.append(path)
    return complete, incomplete, not_read


def _files_below(folder: Path) -> list[Path]:
    """Files and links anywhere below ``folder`` (links are not followed)."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / f for f in files if not f.startswith((".", "~$")) and not f.endswith(DONE_MARKER))
        # links to folders are listed in dirs but not walked: report them too
        found.extend(Path(root) / d for d in dirs if (Path(root) / d).is_symlink())
    return sorted(found)


def not_read_id(path: Path) -> str:
    """The manifest id of an entry that is never read (a link, a file in a
    sub-folder): its content is not hashed (a link is not followed), so the
    id is the sha256 of its path, size, mtime and link target; the entry is
    reported once, and again only when one of them changes."""
    st = path.lstat()
    target = os.readlink(path) if path.is_symlink() else ""
    text = f"not read\0{path.absolute()}\0{st.st_size}\0{st.st_mtime_ns}\0{target}"
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def ingest_landing(
    landing_dir: Path,
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    progress: Callable[[str, int, int], None] | None = None,
    stage_dir: Path | None = None,
) -> IngestReport:
    """Load every new complete delivery of every feed. ``con`` is the lake.

    ``stage_dir``: where files are staged while read (the pipeline gives a
    folder of the run, which the next run's start removes, so a killed
    process leaves nothing behind for long); default: the system's temp."""
    landing_dir = Path(landing_dir)
    if not landing_dir.is_dir():
        raise FileNotFoundError(f"landing directory {landing_dir} does not exist")
    limits.check_settings([feed.name for feed in FEEDS])
    ensure_lake(con)
    install_macros(con)
    report = IngestReport(run_id)
    plan = [(feed, delivery_files(landing_dir / feed.name)) for feed in FEEDS]
    total = sum(len(done) for _, (done, _, _) in plan)
    done_count = 0
    for feed, (files, incomplete, not_read) in plan:
        for path in incomplete:
            report.files.append(FileResult(feed.name, _relative(path, landing_dir), "", "skipped_incomplete",
                                           message="not read: not a complete delivery yet (temporary name "
                                                   "or no .done marker)"))
        for path, why in not_read:
            result = _reject_unread(con, feed, path, landing_dir, run_id, why)
            if result is not None:
                log.warning("%s %s: not read: %s", feed.name, result.source_file, why)
                report.files.append(result)
        for path in files:
            result = _ingest_file(con, feed, path, landing_dir, run_id, stage_dir)
            log.info("%s %s: %s (in %d, loaded %d, quarantined %d) %s", feed.name, result.source_file, result.status,
                     result.rows_in, result.rows_loaded, result.rows_quarantined, result.message)
            report.files.append(result)
            done_count += 1
            if progress:
                progress("ingest", done_count, total)
    return report


def _reject_unread(con: duckdb.DuckDBPyConnection, feed: Feed, path: Path, landing_dir: Path, run_id: str,
                   why: str) -> FileResult | None:
    """Record once (manifest + quarantine) an entry that is never read; None
    when it was recorded on an earlier night."""
    file_id = not_read_id(path)
    if con.execute("select 1 from ingest_manifest where file_id = ?", [file_id]).fetchone():
        return None
    source_file = _relative(path, landing_dir)
    con.execute("begin transaction")
    try:
        result = _load_rows(con, feed, FileRejected(f"not read: {why}"), source_file, file_id, run_id)
        _record_manifest(con, result, path, run_id)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return result


def _relative(path: Path, landing_dir: Path) -> str:
    return path.relative_to(landing_dir).as_posix()


def _reason_for(exc: BaseException) -> str:
    """A reason an officer can act on for an error raised while reading a
    file (the library's own words follow, for whoever fixes the file)."""
    detail = f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, RecursionError):
        return f"nested too deeply to read ({detail})"
    if isinstance(exc, MemoryError):
        return "too large to read in the memory available"
    if isinstance(exc, UnicodeError):
        return f"bytes that are not valid text ({detail})"
    if isinstance(exc, (zipfile.BadZipFile, zipfile.LargeZipFile)):
        return f"not a readable XLSX workbook ({detail})"
    if isinstance(exc, duckdb.InterruptException):
        return str(limits.out_of_time())
    return f"could not be read ({detail})"


def _ingest_file(con: duckdb.DuckDBPyConnection, feed: Feed, path: Path, landing_dir: Path, run_id: str,
                 stage_dir: Path | None = None) -> FileResult:
    source_file = _relative(path, landing_dir)
    file_id = landing_file_id(con, path)
    seen = con.execute(
        "select source_file, status from ingest_manifest where file_id = ? and status in ('loaded', 'rejected')", [file_id]
    ).fetchone()
    if seen and seen[1] == "rejected":
        # A rejected file is not read again until its content changes.
        return FileResult(feed.name, source_file, file_id, "already_rejected",
                          message=f"same content as {seen[0]}, rejected before; deliver a corrected file")
    if seen:
        return FileResult(feed.name, source_file, file_id, "duplicate_delivery",
                          message=f"same content as {seen[0]} ({seen[1]}); nothing to do")
    # Decoding only fills temp tables, so it runs before the transaction (a
    # failed fast-path parse must not abort the transaction). Any error
    # while reading one file rejects that file, never the night (issue 13).
    if stage_dir is not None:
        stage_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="yaocai-stage-", dir=stage_dir) as tmp:
        staged = _stage_bounded(con, feed, path, Path(tmp))
    staged = _typed_or_rejected(con, feed, source_file, staged)
    con.execute("begin transaction")
    try:
        # A rejected file restates nothing: the rows of an earlier version
        # under the same name stay until a readable version replaces them.
        superseded = None if isinstance(staged, FileRejected) else _supersede_earlier_version(con, feed, source_file, file_id)
        try:
            result = _load_rows(con, feed, staged, source_file, file_id, run_id)
        except Exception as exc:
            if isinstance(staged, FileRejected):
                raise
            # Checking or loading the typed rows failed: roll the file back
            # and record it as rejected instead.
            log.exception("%s %s: loading the staged rows failed", feed.name, source_file)
            con.execute("rollback")
            _drop_temp_tables(con)
            con.execute("begin transaction")
            superseded = None
            result = _load_rows(con, feed, FileRejected(_reason_for(exc)), source_file, file_id, run_id)
        if superseded:
            result.message = (result.message + f" restates earlier delivery {superseded[:12]}").strip()
        _record_manifest(con, result, path, run_id)
        failpoint("ingest.before_commit")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    failpoint("ingest.after_commit")
    return result


def _stage_bounded(con: duckdb.DuckDBPyConnection, feed: Feed, path: Path, tmp: Path) -> _Staged | FileRejected:
    """_stage within the file limits: the file's size is checked first, its
    wall time is limited (readers check the clock; a DuckDB statement still
    running at the deadline is interrupted), and any error is the file's
    rejection with its reason."""
    size = path.stat().st_size
    if size > limits.MAX_FILE_BYTES.value(feed.name):
        env = limits.MAX_FILE_BYTES.env
        return FileRejected(f"{size:,} bytes is over the limit of {limits.MAX_FILE_BYTES.value(feed.name):,} "
                            f"{limits.MAX_FILE_BYTES.what} for feed {feed.name} ({env}, or {env}_{feed.name.upper()})")
    deadline = limits.start_clock(feed.name)
    timer = threading.Timer(max(0.0, deadline - time.monotonic()), con.interrupt)
    timer.daemon = True
    timer.start()
    # In the main thread, an alarm also stops Python code that runs long
    # between two checks of the clock (a library parsing a whole part);
    # not when the process uses alarms itself (Airflow's task timeout).
    previous = signal.getsignal(signal.SIGALRM)
    alarm = (threading.current_thread() is threading.main_thread() and previous in (signal.SIG_DFL, None)
             and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
    try:
        try:
            if alarm:
                signal.signal(signal.SIGALRM, _out_of_time)
                signal.setitimer(signal.ITIMER_REAL, max(0.001, deadline - time.monotonic()))
            staged = _stage(con, feed, path, tmp)
            limits.check_clock()  # an interrupted fast path returns None and falls through
            return staged
        finally:  # disarmed first: an alarm from here on would escape the handlers below
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
            timer.cancel()
            limits.stop_clock()
    except FileRejected as exc:
        _drop_temp_tables(con)
        return exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise  # the machine's problem, not the file's: the night fails and the file is read again
        _drop_temp_tables(con)
        return FileRejected(_reason_for(exc))
    except Exception as exc:  # any library's error while reading this one file
        log.warning("%s %s: rejected after %s", feed.name, path.name, f"{type(exc).__name__}: {exc}"[:300])
        _drop_temp_tables(con)
        return FileRejected(_reason_for(exc))


def _typed_or_rejected(con: duckdb.DuckDBPyConnection, feed: Feed, source_file: str,
                       staged: _Staged | FileRejected) -> _Staged | FileRejected:
    """Types and checks the staged rows into the temp table ``typed`` before
    the file's transaction begins: DuckDB inserts rows into the lake about
    40 % slower from a temp table created inside the inserting transaction
    (issue 18: 320 k purchase lines, 0.87 s against 0.51 s). Only temp tables
    are written, so nothing needs rolling back; a failure rejects the file."""
    if isinstance(staged, FileRejected):
        return staged
    try:
        _type_and_check(con, feed, staged)
    except Exception as exc:
        log.exception("%s %s: typing the staged rows failed", feed.name, source_file)
        _drop_temp_tables(con)
        return FileRejected(_reason_for(exc))
    return staged


def _out_of_time(signum, frame) -> None:
    raise limits.out_of_time()


def _drop_temp_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("staged", "staged_json", "typed", "more_reasons",
                  "key_groups", "lake_hits"):
        con.execute(f"drop table if exists {table}")


def _supersede_earlier_version(con: duckdb.DuckDBPyConnection, feed: Feed, source_file: str, file_id: str) -> str | None:
    """A corrected file delivered under the same name replaces the old one's rows."""
    old = con.execute(
        "select file_id from ingest_manifest where feed = ? and source_file = ? and status = 'loaded' and file_id <> ?",
        [feed.name, source_file, file_id],
    ).fetchone()
    if not old:
        return None
    con.execute(f"delete from {quote_ident(feed.name)} where _file_id = ?", [old[0]])
    con.execute("delete from quarantine where file_id = ?", [old[0]])
    con.execute("update ingest_manifest set status = 'superseded', superseded_by = ? where file_id = ?", [file_id, old[0]])
    return old[0]


def _record_manifest(con: duckdb.DuckDBPyConnection, r: FileResult, path: Path, run_id: str) -> None:
    con.execute(
        """insert or replace into ingest_manifest
           (file_id, feed, source_file, size_bytes, status, rows_in, rows_loaded, rows_quarantined, message, run_id, loaded_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)""",
        [r.file_id, r.feed, r.source_file, path.stat().st_size, r.status, r.rows_in, r.rows_loaded,
         r.rows_quarantined, r.message, run_id],
    )


# The staged table of one delivery (temp table ``staged``): one row per
# delivered row, in file order, every delivered column as text in c0, c1, …
# (one per distinct header label, in header order; NULL = empty). The row's
# number is its position (readers number rows 1, 2, … in file order; blank
# lines are not counted). Rows staged by the Python readers also carry
#   _problem     why the row cannot be used at all (a reader problem), or NULL
#   _raw, _extra the row as delivered and its unmapped cells as JSON, for
#                irregular rows only (a problem, missing or extra keys).
# Otherwise _raw and _extra are built in SQL from c0…, and _raw only for the
# rows that end in quarantine.
STAGED_META = ("_problem", "_raw", "_extra")
# Characters Python's str.strip() removes (the readers' notion of blank).
_PY_SPACE = "".join(f"\\x{{{c:x}}}" for c in range(0x3001) if chr(c).isspace())  # none above U+3000
# DuckDB is given this as its limit on a row's bytes (or YAOCAI_MAX_FIELD_CHARS
# or YAOCAI_MAX_LINE_CHARS if lower), so a file with a longer row takes the
# Python path, which checks lines and fields against them (ingest/limits.py).
_CSV_FIELD_LIMIT = 131_072


@dataclass
class _Staged:
    rows: int
    fmt: str
    labels: list[str]  # distinct delivered header labels (wide files: the mapped ones); staged column c<i> holds labels[i]
    problem: str = "s._problem"  # SQL over ``staged s``: the row's reader problem
    has_meta: bool = True  # _problem, _raw and _extra are columns of staged
    null_is_absent: bool = False  # NULL: the row has no such key (JSON), not an empty cell
    meta_complete: bool = False  # _raw and _extra are given for every row (wide files), not built in SQL


# Above this many columns, a file's _raw and _extra are written by Python
# for every row instead of being built in SQL: the SQL expressions have a
# term per column, and DuckDB's time to plan them grows faster than their
# length (a CSV of 2,000 columns took 14 s, 4,000 121 s; issue 13).
WIDE_FILE_COLUMNS = 64


def _column_list(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


def _stage(con: duckdb.DuckDBPyConnection, feed: Feed, path: Path, tmp: Path) -> _Staged:
    """Decode the delivery into the temp table ``staged`` (raises FileRejected)."""
    con.execute("drop table if exists staged")
    staged = _stage_csv_in_duckdb(con, feed, path, tmp) or _stage_jsonl_in_duckdb(con, feed, path)
    if staged is None:
        con.execute("drop table if exists staged")
        staged = _stage_in_python(con, feed, path, tmp / "staged.csv")
    return staged


def _missing_required(feed: Feed, labels: list[str]) -> list[str]:
    index = header_index(feed)
    mapped = {index.get(normalise_header(label)) for label in labels}
    # purchases may omit infno when the file name or envelope says nothing;
    # every other required column must be present as a column.
    return [c.name for c in feed.columns if c.required and c.name not in mapped]


def _stage_csv_in_duckdb(con: duckdb.DuckDBPyConnection, feed: Feed, path: Path, tmp: Path) -> _Staged | None:
    """Fast path for a plain CSV (header on the first line, UTF-8 or GB18030,
    every row with as many cells as the header, no blank rows): DuckDB parses
    it, with the same result as readers._read_csv. Returns None, leaving the
    file to the Python reader, whenever that cannot be guaranteed: DuckDB's
    strict parser refuses anything irregular, and the checks below catch the
    rest."""
    layout = readers.plain_csv_header(path, feed)
    if layout is None:
        return None
    encoding, header = layout
    if (len(set(header)) != len(header) or len(header) < 2 or len(header) > WIDE_FILE_COLUMNS
            or _missing_required(feed, header)):
        return None
    columns = _column_list(len(header))
    while True:
        source = path
        if encoding == "gb18030":
            source = tmp / "utf8.csv"
            if not _transcode(path, source, encoding):
                return None
        try:
            con.execute(
                "create temp table staged as select * from read_csv(?, header = false, skip = 1, auto_detect = false, "
                "delim = ',', quote = '\"', escape = '\"', strict_mode = true, null_padding = false, encoding = 'utf-8', "
                f"max_line_size = {min(_CSV_FIELD_LIMIT, limits.MAX_FIELD_CHARS.value(), limits.MAX_LINE_CHARS.value())}, "
                "columns = ?)",
                [str(source), {c: "varchar" for c in columns}],
            )
            break
        except duckdb.Error:
            # The header was UTF-8 (plain ASCII) but the rest may not be:
            # then the file is GB18030 if all of it decodes so (as
            # readers.detect_encoding decides), and is read again re-encoded.
            if encoding != "utf-8" or readers.detect_encoding(path, check_gb18030=False) != "gb18030":
                return None
            encoding = "gb18030"
    # A row whose first cell starts with an ASCII letter or digit other than
    # t is neither blank nor a summary row (readers: 合计, 总计, 小计, total).
    plain = (f"coalesce(ascii({columns[0]}) between 48 and 57 or ascii({columns[0]}) between 65 and 83 "
             f"or ascii({columns[0]}) between 85 and 90 or ascii({columns[0]}) between 97 and 115 "
             f"or ascii({columns[0]}) between 117 and 122, false)")
    blank = " and ".join(f"regexp_full_match(coalesce({c}, ''), '[{_PY_SPACE}]*')" for c in columns)
    rows, blank_rows = con.execute(f"select (select count(*) from staged), "
                                   f"(select count(*) from staged where not {plain} and {blank})").fetchone()
    if blank_rows:
        return None  # the Python reader skips them and does not count them
    # Summary rows: the first non-blank cell starts with a marker (readers._is_total_row).
    markers = "|".join(m for m in readers.TOTAL_ROW_MARKERS if not m.isascii())
    ascii_markers = "|".join(m for m in readers.TOTAL_ROW_MARKERS if m.isascii())
    starts = f"'^[{_PY_SPACE}]*({markers}|(?i:{ascii_markers}))'"
    total = " ".join(f"when regexp_matches(s.{c}, {starts}) then {quote_literal(readers.CSV_TOTAL_ROW_PROBLEM)} "
                     f"when not regexp_full_match(coalesce(s.{c}, ''), '[{_PY_SPACE}]*') then null" for c in columns)
    problem = f"case when {plain.replace(columns[0], 's.' + columns[0])} then null else case {total} end end"
    return _Staged(rows, f"csv/{encoding}", header, problem=problem, has_meta=False)


# JSON numbers as the Python reader renders them (readers._json_text): an
# integer as is, an integral float without ".0", any other float as repr().
# DuckDB re-serialises a number with the shortest round-trip digits, which is
# repr()'s text for these shapes (integer part up to 15 digits, no exponent,
# |x| >= 0.0001, not -0.0); a file with any other number takes the Python path.
_JSON_INTEGER = r"0|-?[1-9][0-9]*"
_JSON_PLAIN_FLOAT = r"-?[0-9]{1,15}\.[0-9]+"


# The JSON Lines fast path below gives the Python reader's result in about
# 60 % of its time (300 k NHSA messages, one after the other: 8.0-8.6 s
# against 14.4 s; issue 18), so it is on; tests/test_ingest_fast_path.py
# checks it against the Python reader.
JSONL_IN_DUCKDB = True


def _stage_jsonl_in_duckdb(con: duckdb.DuckDBPyConnection, feed: Feed, path: Path) -> _Staged | None:
    """Fast path for JSON Lines of flat records or NHSA messages with one
    entry each (``{"infno", …, "input": {"purcinfo": {…}}}``): DuckDB parses
    the file with the result readers._read_jsonl gives. Returns None (the
    Python reader takes the file) for anything else: other shapes, a line that
    is not valid JSON to Python (DuckDB also accepts trailing commas), values
    that are objects or arrays, numbers Python would render differently,
    duplicate keys, a record whose keys are out of the header's order."""
    if not JSONL_IN_DUCKDB or path.suffix.lower() not in (".jsonl", ".ndjson", ".json") or path.stat().st_size == 0:
        return None
    try:
        if readers.detect_encoding(path) != "utf-8":
            return None
    except FileRejected:
        return None
    try:
        con.execute("create or replace temp table staged_json as select json as j from read_ndjson_objects(?)",
                    [str(path)])
    except duckdb.Error:
        con.execute("drop table if exists staged_json")
        return None
    try:
        return _flatten_json_in_duckdb(con, feed, path)
    except duckdb.Error:
        con.execute("drop table if exists staged")
        return None
    finally:
        con.execute("drop table if exists staged_json")


def _flatten_json_in_duckdb(con: duckdb.DuckDBPyConnection, feed: Feed, path: Path) -> _Staged | None:
    # Each line is parsed into a map of key -> value (the value as JSON
    # text), and an NHSA message's input into a map of its entry's values;
    # every check and rendering below works on those texts. One JSON
    # function per check parsed each line about ten times (300 k NHSA
    # messages: 13.7 s; this way 8.0-8.6 s; issue 18). The file is parsed
    # twice, once for its keys and shape, once for its values: keeping the
    # maps between the two held a second copy of the file in memory (the
    # same 300 k messages: 1,016 MB against 598 MB; 2.9 GB for 970 k). A map
    # keeps the keys in the line's order; a line that is not an object gives
    # no map.
    max_depth = int(limits.MAX_JSON_DEPTH.value())
    if max_depth < 3:  # an NHSA message nests three levels; the Python reader applies the limit
        return None
    records = r"""(select *, map_keys(entry) as entry_keys,
                          coalesce(cardinality(input_map) = 1 and entry is not null, false)
                          or not list_contains(top_keys, 'input') as shape_ok
                   from (select *, map_values(input_map)[1] as entry
                         from (select *, map_keys(m) as top_keys,
                                      from_json(m['input'], '"MAP(VARCHAR, MAP(VARCHAR, JSON))"') as input_map
                               from (select rowid as line, from_json(j, '"MAP(VARCHAR, JSON)"') as m,
                                            length(j::varchar) as line_chars, strlen(j::varchar) as line_bytes,
                                            regexp_matches(j::varchar, ',\s*[\]}]') or contains(j::varchar, chr(13))
                                            as read_otherwise_by_python
                                     from staged_json))))"""
    # Every line is an object, without a trailing comma (DuckDB accepts
    # one, Python does not) or a carriage return (a line break to Python's
    # reader, white space to DuckDB's), and an "input" key holds one entry
    # that is an object; else the Python reader takes the file. So it does
    # when a line might be over the line limit: DuckDB gives a line's object
    # without the white space around it, so the longest object plus all the
    # file's bytes outside objects bounds the longest line. A record's keys:
    # the envelope's without "input", then the entry's not already there
    # (readers._flatten_nhsa).
    key_sets = con.execute(
        f"""select top_keys, coalesce(entry_keys, []), min(line) as first,
                   bool_and(m is not null and not read_otherwise_by_python and shape_ok),
                   max(line_chars), sum(line_bytes)
            from {records} group by all order by first"""
    ).fetchall()
    shapes_ok = all(shape_ok for _, _, _, shape_ok, _, _ in key_sets)
    longest_object = max((longest for _, _, _, _, longest, _ in key_sets), default=0)
    outside_objects = path.stat().st_size - sum(object_bytes for _, _, _, _, _, object_bytes in key_sets)
    if not shapes_ok or longest_object + outside_objects + 1 > limits.MAX_LINE_CHARS.value():
        return None
    if any(len(set(top)) != len(top) or len(set(entry)) != len(entry) for top, entry, *_ in key_sets):
        return None  # a key repeated in a record (a map built from a column keeps both)
    key_lists = [[k for k in top if k != "input"] + [k for k in entry if k not in top] for top, entry, *_ in key_sets]
    header: list[str] = []
    for keys in key_lists:
        header.extend(k for k in keys if k not in header)
    position = {k: i for i, k in enumerate(header)}
    if any([position[k] for k in keys] != sorted(position[k] for k in keys) for keys in key_lists):
        return None
    if (len(header) < 2 or len(header) > min(WIDE_FILE_COLUMNS, limits.MAX_COLUMNS.value())
            or _missing_required(feed, header)):
        return None
    # The entry's value wins over the envelope's (readers._flatten_nhsa). A
    # map gives NULL for a JSON null, so p<i> says whether the key is there.
    values = ", ".join(
        f"case when list_contains(entry_keys, {quote_literal(k)}) then entry[{quote_literal(k)}] "
        f"else m[{quote_literal(k)}] end as v{i}, "
        f"coalesce(list_contains(entry_keys, {quote_literal(k)}), false) or list_contains(top_keys, {quote_literal(k)}) as p{i}"
        for i, k in enumerate(header))
    # Values as the Python reader renders them (readers._json_text): a string
    # as is, null as '', booleans 1/0, numbers whose text DuckDB and Python
    # write alike (see _JSON_INTEGER); anything else (objects, arrays, other
    # numbers) leaves the file to the Python reader (_fits false).
    fits = " and ".join(
        f"(v{i} is null or left(v{i}, 1) = '\"' or v{i} in ('true', 'false') "
        f"or regexp_full_match(v{i}, '{_JSON_INTEGER}') "
        f"or (regexp_full_match(v{i}, '{_JSON_PLAIN_FLOAT}') and not regexp_matches(v{i}, '^-?0\\.0000') "
        f"and v{i} <> '-0.0'))"
        for i in range(len(header)))
    texts = ", ".join(
        f"case when not p{i} then null when v{i} is null then '' else case left(v{i}, 1) "
        f"when '\"' then json_extract_string(v{i}, '$') when 't' then '1' when 'f' then '0' "
        f"else regexp_replace(v{i}, '\\.0$', '') end end as c{i}"
        for i in range(len(header)))
    con.execute(f"create temp table staged as select {texts}, {fits} as _fits from (select {values} from {records})")
    con.execute("drop table staged_json")
    longest = ", ".join(f"coalesce(length(c{i}), 0)" for i in range(len(header)))
    rows, fits_all, longest_cell = con.execute(
        f"select count(*), coalesce(bool_and(_fits), true), coalesce(max(greatest({longest})), 0) from staged").fetchone()
    if not fits_all or longest_cell > limits.MAX_FIELD_CHARS.value():
        return None  # the Python reader takes the file (and rejects one with too long a field, naming the line)
    return _Staged(rows, "jsonl/utf-8", header, problem="null::varchar", has_meta=False, null_is_absent=True)


def _transcode(path: Path, target: Path, encoding: str) -> bool:
    """Re-encode to UTF-8 for DuckDB; False if the bytes are not valid (the
    Python reader then rejects the file with the position of the bad bytes)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with path.open("rb") as source, target.open("w", encoding="utf-8", newline="") as out:
            for block in iter(lambda: source.read(1 << 24), b""):
                out.write(decoder.decode(block))
            out.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        return False
    return True


def _stage_in_python(con: duckdb.DuckDBPyConnection, feed: Feed, path: Path, staged_csv: Path) -> _Staged:
    """Any format: the readers decode the file, rows go through a UTF-8 CSV.
    A JSON Lines file is read first with the header of its first record
    (one parse of each line), and again with the full header if a record
    has another key or that header lacks a required column."""
    try:
        return _stage_delivery(con, feed, read_delivery(path, feed, guess_header=True), staged_csv, guessed=True)
    except HeaderIncomplete:
        return _stage_delivery(con, feed, read_delivery(path, feed), staged_csv)


def _stage_delivery(con: duckdb.DuckDBPyConnection, feed: Feed, delivery: Delivery, staged_csv: Path,
                    guessed: bool = False) -> _Staged:
    labels = list(dict.fromkeys(delivery.header))
    missing = _missing_required(feed, labels)
    if missing and guessed and delivery.format == "jsonl":
        raise HeaderIncomplete("the first record lacks a required column")
    if missing:
        raise FileRejected(f"required column(s) missing from the header: {', '.join(missing)}")
    index = header_index(feed)
    unmapped = [label for label in labels if index.get(normalise_header(label)) is None]
    header_set = set(labels)
    wide = len(labels) > WIDE_FILE_COLUMNS
    # A wide file's unmapped columns live only in _raw and _extra: staged
    # columns cost DuckDB memory per column (a vector of 2,048 values each).
    unmapped_set = set(unmapped)
    staged_labels = [label for label in labels if label not in unmapped_set] if wide else labels
    rows = 0
    longest_row = 0  # characters of the longest row's cells (and keys, where _raw repeats them)
    with staged_csv.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*STAGED_META, *_column_list(len(staged_labels))])
        for row in delivery.rows:
            cells = row.cells
            if row.problem is None and len(cells) == len(labels) and list(cells) == labels and not wide:
                writer.writerow(["", "", "", *cells.values()])
                longest_row = max(longest_row, sum(map(len, cells.values())))
            else:
                longest_row = max(longest_row, sum(len(k) + len(v) for k, v in cells.items()) + len(row.problem or ""))
                extra = {label: cells[label] for label in unmapped if cells.get(label, "") != ""}
                for label, text in cells.items():  # JSON rows may carry keys missing from the header
                    if label not in header_set and text != "":
                        extra[label] = text
                writer.writerow([
                    row.problem or "", json.dumps(cells, ensure_ascii=False),
                    json.dumps(extra, ensure_ascii=False) if extra else "",
                    *(cells.get(label, "") for label in staged_labels),
                ])
            rows += 1
    columns = {name: "varchar" for name in [*STAGED_META, *_column_list(len(staged_labels))]}
    con.execute(
        "create temp table staged as select * from read_csv(?, header = true, delim = ',', quote = '\"', escape = '\"', "
        f"auto_detect = false, columns = ?, max_line_size = {_staged_line_bytes(longest_row, len(labels))})",
        [str(staged_csv), columns],
    )
    fmt = delivery.format + (f"/{delivery.encoding}" if delivery.encoding else "")
    return _Staged(rows, fmt, staged_labels, meta_complete=wide)


def _staged_line_bytes(row_chars: int, columns: int) -> int:
    """DuckDB's max_line_size for the staged CSV: a bound on its longest line.
    A character takes at most 4 bytes in UTF-8 and 6 in JSON (\\u0001) or
    with CSV's doubled quotes; a row's text is written up to three times
    (its cells, _raw and _extra). The fields themselves are bounded by
    YAOCAI_MAX_FIELD_CHARS, so is this (DuckDB's default is 2 MB: a field
    over 10 MB made the staging read fail, issue 13)."""
    return max(10_000_000, 18 * row_chars + 64 * columns + 4096)


def _json_pairs(pairs: list[tuple[str, str]]) -> str:
    """SQL for the body of a JSON object (json.dumps spacing) of (key, SQL text
    expression) pairs; a pair whose expression is NULL is left out."""
    parts = [f"{quote_literal(json.dumps(key, ensure_ascii=False))} || ': ' || to_json({expr})::varchar"
             for key, expr in pairs]
    return f"concat_ws(', ', {', '.join(parts)})" if parts else "''"


def _raw_sql(staged: _Staged, alias: str) -> str:
    if staged.meta_complete:
        return f"{alias}._raw"
    cell = "{alias}.c{i}" if staged.null_is_absent else "coalesce({alias}.c{i}, '')"
    body = _json_pairs([(label, cell.format(alias=alias, i=i)) for i, label in enumerate(staged.labels)])
    built = f"'{{' || {body} || '}}'"
    return f"coalesce({alias}._raw, {built})" if staged.has_meta else built


def _extra_sql(feed: Feed, staged: _Staged, alias: str) -> str:
    if staged.meta_complete:
        return f"{alias}._extra"
    index = header_index(feed)
    pairs = [(label, f"nullif({alias}.c{i}, '')") for i, label in enumerate(staged.labels)
             if index.get(normalise_header(label)) is None]
    built = f"nullif('{{' || {_json_pairs(pairs)} || '}}', '{{}}')" if pairs else "null::varchar"
    return f"case when {alias}._raw is not null then {alias}._extra else {built} end" if staged.has_meta else built


def _load_rows(con: duckdb.DuckDBPyConnection, feed: Feed, staged: _Staged | FileRejected, source_file: str,
               file_id: str, run_id: str) -> FileResult:
    """Inside the file's transaction: the rows of ``typed`` (_typed_or_rejected)
    into the lake or quarantine, or the rejected file's quarantine row."""
    if isinstance(staged, FileRejected):
        con.execute(
            "insert into quarantine (feed, source_file, row_number, reason, raw_content, file_id, run_id, quarantined_at) "
            "values (?, ?, null, ?, null, ?, ?, current_timestamp)",
            [feed.name, source_file, f"file rejected: {staged}", file_id, run_id],
        )
        return FileResult(feed.name, source_file, file_id, "rejected", message=str(staged))
    _check_keys_and_references(con, feed)

    meta = f"{quote_literal(file_id)}, {quote_literal(source_file)}"
    columns = ", ".join(quote_ident(c) for c in feed.column_names)
    more = con.execute("select count(*) from more_reasons").fetchone()[0]
    # typed is in file order; without the anti join the filter keeps it.
    con.execute(
        f"insert into {quote_ident(feed.name)} ({columns}, _file_id, _source_file, _row_number, _extra) "
        f"select {columns}, {meta}, _row_number, _extra from typed t where t._reason is null "
        + ("and _row_number not in (select _row_number from more_reasons) order by _row_number" if more else "")
    )
    con.execute(
        "insert into quarantine (feed, source_file, row_number, reason, raw_content, file_id, run_id, quarantined_at) "
        f"select {quote_literal(feed.name)}, {quote_literal(source_file)}, q._row_number, q.reason, {_raw_sql(staged, 's')}, "
        f"{quote_literal(file_id)}, {quote_literal(run_id)}, current_timestamp "
        "from (select _row_number, _reason as reason from typed where _reason is not null "
        "      union all select _row_number, reason from more_reasons) q "
        "join staged s on s.rowid + 1 = q._row_number order by q._row_number"
    )
    clean, rejected = con.execute("select count(*) filter (where _reason is null), count(*) filter (where _reason is not null) "
                                  "from typed").fetchone()
    loaded, quarantined = clean - more, rejected + more
    for table in ("staged", "typed", "more_reasons", "key_groups", "lake_hits"):
        con.execute(f"drop table if exists {table}")
    # The accounting identity every delivery must satisfy (issue: accounting).
    if loaded + quarantined != staged.rows:
        raise RuntimeError(f"{source_file}: {staged.rows} rows read but {loaded} loaded + {quarantined} quarantined")
    return FileResult(feed.name, source_file, file_id, "loaded", staged.rows, loaded, quarantined, staged.fmt)


def _type_and_check(con: duckdb.DuckDBPyConnection, feed: Feed, staged: _Staged) -> None:
    """One statement: text -> typed columns, value problems, then the first
    broken row rule (rules only make sense on rows whose values all parsed).
    ``typed._reason`` is NULL for a row fine so far, else the reasons."""
    index = header_index(feed)
    sources: dict[str, list[str]] = {}
    for i, label in enumerate(staged.labels):
        canonical = index.get(normalise_header(label))
        if canonical:
            sources.setdefault(canonical, []).append(f"s.c{i}")
    texts = []
    for n, column in enumerate(feed.columns):
        found = sources.get(column.name, [])
        # Several labels for one column: the first non-empty one wins.
        text = found[0] if len(found) == 1 else (f"coalesce({', '.join(f'nullif({c}, {chr(39) * 2})' for c in found)})"
                                                 if found else "null::varchar")
        texts.append(f"{text} as _t{n}")
    typed_columns, problems, fine = [], ["t._problem"], ["t._problem is null"]
    for n, column in enumerate(feed.columns):
        name = quote_ident(column.name)
        typed = typed_expression(column, f"u._t{n}")
        typed_columns.append(f"cast({typed} as {SQL_TYPES[column.kind]}) as {name}")
        problems.extend(value_problems(column, f"t._t{n}", f"t.{name}"))
        # value_problems gives a reason exactly when this does not hold
        fine.append(f"t.{name} is not null" if column.required else f"(t.{name} is not null or yc_text(t._t{n}) is null)")
    rules = " ".join(f"when coalesce({rule.broken_when}, false) then {rule.reason}"
                     for rule in checks.RULES.get(feed.name, []))
    names = ", ".join(f"t.{quote_ident(c)}" for c in feed.column_names)
    con.execute(
        f"""create temp table typed as
        select t._row_number, t._extra, {names},
               case when {' and '.join(fine)} then (case {rules or 'when false then null'} end)
                    else nullif(concat_ws('; ', {', '.join(problems)}), '') end as _reason
        from (
            select u._row_number, u._problem, u._extra, {', '.join(f'u._t{n}' for n in range(len(feed.columns)))},
                   {', '.join(typed_columns)}
            from (select s.rowid + 1 as _row_number, {staged.problem} as _problem,
                         {_extra_sql(feed, staged, 's')} as _extra, {', '.join(texts)}
                  from staged s) u
        ) t"""
    )


def _check_keys_and_references(con: duckdb.DuckDBPyConnection, feed: Feed) -> None:
    """Reasons that need other rows, into ``more_reasons`` (row, reason) for
    rows still fine in ``typed``; the first broken check gives the reason,
    in this order: duplicates in the file, the line already in the lake,
    unknown codes, overlaps (listed prices), unknown returned purchase."""
    clean = "t._reason is null"
    keys = [quote_ident(k) for k in feed.key]
    on = lambda a, b: " and ".join(f"{a}.{k} = {b}.{k}" for k in keys)  # noqa: E731
    key_list = ", ".join(f"t.{k}" for k in keys)
    payload = lambda a: "md5(cast(row(" + ", ".join(f"{a}.{quote_ident(c)}" for c in feed.column_names) + ") as varchar))"  # noqa: E731
    table = quote_ident(feed.name)
    # Duplicates inside the file: identical lines are kept once (the later
    # copies are quarantined as duplicates, so the count still balances);
    # lines that share a key but differ are all quarantined, because we
    # cannot tell which one is right.
    con.execute(
        f"""create or replace temp table key_groups as
        with repeated as (select {key_list} from typed t where {clean} group by all having count(*) > 1)
        select {key_list}, count(distinct {payload('t')}) as versions, min(t._row_number) as first_row
        from typed t semi join repeated d on {on('t', 'd')}
        where {clean}
        group by all"""
    )
    # Against what the lake already holds from other files: the lake's key
    # columns are read to find the rows with a key of this file (usually
    # none); only those rows are read whole.
    con.execute(f"""create or replace temp table lake_hits as
                    select l.rowid as _lake_rowid from {table} l
                    semi join (select {key_list} from typed t where {clean}) k on {on('l', 'k')}""")
    lake_hits = con.execute("select count(*) from lake_hits").fetchone()[0]
    lake = (f"(select l.*, {payload('l')} as _payload from {table} l "
            f"semi join lake_hits h on l.rowid = h._lake_rowid)")
    # (condition, reason) in the order of the checks; one CASE takes the
    # first that holds (a CASE evaluates its branches lazily, so the md5 of a
    # line is only computed when the lake has its key).
    reasons = [
        ("g.versions > 1",
         quote_literal("duplicate key with conflicting content in the same file (" + ", ".join(feed.key) + ")")),
        ("g.versions = 1 and t._row_number > g.first_row",
         "'exact duplicate of row ' || g.first_row || ' in the same file; counted once'"),
        (f"l._payload is not null and l._payload = {payload('t')}",
         "'exact duplicate of a line already loaded from ' || l._source_file || ' row ' || l._row_number || '; counted once'"),
        ("l._payload is not null",
         "'conflicts with the line already loaded from ' || l._source_file || ' row ' || l._row_number "
         "|| ' (same key, different content); deliver a corrected file under the same name to restate it'"),
    ]
    joins = [f"left join key_groups g on {on('t', 'g')}"]
    if lake_hits:
        joins.append(f"left join {lake} l on {on('t', 'l')}")
    else:
        reasons = reasons[:2]
    for n, (column, ref_table, target, reason) in enumerate(checks.REFERENCES.get(feed.name, [])):
        col = quote_ident(column)
        # A code is known if the lake has it, or the same run accepted it
        # earlier (feeds load in dependency order).
        joins.append(f"left join (select distinct {quote_ident(target)} as code from {quote_ident(ref_table)}) r{n} "
                     f"on r{n}.code = t.{col}")
        reasons.append((f"t.{col} is not null and r{n}.code is null", f"{quote_literal(f'{column}: {reason}: ')} || t.{col}"))
    if feed.name == "listed_prices":
        reasons.append((f"exists (select 1 from listed_prices o where o.med_list_codg = t.med_list_codg and {_OVERLAP})",
                        "'listed price interval overlaps one already loaded for ' || t.med_list_codg"))
    first_reason = "case " + " ".join(f"when {condition} then {reason}" for condition, reason in reasons) + " end"
    con.execute(
        f"""create or replace temp table more_reasons as
        select _row_number, reason from (
            select t._row_number, {first_reason} as reason
            from typed t {' '.join(joins)}
            where {clean}
        ) where reason is not null"""
    )
    still_clean = f"{clean} and not exists (select 1 from more_reasons m where m._row_number = t._row_number)"
    if feed.name == "listed_prices":
        con.execute(
            f"""insert into more_reasons
            select t._row_number, 'listed price interval overlaps another row of this file for ' || t.med_list_codg
            from typed t where {still_clean} and exists (
                select 1 from typed o where o._reason is null
                and not exists (select 1 from more_reasons m where m._row_number = o._row_number)
                and o._row_number <> t._row_number and o.med_list_codg = t.med_list_codg and {_OVERLAP})"""
        )
    if feed.name == "purchases":
        # A return must point at a purchase of the same institution that is
        # in the lake or in this file (3504 medins_prod_purc_no).
        con.execute(
            f"""insert into more_reasons
            with returns as (select t._row_number, t.fixmedins_code, t.medins_prod_purc_no from typed t
                             where {still_clean} and t.infno = '3504'),
            known as (
                select p.fixmedins_code, p.fixmedins_bchno from purchases p
                semi join returns r on p.fixmedins_code = r.fixmedins_code and p.fixmedins_bchno = r.medins_prod_purc_no
                where p.infno = '3503'
                union all
                select t.fixmedins_code, t.fixmedins_bchno from typed t where {still_clean} and t.infno = '3503'
            )
            select r._row_number, 'medins_prod_purc_no: the returned purchase ' || r.medins_prod_purc_no
                   || ' is unknown for this institution'
            from returns r anti join known k on k.fixmedins_code = r.fixmedins_code and k.fixmedins_bchno = r.medins_prod_purc_no"""
        )


# Intervals of one product must not overlap (data-contract.md §1).
_OVERLAP = ("t.valid_from < coalesce(o.valid_to, date '9999-12-31') "
            "and o.valid_from < coalesce(t.valid_to, date '9999-12-31')")


def today() -> dt.date:
    return dt.date.today()
