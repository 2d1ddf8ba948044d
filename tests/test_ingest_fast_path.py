"""The fast paths of ingest give exactly what the general paths give:
CSV parsed by DuckDB vs the Python readers (ingest/loader.py), and the
normalisation macros' fast branches vs their general forms (ingest/normalise.py)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import duckdb
import pytest

import ingest.loader as loader
from ingest.loader import ingest_landing
from ingest.normalise import install_macros

PRODUCT = "XC10AAA131A001010100483"
HOSPITAL = "H44080200017"
HEADER = ["infno", "fixmedins_code", "fixmedins_bchno", "med_list_codg", "finl_trns_pric", "purc_retn_cnt",
          "purc_retn_stoin_time", "platform_order_no", "medins_prod_purc_no", "prod_geay_flag", "manu_date", "备注"]
CHINESE_HEADER = ["交易编号", "定点医药机构编号", "批次流水号", "医保目录编码", "最终成交单价", "采购/退货数量", "入库时间",
                  "平台订单号", "商品采购流水号", "赠送标志", "生产日期", "备注"]


def line(bchno: str, **changes: str) -> list[str]:
    values = dict(zip(HEADER, ["3503", HOSPITAL, bchno, PRODUCT, "3.50", "2", "2024-05-01 08:30:00", "PO1", "", "0",
                               "2024-01-02", ""]))
    values.update(changes)
    return list(values.values())


def rows() -> list[list[str]]:
    """Clean lines, lines in every accepted spelling, and every kind of bad line."""
    return [
        line("B01"),
        line("B02", finl_trns_pric="1,234.50元", purc_retn_cnt="２", purc_retn_stoin_time="2024年5月1日"),
        line("B03", purc_retn_stoin_time="20240501", manu_date="2024/1/2", infno="采购", prod_geay_flag="是"),
        line("B04", fixmedins_code=f" {HOSPITAL.lower()} ", med_list_codg=f"{PRODUCT[:5]} {PRODUCT[5:]}"),
        line("B05", 备注='他说"好", 然后\n换行'),  # quotes, a comma and a newline inside a cell
        line("B06", purc_retn_cnt="-1"),
        line("B07", purc_retn_stoin_time="2024-02-30"),
        line("B08", purc_retn_stoin_time="1999-05-01"),
        line("B09", fixmedins_code=""),
        line("B10", med_list_codg="XC10AAA131A001010199999"),
        line("B11", infno="9999"),
        line("B12", infno="3504", medins_prod_purc_no="NOPE"),
        line("B13", infno="3504", medins_prod_purc_no="B01"),
        line("B01"),  # exact duplicate of row 1
        line("B14", finl_trns_pric="4"), line("B14", finl_trns_pric="5"),  # conflicting duplicates
        line("B15", 备注="　"), line("B16", finl_trns_pric=" 7 ", purc_retn_cnt="1e3"),
        line("B17", purc_retn_stoin_time="2024-05-01 24:00:00"), line("B18", purc_retn_stoin_time="45413.5"),
        ["合计", "", "", "", "", "100", "", "", "", "", "", ""],
        ["  Total:", "", "", "", "", "100", "", "", "", "", "", ""],
        ["", "total", "", "", "", "", "", "", "", "", "", ""],
        line("B19", 备注="x" * 300),
    ]


def write(path: Path, header: list[str], body: list[list[str]], encoding: str = "utf-8", text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n" if "crlf" in path.name else "\n")
        writer.writerow(header)
        writer.writerows(body)
        handle.write(text)


def make_landing(root: Path) -> Path:
    write(root / "institutions" / "i.csv", ["fixmedins_code", "fixmedins_name", "admdvs", "hosp_lv", "ownership"],
          [[HOSPITAL, "湛江市第一人民医院", "440802", "3", "public"]])
    write(root / "products" / "p.csv", ["med_list_codg", "category", "generic_name", "convrat", "manufacturer",
                                        "platform_listed"],
          [[PRODUCT, "western", "阿托伐他汀钙片", "7", "甲药业", "1"], ["XSHORT", "western", "某药", "7", "乙", "1"]])
    folder = root / "purchases"
    body = rows()
    renumber = lambda prefix: [[prefix + c if i in (2, 8) and c else c for i, c in enumerate(r)] for r in body]  # noqa: E731
    write(folder / "a-utf8.csv", HEADER, renumber("A"))
    write(folder / "b-bom-crlf.csv", HEADER, renumber("B"), encoding="utf-8-sig")
    write(folder / "c-gb18030.csv", CHINESE_HEADER, renumber("C"), encoding="gb18030")
    write(folder / "d-again.csv", HEADER, renumber("A")[:3] + [line("AB04", finl_trns_pric="9")])  # already loaded
    # Files the fast path must leave to the Python reader:
    write(folder / "e-blank-row.csv", HEADER, renumber("E")[:3] + [[""] * 12] + renumber("E")[3:6])
    write(folder / "f-extra-cell.csv", HEADER, renumber("F")[:3] + [renumber("F")[3] + ["x"]])
    write(folder / "g-short-row.csv", HEADER, renumber("G")[:3], text="3503,H1,G9")
    write(folder / "h-title-row.csv", ["采购明细"], [HEADER] + renumber("H")[:4])
    write(folder / "i-bad-quote.csv", HEADER, renumber("I")[:2], text='"3503"x,H,I9,P,1,1,2024-05-01,,,,,\n')
    write(folder / "j-duplicate-labels.csv", HEADER + ["备注"], [r + ["second"] for r in renumber("J")[:4]])
    write(folder / "k-spaces-only.csv", HEADER, renumber("K")[:2] + [[" ", "\u3000", "", "", "", "", "", "", "", "", "", ""]])
    # The encoding is decided on the whole file, not the header line: an
    # ASCII header above GB18030 rows, and above bytes valid in neither.
    ascii_header = [*HEADER[:-1], "note"]
    write(folder / "l-ascii-header-gb18030.csv", ascii_header, renumber("L"), encoding="gb18030")
    write(folder / "m-ascii-header-bad-bytes.csv", ascii_header, renumber("M")[:3])
    with (folder / "m-ascii-header-bad-bytes.csv").open("ab") as handle:
        handle.write(b"3503,H1,M9,\xff\xfe,1,1,2024-05-01 08:30:00,,,,,\n")
    return root


def lake_contents(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    tables = {}
    for table in ("institutions", "products", "purchases"):
        tables[table] = con.execute(f"select * exclude (_file_id) from {table} order by _source_file, _row_number").fetchall()
    tables["quarantine"] = con.execute(
        "select feed, source_file, row_number, reason, raw_content from quarantine order by source_file, row_number").fetchall()
    tables["manifest"] = con.execute(
        "select source_file, status, rows_in, rows_loaded, rows_quarantined, message from ingest_manifest "
        "order by source_file").fetchall()
    return tables


def test_csv_parsed_by_duckdb_gives_what_the_python_reader_gives(tmp_path, monkeypatch):
    landing = make_landing(tmp_path / "landing")
    fast_files: list[str] = []
    original = loader._stage_csv_in_duckdb

    def spy(con, feed, path, tmp):
        staged = original(con, feed, path, tmp)
        if staged is not None:
            fast_files.append(path.name)
        return staged

    monkeypatch.setattr(loader, "_stage_csv_in_duckdb", spy)
    fast = duckdb.connect(str(tmp_path / "fast.duckdb"))
    ingest_landing(landing, fast, "run")
    assert {"a-utf8.csv", "b-bom-crlf.csv", "c-gb18030.csv", "d-again.csv", "l-ascii-header-gb18030.csv"} <= set(fast_files)
    assert not {"e-blank-row.csv", "f-extra-cell.csv", "g-short-row.csv", "h-title-row.csv", "i-bad-quote.csv",
                "j-duplicate-labels.csv", "k-spaces-only.csv", "m-ascii-header-bad-bytes.csv"} & set(fast_files)

    monkeypatch.setattr(loader, "_stage_csv_in_duckdb", lambda *args: None)
    slow = duckdb.connect(str(tmp_path / "slow.duckdb"))
    ingest_landing(landing, slow, "run")
    got, expected = lake_contents(fast), lake_contents(slow)
    for table in expected:
        assert got[table] == expected[table], table
    reasons = {(r[1], r[2]): r[3] for r in got["quarantine"]}
    assert reasons[("purchases/a-utf8.csv", 21)].startswith("summary row")
    assert reasons[("purchases/a-utf8.csv", 22)].startswith("summary row")
    assert reasons[("purchases/a-utf8.csv", 23)].startswith("summary row")
    assert reasons[("purchases/c-gb18030.csv", 7)].startswith("purc_retn_stoin_time: cannot read")
    assert reasons[("purchases/a-utf8.csv", 12)].startswith("medins_prod_purc_no: the returned purchase ANOPE is unknown")
    assert ("purchases/a-utf8.csv", 13) not in reasons  # the return of AB01
    assert reasons[("purchases/d-again.csv", 2)].startswith("exact duplicate of a line already loaded from purchases/a-utf8.csv row 2")
    assert reasons[("purchases/d-again.csv", 4)].startswith("conflicts with the line already loaded from purchases/a-utf8.csv row 4")
    raw = json.loads(next(r[4] for r in got["quarantine"] if r[1] == "purchases/a-utf8.csv" and r[2] == 6))
    assert raw["purc_retn_cnt"] == "-1" and raw["备注"] == ""
    extra = fast.execute("select _extra from purchases where fixmedins_bchno = 'AB05'").fetchone()[0]
    assert json.loads(extra) == {"备注": '他说"好", 然后\n换行'}


@pytest.fixture(scope="module")
def macros():
    con = duckdb.connect()
    install_macros(con)
    rng = random.Random(7)
    alphabet = list("0123456789-./: T年月日时分秒元¥￥,RMBCNYe+　 abcXZ０１２．，－\t\n") + ["2024", "05", "12", "24", "60"]
    samples = {"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(20_000)}
    for year in ("0000", "0999", "1999", "2024", "9999"):
        for month in range(0, 14):
            for day in (0, 1, 28, 29, 30, 31, 32):
                samples.add(f"{year}-{month:02d}-{day:02d}")
                samples.add(f"{year}-{month:02d}-{day:02d} {rng.randint(0, 25):02d}:{rng.randint(0, 61):02d}:00")
    con.execute("create table s (x varchar)")
    con.executemany("insert into s values (?)", [[x] for x in sorted(samples)] + [[None]])
    yield con
    con.close()


@pytest.mark.parametrize("macro", ["yc_text", "yc_halfwidth", "yc_code", "yc_decimal", "yc_double", "yc_timestamp", "yc_date"])
def test_macro_fast_paths_agree_with_the_general_form(macros, macro):
    differ = macros.execute(f"select x, {macro}(x), {macro}_general(x) from s "
                            f"where {macro}(x) is distinct from {macro}_general(x) limit 5").fetchall()
    assert differ == []


def _general_expression(column, source: str) -> str:
    """typed_expression as it was before the fast paths, on the general macros."""
    from ingest.feeds import Kind
    from ingest.normalise import quote_literal

    text = f"yc_text_general({source})"
    if column.default:
        text = f"coalesce({text}, {quote_literal(column.default)})"
    general = {
        Kind.TEXT: text,
        Kind.CODE: f"yc_code_general({text})",
        Kind.DIGITS: f"case when regexp_matches(yc_code_general({text}), '^[0-9]+$') then yc_code_general({text}) end",
        Kind.DECIMAL: f"yc_decimal_general({text})",
        Kind.DOUBLE: f"yc_double_general({text})",
        Kind.DATE: f"cast(yc_timestamp_general({text}) as date)",
        Kind.TIMESTAMP: f"yc_timestamp_general({text})",
    }
    if column.kind in general:
        return general[column.kind]
    cases = " ".join(f"when {quote_literal(s)} then {quote_literal(c)}" for s, c in sorted(column.values.items()))
    return f"case lower(yc_halfwidth_general({text})) {cases} end"


@pytest.mark.slow  # some 10–30 s: every column's typed expression against the general macro on the whole sample
def test_typed_expressions_agree_with_the_general_macros(macros):
    from ingest.feeds import FEEDS
    from ingest.normalise import typed_expression

    spellings = sorted({s for feed in FEEDS for c in feed.columns for s in c.values} | {"X" + "1" * 22, " 3503", "是 "})
    macros.execute("create or replace table s2 as select x from s union all select unnest(?::varchar[])", [spellings])
    for feed in FEEDS:
        for column in feed.columns:
            differ = macros.execute(
                f"select x, {typed_expression(column, 'x')}, {_general_expression(column, 'x')} from s2 "
                f"where {typed_expression(column, 'x')} is distinct from {_general_expression(column, 'x')} limit 5").fetchall()
            assert differ == [], (feed.name, column.name)


def _message(infno: str, bchno: str, **entry) -> dict:
    purcinfo = {"fixmedins_bchno": bchno, "med_list_codg": PRODUCT, "finl_trns_pric": 3.5, "purc_retn_cnt": 2,
                "purc_retn_stoin_time": "2024-05-01 08:30:00", "platform_order_no": "PO", **entry}
    if infno == "3504":
        purcinfo.pop("platform_order_no")
    return {"infno": infno, "msgid": f"M{bchno}", "fixmedins_code": HOSPITAL, "fixmedins_name": "医院",
            "input": {"purcinfo": purcinfo}}


def make_json_landing(root: Path) -> Path:
    make_landing(root)
    for path in (root / "purchases").iterdir():
        path.unlink()
    messages = [
        _message("3503", "J1"),
        _message("3503", "J2", finl_trns_pric=41.0, purc_retn_cnt=3.0, memo="备注\n“引号”", rx_flag=True),
        _message("3504", "J3", medins_prod_purc_no="J1", finl_trns_pric=None, gift=False),
        _message("3503", "J4", finl_trns_pric=41.86, purc_retn_cnt=-1),
        _message("3503", "J5", purc_retn_stoin_time="2024年5月1日", finl_trns_pric="1,234.5元", fixmedins_code=" h44080200017 "),
        _message("3503", "J1", finl_trns_pric=9.9),  # conflicting duplicate
        _message("3503", "J6", med_list_codg="XC10AAA131A001010199999"),
    ]
    flat = [{"infno": "3503", "fixmedins_code": HOSPITAL, "fixmedins_bchno": f"F{i}", "med_list_codg": PRODUCT,
             "finl_trns_pric": 1.25 * i, "purc_retn_cnt": i + 1, "purc_retn_stoin_time": "2024-05-02"} for i in range(3)]
    folder = root / "purchases"

    def write_lines(name: str, records: list, extra: str = "") -> None:
        (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records) + extra,
                                   encoding="utf-8")

    write_lines("a-nhsa.jsonl", messages, extra="\n   \n")
    write_lines("b-flat.jsonl", flat)
    # Files the fast path must leave to the Python reader:
    write_lines("c-trailing-comma.jsonl", messages[:2], extra='{"infno": "3503", "fixmedins_code": "H",}\n')
    write_lines("d-nested.jsonl", [_message("3503", "N1", lot={"no": 1})])
    write_lines("e-list.jsonl", [{**_message("3503", "L1"), "input": {"purcinfo": [_message("3503", "L1")["input"]["purcinfo"],
                                                                                    _message("3503", "L2")["input"]["purcinfo"]]}}])
    write_lines("f-exponent.jsonl", [_message("3503", "X1", finl_trns_pric=1e-05), _message("3503", "X2", purc_retn_cnt=1e17)])
    write_lines("g-key-order.jsonl", [flat[0], {k: flat[1][k] for k in reversed(list(flat[1]))}])
    write_lines("h-not-json.jsonl", messages[:1], extra="{not json\n")
    # Values the fast path renders itself: a null in the entry wins over the
    # envelope's value, an entry without keys, booleans against the strings
    # "true"/"false", integers past 64 bits, -0, 1E5, an escaped character.
    write_lines("i-values.jsonl", [
        _message("3503", "V1", fixmedins_name=None, memo="true", rx_flag=False),
        {**_message("3503", "V2"), "input": {"purcinfo": {}}},
        _message("3503", "V3", purc_retn_cnt=123456789012345678901234, finl_trns_pric=1.5e2),
    ], extra='{"infno": "3503", "fixmedins_code": "H", "fixmedins_bchno": "V4", "med_list_codg": "X", '
             '"finl_trns_pric": 1E5, "purc_retn_cnt": -0, "purc_retn_stoin_time": "2024-05-01", "memo": "\\u00e9\\n"}\n')
    # More files the fast path must leave to the Python reader:
    write_lines("j-repeated-key.jsonl", messages[:1], extra='{"infno": "3503", "infno": "3504", "fixmedins_code": "H"}\n')
    write_lines("k-carriage-return.jsonl", messages[:1], extra='{"infno": "3503",\r "fixmedins_code": "H"}\n')
    write_lines("l-null-entry.jsonl", [{**_message("3503", "N2"), "input": {"purcinfo": None}}])
    return root


def test_json_lines_parsed_by_duckdb_give_what_the_python_reader_gives(tmp_path, monkeypatch):
    landing = make_json_landing(tmp_path / "landing")
    monkeypatch.setattr(loader, "JSONL_IN_DUCKDB", True)
    fast_files: list[str] = []
    original = loader._stage_jsonl_in_duckdb

    def spy(con, feed, path):
        staged = original(con, feed, path)
        if staged is not None:
            fast_files.append(path.name)
        return staged

    monkeypatch.setattr(loader, "_stage_jsonl_in_duckdb", spy)
    fast = duckdb.connect(str(tmp_path / "fast.duckdb"))
    ingest_landing(landing, fast, "run")
    assert sorted(f for f in fast_files if f.endswith(".jsonl")) == ["a-nhsa.jsonl", "b-flat.jsonl", "i-values.jsonl"]

    monkeypatch.setattr(loader, "_stage_jsonl_in_duckdb", lambda *args: None)
    slow = duckdb.connect(str(tmp_path / "slow.duckdb"))
    ingest_landing(landing, slow, "run")
    got, expected = lake_contents(fast), lake_contents(slow)
    for table in expected:
        assert got[table] == expected[table], table
    extra = json.loads(fast.execute("select _extra from purchases where fixmedins_bchno = 'J2'").fetchone()[0])
    assert extra == {"msgid": "MJ2", "fixmedins_name": "医院", "memo": "备注\n“引号”", "rx_flag": "1"}
    assert fast.execute("select finl_trns_pric from purchases where fixmedins_bchno = 'J2'").fetchone()[0] == 41
    raw = json.loads(next(r[4] for r in got["quarantine"] if r[1] == "purchases/a-nhsa.jsonl" and r[2] == 4))
    assert raw["purc_retn_cnt"] == "-1" and raw["finl_trns_pric"] == "41.86"


def test_json_lines_read_with_the_first_records_header_give_what_the_full_header_gives(tmp_path, monkeypatch):
    """Issue 18: the Python reader takes the header from the first record and
    reads the file again with the full header only when a later record has
    another key, or the first lacks a required column."""
    from ingest import readers

    monkeypatch.setattr(loader, "JSONL_IN_DUCKDB", False)  # this is the Python reader's test
    landing = make_json_landing(tmp_path / "landing")
    lacking = [{k: v for k, v in _message("3503", "R1").items() if k != "fixmedins_code"}, _message("3503", "R2")]
    (landing / "purchases" / "i-first-lacks-a-required-key.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lacking), encoding="utf-8")
    guesses: dict[str, str] = {}
    original = readers.read_delivery

    def spy(path, feed, guess_header=False):
        delivery = original(path, feed, guess_header)
        if not guess_header:
            guesses[path.name] = "read again"
            return delivery

        def rows():
            try:
                yield from delivery.rows
            except readers.HeaderIncomplete:
                guesses[path.name] = "incomplete"
                raise
            guesses.setdefault(path.name, "kept")
        return readers.Delivery(delivery.format, delivery.encoding, delivery.header, rows())

    monkeypatch.setattr(loader, "read_delivery", spy)
    guessed = duckdb.connect(str(tmp_path / "guessed.duckdb"))
    ingest_landing(landing, guessed, "run")
    assert guesses["b-flat.jsonl"] == guesses["f-exponent.jsonl"] == "kept"
    assert guesses["a-nhsa.jsonl"] == "read again"  # J2 has keys J1 lacks (memo, rx_flag)
    assert guesses["i-first-lacks-a-required-key.jsonl"] == "read again"

    monkeypatch.setattr(loader, "read_delivery", lambda path, feed, guess_header=False: original(path, feed))
    full = duckdb.connect(str(tmp_path / "full.duckdb"))
    ingest_landing(landing, full, "run")
    got, expected = lake_contents(guessed), lake_contents(full)
    for table in expected:
        assert got[table] == expected[table], table
    assert any(r[1] == "purchases/i-first-lacks-a-required-key.jsonl" for r in got["quarantine"])


def test_json_lines_fast_path_leaves_a_line_over_the_limit_to_the_python_reader(tmp_path, monkeypatch):
    """DuckDB hands over each line's object without the white space around
    it; a line padded past YAOCAI_MAX_LINE_CHARS must still reject the file
    as the Python reader does, naming the line."""
    landing = make_json_landing(tmp_path / "landing")
    folder = landing / "purchases"
    for path in folder.iterdir():
        if path.name != "b-flat.jsonl":
            path.unlink()
    lines = (folder / "b-flat.jsonl").read_text(encoding="utf-8").splitlines()
    assert max(map(len, lines)) < 400
    (folder / "b-flat.jsonl").write_text(lines[0] + "\n" + " " * 500 + lines[1] + "\n", encoding="utf-8")
    monkeypatch.setenv("YAOCAI_MAX_LINE_CHARS", "600")
    con = duckdb.connect(str(tmp_path / "lake.duckdb"))
    report = ingest_landing(landing, con, "run")
    rejected = [f for f in report.files if f.source_file == "purchases/b-flat.jsonl"]
    assert [f.status for f in rejected] == ["rejected"]
    assert "line 2: longer than 600 characters" in rejected[0].message
