"""Read one delivery file (CSV, XLSX or JSON Lines) into header + text rows.

Readers only decode and split; they never interpret values. Everything a
reader yields is text exactly as delivered (XLSX numbers and dates are
rendered to text here, because the workbook has already typed them).
Problems that make a single row unusable (a JSON line that is not JSON, a
CSV row with more cells than the header) are yielded with a ``problem`` so
the loader quarantines that row; problems that make the whole file
unreadable, or a file over one of the limits of ``ingest.limits``, raise
``FileRejected``.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest import limits
from ingest.feeds import Feed, header_index, normalise_header
from ingest.limits import FileRejected, check_clock

# Rows whose first non-empty cell says this are summaries added by
# spreadsheet users, not data; they are quarantined with this reason.
TOTAL_ROW_MARKERS = ("合计", "总计", "小计", "total")
CSV_TOTAL_ROW_PROBLEM = "summary row (合计/total), not a purchase line"
HEADER_SEARCH_ROWS = 15
DECODE_BLOCK = 1 << 24

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


_ENCODINGS: dict[tuple, str] = {}


def detect_encoding(path: Path, check_gb18030: bool = True) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (a superset
    of GBK and GB2312, the encodings Chinese hospital systems export).

    Decided on the whole file, streamed (issue 13): a file is UTF-8 only if
    all of it decodes as UTF-8, otherwise GB18030 if all of it decodes as
    that, otherwise it is rejected. A file whose first megabytes are ASCII is
    valid in both, so a sample cannot tell them apart. GB18030 decodes almost
    any byte string, so a file in yet another encoding is caught later when
    its header does not match any known column.

    ``check_gb18030=False``: a file that is not UTF-8 is taken as GB18030
    without decoding all of it, for a caller that decodes the whole file
    strictly itself anyway (loader._transcode re-encodes it to UTF-8 for
    DuckDB; decoding it twice cost a third of the GB18030 month's staging)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if key in _ENCODINGS:
        return _ENCODINGS[key]
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        problems = []
        for candidate in ("utf-8", "gb18030"):
            if candidate == "gb18030" and not check_gb18030:
                return candidate  # not checked, so not remembered
            problem = _decode_problem(path, candidate)
            if problem is None:
                encoding = candidate
                break
            problems.append(problem)
        else:
            raise FileRejected(f"unreadable text encoding: not UTF-8 ({problems[0]}) and not GB18030 ({problems[1]})")
    _ENCODINGS.clear()  # one file at a time: the cache only saves the second scan of the same file
    _ENCODINGS[key] = encoding
    return encoding


def _decode_problem(path: Path, encoding: str) -> str | None:
    """None if the whole file decodes as ``encoding``, else where it does not."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(DECODE_BLOCK), b""):
            check_clock()
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return f"invalid bytes at byte {offset + exc.start:,}"
            offset += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "the file ends inside a character"
    return None


def read_delivery(path: Path, feed: Feed, guess_header: bool = False) -> Delivery:
    """``guess_header``: see _read_jsonl (JSON Lines only; other formats
    carry their header on the first row)."""
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise FileRejected("empty file (0 bytes)")
    if suffix in (".csv", ".txt"):
        return _read_csv(path, feed)
    if suffix == ".xlsx":
        return _read_xlsx(path, feed)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _read_jsonl(path, guess_header)
    raise FileRejected(f"unsupported file type {suffix!r} (accepted: .csv, .xlsx, .jsonl)")


def _looks_like_header(cells: list[str], feed: Feed) -> bool:
    index = header_index(feed)
    known = {index[normalise_header(c)] for c in cells if c and normalise_header(c) in index}
    required = {c.name for c in feed.columns if c.required}
    return len(known & required) >= max(2, len(required) // 2)


def _is_total_row(values: list[str]) -> bool:
    first = next((v.strip() for v in values if v and v.strip()), "")
    return first.lower().startswith(TOTAL_ROW_MARKERS)


def bounded_lines(handle, what: str = "line") -> Iterator[str]:
    """The lines of a text file, each read with a bounded buffer: a line
    longer than YAOCAI_MAX_LINE_CHARS rejects the file instead of being
    read whole into memory (a file with no line breaks is one line)."""
    limit = limits.MAX_LINE_CHARS.value()
    number = 0
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit:
            raise FileRejected(f"{what} {number:,}: longer than {limits.MAX_LINE_CHARS.value():,} characters, "
                               f"the limit of {limits.MAX_LINE_CHARS.what} ({limits.MAX_LINE_CHARS.env})")
        if number % 4096 == 0:
            check_clock()
        yield line


def _too_many_columns(count: int, where: str) -> FileRejected:
    limit = limits.MAX_COLUMNS
    return FileRejected(f"{where} has {count:,} columns, over the limit of {limit.value():,} {limit.what} ({limit.env})")


def _field_too_large(where: str) -> FileRejected:
    limit = limits.MAX_FIELD_CHARS
    return FileRejected(f"{where}: a field longer than {limit.value():,} characters, the limit of {limit.what} ({limit.env})")


def _read_csv(path: Path, feed: Feed) -> Delivery:
    encoding = detect_encoding(path)
    max_columns = limits.MAX_COLUMNS.value()
    # The csv module's own field limit (default 131,072) becomes ours; it
    # raises csv.Error "field larger than field limit", a file rejection.
    csv.field_size_limit(int(limits.MAX_FIELD_CHARS.value()))
    handle = path.open("r", encoding=encoding, errors="strict", newline="")
    reader = csv.reader(bounded_lines(handle))
    header: list[str] | None = None
    try:
        for _ in range(HEADER_SEARCH_ROWS):
            candidate = next(reader, None)
            if candidate is None:
                break
            if len(candidate) > max_columns:
                raise _too_many_columns(len(candidate), f"row {reader.line_num}")
            if _looks_like_header(candidate, feed):
                header = [c.strip() for c in candidate]
                break
    except UnicodeDecodeError as exc:
        handle.close()
        raise FileRejected(f"bytes that are not valid {encoding}: {exc}") from exc
    except csv.Error as exc:
        handle.close()
        if "field limit" in str(exc):
            raise _field_too_large(f"line {reader.line_num}") from exc
        raise FileRejected(f"malformed CSV before the header: {exc}") from exc
    except FileRejected:
        handle.close()
        raise
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
                    if "field limit" in str(exc):
                        raise _field_too_large(f"line {reader.line_num}") from exc
                    number += 1
                    yield Row(number, {}, f"malformed CSV row: {exc}")
                    continue
                if not any(v.strip() for v in values):
                    continue  # blank line: carries no data, not counted
                number += 1
                if len(values) > max_columns:
                    raise _too_many_columns(len(values), f"data row {number}")
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
    ``_read_csv``, which also gives the reasons for rejecting a file.

    The encoding is the header line's (a UTF-8 BOM; else UTF-8 if the line
    is UTF-8, else GB18030): the rest of the file is not decoded here,
    because the fast path reads all of it strictly anyway (DuckDB's CSV
    reader refuses bytes that are not UTF-8, as Python's decoder does; the
    re-encoding of a GB18030 file decodes it whole) and otherwise finds the
    file's encoding as detect_encoding does. Decoding every file once more
    in Python took 2.6 s of a 52 s ingest of 5 M lines (issue 18)."""
    if path.suffix.lower() not in (".csv", ".txt") or path.stat().st_size == 0:
        return None
    with path.open("rb") as handle:
        first = handle.readline(1 << 20)
    if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    for encoding in (("utf-8-sig",) if first.startswith(codecs.BOM_UTF8) else ("utf-8", "gb18030")):
        try:
            line = first.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        return None
    # A lone CR ends a line for _read_csv too: such a header is not plain.
    if not line.endswith("\n") or "\r" in line[:-1].removesuffix("\r") or line.count('"') % 2:
        return None
    try:
        records = list(csv.reader([line]))
    except csv.Error:
        return None
    if len(records) != 1 or len(records[0]) > limits.MAX_COLUMNS.value() or not _looks_like_header(records[0], feed):
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


# Parts of an XLSX smaller than this are not held to the compression ratio
# limit (small XML parts such as styles compress unevenly and cannot hurt).
XLSX_RATIO_FROM_BYTES = 1 << 20


def check_xlsx_archive(path: Path) -> None:
    """Refuse a workbook whose parts would inflate past the limits, from the
    zip's declared sizes, before any part is parsed (Python's zipfile never
    inflates a part beyond its declared size: the declaration is a bound)."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FileRejected(f"not a readable XLSX workbook (not a valid zip archive: {exc})") from exc
    inflated = sum(p.file_size for p in parts)
    if inflated > limits.MAX_XLSX_INFLATED_BYTES.value():
        raise FileRejected(f"the workbook would inflate to {limits.MAX_XLSX_INFLATED_BYTES.exceeded(f'{inflated:,} bytes')}")
    for part in parts:
        if part.file_size >= XLSX_RATIO_FROM_BYTES:
            ratio = part.file_size / max(part.compress_size, 1)
            if ratio > limits.MAX_XLSX_RATIO.value():
                raise FileRejected(f"part {part.filename} would inflate to "
                                   f"{limits.MAX_XLSX_RATIO.exceeded(f'{ratio:,.0f} times its compressed size')}: "
                                   "a zip bomb?")


@contextlib.contextmanager
def _sheet_size_not_read():
    """While opening a workbook, openpyxl's read-only sheets do not look for
    their <dimension>: when a sheet has none, openpyxl parses the whole sheet
    for it, keeping an element per row (22 M rows: minutes and 2 GB), and the
    declared size is not used anyway (reset_dimensions below)."""
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    original = ReadOnlyWorksheet._get_size
    ReadOnlyWorksheet._get_size = lambda self: None
    try:
        yield
    finally:
        ReadOnlyWorksheet._get_size = original


def _read_xlsx(path: Path, feed: Feed) -> Delivery:
    from openpyxl import load_workbook  # imported lazily: only XLSX deliveries need it

    check_xlsx_archive(path)
    try:
        with _sheet_size_not_read():
            workbook = load_workbook(path, read_only=True, data_only=True)
    except FileRejected:
        raise
    except Exception as exc:  # openpyxl raises zipfile/KeyError/… for broken files
        raise FileRejected(f"not a readable XLSX workbook: {exc}") from exc
    sheet = workbook.worksheets[0]
    # Never trust the sheet's declared <dimension>: openpyxl pads every row
    # to its width and the sheet to its height (A1:XFD1048576 makes each row
    # 16,384 cells). Without it, rows are as long as their last real cell.
    sheet.reset_dimensions()
    max_rows, max_columns, max_field = (limits.MAX_XLSX_ROWS.value(), limits.MAX_COLUMNS.value(),
                                        limits.MAX_FIELD_CHARS.value())
    sheet_rows = 0

    def sheet_row_texts() -> Iterator[list[str]]:
        nonlocal sheet_rows
        for values in sheet.iter_rows(values_only=True):
            sheet_rows += 1
            if sheet_rows > max_rows:
                raise FileRejected(f"the first sheet has {limits.MAX_XLSX_ROWS.exceeded(f'more than {max_rows:,} rows')}")
            if len(values) > max_columns:  # empty (formatted) cells at the end do not count
                values = values[:max((i for i, v in enumerate(values) if v is not None), default=-1) + 1]
            if len(values) > max_columns:
                raise _too_many_columns(len(values), f"sheet row {sheet_rows}")
            if sheet_rows % 1024 == 0:
                check_clock()
            texts = [_cell_text(v) for v in values]
            if any(len(t) > max_field for t in texts):
                raise _field_too_large(f"sheet row {sheet_rows}")
            yield texts

    rows_iter = sheet_row_texts()
    header: list[str] | None = None
    try:
        for _ in range(HEADER_SEARCH_ROWS):
            candidate = next(rows_iter, None)
            if candidate is None:
                break
            texts = [t.strip() for t in candidate]
            if _looks_like_header(texts, feed):
                # Merged header cells arrive as empty cells after the first one;
                # give them a placeholder name so their data is kept in _extra.
                header = [t or f"column_{i + 1}" for i, t in enumerate(texts)]
                break
    except BaseException:
        workbook.close()
        raise
    if header is None:
        workbook.close()
        raise FileRejected(f"no header row with the columns of feed {feed.name!r} in the first {HEADER_SEARCH_ROWS} rows of the first sheet")

    def rows() -> Iterator[Row]:
        number = 0
        try:
            for texts in rows_iter:
                if not any(t.strip() for t in texts):
                    continue
                number += 1
                cells = dict(zip(header, texts))
                # Cells right of the header (rows are not padded to the
                # declared width any more) are kept, under placeholder names.
                for i in range(len(header), len(texts)):
                    if texts[i].strip():
                        cells[f"column_{i + 1}"] = texts[i]
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


# A JSON string (an unterminated one runs to the end: every match succeeds,
# so the scan stays linear), or a bracket outside strings (group 1).
_JSON_BRACKETS = re.compile(r'"(?:[^"\\]|\\.?)*(?:"|\Z)|([\[\]{}])', re.DOTALL)


def json_depth_ok(line: str, max_depth: int) -> bool:
    """Whether no bracket of the JSON text ``line`` nests deeper than
    ``max_depth``, found without recursion (json.loads recurses once per
    level and a line nested 100,000 deep raises RecursionError). Brackets
    inside strings do not count. Most lines have fewer brackets than the
    limit and need no scan."""
    if line.count("[") + line.count("{") <= max_depth:
        return True
    depth = 0
    for match in _JSON_BRACKETS.finditer(line):
        bracket = match.group(1)
        if bracket is None:
            continue
        if bracket in "[{":
            depth += 1
            if depth > max_depth:
                return False
        else:
            depth -= 1
    return True


def _parse_json_line(line: str, line_number: int, max_depth: int) -> object:
    """json.loads, or FileRejected when the line nests deeper than the limit;
    raises json.JSONDecodeError for a line that is not JSON (a row problem)."""
    if not json_depth_ok(line, max_depth):
        raise _too_deep(line_number, max_depth)
    try:
        return json.loads(line)
    except RecursionError:  # a limit set above Python's recursion limit
        raise _too_deep(line_number, max_depth) from None


def _too_deep(line_number: int, max_depth: int) -> FileRejected:
    return FileRejected(f"line {line_number:,}: JSON nested deeper than {max_depth:,} levels, the limit of "
                        f"{limits.MAX_JSON_DEPTH.what} ({limits.MAX_JSON_DEPTH.env})")


class HeaderIncomplete(Exception):
    """A JSON Lines record has a key that the header read from the first
    record lacks (read_delivery(guess_header=True)): read the file again
    with the full header."""


def _read_jsonl(path: Path, guess_header: bool = False) -> Delivery:
    """``guess_header``: the header is the keys of the first record instead of
    a first pass over the whole file, and reading the rows raises
    HeaderIncomplete at the first record with another key. The header is
    then the same as the full pass gives (the union of keys in order of
    first appearance), for one JSON parse of each line instead of two: the
    first pass cost a third of staging an NHSA export (issue 18)."""
    encoding = detect_encoding(path)
    max_depth, max_columns, max_field = (int(limits.MAX_JSON_DEPTH.value()), limits.MAX_COLUMNS.value(),
                                         limits.MAX_FIELD_CHARS.value())
    header: list[str] = []
    seen: set[str] = set()
    # First pass: the union of keys, in order of first appearance.
    with path.open("r", encoding=encoding) as handle:
        for line_number, line in enumerate(bounded_lines(handle), start=1):
            try:
                record = _parse_json_line(line, line_number, max_depth)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                for flat in _flatten_nhsa(record):
                    for key in flat:
                        if key not in seen:
                            seen.add(key)
                            header.append(key)
                            if len(header) > max_columns:
                                raise _too_many_columns(len(header), f"line {line_number:,} (keys of all lines so far)")
                if guess_header:
                    break

    def rows() -> Iterator[Row]:
        number = 0
        with path.open("r", encoding=encoding) as handle:
            for line_number, line in enumerate(bounded_lines(handle), start=1):
                if not line.strip():
                    continue
                try:
                    record = _parse_json_line(line, line_number, max_depth)
                except json.JSONDecodeError as exc:
                    number += 1
                    yield Row(number, {"line": str(line_number), "text": line[:2000]}, f"line {line_number} is not valid JSON: {exc.msg}")
                    continue
                if not isinstance(record, dict):
                    number += 1
                    yield Row(number, {"line": str(line_number), "text": line[:2000]}, f"line {line_number} is not a JSON object")
                    continue
                for flat in _flatten_nhsa(record):
                    if guess_header and not seen.issuperset(flat):
                        raise HeaderIncomplete(f"line {line_number:,} has a key the first record lacks")
                    number += 1
                    cells = {k: v if type(v) is str else _json_text(v) for k, v in flat.items()}
                    if cells and max(map(len, cells.values())) > max_field:
                        raise _field_too_large(f"line {line_number:,}")
                    yield Row(number, cells)

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
