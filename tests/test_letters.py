"""Enquiry letters (yaocai/letters.py, `yaocai letter`): one DOCX per
addressee from the published findings, numbered, recorded in the review
history. Runs on a small publication written here with the columns of the
published interface the letters read (anomalies, upload_completeness,
purchase_lines, credit_evaluation_evidence, runs), so it needs no pipeline run.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from docx import Document

from ingest.lake import ensure_lake
from yaocai.cli import main as cli_main
from foundation.layout import Layout
from yaocai.letters import LetterError, write_letters

pytestmark = pytest.mark.slow  # LibreOffice and docx rendering

FINDINGS = [
    # anomaly_id, type, institution, product, month, excess, detail, review_status, suppressed
    ("AN-000000000000000A", "price_above_listed", "H1", "X1", "2026-03-01", 1286.70,
     "甲医院2026年3月采购丹红注射液高于挂网价，超挂网价金额1286.70元。", "open", False),
    ("AN-000000000000000B", "payment_overdue", "H1", None, "2026-05-01", 45000.00,
     "甲医院发票123456逾期回款，金额45000.00元。", "confirmed", False),
    ("AN-000000000000000C", "offplatform_listed", "H2", None, "2026-06-01", 20500.50,
     "乙医院2026年6月网下采购挂网产品20500.50元。", "open", False),
    ("AN-000000000000000D", "price_above_listed", "H2", "X1", "2026-07-01", 99.00,
     "乙医院已排除的发现。", "dismissed", True),
]


def _publication(warehouse: Path) -> Layout:
    layout = Layout(warehouse)
    layout.ensure()
    con = duckdb.connect(str(layout.published))
    con.execute("""create table anomalies (anomaly_id varchar, anomaly_type varchar, fixmedins_code varchar,
                   med_list_codg varchar, month date, supplier_name varchar, excess_amount decimal(18, 4),
                   detail varchar, review_status varchar, is_suppressed boolean, group_code varchar,
                   invoice_no varchar, category_group varchar, severity varchar, metric_value double, gap double)""")
    for f in FINDINGS:
        con.execute("insert into anomalies values (?, ?, ?, ?, ?, null, ?, ?, ?, ?, null, null, null, 'high', 1, 0.5)",
                    list(f))
    con.execute("create table upload_completeness as select * from (values ('H1', '甲医院'), ('H2', '乙医院')) "
                "t(fixmedins_code, fixmedins_name)")
    con.execute("create table purchase_lines as select 'X1' as med_list_codg, '丹红注射液' as generic_name")
    con.execute("""create table credit_evaluation_evidence as select 'CE-00000000000000S1' as evidence_id,
                   'supply_shortfall' as evidence_type, 'supplier' as party_type, '丙配送公司' as party_code,
                   '丙配送公司' as party_name, '2026-01,2026-02' as months, date '2026-02-01' as last_month,
                   cast(210000 as decimal(18, 2)) as amount, '丙配送公司在2个月配送率低于90%。' as detail,
                   '中等' as proposed_level, 2 as occurrences, 'open' as review_status""")
    con.execute("create table runs as select date '2026-10-31' as as_of, 'published' as status")
    con.close()
    lake = duckdb.connect(str(layout.lake))
    ensure_lake(lake)
    lake.close()
    return layout


def _text(path: Path) -> str:
    doc = Document(str(path))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    _publication(tmp_path / "wh")
    return tmp_path / "wh"


def test_letter_per_addressee_has_every_finding_and_figure_and_is_recorded(warehouse: Path) -> None:
    letters = write_letters(warehouse, ["AN-000000000000000A", "AN-000000000000000B", "AN-000000000000000C"],
                            by="王科长", bureau="某市医疗保障局", today=dt.date(2026, 11, 2), deadline_days=15)
    assert [(x.letter_no, x.addressee_code) for x in letters] == [("函询〔2026〕第0001号", "H1"),
                                                                  ("函询〔2026〕第0002号", "H2")]
    first = _text(letters[0].path)
    for needed in ("函询〔2026〕第0001号", "甲医院（H1）", "某市医疗保障局", "2026年10月31日", "2026年11月17日",
                   "AN-000000000000000A", "AN-000000000000000B", FINDINGS[0][6], FINDINGS[1][6],
                   "1,286.70", "45,000.00", "46,286.70", "丹红注射液", "超挂网价", "拖欠货款", "2026-03", "2026-05"):
        assert needed in first, needed
    assert "AN-000000000000000C" not in first
    second = _text(letters[1].path)
    for needed in ("乙医院（H2）", "AN-000000000000000C", FINDINGS[2][6], "20,500.50"):
        assert needed in second, needed

    lake = duckdb.connect(str(Layout(warehouse).lake), read_only=True)
    rows = lake.execute("""select anomaly_id, status, source, source_row, source_file, reason, reviewed_by
                           from anomaly_reviews order by review_no""").fetchall()
    lake.close()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("AN-000000000000000A", "enquiry", "letter", "函询〔2026〕第0001号"),
        ("AN-000000000000000B", "enquiry", "letter", "函询〔2026〕第0001号"),
        ("AN-000000000000000C", "enquiry", "letter", "函询〔2026〕第0002号")]
    assert rows[0][4] == letters[0].path.name and rows[0][5] == "函询函 函询〔2026〕第0001号：甲医院（H1）"
    assert rows[0][6] == "王科长"

    # numbers continue; batch forms leave out findings already asked about
    with pytest.raises(LetterError, match="already"):
        write_letters(warehouse, institution="H1", today=dt.date(2026, 11, 3))
    supplier = write_letters(warehouse, supplier="丙配送公司", today=dt.date(2026, 11, 3))
    assert [x.letter_no for x in supplier] == ["函询〔2026〕第0003号"]
    text = _text(supplier[0].path)
    assert "CE-00000000000000S1" in text and "210,000.00" in text and "断供" in text and "中等" in text


def test_unknown_or_dismissed_findings_write_nothing(warehouse: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["letter", "--warehouse", str(warehouse), "--finding", "AN-000000000000000A",
                     "--finding", "AN-NOPE"]) == 1
    assert "AN-NOPE" in capsys.readouterr().err
    with pytest.raises(LetterError, match="AN-000000000000000D"):
        write_letters(warehouse, ["AN-000000000000000D"])
    assert not list((warehouse / "letters").glob("函询*.docx"))
    lake = duckdb.connect(str(Layout(warehouse).lake), read_only=True)
    assert lake.execute("select count(*) from anomaly_reviews").fetchone()[0] == 0
    lake.close()


def test_edited_template_is_used(warehouse: Path) -> None:
    from docx import Document as NewDocument

    template = warehouse / "letters" / "template.docx"
    template.parent.mkdir(parents=True, exist_ok=True)
    doc = NewDocument()
    doc.add_paragraph("关于{{ addressee_name }}的专项函询 {{ letter_no }}，请于{{ reply_deadline }}前回复。")
    doc.add_paragraph("{% for f in findings %}{{ f.anomaly_id }}={{ f.amount }}；{% endfor %}")
    doc.save(str(template))
    (letter,) = write_letters(warehouse, institution="H2", today=dt.date(2026, 11, 2))
    text = _text(letter.path)
    assert "关于乙医院的专项函询 函询〔2026〕第0001号，请于2026年11月17日前回复。" in text
    assert "AN-000000000000000C=20,500.50；" in text


def test_letter_converts_to_pdf_and_renders(warehouse: Path, tmp_path: Path) -> None:
    if not (shutil.which("soffice") and shutil.which("pdftoppm")):
        # scripts/test.sh installs both; never skip the check silently in CI
        pytest.fail("LibreOffice (soffice) and poppler (pdftoppm) are missing: run scripts/test.sh, or "
                    "apt-get install libreoffice-writer-nogui poppler-utils")
    (letter,) = write_letters(warehouse, ["AN-000000000000000A"], today=dt.date(2026, 11, 2))
    out = tmp_path / "pdf"
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to", "pdf",
                    "--outdir", str(out), str(letter.path)], check=True, timeout=120, capture_output=True)
    (pdf,) = out.glob("*.pdf")
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(out / "page")],
                   check=True, timeout=60)
    (png,) = out.glob("page*.png")
    assert png.stat().st_size > 5_000  # a rendered page, not an empty image


def test_credit_evidence_is_reviewed_like_a_finding(warehouse: Path) -> None:
    from yaocai.reviews import ReviewError, mark

    recorded = mark(warehouse, "CE-00000000000000S1", "confirmed", by="王科长")
    assert recorded["anomaly_type"] == "credit_supply_shortfall" and recorded["severity_at_review"] == "中等"
    with pytest.raises(ReviewError):
        mark(warehouse, "CE-NOT-PUBLISHED", "confirmed", by="王科长")
