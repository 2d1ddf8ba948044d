"""Pull the provincial platform's API into the lake, incrementally.

For every endpoint (orders, deliveries, payments, catalogue; specs in
``ingest.platform_feeds``):

1. the endpoint's watermark is read from ``platform_watermarks`` (the highest
   ``updatetime`` committed so far; none = from the beginning);
2. pages are requested with ``starttime`` = the watermark and ``pageNo`` /
   ``pageSize``. The platform returns records sorted by update time, then id.
   After each page the window is re-anchored at the page's last update time
   (``starttime`` = it, ``pageNo`` = 1): a record that changes while we page
   moves to the end of the window instead of shifting an unread record into
   a page already read. Pages whose records all share one second advance
   ``pageNo`` instead, so a same-second burst larger than a page is read too;
3. each page is typed and checked like a landing file (``ingest.normalise``:
   the same value rules, reasons and quarantine), then committed in **one
   transaction**: accepted records are upserted by natural key (a newer
   version replaces the row; the same content, or an older version, changes
   nothing), rejected ones go to ``quarantine`` (feed = lake table,
   source_file = ``api:<request>``, row_number = position in the page), the
   page is recorded in ``platform_pulls`` and the watermark advances.

So a pull that fails half-way (platform down, process killed) keeps every
committed page, and the next pull resumes at the watermark; the records of
the boundary second are read again and change nothing, so nothing is
duplicated and nothing is skipped.

A full page that brings nothing past what this pull has already committed is
a page served twice (stale cache, a retry answered with the previous page):
it is requested again, never committed in place of the page we asked for.
A page that is not sorted by update time switches the endpoint to plain
page numbering for the rest of the pull and holds the watermark until the
window is complete.

Fail points (foundation.faults, for tests): ``platform.before_commit`` (inside a
page's transaction) and ``platform.after_page_commit``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from ingest.feeds import Feed, Kind, header_index, normalise_header
from ingest.lake import ensure_lake
from ingest.normalise import SQL_TYPES, install_macros, quote_ident, quote_literal, typed_expression, value_problems
from ingest.platform_client import Page, PlatformClient, PlatformError
from ingest.platform_feeds import ENDPOINTS, PLATFORM_RULES, Endpoint
from foundation.faults import failpoint

log = logging.getLogger("yaocai.platform")

MAX_PAGES_PER_ENDPOINT = 1_000_000  # a guard against a platform that never ends its list
STARTTIME_FORMAT = "%Y-%m-%d %H:%M:%S"
CHINA_TIME = ZoneInfo("Asia/Shanghai")  # platforms stamp local time


@dataclass
class PageResult:
    endpoint: str
    request: str
    page_no: int
    records_in: int
    inserted: int
    updated: int
    unchanged: int
    quarantined: int
    watermark_before: str | None
    watermark_after: str | None
    attempts: int


@dataclass
class PullReport:
    run_id: str
    pages: list[PageResult] = field(default_factory=list)
    repeated_pages: int = 0   # pages served twice and requested again
    requests: int = 0
    retries: int = 0
    token_reads: int = 0

    def totals(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for p in self.pages:
            t = out.setdefault(p.endpoint, {"pages": 0, "records_in": 0, "inserted": 0, "updated": 0,
                                            "unchanged": 0, "quarantined": 0})
            t["pages"] += 1
            for name in ("records_in", "inserted", "updated", "unchanged", "quarantined"):
                t[name] += getattr(p, name)
        return out

    @property
    def records_in(self) -> int:
        return sum(p.records_in for p in self.pages)

    @property
    def quarantined(self) -> int:
        return sum(p.quarantined for p in self.pages)

    def line(self) -> str:
        parts = []
        for endpoint, t in self.totals().items():
            parts.append(f"{endpoint} {t['records_in']:,} ({t['inserted']:,} new, {t['updated']:,} updated, "
                         f"{t['quarantined']:,} quarantined)")
        text = "; ".join(parts) or "nothing"
        return (f"{text}; {self.requests} requests, {self.retries} retries"
                + (f", {self.repeated_pages} repeated page(s) re-requested" if self.repeated_pages else ""))

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "pages": [asdict(p) for p in self.pages], "totals": self.totals(),
                "repeated_pages": self.repeated_pages, "requests": self.requests, "retries": self.retries,
                "token_reads": self.token_reads}


def pull_platform(con: duckdb.DuckDBPyConnection, client: PlatformClient, run_id: str,
                  endpoints: tuple[Endpoint, ...] = ENDPOINTS,
                  progress: Callable[[str, int, int], None] | None = None) -> PullReport:
    """Pull every endpoint into the lake (``con``); raises PlatformError after
    keeping every page committed so far."""
    ensure_lake(con)
    install_macros(con)
    report = PullReport(run_id)
    try:
        for number, endpoint in enumerate(endpoints, 1):
            _pull_endpoint(con, client, endpoint, run_id, report)
            if progress:
                progress("platform", number, len(endpoints))
    except Exception as exc:
        exc.report = report  # type: ignore[attr-defined]  # what was committed before the failure, for the run folder
        raise
    finally:
        report.requests, report.retries, report.token_reads = (client.requests_made, client.retries_made,
                                                               client.token_reads)
    return report


def _format_ts(value: dt.datetime | None) -> str | None:
    return value.strftime(STARTTIME_FORMAT) if value is not None else None


def _pull_endpoint(con: duckdb.DuckDBPyConnection, client: PlatformClient, endpoint: Endpoint, run_id: str,
                   report: PullReport) -> None:
    page_size = client.settings.page_size
    row = con.execute("select watermark from platform_watermarks where endpoint = ?", [endpoint.name]).fetchone()
    watermark: dt.datetime | None = row[0] if row else None
    starttime = watermark.replace(microsecond=0) if watermark else None
    page_no = 1
    cursor: tuple[dt.datetime, str] | None = None   # last (updated_at, key) committed by this pull
    sorted_mode = True                               # False: the platform does not sort; plain page numbers
    window_max: dt.datetime | None = None            # highest update time seen (for the unsorted mode)
    repeats = 0
    total_hint = None
    previous_keys: list[str] | None = None
    stager = _PageStager(con, endpoint.feed)
    first_page = len(report.pages) + 1
    for _ in range(MAX_PAGES_PER_ENDPOINT):
        params = {"starttime": _format_ts(starttime), "pageNo": page_no, "pageSize": page_size}
        page = client.get_page(endpoint.path, params)
        if total_hint is None:
            total_hint = page.total
        stager.stage(page.records)
        keyed = con.execute(f"select updated_at, {quote_ident(endpoint.key_column)} from {stager.typed} "
                            f"order by _row_number").fetchall()
        stamps = [(ts, key or "") for ts, key in keyed if ts is not None]
        keys = [key or "" for _, key in keyed]
        full = len(page.records) >= page_size
        nothing_new = (sorted_mode and cursor is not None and bool(stamps) and all(s <= cursor for s in stamps))
        if full and (nothing_new or keys == previous_keys):
            repeats += 1
            report.repeated_pages += 1
            if repeats > client.settings.max_retries:
                raise PlatformError(f"platform served the same records again {repeats} times for GET {page.request}; "
                                    "stopped to avoid skipping the page asked for (committed pages are kept)")
            wait = client.backoff_wait(repeats)
            log.warning("platform: GET %s brought nothing new (a page served twice); requesting it again in %.2fs",
                        page.request, wait)
            client.pause(wait)
            continue
        repeats = 0
        previous_keys = keys
        if sorted_mode and stamps != sorted(stamps):
            sorted_mode = False
            log.warning("platform %s: records are not sorted by update time; paging by page number for the rest of "
                        "this pull, watermark held until the window is read", endpoint.name)
        page_max = max(s[0] for s in stamps) if stamps else None
        if page_max is not None:
            window_max = max(window_max, page_max) if window_max else page_max
        last_page = not full
        if sorted_mode:
            # Everything before the page's last update time has been read.
            new_watermark = max(filter(None, [watermark, page_max]), default=None)
        else:
            new_watermark = max(filter(None, [watermark, window_max]), default=None) if last_page else watermark
        result = _commit_page(con, endpoint, stager, page, page_no, starttime, run_id, watermark, new_watermark)
        report.pages.append(result)
        log.info("platform %s: %s: %d records (%d new, %d updated, %d unchanged, %d quarantined)%s",
                 endpoint.name, page.request, result.records_in, result.inserted, result.updated, result.unchanged,
                 result.quarantined, f"; {total_hint} in the window" if total_hint and len(report.pages) == first_page else "")
        failpoint("platform.after_page_commit")
        watermark = new_watermark
        if stamps:
            cursor = max(cursor, max(stamps)) if cursor else max(stamps)
        if last_page:
            return
        # Next request: re-anchor the window at the last update time read,
        # unless the whole page is one second (then the next page number).
        last_second = stamps[-1][0].replace(microsecond=0) if stamps else None
        if sorted_mode and stamps and stamps[0][0] != stamps[-1][0] and last_second != starttime:
            starttime = last_second
            page_no = 1
        else:
            page_no += 1
    raise PlatformError(f"platform {endpoint.name}: more than {MAX_PAGES_PER_ENDPOINT} pages; stopped")


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _iso_time(value: object, kind: Kind) -> str:
    """Date/time values as platforms send them (ISO 8601 with a blank or T,
    optionally fractional and with an offset; 2026/05/01; epoch seconds or
    milliseconds as numbers) -> canonical text in China time; anything else
    is returned as given, and fails typing with its text quoted."""
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > 1e11 else value
        try:
            parsed = dt.datetime.fromtimestamp(seconds, tz=CHINA_TIME).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):
            return _text(value)
    else:
        text = str(value).strip()
        try:
            parsed = dt.datetime.fromisoformat(text.replace("/", "-").replace("Z", "+00:00"))
        except ValueError:
            return text
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(CHINA_TIME).replace(tzinfo=None)
    return parsed.strftime("%Y-%m-%d") if kind is Kind.DATE else parsed.isoformat(sep=" ")


def _typed(column, source: str) -> str:
    """SQL typing of one staged text column. Dates and times were put in
    canonical form by ``_iso_time``, so a plain cast reads them (the landing
    files' general date macros cost ~0.1 s of planning per column and page);
    every other kind uses the landing files' rules (ingest.normalise)."""
    if column.kind is Kind.TIMESTAMP:
        return f"try_cast(yc_text({source}) as timestamp)"
    if column.kind is Kind.DATE:
        return f"try_cast(yc_text({source}) as date)"
    return typed_expression(column, source)


def _api_name(feed: Feed, name: str) -> str:
    column = feed.column(name)
    return column.labels[0] if column.labels else name


class _PageStager:
    """Types one page at a time into temp table ``p_typed_<table>``: typed
    columns + reasons, with the same SQL rules as a landing file. The typing
    statement is prepared once per pull (planning the normalisation macros
    costs far more than running them on a page)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, feed: Feed) -> None:
        self.con, self.feed = con, feed
        self.staged, self.typed = f"p_staged_{feed.name}", f"p_typed_{feed.name}"
        self._index = header_index(feed)
        self._canonical: dict[str, str | None] = {}
        self._kinds = {c.name: c.kind for c in feed.columns if c.kind in (Kind.TIMESTAMP, Kind.DATE)}
        text_columns = ", ".join(f"{quote_ident(c)} varchar" for c in ["_problem", "_raw", "_extra", *feed.column_names])
        con.execute(f"create or replace temp table {self.staged} (_row_number bigint, {text_columns})")
        # Each value is normalised once (inner select); the reasons refer to
        # the typed value (outer select). Same rules as ingest.loader.
        inner, outer, problems = [], [], ["s._problem"]
        for column in feed.columns:
            source = f"s.{quote_ident(column.name)}"
            typed_name = quote_ident(f"__typed__{column.name}")
            inner.append(f"cast({_typed(column, source)} as {SQL_TYPES[column.kind]}) as {typed_name}")
            outer.append(f"s.{typed_name} as {quote_ident(column.name)}")
            problems.extend(value_problems(column, source, f"s.{typed_name}"))
        select = (f"select s._row_number, s._raw, s._extra, {', '.join(outer)}, "
                  f"list_filter([{', '.join(problems)}], r -> r is not null) as reasons "
                  f"from (select s.*, {', '.join(inner)} from {self.staged} s) s")
        con.execute(f"create or replace temp table {self.typed} as {select} limit 0")
        # Work tables of the commit, created once: DDL during the pull would
        # make DuckDB re-plan the prepared statement on every page.
        columns = ", ".join(quote_ident(c) for c in feed.column_names)
        self.incoming, self.outcome = f"p_incoming_{feed.name}", f"p_outcome_{feed.name}"
        con.execute(f"create or replace temp table {self.incoming} as select {columns}, _row_number, _extra, "
                    f"'' as _record_hash from {self.typed} limit 0")
        con.execute(f"create or replace temp table {self.outcome} (k varchar, outcome varchar)")
        con.execute(f"prepare type_{feed.name} as insert into {self.typed} {select}")

    def _column_of(self, key: str) -> str | None:
        if key not in self._canonical:
            self._canonical[key] = self._index.get(normalise_header(key))
        return self._canonical[key]

    def stage(self, records: list) -> None:
        feed, names = self.feed, self.feed.column_names
        rows = []
        for position, record in enumerate(records, 1):
            values: dict[str, str] = {}
            extra: dict[str, object] = {}
            problem = None
            if not isinstance(record, dict):
                problem = "record is not a JSON object"
                raw = json.dumps(record, ensure_ascii=False, default=str)
            else:
                raw = json.dumps(record, ensure_ascii=False, default=str)
                present = set()
                for key, value in record.items():
                    canonical = self._column_of(str(key))
                    if canonical:
                        present.add(canonical)
                        if not values.get(canonical):
                            values[canonical] = (_iso_time(value, self._kinds[canonical])
                                                 if canonical in self._kinds else _text(value))
                    elif value not in (None, ""):
                        extra[str(key)] = value
                missing = [c.name for c in feed.columns if c.required and c.name not in present]
                if missing:
                    # A renamed or dropped field (the platform changed its
                    # schema): say which, and what arrived instead.
                    problem = ("schema change: required field(s) absent: "
                               + ", ".join(f"{_api_name(feed, m)} ({m})" for m in missing)
                               + (f"; unrecognised field(s): {', '.join(sorted(extra))}" if extra else ""))
            rows.append([position, problem, raw, json.dumps(extra, ensure_ascii=False, default=str) if extra else None,
                         *(values.get(n) for n in names)])
        frame = pd.DataFrame(rows, columns=["_row_number", "_problem", "_raw", "_extra", *names], dtype=object)
        for column in ["_problem", "_raw", "_extra", *names]:
            frame[column] = frame[column].astype("string")
        frame["_row_number"] = frame["_row_number"].astype("int64")
        con = self.con
        con.execute(f"delete from {self.staged}")
        con.execute(f"delete from {self.typed}")
        if rows:
            con.register("p_page_frame", frame)
            try:
                con.execute(f"insert into {self.staged} select * from p_page_frame")
            finally:
                con.unregister("p_page_frame")
            con.execute(f"execute type_{feed.name}")
        for broken_when, reason in PLATFORM_RULES.get(feed.name, []):
            con.execute(f"update {self.typed} as t set reasons = list_append(t.reasons, {quote_literal(reason)}) "
                        f"where len(t.reasons) = 0 and coalesce({broken_when}, false)")


def _commit_page(con: duckdb.DuckDBPyConnection, endpoint: Endpoint, stager: _PageStager, page: Page, page_no: int,
                 starttime: dt.datetime | None, run_id: str, watermark_before: dt.datetime | None,
                 watermark_after: dt.datetime | None) -> PageResult:
    feed, table, key = endpoint.feed, quote_ident(endpoint.table), quote_ident(endpoint.key_column)
    pull_id = f"api-{uuid.uuid4().hex}"
    source_file = f"api:{page.request}"
    columns = ", ".join(quote_ident(c) for c in feed.column_names)
    typed, incoming, outcome = stager.typed, stager.incoming, stager.outcome
    con.execute("begin transaction")
    try:
        con.execute(
            "insert into quarantine (feed, source_file, row_number, reason, raw_content, file_id, run_id, quarantined_at) "
            "select ?, ?, _row_number, array_to_string(reasons, '; '), _raw, ?, ?, current_timestamp "
            f"from {typed} where len(reasons) > 0 order by _row_number",
            [feed.name, source_file, pull_id, run_id])
        # One version per key: the latest update, then the later position.
        con.execute(f"delete from {incoming}")
        con.execute(f"delete from {outcome}")
        con.execute(
            f"""insert into {incoming}
            select {columns}, _row_number, _extra, md5(cast(row({columns}) as varchar)) as _record_hash
            from {typed} where len(reasons) = 0
            qualify row_number() over (partition by {key} order by updated_at desc, _row_number desc) = 1""")
        con.execute(
            f"""insert into {outcome}
            select i.{key} as k,
                   case when l.{key} is null then 'inserted'
                        when l._record_hash = i._record_hash then 'unchanged'
                        when l.updated_at > i.updated_at then 'stale'
                        else 'updated' end as outcome
            from {incoming} i left join {table} l on l.{key} = i.{key}""")
        con.execute(f"delete from {table} where {key} in (select k from {outcome} where outcome = 'updated')")
        con.execute(
            f"""insert into {table} ({columns}, _source_file, _row_number, _extra, _pull_id, _run_id, _pulled_at, _record_hash)
            select {', '.join('i.' + quote_ident(c) for c in feed.column_names)}, ?, i._row_number, i._extra, ?, ?,
                   current_timestamp, i._record_hash
            from {incoming} i join {outcome} o on o.k = i.{key}
            where o.outcome in ('inserted', 'updated') order by i._row_number""",
            [source_file, pull_id, run_id])
        inserted, updated, quarantined, valid = con.execute(
            f"""select (select count(*) from {outcome} where outcome = 'inserted'),
                      (select count(*) from {outcome} where outcome = 'updated'),
                      (select count(*) from {typed} where len(reasons) > 0),
                      (select count(*) from {typed} where len(reasons) = 0)""").fetchone()
        unchanged = valid - inserted - updated  # same content, older versions, repeats inside the page
        records_in = len(page.records)
        if inserted + updated + unchanged + quarantined != records_in:
            raise RuntimeError(f"{source_file}: {records_in} records but {inserted} + {updated} + {unchanged} + "
                               f"{quarantined} accounted for")
        con.execute(
            """insert into platform_pulls (pull_id, run_id, endpoint, request, page_no, starttime, records_in, inserted,
                   updated, unchanged, quarantined, watermark_before, watermark_after, attempts, committed_at)
               values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)""",
            [pull_id, run_id, endpoint.name, page.request, page_no, starttime, records_in, inserted, updated,
             unchanged, quarantined, watermark_before, watermark_after, page.attempts])
        con.execute(
            """insert or replace into platform_watermarks
                   (endpoint, watermark, pages_committed, records_committed, updated_at, run_id)
               select ?, ?, coalesce(max(pages_committed), 0) + 1, coalesce(max(records_committed), 0) + ?,
                      current_timestamp, ?
               from platform_watermarks where endpoint = ?""",
            [endpoint.name, watermark_after, records_in, run_id, endpoint.name])
        failpoint("platform.before_commit")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return PageResult(endpoint.name, page.request, page_no, records_in, inserted, updated, unchanged, quarantined,
                      _format_ts(watermark_before), _format_ts(watermark_after), page.attempts)
