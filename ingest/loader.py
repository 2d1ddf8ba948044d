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

import csv
import datetime as dt
import hashlib
import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingest import checks
from ingest.feeds import FEEDS, Feed, header_index, normalise_header
from ingest.lake import ensure_lake
from ingest.normalise import SQL_TYPES, install_macros, quote_ident, quote_literal, typed_expression, value_problems
from ingest.readers import FileRejected, read_delivery
from yaocai.faults import failpoint

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
    status: str  # loaded | duplicate_delivery | rejected | skipped_incomplete
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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def delivery_files(feed_dir: Path) -> tuple[list[Path], list[Path]]:
    """(complete deliveries, files skipped as still being written), sorted by name."""
    if not feed_dir.is_dir():
        return [], []
    # Symbolic links are never followed: a delivery is a regular file inside
    # its feed folder (a link could point anywhere on the machine).
    entries = sorted(p for p in feed_dir.iterdir()
                     if (p.is_file() or p.is_symlink()) and not p.name.startswith((".", "~$")))
    uses_markers = any(p.suffix == DONE_MARKER for p in entries)
    complete, incomplete = [], []
    for path in entries:
        if path.suffix == DONE_MARKER:
            continue
        if path.is_symlink():
            incomplete.append(path)
        elif path.suffix.lower() in IN_PROGRESS_SUFFIXES:
            incomplete.append(path)
        elif path.suffix.lower() in ACCEPTED_SUFFIXES:
            if uses_markers and not path.with_name(path.name + DONE_MARKER).exists():
                incomplete.append(path)
            else:
                complete.append(path)
        else:
            incomplete.append(path)
    return complete, incomplete


def ingest_landing(
    landing_dir: Path,
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    progress: Callable[[str, int, int], None] | None = None,
) -> IngestReport:
    """Load every new complete delivery of every feed. ``con`` is the lake."""
    landing_dir = Path(landing_dir)
    if not landing_dir.is_dir():
        raise FileNotFoundError(f"landing directory {landing_dir} does not exist")
    ensure_lake(con)
    install_macros(con)
    report = IngestReport(run_id)
    plan = [(feed, delivery_files(landing_dir / feed.name)) for feed in FEEDS]
    total = sum(len(done) for _, (done, _) in plan)
    done_count = 0
    for feed, (files, incomplete) in plan:
        for path in incomplete:
            report.files.append(FileResult(feed.name, _relative(path, landing_dir), "", "skipped_incomplete",
                                           message="not read: not a complete delivery yet (temporary name, no .done marker), "
                                                   "an unknown file type, or a symbolic link"))
        for path in files:
            result = _ingest_file(con, feed, path, landing_dir, run_id)
            log.info("%s %s: %s (in %d, loaded %d, quarantined %d) %s", feed.name, result.source_file, result.status,
                     result.rows_in, result.rows_loaded, result.rows_quarantined, result.message)
            report.files.append(result)
            done_count += 1
            if progress:
                progress("ingest", done_count, total)
    return report


def _relative(path: Path, landing_dir: Path) -> str:
    return path.relative_to(landing_dir).as_posix()


def _ingest_file(con: duckdb.DuckDBPyConnection, feed: Feed, path: Path, landing_dir: Path, run_id: str) -> FileResult:
    source_file = _relative(path, landing_dir)
    file_id = file_sha256(path)
    seen = con.execute(
        "select source_file, status from ingest_manifest where file_id = ? and status in ('loaded', 'rejected')", [file_id]
    ).fetchone()
    if seen:
        return FileResult(feed.name, source_file, file_id, "duplicate_delivery",
                          message=f"same content as {seen[0]} ({seen[1]}); nothing to do")
    con.execute("begin transaction")
    try:
        superseded = _supersede_earlier_version(con, feed, source_file, file_id)
        result = _load_rows(con, feed, path, source_file, file_id, run_id)
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


def _stage(feed: Feed, path: Path, staged_csv: Path) -> tuple[int, str]:
    """Decode the delivery and write it as a canonical UTF-8 CSV of text."""
    delivery = read_delivery(path, feed)
    index = header_index(feed)
    mapping: list[tuple[str, str | None]] = [(label, index.get(normalise_header(label))) for label in delivery.header]
    mapped = {canonical for _, canonical in mapping if canonical}
    missing = [c.name for c in feed.columns if c.required and c.name not in mapped]
    # purchases may omit infno when the file name or envelope says nothing;
    # every other required column must be present as a column.
    if missing:
        raise FileRejected(f"required column(s) missing from the header: {', '.join(missing)}")
    rows = 0
    with staged_csv.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["_row_number", "_problem", "_raw", "_extra", *feed.column_names])
        for row in delivery.rows:
            values: dict[str, str] = {}
            extra: dict[str, str] = {}
            for label, canonical in mapping:
                text = row.cells.get(label, "")
                if canonical:
                    if not values.get(canonical):  # first non-empty wins for duplicate headers
                        values[canonical] = text
                elif text != "":
                    extra[label] = text
            for label, text in row.cells.items():  # JSON rows may carry keys missing from the header
                if label not in delivery.header and text != "":
                    extra[label] = text
            writer.writerow([
                row.number, row.problem or "", json.dumps(row.cells, ensure_ascii=False),
                json.dumps(extra, ensure_ascii=False) if extra else "",
                *(values.get(name, "") for name in feed.column_names),
            ])
            rows += 1
    return rows, delivery.format + (f"/{delivery.encoding}" if delivery.encoding else "")


def _load_rows(con: duckdb.DuckDBPyConnection, feed: Feed, path: Path, source_file: str, file_id: str, run_id: str) -> FileResult:
    with tempfile.TemporaryDirectory(prefix="yaocai-stage-") as tmp:
        staged_csv = Path(tmp) / "staged.csv"
        try:
            rows_in, fmt = _stage(feed, path, staged_csv)
        except FileRejected as exc:
            con.execute(
                "insert into quarantine (feed, source_file, row_number, reason, raw_content, file_id, run_id, quarantined_at) "
                "values (?, ?, null, ?, null, ?, ?, current_timestamp)",
                [feed.name, source_file, f"file rejected: {exc}", file_id, run_id],
            )
            return FileResult(feed.name, source_file, file_id, "rejected", message=str(exc))
        text_columns = {name: "varchar" for name in ["_row_number", "_problem", "_raw", "_extra", *feed.column_names]}
        con.execute("drop table if exists staged")
        con.execute(
            "create temp table staged as select * from read_csv(?, header = true, delim = ',', quote = '\"', escape = '\"', "
            "auto_detect = false, columns = ?, max_line_size = 10000000)",
            [str(staged_csv), text_columns],
        )
    _type_and_check(con, feed)
    _check_keys_and_references(con, feed)

    meta = f"{quote_literal(file_id)}, {quote_literal(source_file)}"
    columns = ", ".join(quote_ident(c) for c in feed.column_names)
    con.execute(
        f"insert into {quote_ident(feed.name)} ({columns}, _file_id, _source_file, _row_number, _extra) "
        f"select {columns}, {meta}, _row_number, _extra from typed where len(reasons) = 0 order by _row_number"
    )
    con.execute(
        "insert into quarantine (feed, source_file, row_number, reason, raw_content, file_id, run_id, quarantined_at) "
        f"select {quote_literal(feed.name)}, {quote_literal(source_file)}, _row_number, array_to_string(reasons, '; '), _raw, "
        f"{quote_literal(file_id)}, {quote_literal(run_id)}, current_timestamp from typed where len(reasons) > 0 order by _row_number"
    )
    loaded, quarantined = con.execute(
        "select count(*) filter (where len(reasons) = 0), count(*) filter (where len(reasons) > 0) from typed"
    ).fetchone()
    con.execute("drop table staged")
    con.execute("drop table typed")
    # The accounting identity every delivery must satisfy (issue: accounting).
    if loaded + quarantined != rows_in:
        raise RuntimeError(f"{source_file}: {rows_in} rows read but {loaded} loaded + {quarantined} quarantined")
    return FileResult(feed.name, source_file, file_id, "loaded", rows_in, loaded, quarantined, fmt)


def _type_and_check(con: duckdb.DuckDBPyConnection, feed: Feed) -> None:
    typed_columns, problems = [], ["nullif(s._problem, '')"]
    for column in feed.columns:
        source = f"s.{quote_ident(column.name)}"
        typed = typed_expression(column, source)
        typed_columns.append(f"cast({typed} as {SQL_TYPES[column.kind]}) as {quote_ident(column.name)}")
        problems.extend(value_problems(column, source, typed))
    con.execute(
        f"""create temp table typed as
        select cast(s._row_number as bigint) as _row_number, s._raw, s._extra,
               {', '.join(typed_columns)},
               list_filter([{', '.join(problems)}], r -> r is not null) as reasons
        from staged s"""
    )
    # Rules only make sense on rows whose values all parsed.
    for rule in checks.RULES.get(feed.name, []):
        con.execute(
            f"update typed as t set reasons = list_append(t.reasons, {rule.reason}) "
            f"where len(t.reasons) = 0 and coalesce({rule.broken_when}, false)"
        )


def _add_reason(con: duckdb.DuckDBPyConnection, where: str, reason_sql: str) -> None:
    con.execute(f"update typed as t set reasons = list_append(t.reasons, {reason_sql}) where {where}")


def _check_keys_and_references(con: duckdb.DuckDBPyConnection, feed: Feed) -> None:
    key = ", ".join(f"t.{quote_ident(k)}" for k in feed.key)
    payload = "md5(cast(row(" + ", ".join(f"t.{quote_ident(c)}" for c in feed.column_names) + ") as varchar))"
    # Duplicates inside the file: identical lines are kept once (the later
    # copies are quarantined as duplicates, so the count still balances);
    # lines that share a key but differ are all quarantined, because we
    # cannot tell which one is right.
    con.execute(
        f"""create or replace temp table key_groups as
        select {key}, count(distinct {payload}) as versions, min(t._row_number) as first_row
        from typed t where len(t.reasons) = 0 group by all having count(*) > 1"""
    )
    join = " and ".join(f"t.{quote_ident(k)} = g.{quote_ident(k)}" for k in feed.key)
    _add_reason(con, f"len(t.reasons) = 0 and exists (select 1 from key_groups g where {join} and g.versions > 1)",
                "'duplicate key with conflicting content in the same file (" + ", ".join(feed.key) + ")'")
    _add_reason(con, f"len(t.reasons) = 0 and exists (select 1 from key_groups g where {join} and g.versions = 1 and t._row_number > g.first_row)",
                "'exact duplicate of row ' || (select g.first_row from key_groups g where " + join + ") || ' in the same file; counted once'")
    # Against what the lake already holds from other files.
    lake_join = " and ".join(f"t.{quote_ident(k)} = l.{quote_ident(k)}" for k in feed.key)
    lake_payload = payload.replace("t.", "l.")
    _add_reason(
        con,
        f"len(t.reasons) = 0 and exists (select 1 from {quote_ident(feed.name)} l where {lake_join})",
        f"""(select case when {lake_payload} = {payload}
                 then 'exact duplicate of a line already loaded from ' || l._source_file || ' row ' || l._row_number || '; counted once'
                 else 'conflicts with the line already loaded from ' || l._source_file || ' row ' || l._row_number
                      || ' (same key, different content); deliver a corrected file under the same name to restate it' end
             from {quote_ident(feed.name)} l where {lake_join} limit 1)""",
    )
    for column, table, target, reason in checks.REFERENCES.get(feed.name, []):
        col = quote_ident(column)
        # A code is known if the lake has it, or the same run accepted it
        # earlier (feeds load in dependency order).
        _add_reason(
            con,
            f"len(t.reasons) = 0 and t.{col} is not null and not exists "
            f"(select 1 from {quote_ident(table)} r where r.{quote_ident(target)} = t.{col})",
            f"'{column}: {reason}: ' || t.{col}",
        )
    if feed.name == "listed_prices":
        _check_listed_price_overlaps(con)
    if feed.name == "purchases":
        # A return must point at a purchase of the same institution that is
        # in the lake or in this file (3504 medins_prod_purc_no).
        _add_reason(
            con,
            "len(t.reasons) = 0 and t.infno = '3504' and not exists (select 1 from purchases p where p.fixmedins_code = t.fixmedins_code "
            "and p.fixmedins_bchno = t.medins_prod_purc_no and p.infno = '3503') and not exists (select 1 from typed o "
            "where len(o.reasons) = 0 and o.fixmedins_code = t.fixmedins_code and o.fixmedins_bchno = t.medins_prod_purc_no and o.infno = '3503')",
            "'medins_prod_purc_no: the returned purchase ' || t.medins_prod_purc_no || ' is unknown for this institution'",
        )


def _check_listed_price_overlaps(con: duckdb.DuckDBPyConnection) -> None:
    """Intervals of one product must not overlap (data-contract.md §1)."""
    overlap = "t.valid_from < coalesce(o.valid_to, date '9999-12-31') and o.valid_from < coalesce(t.valid_to, date '9999-12-31')"
    _add_reason(
        con,
        f"len(t.reasons) = 0 and exists (select 1 from listed_prices o where o.med_list_codg = t.med_list_codg and {overlap})",
        "'listed price interval overlaps one already loaded for ' || t.med_list_codg",
    )
    _add_reason(
        con,
        f"len(t.reasons) = 0 and exists (select 1 from typed o where len(o.reasons) = 0 and o._row_number <> t._row_number "
        f"and o.med_list_codg = t.med_list_codg and {overlap})",
        "'listed price interval overlaps another row of this file for ' || t.med_list_codg",
    )


def today() -> dt.date:
    return dt.date.today()
