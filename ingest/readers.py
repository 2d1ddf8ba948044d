"""Read one delivery file (CSV, XLSX or JSON Lines) into header + text rows.

Readers only decode and split; they never interpret values. Everything a
reader yields is text exactly as delivered (XLSX numbers and dates are
rendered to text here, because the workbook has already typed them).
Problems that make a single row unusable (a JSON line that is not JSON, a
CSV row with more cells than the header) are yielded with a ``problem`` so
the loader quarantines that row; problems that make the whole file
unreadable raise ``FileRejected``.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest.feeds import Feed, header_index, normalise_header

# Rows whose first non-empty cell says this are summaries added by
# spreadsheet users, not data; they are quarantined with this reason.
TOTAL_ROW_MARKERS = ("合计", "总计", "小计", "total")
CSV_TOTAL_ROW_PROBLEM = "summary row (合计/total), not a purchase line"
SNIFF_BYTES = 1 << 20
HEADER_SEARCH_ROWS = 15


class FileRejected(Exception):
    """The whole file cannot be read; the message is shown to the data provider."""


@dataclass
class Row:
    number: int                 # 1-based data row number (after the header)
    cells: dict[str, str]       # delivered header -> text
    problem: str | None = None  # set when the row cannot be used at all


@dataclass
class Delivery:
    format: str
    encoding: str | None
    header: list[str]           # delivered header labels
    rows: Iterator[Row]


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (a superset
    of GBK and GB2312, the encodings Chinese hospital systems export).

    GB18030 decodes almost any byte string, so a file that is neither is
    caught later when its header does not match any known column."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=len(head) < SNIFF_BYTES)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(head, final=len(head) < SNIFF_BYTES)
        return "gb18030"
    except UnicodeDecodeError as exc:
        raise FileRejected(f"unreadable text encoding (not UTF-8, UTF-16 or GB18030): {exc}") from exc


def read_delivery(path: Path, feed: Feed) -> Delivery:
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise FileRejected("empty file (0 bytes)")
    if suffix in (".csv", ".txt"):
        return _read_csv(path, feed)
    if suffix == ".xlsx":
        return _read_xlsx(path, feed)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _read_jsonl(path)
    raise FileRejected(f"unsupported file type {suffix!r} (accepted: .csv, .xlsx, .jsonl)")


def _looks_like_header(cells: list[str], feed: Feed) -> bool:
    index = header_index(feed)
    known = {index[normalise_header(c)] for c in cells if c and normalise_header(c) in index}
    required = {c.name for c in feed.columns if c.required}
    return len(known & required) >= max(2, len(required) // 2)


def _is_total_row(values: list[str]) -> bool:
    first = next((v.strip() for v in values if v and v.strip()), "")
    return first.lower().startswith(TOTAL_ROW_MARKERS)


def _read_csv(path: Path, feed: Feed) -> Delivery:
    encoding = detect_encoding(path)
    handle = path.open("r", encoding=encoding, errors="strict", newline="")
    reader = csv.reader(handle)
    header: list[str] | None = None
    try:
        for _ in range(HEADER_SEARCH_ROWS):
            candidate = next(reader, None)
            if candidate is None:
                break
            if _looks_like_header(candidate, feed):
                header = [c.strip() for c in candidate]
                break
    except UnicodeDecodeError as exc:
        handle.close()
        raise FileRejected(f"bytes that are not valid {encoding}: {exc}") from exc
    except csv.Error as exc:
        handle.close()
        raise FileRejected(f"malformed CSV before the header: {exc}") from exc
    if header is None:
        handle.close()
        raise FileRejected(
            f"no header row with the columns of feed {feed.name!r} in the first {HEADER_SEARCH_ROWS} rows "
            f"(decoded as {encoding}; a file in another encoding also ends here)"
        )

    def rows() -> Iterator[Row]:
        number = 0
        try:
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    number += 1
                    yield Row(number, {}, f"malformed CSV row: {exc}")
                    continue
                if not any(v.strip() for v in values):
                    continue  # blank line: carries no data, not counted
                number += 1
                cells = dict(zip(header, values))
                if _is_total_row(values):
                    yield Row(number, cells, CSV_TOTAL_ROW_PROBLEM)
                elif len(values) > len(header):
                    yield Row(number, cells, f"row has {len(values)} cells but the header has {len(header)}")
                elif len(values) < len(header):
                    # A truncated last row (file cut mid-write) ends here too.
                    yield Row(number, cells, f"row has {len(values)} cells but the header has {len(header)} (truncated?)")
                else:
                    yield Row(number, cells)
        except UnicodeDecodeError as exc:
            raise FileRejected(f"bytes that are not valid {encoding} after data row {number}: {exc}") from exc
        finally:
            handle.close()

    return Delivery("csv", encoding, header, rows())


def plain_csv_header(path: Path, feed: Feed) -> tuple[str, list[str]] | None:
    """(encoding, header) of a CSV whose header is its first line, else None.

    Such a file can be parsed by DuckDB directly (ingest.loader's fast path);
    anything else (title rows above the header, a header spanning lines, an
    encoding other than UTF-8/GB18030, an unreadable file) is left to
    ``_read_csv``, which also gives the reasons for rejecting a file."""
    if path.suffix.lower() not in (".csv", ".txt") or path.stat().st_size == 0:
        return None
    try:
        encoding = detect_encoding(path)
        if encoding not in ("utf-8", "utf-8-sig", "gb18030"):
            return None
        with path.open("r", encoding=encoding, errors="strict", newline="") as handle:
            line = handle.readline(1 << 20)
    except (FileRejected, UnicodeDecodeError):
        return None
    if not line.endswith("\n") or line.count('"') % 2:
        return None
    try:
        records = list(csv.reader([line]))
    except csv.Error:
        return None
    if len(records) != 1 or not _looks_like_header(records[0], feed):
        return None
    return encoding, [c.strip() for c in records[0]]


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if (value.hour, value.minute, value.second) != (0, 0, 0) else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _read_xlsx(path: Path, feed: Feed) -> Delivery:
    from openpyxl import load_workbook  # imported lazily: only XLSX deliveries need it

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/… for broken files
        raise FileRejected(f"not a readable XLSX workbook: {exc}") from exc
    sheet = workbook.worksheets[0]
    rows_iter = sheet.iter_rows(values_only=True)
    header: list[str] | None = None
    for _ in range(HEADER_SEARCH_ROWS):
        candidate = next(rows_iter, None)
        if candidate is None:
            break
        texts = [_cell_text(v).strip() for v in candidate]
        if _looks_like_header(texts, feed):
            # Merged header cells arrive as empty cells after the first one;
            # give them a placeholder name so their data is kept in _extra.
            header = [t or f"column_{i + 1}" for i, t in enumerate(texts)]
            break
    if header is None:
        workbook.close()
        raise FileRejected(f"no header row with the columns of feed {feed.name!r} in the first {HEADER_SEARCH_ROWS} rows of the first sheet")

    def rows() -> Iterator[Row]:
        number = 0
        try:
            for values in rows_iter:
                texts = [_cell_text(v) for v in values]
                if not any(t.strip() for t in texts):
                    continue
                number += 1
                cells = dict(zip(header, texts))
                if _is_total_row(texts):
                    yield Row(number, cells, "summary row (合计/total), not a data line")
                else:
                    yield Row(number, cells)
        finally:
            workbook.close()

    return Delivery("xlsx", None, header, rows())


def _flatten_nhsa(record: dict) -> list[dict]:
    """An NHSA message {"infno", "fixmedins_code", "input": {"purcinfo": {...}}}
    becomes one flat row per purcinfo entry; a flat record stays as it is."""
    payload = record.get("input")
    if not isinstance(payload, dict):
        return [record]
    envelope = {k: v for k, v in record.items() if k != "input"}
    flattened: list[dict] = []
    for node in payload.values():
        entries = node if isinstance(node, list) else [node]
        for entry in entries:
            if isinstance(entry, dict):
                flattened.append({**envelope, **entry})
    return flattened or [envelope]


def _read_jsonl(path: Path) -> Delivery:
    encoding = detect_encoding(path)
    header: list[str] = []
    seen: set[str] = set()
    # First pass: the union of keys, in order of first appearance.
    with path.open("r", encoding=encoding) as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                for flat in _flatten_nhsa(record):
                    for key in flat:
                        if key not in seen:
                            seen.add(key)
                            header.append(key)

    def rows() -> Iterator[Row]:
        number = 0
        with path.open("r", encoding=encoding) as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    number += 1
                    yield Row(number, {"line": str(line_number), "text": line[:2000]}, f"line {line_number} is not valid JSON: {exc.msg}")
                    continue
                if not isinstance(record, dict):
                    number += 1
                    yield Row(number, {"line": str(line_number), "text": line[:2000]}, f"line {line_number} is not a JSON object")
                    continue
                for flat in _flatten_nhsa(record):
                    number += 1
                    yield Row(number, {k: v if type(v) is str else _json_text(v) for k, v in flat.items()})

    return Delivery("jsonl", encoding, header, rows())


def _json_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return repr(int(value))
    return str(value)


def sample_text(path: Path, limit: int = 200) -> str:
    """A short preview of a file for error messages."""
    with path.open("rb") as handle:
        raw = handle.read(limit)
    return io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="replace").read()
