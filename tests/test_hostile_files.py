"""Hostile delivery files (issue 13): each crafted file is rejected, or read,
within bounded time and memory, the other files of the same night load, and
the next night runs.

Every night runs the real ingest step (``yaocai.pipeline.start_run`` +
``ingest_step``: warehouse lock, lake, staging in the run folder) in a
subprocess, which reports its own peak RSS. Inputs are generated here and
small on disk; the zip bombs are built from a repeated raw deflate block, so
a 1,100 MiB part costs a few KB and no compression time. The bounds on time
and memory are loose (a shared CI machine); the limits are in
ingest/limits.py and the README ("Limits on delivery files").
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import duckdb
import pytest
from openpyxl import Workbook

from yaocai_demo import generate_demo_landing

pytestmark = pytest.mark.slow  # each case is a night in a subprocess

MIB = 1 << 20
# Loose bounds for every night: the demo landing alone reads in ~2 s and
# ~150 MB; the hostile cases of the issue took minutes and 4-16 GB.
MAX_SECONDS = 60
MAX_RSS_MB = 600

NIGHT = r"""
import datetime as dt, json, sys, time
from pathlib import Path
from yaocai.pipeline import ingest_step, start_run
started = time.monotonic()
ctx = start_run(sys.argv[1], sys.argv[2], dt.date(2026, 10, 31))
result = ingest_step(ctx)
files = json.loads((Path(ctx.warehouse) / "state" / "runs" / ctx.run_id / "ingest.json").read_text())
# VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over exec)
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"line": result["line"], "files": files, "run_id": ctx.run_id,
                  "seconds": time.monotonic() - started, "max_rss_mb": peak_kb / 1024}))
"""


def night(landing: Path, warehouse: Path, **env: str) -> dict:
    """One night's ingest in a subprocess; its result, time and peak RSS."""
    process = subprocess.run([sys.executable, "-c", NIGHT, str(landing), str(warehouse)],
                             env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads(process.stdout.strip().splitlines()[-1])
    result["by_file"] = {f["source_file"]: f for f in result["files"]}
    print(f"{result['line']} | {result['seconds']:.1f} s, {result['max_rss_mb']:.0f} MB")
    assert result["seconds"] < MAX_SECONDS and result["max_rss_mb"] < MAX_RSS_MB
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    landing = tmp_path_factory.mktemp("demo")
    generate_demo_landing(landing, purchase_lines=1000)
    return landing


# The other files of every night: reference feeds and a purchase file.
BASE_FILES = ("institutions/institutions.xlsx", "products/products.csv", "purchases/2026-02_a.csv")


@pytest.fixture
def landing(demo, tmp_path) -> Path:
    landing = tmp_path / "landing"
    for name in BASE_FILES:
        (landing / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(demo / name, landing / name)
    return landing


def purchase_header(demo: Path) -> list[str]:
    with (demo / "purchases" / "2026-02_a.csv").open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


def purchase_rows(demo: Path, count: int, prefix: str, ascii_only: bool = False) -> list[list[str]]:
    """``count`` valid new purchase lines (demo 3503 lines with new batch
    numbers); ``ascii_only``: their Chinese text replaced by ASCII."""
    with (demo / "purchases" / "2026-02_a.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        source = [r for r in reader if r[0] == "3503"]
    bchno = header.index("fixmedins_bchno")
    rows = []
    for i in range(count):
        row = list(source[i % len(source)])
        row[bchno] = f"{prefix}{i:08d}"
        if ascii_only:
            row = [cell if cell.isascii() else f"name {i}" for cell in row]
        rows.append(row)
    return rows


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def assert_rejected(result: dict, name: str, *words: str) -> str:
    file = result["by_file"][name]
    assert file["status"] == "rejected", file
    for word in words:
        assert word in file["message"], file["message"]
    return file["message"]


def assert_others_loaded(result: dict) -> None:
    for name in BASE_FILES:
        assert result["by_file"][name]["status"] == "loaded", result["by_file"][name]
        assert result["by_file"][name]["rows_loaded"] > 0


def quarantine_reasons(warehouse: Path, source_file: str) -> list[str]:
    con = duckdb.connect(str(warehouse / "state" / "lake.duckdb"), read_only=True)
    try:
        return [r[0] for r in con.execute("select reason from quarantine where source_file = ? and row_number is null",
                                          [source_file]).fetchall()]
    finally:
        con.close()


def next_night_runs(demo: Path, landing: Path, warehouse: Path, hostile: str, expect: str = "already_rejected",
                    **env: str) -> dict:
    """The next night loads a new file and does not read the hostile one again."""
    write_csv(landing / "purchases" / "2026-11_next.csv", purchase_header(demo), purchase_rows(demo, 5, "NEXT"))
    result = night(landing, warehouse, **env)
    assert result["by_file"]["purchases/2026-11_next.csv"]["rows_loaded"] == 5
    if hostile:
        assert result["by_file"][hostile]["status"] == expect
    return result


# --- zip bombs and crafted workbooks ---------------------------------------------------------

def workbook_parts(header: list[str], rows: list[list[str]], path: Path) -> dict[str, bytes]:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


class _Verbatim:
    """A 'compressor' that passes already deflated bytes through."""

    def compress(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


def write_bomb(path: Path, parts: dict[str, bytes], head: bytes, unit: bytes, repeats: int, tail: bytes) -> None:
    """An XLSX whose sheet1.xml is ``head + unit * repeats + tail``, written
    as one raw deflate block repeated: after a full flush deflate forgets its
    history, so the same input compresses to the same bytes each time."""
    sheet_name = "xl/worksheets/sheet1.xml"
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(unit) + compressor.flush(zlib.Z_FULL_FLUSH)
    last = compressor.compress(tail) + compressor.flush(zlib.Z_FINISH)
    crc = zlib.crc32(head)
    for _ in range(repeats):
        crc = zlib.crc32(unit, crc)
    crc = zlib.crc32(tail, crc)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            if name != sheet_name:
                archive.writestr(name, data)
        info = zipfile.ZipInfo(sheet_name, date_time=(2026, 10, 31, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as out:
            out._compressor = _Verbatim()  # the bytes written are the deflate stream itself
            out.write(first)
            for _ in range(repeats):
                out.write(block)
            out.write(last)
            out._file_size = len(head) + len(unit) * repeats + len(tail)
            out._crc = crc


def sheet_head(parts: dict[str, bytes]) -> bytes:
    """sheet1.xml up to and including its header row."""
    xml = parts["xl/worksheets/sheet1.xml"]
    return xml[:xml.index(b"</row>") + len(b"</row>")]


def test_json_line_nested_100000_deep_is_rejected_and_the_night_goes_on(demo, landing, tmp_path):
    header = purchase_header(demo)
    lines = [json.dumps(dict(zip(header, row)), ensure_ascii=False) for row in purchase_rows(demo, 3, "DEEP")]
    lines.insert(1, "[" * 100_000 + "]" * 100_000)
    # sorted before the other purchase files: they must still load
    (landing / "purchases" / "0000_nested.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    warehouse = tmp_path / "wh"
    result = night(landing, warehouse)
    message = assert_rejected(result, "purchases/0000_nested.jsonl", "line 2", "YAOCAI_MAX_JSON_DEPTH")
    assert_others_loaded(result)
    assert "1 rejected" in result["line"]
    assert quarantine_reasons(warehouse, "purchases/0000_nested.jsonl") == [f"file rejected: {message}"]
    second = next_night_runs(demo, landing, warehouse, "purchases/0000_nested.jsonl")
    assert "rejected before" in second["line"]


def test_json_lines_ascii_first_mib_then_gb18030_load_whole(demo, landing, tmp_path):
    header = purchase_header(demo)
    ascii_rows = purchase_rows(demo, 4000, "ASC", ascii_only=True)
    chinese_rows = purchase_rows(demo, 40, "GBK")
    text = "".join(json.dumps(dict(zip(header, row))) + "\n" for row in ascii_rows)
    assert len(text) > MIB and text.isascii()
    text += "".join(json.dumps(dict(zip(header, row)), ensure_ascii=False) + "\n" for row in chinese_rows)
    (landing / "purchases" / "2026-04_gb.jsonl").write_bytes(text.encode("gb18030"))
    warehouse = tmp_path / "wh"
    result = night(landing, warehouse)
    file = result["by_file"]["purchases/2026-04_gb.jsonl"]
    assert (file["status"], file["rows_in"], file["rows_loaded"]) == ("loaded", 4040, 4040)
    assert file["message"].startswith("jsonl/gb18030")
    assert_others_loaded(result)
    next_night_runs(demo, landing, warehouse, "purchases/2026-04_gb.jsonl", "duplicate_delivery")


def test_gb18030_csv_whose_first_mib_is_ascii_loads_all_rows(demo, landing, tmp_path):
    header = purchase_header(demo)
    rows = purchase_rows(demo, 7000, "ASC", ascii_only=True) + purchase_rows(demo, 40, "GBK")
    path = write_csv(landing / "purchases" / "2026-05_gb.csv", header, rows, encoding="gb18030")
    assert path.read_bytes()[:MIB].isascii()
    warehouse = tmp_path / "wh"
    result = night(landing, warehouse)
    file = result["by_file"]["purchases/2026-05_gb.csv"]
    assert (file["status"], file["rows_in"], file["rows_loaded"]) == ("loaded", 7040, 7040)
    assert file["message"].startswith("csv/gb18030")
    assert_others_loaded(result)
    next_night_runs(demo, landing, warehouse, "purchases/2026-05_gb.csv", "duplicate_delivery")


def test_field_over_10_mb_in_json_lines_is_rejected(demo, landing, tmp_path):
    header = purchase_header(demo)
    records = [dict(zip(header, row)) for row in purchase_rows(demo, 3, "BIG")]
    records[1]["fixmedins_hilist_name"] = "药" * (11 * MIB)
    (landing / "purchases" / "2026-06_big.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    warehouse = tmp_path / "wh"
    result = night(landing, warehouse)
    assert_rejected(result, "purchases/2026-06_big.jsonl", "line 2", "YAOCAI_MAX_FIELD_CHARS")
    assert_others_loaded(result)
    next_night_runs(demo, landing, warehouse, "purchases/2026-06_big.jsonl")


def test_field_over_10_mb_in_xlsx_is_rejected(demo, landing, tmp_path):
    rows = purchase_rows(demo, 3, "BIG")
    rows[1][5] = "PLACEHOLDER"
    parts = workbook_parts(purchase_header(demo), rows, tmp_path / "plain.xlsx")
    # openpyxl cuts cells at Excel's 32,767 characters: the sheet XML is
    # edited instead. Random text compresses little, so it is the field
    # limit that stops it, not the compression ratio.
    big = base64.b64encode(os.urandom(8 * MIB + 512 * 1024))
    xml = parts["xl/worksheets/sheet1.xml"].replace(b"PLACEHOLDER", big)
    with zipfile.ZipFile(landing / "purchases" / "2026-06_big.xlsx", "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in {**parts, "xl/worksheets/sheet1.xml": xml}.items():
            archive.writestr(name, data)
    warehouse = tmp_path / "wh"
    result = night(landing, warehouse)
    assert_rejected(result, "purchases/2026-06_big.xlsx", "sheet row 3", "YAOCAI_MAX_FIELD_CHARS")
    assert_others_loaded(result)
    next_night_runs(demo, landing, warehouse, "purchases/2026-06_big.xlsx")


def test_xlsx_holding_one_1100_mib_cell_is_rejected_before_inflating(demo, landing, tmp_path):
    parts = workbook_parts(purchase_header(demo), [], tmp_path / "plain.xlsx")
    path = landing / "purchases" / "2026-07_bomb.xlsx"
    write_bomb(path, parts, sheet_head(parts) + b'<row r="2"><c r="A2" t="inlineStr"><is><t>',
               b"A" * MIB, 1100, b"</t></is></c></row></sheetData></worksheet>")
    assert path.stat().st_size < 2 * MIB
    warehouse = tmp_path / "wh"
    result = night(landing, warehouse)
    assert_rejected(result, "purchases/2026-07_bomb.xlsx", "YAOCAI_MAX_XLSX_INFLATED_BYTES")
    assert_others_loaded(result)
    next_night_runs(demo, landing, warehouse, "purchases/2026-07_bomb.xlsx")


def test_xlsx_inflating_to_22_million_rows_is_rejected_before_parsing(demo, landing, tmp_path):
    parts = workbook_parts(purchase_header(demo), [], tmp_path / "plain.xlsx")
    unit = b"<row><c><v>1</v></c></row>" * 40_000  # rows without r= count on from the previous one
    path = landing / "purchases" / "2026-07_rows.xlsx"
    write_bomb(path, parts, sheet_head(parts), unit, 550, b"</sheetData></worksheet>")
    assert path.stat().st_size < 2 * MIB
    warehouse = tmp_path / "wh"
    result = night(landing, warehouse)
    assert_rejected(result, "purchases/2026-07_rows.xlsx", "sheet1.xml", "YAOCAI_MAX_XLSX_RATIO")
    assert_others_loaded(result)
    next_night_runs(demo, landing, warehouse, "purchases/2026-07_rows.xlsx")


def with_dimension(parts: dict[str, bytes], ref: str) -> dict[str, bytes]:
    xml = parts["xl/worksheets/sheet1.xml"]
    xml = re.sub(rb"<dimension [^>]*/>", b"", xml).replace(b"</sheetPr>", f'</sheetPr><dimension ref="{ref}"/>'.encode(), 1)
    return {**parts, "xl/worksheets/sheet1.xml": xml}


def test_xlsx_claiming_dimension_a1_xfd1048576_reads_only_its_real_rows(demo, landing, tmp_path):
    parts = workbook_parts(purchase_header(demo), purchase_rows(demo, 2000, "DIM"), tmp_path / "plain.xlsx")
    path = landing / "purchases" / "2026-08_dim.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in with_dimension(parts, "A1:XFD1048576").items():
            archive.writestr(name, data)
    warehouse = tmp_path / "wh"
    result = night(landing, warehouse)
    file = result["by_file"]["purchases/2026-08_dim.xlsx"]
    assert (file["status"], file["rows_in"], file["rows_loaded"]) == ("loaded", 2000, 2000)
    assert result["max_rss_mb"] < 400 and result["seconds"] < 40
    assert_others_loaded(result)
    next_night_runs(demo, landing, warehouse, "purchases/2026-08_dim.xlsx", "duplicate_delivery")


def test_xlsx_rows_over_the_limit_are_counted_not_declared(demo, landing, tmp_path):
    parts = workbook_parts(purchase_header(demo), purchase_rows(demo, 1500, "ROW"), tmp_path / "plain.xlsx")
    path = landing / "purchases" / "2026-08_rows.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in with_dimension(parts, "A1:S10").items():  # claims 10 rows
            archive.writestr(name, data)
    warehouse = tmp_path / "wh"
    result = night(landing, warehouse, YAOCAI_MAX_XLSX_ROWS="1000")
    assert_rejected(result, "purchases/2026-08_rows.xlsx", "more than 1,000 rows", "YAOCAI_MAX_XLSX_ROWS")
    assert_others_loaded(result)
    next_night_runs(demo, landing, warehouse, "purchases/2026-08_rows.xlsx", YAOCAI_MAX_XLSX_ROWS="1000")


def wide_csv(demo: Path, path: Path, columns: int) -> Path:
    header = purchase_header(demo)
    extra = columns - len(header)
    rows = [row + [str(i % 7) for i in range(extra)] for row in purchase_rows(demo, 20, "WIDE")]
    return write_csv(path, header + [f"x{i}" for i in range(extra)], rows)


def test_csv_with_10000_columns_is_rejected_over_the_column_limit(demo, landing, tmp_path):
    wide_csv(demo, landing / "purchases" / "2026-09_wide.csv", 10_000)
    warehouse = tmp_path / "wh"
    result = night(landing, warehouse)
    assert_rejected(result, "purchases/2026-09_wide.csv", "10,000 columns", "YAOCAI_MAX_COLUMNS")
    assert_others_loaded(result)
    next_night_runs(demo, landing, warehouse, "purchases/2026-09_wide.csv")


def test_csv_with_10000_columns_loads_in_linear_time_when_allowed(demo, landing, tmp_path):
    wide_csv(demo, landing / "purchases" / "2026-09_wide.csv", 10_000)
    warehouse = tmp_path / "wh"
    result = night(landing, warehouse, YAOCAI_MAX_COLUMNS="20000")
    file = result["by_file"]["purchases/2026-09_wide.csv"]
    assert (file["status"], file["rows_loaded"]) == ("loaded", 20)
    assert result["seconds"] < 30  # was over 400 s (6,000 columns: 141 s)
    con = duckdb.connect(str(warehouse / "state" / "lake.duckdb"), read_only=True)
    try:
        extra = con.execute("select _extra from purchases where _source_file = 'purchases/2026-09_wide.csv' "
                            "order by _row_number limit 1").fetchone()[0]
    finally:
        con.close()
    kept = json.loads(extra)
    assert len(kept) == 10_000 - len(purchase_header(demo))
    assert kept["x9980"] == str(9980 % 7)


def test_sub_folders_and_symbolic_links_are_reported_once(demo, landing, tmp_path):
    header = purchase_header(demo)
    folder = landing / "purchases"
    write_csv(folder / "archive" / "old.csv", header, purchase_rows(demo, 3, "OLD"))
    write_csv(folder / "archive" / "2025" / "older.csv", header, purchase_rows(demo, 3, "OLDER"))
    outside = write_csv(tmp_path / "outside" / "secret.csv", header, purchase_rows(demo, 3, "SECRET"))
    (folder / "link.csv").symlink_to(outside)
    (folder / "linked_folder").symlink_to(outside.parent, target_is_directory=True)
    warehouse = tmp_path / "wh"
    result = night(landing, warehouse)
    reported = {"purchases/archive/old.csv": "sub-folder archive/", "purchases/archive/2025/older.csv": "sub-folder archive/",
                "purchases/link.csv": "symbolic link", "purchases/linked_folder": "symbolic link"}
    for name, words in reported.items():
        assert_rejected(result, name, words)
        assert len(quarantine_reasons(warehouse, name)) == 1
    assert "4 rejected" in result["line"] and "still being written" not in result["line"]
    assert_others_loaded(result)
    con = duckdb.connect(str(warehouse / "state" / "lake.duckdb"), read_only=True)
    try:
        # the manifest is the published deliveries table (dbt marts/deliveries.sql)
        manifest = dict(con.execute("select source_file, status from ingest_manifest").fetchall())
        secret = con.execute("select count(*) from purchases where fixmedins_bchno like 'SECRET%' "
                             "or fixmedins_bchno like 'OLD%'").fetchone()[0]
    finally:
        con.close()
    assert all(manifest[name] == "rejected" for name in reported) and secret == 0
    second = next_night_runs(demo, landing, warehouse, "")
    assert not set(reported) & set(second["by_file"]), "reported again on the next night"
    # a sub-folder file that changes is reported again, once
    write_csv(folder / "archive" / "old.csv", header, purchase_rows(demo, 4, "OLD"))
    third = night(landing, warehouse)
    assert [n for n in reported if n in third["by_file"]] == ["purchases/archive/old.csv"]


def test_limits_on_file_size_line_length_and_wall_time(demo, landing, tmp_path):
    header = purchase_header(demo)
    lines = "".join(json.dumps(dict(zip(header, row)), ensure_ascii=False) + "\n"
                    for row in purchase_rows(demo, 10_000, "SLOW"))
    (landing / "purchases" / "2026-10_slow.jsonl").write_text(lines, encoding="utf-8")
    # per feed: only the purchase files are held to 1 MB
    result = night(landing, tmp_path / "wh1", YAOCAI_MAX_FILE_BYTES_PURCHASES="1000000")
    assert_rejected(result, "purchases/2026-10_slow.jsonl", "over the limit of 1,000,000 bytes per file",
                    "YAOCAI_MAX_FILE_BYTES_PURCHASES")
    assert_others_loaded(result)
    result = night(landing, tmp_path / "wh2", YAOCAI_MAX_FILE_SECONDS_PURCHASES="0.01")
    assert_rejected(result, "purchases/2026-10_slow.jsonl", "took longer than the limit of 0.01 seconds",
                    "YAOCAI_MAX_FILE_SECONDS")
    assert result["by_file"]["products/products.csv"]["status"] == "loaded"
    # the purchase header line is 272 characters: every purchase file is rejected
    result = night(landing, tmp_path / "wh3", YAOCAI_MAX_LINE_CHARS="260")
    assert_rejected(result, "purchases/2026-10_slow.jsonl", "line 1:", "YAOCAI_MAX_LINE_CHARS")
    assert_rejected(result, "purchases/2026-02_a.csv", "line 1:", "YAOCAI_MAX_LINE_CHARS")
    assert result["by_file"]["products/products.csv"]["status"] == "loaded"


def test_unreadable_files_are_rejected_once_and_staging_is_cleaned(demo, landing, tmp_path):
    folder = landing / "purchases"
    (folder / "2026-10_broken.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    (folder / "2026-10_notes.pdf").write_bytes(b"%PDF-1.4")
    (folder / "2026-10_latin1.csv").write_bytes(",".join(purchase_header(demo)).encode() + b"\n\x81\x30\xff\xff\n")
    warehouse = tmp_path / "wh"
    leftover = warehouse / "state" / "runs" / "2026-10-30_killed" / "ingest_stage" / "yaocai-stage-x"
    leftover.mkdir(parents=True)
    (leftover / "staged.csv").write_bytes(b"x" * 1000)
    result = night(landing, warehouse)
    assert_rejected(result, "purchases/2026-10_broken.xlsx", "not a readable XLSX")
    assert_rejected(result, "purchases/2026-10_notes.pdf", "unsupported file type")
    assert_rejected(result, "purchases/2026-10_latin1.csv", "not UTF-8", "not GB18030")
    assert_others_loaded(result)
    assert not leftover.parent.exists(), "a killed run's staging files are removed by the next ingest"
    assert not any((warehouse / "state" / "runs" / result["run_id"] / "ingest_stage").iterdir())
    second = next_night_runs(demo, landing, warehouse, "")
    assert {second["by_file"][f"purchases/2026-10_{n}"]["status"] for n in ("broken.xlsx", "notes.pdf", "latin1.csv")} \
        == {"already_rejected"}


def test_a_rejected_version_of_a_file_keeps_the_rows_of_the_earlier_one(demo, landing, tmp_path):
    """In-process (no limit or memory at stake): a corrected file restates
    the old rows, an unreadable one under the same name must not wipe them."""
    from ingest.loader import ingest_landing

    path = write_csv(landing / "purchases" / "2026-10_a.csv", purchase_header(demo), purchase_rows(demo, 4, "KEEP"))
    lake = duckdb.connect(str(tmp_path / "lake.duckdb"))
    try:
        ingest_landing(landing, lake, "run-1")
        path.write_bytes(path.read_bytes() + b"\xff\xff\xff\n")  # neither UTF-8 nor GB18030
        report = ingest_landing(landing, lake, "run-2")
        file = next(f for f in report.files if f.source_file == "purchases/2026-10_a.csv")
        assert file.status == "rejected" and "not GB18030" in file.message
        kept = lake.execute("select count(*) from purchases where fixmedins_bchno like 'KEEP%'").fetchone()[0]
        statuses = lake.execute("select status from ingest_manifest where source_file = 'purchases/2026-10_a.csv' "
                                "order by loaded_at").fetchall()
    finally:
        lake.close()
    assert kept == 4 and [s[0] for s in statuses] == ["loaded", "rejected"]


def test_a_limit_set_to_nonsense_stops_the_night_instead_of_rejecting_files(landing, tmp_path, monkeypatch):
    from ingest.limits import SettingError
    from ingest.loader import ingest_landing

    monkeypatch.setenv("YAOCAI_MAX_FILE_BYTES_PURCHASES", "lots")
    lake = duckdb.connect(str(tmp_path / "lake.duckdb"))
    try:
        with pytest.raises(SettingError, match="YAOCAI_MAX_FILE_BYTES_PURCHASES='lots' is not a number"):
            ingest_landing(landing, lake, "run-1")
        assert lake.execute("select count(*) from information_schema.tables where table_name = 'ingest_manifest'"
                            ).fetchone()[0] == 0  # nothing recorded: every file is read once the setting is fixed
    finally:
        lake.close()


def _depth(value: object) -> int:
    """Nesting depth computed the simple way, on the parsed value."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@pytest.mark.parametrize("text", [
    '{"a": [[["x"]]], "b": "[[[[[[[[[[[[[["}',
    '["\\"[[[[[[[[[[[[", {"k": "\\\\"}, [[[]]]]',
    '{"name": "]]]]]]]]]]]]]]]]{{{{{{{{{{", "n": [1, [2, [3, [4]]]]}',
    '[' * 9 + ']' * 9,
])
def test_json_depth_scan_agrees_with_the_parsed_depth(text):
    from ingest.readers import json_depth_ok

    depth = _depth(json.loads(text))
    assert json_depth_ok(text, depth) and not json_depth_ok(text, depth - 1)


def test_json_depth_scan_is_linear_on_an_unterminated_string():
    import time

    from ingest.readers import json_depth_ok

    text = "[" * 100 + '"' + '\\"x' * 300_000  # a string that never ends: its brackets do not count
    started = time.monotonic()
    assert not json_depth_ok(text, 64) and json_depth_ok(text, 100)
    assert time.monotonic() - started < 5


def test_xlsx_columns_count_up_to_the_last_value_not_formatted_empty_cells(demo, tmp_path):
    """In-process (the reader alone): a formatted empty cell far right is
    not a column; a value there is, and is over the limit."""
    from openpyxl import Workbook as FullWorkbook

    from ingest.feeds import PURCHASES
    from ingest.readers import FileRejected, read_delivery

    header = purchase_header(demo)
    for far_value, path in ((None, tmp_path / "formatted.xlsx"), ("x", tmp_path / "valued.xlsx")):
        workbook = FullWorkbook()
        sheet = workbook.active
        sheet.append(header)
        sheet.append(purchase_rows(demo, 1, "FAR")[0])
        far = sheet.cell(row=2, column=2000, value=far_value)
        far.number_format = "0.00"
        workbook.save(path)
        if far_value is None:
            rows = list(read_delivery(path, PURCHASES).rows)
            assert len(rows) == 1 and rows[0].cells["fixmedins_bchno"] == "FAR00000000"
        else:
            with pytest.raises(FileRejected, match="sheet row 2 has 2,000 columns.*YAOCAI_MAX_COLUMNS"):
                list(read_delivery(path, PURCHASES).rows)
