"""What pricing officers see and do (issue 7): the per-run Excel workbook and
HTML report, the review round trip that survives re-runs, one-line step
results, the dbt docs, and the README's query cookbook.

One small demo warehouse for the module: run 1 publishes and reports; the
tests read it; then an officer's workbook goes into review_inbox/ together
with a delivery that makes one dismissed finding materially worse, another
officer records a decision with the CLI, and run 2 (a full rebuild) must
show every decision, keep the dismissed finding suppressed, and reopen the
worse one.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from openpyxl import load_workbook

from yaocai_demo import generate_demo_landing

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
YAOCAI = str(Path(sys.executable).with_name("yaocai"))
AS_OF = dt.date(2026, 10, 31)
STEPS = ("ingest", "reviews", "dbt build", "gate", "publish", "reports")


def yaocai(*args: str, **env: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([YAOCAI, *args], capture_output=True, text=True, env={**os.environ, **env})


def query(db: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    root = tmp_path_factory.mktemp("officers")
    landing, warehouse = root / "landing", root / "warehouse"
    generate_demo_landing(landing, purchase_lines=4000, as_of=AS_OF)
    completed = yaocai("run", "--landing", str(landing), "--warehouse", str(warehouse), "--as-of", AS_OF.isoformat(),
                       "--quiet")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report_dir = warehouse / "reports" / AS_OF.isoformat()
    return {"root": root, "landing": landing, "warehouse": warehouse, "stdout": completed.stdout,
            "published": warehouse / "yaocai.duckdb", "xlsx": report_dir / f"yaocai-{AS_OF}.xlsx",
            "html": report_dir / f"yaocai-{AS_OF}.html"}


# --- run output ------------------------------------------------------------

def test_every_step_prints_a_one_line_result(wh):
    lines = wh["stdout"].splitlines()
    for step in STEPS:
        matching = [line for line in lines if line.startswith(f"{step}: ")]
        assert len(matching) == 1, (step, wh["stdout"])
        assert re.search(r"\(\d+\.\ds\)$", matching[0]), matching[0]
    text = wh["stdout"]
    assert re.search(r"ingest: \d+ new files, [\d,]+ rows → [\d,]+ loaded, [\d,]+ quarantined", text)
    assert re.search(r"dbt build: full rebuild \([^)]*\); \d+ nodes ok \(\d+ models/seeds, \d+ tests\); docs generated", text)
    assert re.search(r"gate: passed, \d+ warnings?", text)
    assert "yaocai-2026-10-31.xlsx" in text and "yaocai-2026-10-31.html" in text


def test_dbt_docs_are_copied_next_to_the_publication(wh):
    docs = wh["warehouse"] / "docs"
    for name in ("index.html", "manifest.json", "catalog.json", "static_index.html"):
        assert (docs / name).stat().st_size > 1000, name
    assert "anomalies" in (docs / "catalog.json").read_text()
    assert "review_status" in (docs / "manifest.json").read_text()


# --- the workbook ------------------------------------------------------------

def test_workbook_sheets_headers_formats_filters(wh):
    wb = load_workbook(wh["xlsx"])
    names = wb.sheetnames
    assert names[0] == "概览"
    for sheet in ("超挂网价", "价格高于同类机构", "集采进度滞后", "网采率低于目标", "已排除", "集采进度（机构）",
                  "网采率（机构）", "使用说明"):
        assert sheet in names, names
    published = query(wh["published"], "select anomaly_type, count(*) n from anomalies group by 1")
    for ws in wb.worksheets:
        if ws.title == "使用说明":
            continue
        header = [c.value for c in ws[1]]
        assert all(re.search(r"[\u4e00-\u9fff]", h) for h in header), (ws.title, header)  # Chinese headers
        assert ws.freeze_panes == "A2", ws.title
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), ws.title
        for letter, dim in ws.column_dimensions.items():
            assert 4 <= dim.width <= 72, (ws.title, letter, dim.width)
    # every finding of the publication is on its type's sheet (none suppressed yet)
    assert wb["超挂网价"].max_row - 1 == int(published.set_index("anomaly_type").loc["price_above_listed", "n"])
    ws = wb["超挂网价"]
    header = [c.value for c in ws[1]]
    row = {h: c for h, c in zip(header, ws[2])}
    assert row["高出比例"].number_format == "0.00%"
    assert row["超挂网价金额（元）"].number_format == "#,##0.00"
    assert row["挂网价（元/最小单位）"].number_format == "#,##0.0000"
    assert row["状态"].value == "待处理"
    assert ws.column_dimensions[row["原状态"].column_letter].hidden
    assert any("待处理" in dv.formula1 and "已排除" in dv.formula1 for dv in ws.data_validations.dataValidation)
    detail_width = ws.column_dimensions[row["异常描述（函询用语）"].column_letter].width
    assert detail_width >= 40 and row["异常描述（函询用语）"].alignment.wrap_text
    vbp = wb["集采进度（机构）"]
    vbp_header = [c.value for c in vbp[1]]
    assert vbp.cell(row=2, column=vbp_header.index("完成率") + 1).number_format == "0.00%"
    summary = wb["概览"]
    indicators = {summary.cell(row=r, column=3).value for r in range(2, summary.max_row + 1)}
    assert {"网采率（年初至今）", "集采约定量完成率（当前协议期）", "价格偏离指数 PDI（当月）", "今日异常线索"} <= indicators
    # The prepayment sheet lists the open prepayments; the guide says the covered ones are left out.
    prepayments = query(wh["published"], "select prepayment_status, count(*) n from settlement_prepayment group by 1")
    by_status = dict(zip(prepayments["prepayment_status"], prepayments["n"]))
    assert by_status.get("covered", 0) > 0, by_status  # the demo has some, or this check proves nothing
    assert wb["集采预付"].max_row - 1 == sum(n for status, n in by_status.items() if status != "covered")
    guide = {row[0].value: row[1].value for row in wb["使用说明"].iter_rows(min_row=1)}
    assert f"全部 {sum(by_status.values())} 行" in guide["集采预付"], guide.get("集采预付")


def test_findings_carry_the_product_names_their_lines_have(wh):
    """The report names products from price_spec_normalisation, not by
    grouping every purchase line (issue 18); the names must be the lines'."""
    from reports.data import load

    anomalies = load(wh["published"]).anomalies
    with_product = anomalies[anomalies["med_list_codg"].notna()]
    assert len(with_product) > 0
    lines = query(wh["published"], "select distinct med_list_codg, generic_name, min_unit from purchase_lines")
    assert not lines["med_list_codg"].duplicated().any()  # one name per product, or the comparison proves nothing
    merged = with_product.merge(lines, on="med_list_codg", how="left", suffixes=("", "_of_lines"))
    assert merged["generic_name_of_lines"].notna().all()
    assert (merged["generic_name"] == merged["generic_name_of_lines"]).all()
    assert (merged["min_unit"].fillna("") == merged["min_unit_of_lines"].fillna("")).all()  # a unit may be unset


def test_every_export_neutralises_formula_text(wh, tmp_path):
    """Hostile text from uploads (institution names, details) never becomes a formula."""
    from reports.data import load
    from reports.safe import neutralise, unneutralise, write_csv
    from reports.workbook import build_workbook

    for text in ("=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"):
        assert neutralise(text) == "'" + text and unneutralise(neutralise(text)) == text
    assert neutralise("正常文本") == "正常文本" and neutralise(-5) == -5 and neutralise(float("nan")) is None

    copy = tmp_path / "hostile.duckdb"
    shutil.copyfile(wh["published"], copy)
    con = duckdb.connect(str(copy))
    code = con.execute("select fixmedins_code from anomalies order by anomaly_id limit 1").fetchone()[0]
    con.execute("update purchase_lines set fixmedins_name = '=HYPERLINK(\"http://evil\",\"x\")' where fixmedins_code = ?", [code])
    con.execute("update vbp_completion set fixmedins_name = '@SUM(1+1)*cmd' where fixmedins_code = ?", [code])
    con.execute("update anomalies set detail = '+cmd|'' /C calc''!A0', review_reason = '-2+3' where fixmedins_code = ?", [code])
    con.close()
    path = build_workbook(load(copy), tmp_path / "hostile.xlsx")
    wb = load_workbook(path)
    seen_neutralised = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(("=", "+", "-", "@", "\t", "\r")), (ws.title, cell.coordinate)
                    seen_neutralised += cell.value.startswith("'")
    assert seen_neutralised >= 3

    out = write_csv(tmp_path / "x.csv", ["名称", "金额"], [["=1+1", 3.5], ["ok", None]])
    rows = list(csv.reader(out.open(encoding="utf-8-sig")))
    assert rows == [["名称", "金额"], ["'=1+1", "3.5"], ["ok", ""]]


# --- the HTML report -----------------------------------------------------------

def test_html_report_is_one_self_contained_file(wh):
    html = wh["html"].read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "<link" not in html.lower() and "@import" not in html
    assert "url(" not in html and not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert html.count("<svg") >= 5
    # the price index when the publication has one, else monthly PDI with a note saying why
    assert "价格指数表 price_index" in html or ("尚无价格指数表" in html and "价格偏离指数（PDI）" in html)
    published = query(wh["published"], "select anomaly_id, detail from anomalies")
    top = published["anomaly_id"].tolist()
    assert sum(anomaly_id in html for anomaly_id in top) >= min(len(top), 10)
    assert "Noto Sans CJK SC" in html and "Microsoft YaHei" in html


def test_html_report_renders_in_headless_chromium(wh, tmp_path):
    """Opened in Chromium: no console error, nothing fetched from the network,
    Chinese in a CJK font, and every chart painted (many colours)."""
    from tests.browser import ChromiumMissing, render

    try:
        page = render(wh["html"], tmp_path / "report.png", width=1400, height=3000)
    except ChromiumMissing as exc:
        pytest.fail(str(exc))  # CI must install it (scripts/test.sh): never skip this check
    assert page.console_errors == []
    assert page.external_requests == []
    assert any("CJK" in f or "Hei" in f or "Han" in f for f in page.cjk_fonts), page.cjk_fonts
    assert page.screenshot.stat().st_size > 50_000
    assert len(page.charts) >= 5, page.charts
    for chart in page.charts:
        assert chart["width"] > 300 and chart["height"] > 150, chart
        assert chart["colours"] >= 40, chart  # a blank or failed chart paints one or two colours


def test_browser_check_catches_errors_and_network(tmp_path):
    from tests.browser import ChromiumMissing, render

    page_file = tmp_path / "bad.html"
    page_file.write_text('<html><body><svg class="chart" width="400" height="200"></svg>'
                         '<img src="http://192.0.2.1/x.png"><script>throw new Error("boom")</script></body></html>')
    try:
        page = render(page_file, tmp_path / "bad.png", width=800, height=600)
    except ChromiumMissing as exc:
        pytest.fail(str(exc))
    assert any("boom" in e for e in page.console_errors), page.console_errors
    assert page.external_requests == ["http://192.0.2.1/x.png"]
    assert page.charts[0]["colours"] <= 2


def test_price_index_table_is_charted_when_published(wh, tmp_path):
    from reports.data import load
    from reports.html import render_html

    copy = tmp_path / "with_index.duckdb"
    shutil.copyfile(wh["published"], copy)
    con = duckdb.connect(str(copy))
    con.execute("drop table if exists price_index")
    con.execute("""create table price_index as
                   select region_level, admdvs, category_group, month,
                          100 * exp(sum(ln(pdi)) over (partition by admdvs, category_group order by month)) as index_value
                   from (select 'city' as region_level, left(admdvs, 4) || '00' as admdvs, month, category_group,
                                avg(pdi) as pdi
                         from price_deviation_index where pdi > 0 group by all)""")
    con.close()
    html = render_html(load(copy))
    assert "价格指数表 price_index" in html and "基期 = 100" in html and "药品：价格指数" in html
    assert "尚无价格指数表" not in html


# --- README cookbook -----------------------------------------------------------

def test_readme_cookbook_queries_run_on_the_publication(wh):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Query cookbook", 1)[1]
    blocks = re.findall(r"```sql\n(.*?)```", section, flags=re.S)
    statements = [s.strip() for block in blocks for s in block.split(";") if s.strip() and
                  any(not line.strip().startswith("--") for line in s.strip().splitlines())]
    assert len(statements) == 5, statements
    con = duckdb.connect(str(wh["published"]), read_only=True)
    try:
        results = [con.execute(sql).df() for sql in statements]
    finally:
        con.close()
    # the ones that look for something the demo plants must find it
    assert not results[2].empty and not results[4].empty, results


# --- reviews: failures that record nothing ---------------------------------------

def _set_review(ws, anomaly_id: str, status: str, reason: str | None = None, by: str | None = None) -> None:
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[header.index("异常编号")].value == anomaly_id:
            row[header.index("状态")].value = status
            row[header.index("说明")].value = reason
            row[header.index("处理人")].value = by
            return
    raise AssertionError(f"{anomaly_id} not on sheet {ws.title}")


def test_bad_review_workbook_is_kept_with_its_errors_and_nothing_recorded(wh, tmp_path):
    from yaocai.reviews import process_inbox

    published = query(wh["published"], "select anomaly_id, anomaly_type from anomalies order by anomaly_id")
    price = published[published["anomaly_type"] == "price_above_listed"]["anomaly_id"].tolist()
    wb = load_workbook(wh["xlsx"])
    _set_review(wb["超挂网价"], price[0], "已确认", "核实属实", "王五")        # fine on its own
    _set_review(wb["超挂网价"], price[1], "已排除", None, "王五")              # dismissed without a reason
    _set_review(wb["网采率低于目标"], wb["网采率低于目标"]["A2"].value, "搁置")  # unknown status
    inbox = wh["warehouse"] / "review_inbox"
    inbox.mkdir(exist_ok=True)
    wb.save(inbox / "bad.xlsx")
    (inbox / "notes.csv").write_text("异常编号,状态\n", encoding="utf-8")  # saved in the wrong format

    outcome = process_inbox(wh["warehouse"], run_id="test")
    assert [(w.file, w.status) for w in outcome.workbooks] == [("bad.xlsx", "needs_fix"), ("notes.csv", "needs_fix")]
    assert outcome.decisions == 0 and "另存为 .xlsx" in outcome.workbooks[1].problems[0]
    assert not (inbox / "bad.xlsx").exists()
    kept = list((inbox / "needs_fix").glob("*_bad.xlsx"))
    errors = list((inbox / "needs_fix").glob("*_bad.xlsx.errors.txt"))
    assert len(kept) == 1 and len(errors) == 1
    text = errors[0].read_text(encoding="utf-8")
    assert "已排除必须填写说明" in text and "搁置" in text and price[1] in text and "超挂网价!" in text
    assert price[0] not in text  # the good row is not a problem, but was not recorded either
    assert "needs_fix" in outcome.line() and "NOT APPLIED" in outcome.line()
    reviews = query(wh["warehouse"] / "state" / "lake.duckdb", "select * from anomaly_reviews")
    assert reviews.empty
    shutil.rmtree(inbox / "needs_fix")


def test_cli_mark_rejects_what_it_cannot_record(wh, capsys):
    from yaocai.cli import main

    warehouse = str(wh["warehouse"])
    some_id = query(wh["published"], "select min(anomaly_id) id from anomalies")["id"][0]
    assert main(["review", "mark", some_id, "--status", "dismissed", "--warehouse", warehouse]) == 1
    assert "reason" in capsys.readouterr().err
    assert main(["review", "mark", "AN-0000000000000000", "--status", "confirmed", "--warehouse", warehouse]) == 1
    assert "not in the current publication" in capsys.readouterr().err
    assert main(["review", "mark", some_id, "--status", "maybe", "--warehouse", warehouse]) == 1
    assert "unknown status" in capsys.readouterr().err
    assert query(wh["warehouse"] / "state" / "lake.duckdb", "select count(*) n from anomaly_reviews")["n"][0] == 0


def test_reports_failure_keeps_the_publication_and_is_recorded(wh, monkeypatch):
    import reports.build
    from yaocai.cli import main
    from yaocai.pipeline import ReportsFailed, RunContext, reports_step

    digest = (wh["published"]).read_bytes()
    run_id = query(wh["published"], "select max(run_id) r from runs")["r"][0]
    ctx = RunContext(str(wh["landing"]), str(wh["warehouse"]), AS_OF.isoformat(), run_id)

    def broken(_warehouse):
        raise OSError("disk full")

    monkeypatch.setattr(reports.build, "generate_reports", broken)
    with pytest.raises(ReportsFailed, match="disk full"):
        reports_step(ctx)
    assert wh["published"].read_bytes() == digest
    status, message = query(wh["warehouse"] / "state" / "lake.duckdb",
                            "select status, message from runs where run_id = ?", [run_id]).iloc[0]
    assert status == "published" and "reports failed" in message and "disk full" in message

    import yaocai.pipeline

    def run_then_fail_reports(*args, **kwargs):
        raise ReportsFailed("published, but the reports failed: OSError: disk full")

    monkeypatch.setattr(yaocai.pipeline, "run_pipeline", run_then_fail_reports)
    assert main(["run", "--landing", str(wh["landing"]), "--warehouse", str(wh["warehouse"]),
                 "--as-of", AS_OF.isoformat(), "--quiet"]) == 4


# --- reviews: the round trip ------------------------------------------------------

def _worse_delivery(warehouse: Path, landing: Path, anomaly: pd.Series) -> None:
    """A new purchases file: the same institution buys the same product in the
    same month again, in bulk, at three times the listed price."""
    con = duckdb.connect(str(warehouse / "state" / "lake.duckdb"), read_only=True)
    try:
        line = con.execute(
            """select p.* exclude (_file_id, _source_file, _row_number, _extra) from purchases p
               where fixmedins_code = ? and med_list_codg = ? and infno = '3503'
                 and date_trunc('month', purc_retn_stoin_time) = ? and finl_trns_pric is not null
               order by fixmedins_bchno limit 1""",
            [anomaly["fixmedins_code"], anomaly["med_list_codg"], anomaly["month"]]).df().iloc[0].to_dict()
        listed = con.execute("""select listed_price from listed_prices where med_list_codg = ?
                                order by valid_from desc limit 1""", [anomaly["med_list_codg"]]).fetchone()[0]
    finally:
        con.close()
    price = round(float(listed) * 3, 2)
    # in bulk, but under 1 million yuan for the line (amounts are DECIMAL(18, 4) products)
    line.update(fixmedins_bchno="WORSE000000001", finl_trns_pric=price, purc_retn_cnt=max(1, min(500, int(900_000 // price))),
                purc_invo_no="WORSE-INV")
    frame = pd.DataFrame([line])
    for column in frame.columns:
        if frame[column].dtype.kind == "M":
            frame[column] = frame[column].dt.strftime("%Y-%m-%d %H:%M:%S" if column == "purc_retn_stoin_time" else "%Y-%m-%d")
    frame.to_csv(landing / "purchases" / "zz-worse.csv", index=False)


@pytest.fixture(scope="module")
def round_trip(wh):
    """Officer marks three findings in the workbook, another confirms one with
    the CLI, a worse delivery arrives; run 2."""
    published = query(wh["published"], "select * from anomalies order by anomaly_id")
    price = published[published["anomaly_type"] == "price_above_listed"].reset_index(drop=True)
    lagging = published[published["anomaly_type"] == "vbp_lagging"].reset_index(drop=True)
    ratio = published[published["anomaly_type"] == "platform_ratio_below_target"].reset_index(drop=True)
    assert len(price) >= 2 and len(lagging) >= 1 and len(ratio) >= 1, published["anomaly_type"].value_counts()
    stays, worsens, enquiry, by_cli = price.iloc[0], price.iloc[1], lagging.iloc[0], ratio.iloc[0]

    wb = load_workbook(wh["xlsx"])
    _set_review(wb["超挂网价"], stays["anomaly_id"], "已排除", "合同约定价，已核实", "张三")
    _set_review(wb["超挂网价"], worsens["anomaly_id"], "已排除", "一次性紧急采购", "张三")
    _set_review(wb["集采进度滞后"], enquiry["anomaly_id"], "已函询", "已发函询 2026-11-02", "李四")
    inbox = wh["warehouse"] / "review_inbox"
    inbox.mkdir(exist_ok=True)
    wb.save(inbox / "复核-张三.xlsx")
    _worse_delivery(wh["warehouse"], wh["landing"], worsens)

    warehouse = str(wh["warehouse"])
    marked = yaocai("review", "mark", by_cli["anomaly_id"], "--status", "confirmed", "--reason", "函询回复不充分",
                    "--by", "李四", "--warehouse", warehouse)
    assert marked.returncode == 0, marked.stderr
    assert "recorded #1" in marked.stdout
    pending = yaocai("review", "list", "--status", "confirmed", "--warehouse", warehouse)

    completed = yaocai("run", "--landing", str(wh["landing"]), "--warehouse", warehouse,
                       "--as-of", AS_OF.isoformat(), "--quiet")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return {"stays": stays, "worsens": worsens, "enquiry": enquiry, "by_cli": by_cli, "stdout": completed.stdout,
            "pending": pending.stdout}


def test_workbook_decisions_are_applied_by_the_next_run(wh, round_trip):
    assert re.search(r"reviews: 1 workbook, 3 decisions recorded", round_trip["stdout"]), round_trip["stdout"]
    inbox = wh["warehouse"] / "review_inbox"
    assert not (inbox / "复核-张三.xlsx").exists()
    assert len(list((inbox / "processed").glob("*_复核-张三.xlsx"))) == 1
    reviews = query(wh["warehouse"] / "state" / "lake.duckdb", "select * from anomaly_reviews order by review_no")
    assert list(reviews["source"]) == ["cli", "workbook", "workbook", "workbook"]
    stays = reviews[reviews["anomaly_id"] == round_trip["stays"]["anomaly_id"]].iloc[0]
    assert stays["reviewed_by"] == "张三" and stays["reason"] == "合同约定价，已核实"
    assert stays["gap_at_review"] == pytest.approx(round_trip["stays"]["gap"])
    assert stays["severity_at_review"] == round_trip["stays"]["severity"]
    assert stays["source_row"].startswith("超挂网价!")


def test_dismissed_is_suppressed_worse_is_reopened_enquiry_shown(wh, round_trip):
    anomalies = query(wh["published"], "select * from anomalies").set_index("anomaly_id")
    stays = anomalies.loc[round_trip["stays"]["anomaly_id"]]
    assert (stays["review_status"], bool(stays["is_suppressed"])) == ("dismissed", True)
    assert stays["review_reason"] == "合同约定价，已核实" and stays["reviewed_by"] == "张三"
    worse = anomalies.loc[round_trip["worsens"]["anomaly_id"]]
    assert worse["gap"] > round_trip["worsens"]["gap"] * 1.2
    assert (worse["review_status"], bool(worse["is_suppressed"])) == ("reopened", False)
    enquiry = anomalies.loc[round_trip["enquiry"]["anomaly_id"]]
    assert (enquiry["review_status"], bool(enquiry["is_suppressed"])) == ("enquiry", False)
    by_cli = anomalies.loc[round_trip["by_cli"]["anomaly_id"]]
    assert (by_cli["review_status"], by_cli["reviewed_by"], by_cli["review_reason"]) == ("confirmed", "李四", "函询回复不充分")
    untouched = anomalies.drop(index=[round_trip[k]["anomaly_id"] for k in ("stays", "worsens", "enquiry", "by_cli")])
    assert set(untouched["review_status"]) == {"open"} and not untouched["is_suppressed"].any()

    # today's lists leave the suppressed one out; the 已排除 sheet keeps it
    wb = load_workbook(wh["xlsx"])
    listed = {c.value for c in wb["超挂网价"]["A"]}
    assert round_trip["stays"]["anomaly_id"] not in listed and round_trip["worsens"]["anomaly_id"] in listed
    assert round_trip["stays"]["anomaly_id"] in {c.value for c in wb["已排除"]["A"]}
    header = [c.value for c in wb["超挂网价"][1]]
    reopened_row = next(r for r in wb["超挂网价"].iter_rows(min_row=2) if r[0].value == round_trip["worsens"]["anomaly_id"])
    assert reopened_row[header.index("状态")].value == "重新打开"
    html = wh["html"].read_text(encoding="utf-8")
    assert round_trip["stays"]["anomaly_id"] not in html and round_trip["worsens"]["anomaly_id"] in html
    assert "重新打开" in html and "已排除的线索未列出" in html


def test_cli_list_history_and_export(wh, round_trip, tmp_path):
    warehouse = str(wh["warehouse"])
    by_cli = round_trip["by_cli"]["anomaly_id"]
    # before run 2 the CLI decision was pending (recorded, not yet in the publication)
    assert by_cli in round_trip["pending"] and "*" in round_trip["pending"] and "1 findings" in round_trip["pending"]
    listed = yaocai("review", "list", "--status", "dismissed", "--warehouse", warehouse)
    assert round_trip["stays"]["anomaly_id"] in listed.stdout and "*" not in listed.stdout
    exported = yaocai("review", "list", "--csv", str(tmp_path / "reviews.csv"), "--warehouse", warehouse)
    assert exported.returncode == 0
    rows = {r["anomaly_id"]: r for r in csv.DictReader((tmp_path / "reviews.csv").open(encoding="utf-8-sig"))}
    assert rows[by_cli]["effective_status"] == "confirmed" and rows[round_trip["stays"]["anomaly_id"]]["is_suppressed"] == "true"
    history = yaocai("review", "history", round_trip["stays"]["anomaly_id"], "--warehouse", warehouse)
    assert "dismissed" in history.stdout and "via workbook 复核-张三.xlsx" in history.stdout and "张三" in history.stdout

    # the same workbook dropped again is recognised and not applied twice
    from yaocai.reviews import process_inbox

    processed = next((wh["warehouse"] / "review_inbox" / "processed").glob("*_复核-张三.xlsx"))
    shutil.copyfile(processed, wh["warehouse"] / "review_inbox" / "again.xlsx")
    outcome = process_inbox(wh["warehouse"], run_id="test")
    assert [w.status for w in outcome.workbooks] == ["already_applied"] and outcome.decisions == 0
