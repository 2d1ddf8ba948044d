"""Enquiry letters (函询函) from published findings (issue 16 part 6).

``yaocai letter --finding AN-… [--finding …]`` writes one DOCX letter per
addressee (the institution of the findings); ``--institution CODE`` takes
every open, reopened or confirmed finding of that institution;
``--supplier NAME`` writes a letter to a supplier about its credit evidence
(credit_evaluation_evidence: 断供). Letters are numbered 函询〔YEAR〕第NNNN号
in sequence across all letters of the year, rendered with docxtpl from the
template ``WAREHOUSE/letters/template.docx`` (written from
:func:`write_default_template` on first use; the bureau edits its wording
and layout in Word, keeping the placeholders listed in
docs/money-and-enforcement.md), and each finding of each letter is recorded
in the review history (lake table ``anomaly_reviews``) as an ``enquiry``
decision with source ``letter``, the letter number (source_row), the file
(source_file) and the addressee (reason). The publication's
``enquiry_letters`` table lists them after the next run.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from reports.labels import anomaly_title
from foundation.layout import Layout
from foundation.locking import warehouse_lock
from yaocai.reviews import (CLI_LOCK_WAIT_SECONDS, Decision, ReviewError, _insert, _lake, default_reviewer,
                            latest_reviews)

LETTER_SOURCE = "letter"
TEMPLATE_NAME = "template.docx"
DEFAULT_BUREAU = "医疗保障局"
EVIDENCE_TITLES = {"supply_shortfall": "断供（配送率低于要求）", "price_above_listed": "超挂网价",
                   "payment_overdue": "拖欠货款", "offplatform_listed": "网下采购挂网产品",
                   "vbp_nonwinning_substitution": "非中选产品替代"}
LETTERABLE = ("open", "reopened", "confirmed")  # batch forms take findings in these review states


class LetterError(ReviewError):
    pass


@dataclass
class Letter:
    letter_no: str
    addressee_code: str
    addressee_name: str
    path: Path
    findings: list[dict] = field(default_factory=list)

    @property
    def total_amount(self) -> float:
        return round(sum(f["amount_value"] for f in self.findings), 2)


def letters_dir(warehouse: Path) -> Path:
    return Path(warehouse).resolve() / "letters"


def write_default_template(path: Path) -> Path:
    """The default letter as a DOCX template with docxtpl placeholders."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = "SimSun"
    normal.font.size = Pt(12)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "宋体")

    def para(text: str, bold: bool = False, center: bool = False, size: int | None = None) -> None:
        p = doc.add_paragraph()
        run = p.add_run(text)
        run.bold = bold
        if size:
            run.font.size = Pt(size)
        if center:
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER

    para("{{ bureau }}", bold=True, center=True, size=16)
    para("函询函", bold=True, center=True, size=22)
    para("{{ letter_no }}", center=True)
    para("{{ addressee_name }}{% if addressee_code != addressee_name %}（{{ addressee_code }}）{% endif %}：")
    para("　　我局在医药价格和招采监测（数据截至{{ as_of }}）中发现贵单位存在以下{{ finding_count }}项情况，"
         "涉及金额合计{{ total_amount }}元，详见下表。根据医药价格和招采信用评价及定点协议管理的有关规定，"
         "请于{{ reply_deadline }}前书面说明有关情况、原因及整改措施，并附相关证明材料。逾期未回复的，"
         "我局将依规采取约谈、信用评价等措施。")
    table = doc.add_table(rows=4, cols=6)
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, ["编号", "类型", "月份", "产品/事项", "金额（元）", "情况说明"]):
        cell.text = text
    table.rows[1].cells[0].text = "{%tr for f in findings %}"
    for cell, text in zip(table.rows[2].cells, ["{{ f.anomaly_id }}", "{{ f.type_label }}", "{{ f.month }}",
                                                "{{ f.product }}", "{{ f.amount }}", "{{ f.detail }}"]):
        cell.text = text
    table.rows[3].cells[0].text = "{%tr endfor %}"
    table.autofit = False
    for row in table.rows:  # room for the evidence sentence
        for cell, width in zip(row.cells, (3.0, 2.0, 1.6, 2.4, 2.2, 6.8)):
            cell.width = Cm(width)
    para("")
    para("　　联系人：＿＿＿＿　　联系电话：＿＿＿＿")
    para("{{ bureau }}", center=False)
    para("{{ letter_date }}")
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    return path


def _published(layout: Layout) -> duckdb.DuckDBPyConnection:
    if not layout.published.exists():
        raise LetterError(f"no publication at {layout.published}: run the pipeline first")
    return duckdb.connect(str(layout.published), read_only=True)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _finding_rows(con: duckdb.DuckDBPyConnection, where: str, params: list) -> list[dict]:
    # institution names: anomalies carry none, so take them from a table that has every institution
    names = {r[0]: r[1] for r in con.execute(
        "select fixmedins_code, any_value(fixmedins_name) from upload_completeness "
        "where fixmedins_code in (select fixmedins_code from anomalies) group by all").fetchall()}
    rows = _rows(con, f"""
        select a.anomaly_id, a.anomaly_type, a.fixmedins_code, a.month, a.supplier_name,
               cast(a.excess_amount as double) as amount_value, a.detail, a.review_status, a.is_suppressed,
               coalesce(p.generic_name, a.group_code, a.invoice_no, a.category_group, '') as product
        from anomalies a
        left join (select med_list_codg, any_value(generic_name) as generic_name from purchase_lines
                   where med_list_codg in (select med_list_codg from anomalies) group by all) p using (med_list_codg)
        where {where}
        order by a.fixmedins_code, a.month, a.anomaly_id""", params)
    for row in rows:
        row["addressee_code"] = row["fixmedins_code"]
        row["addressee_name"] = names.get(row["fixmedins_code"], row["fixmedins_code"])
        row["type_label"] = anomaly_title(row["anomaly_type"])
    return rows


def _evidence_rows(con: duckdb.DuckDBPyConnection, supplier: str) -> list[dict]:
    rows = _rows(con, """
        select evidence_id as anomaly_id, evidence_type, party_code, party_name, months, last_month as month,
               cast(amount as double) as amount_value, detail, proposed_level
        from credit_evaluation_evidence where party_type = 'supplier' and party_code = ?
        order by evidence_type""", [supplier])
    for row in rows:
        row["addressee_code"] = supplier
        row["addressee_name"] = row["party_name"] or supplier
        row["type_label"] = EVIDENCE_TITLES.get(row["evidence_type"], row["evidence_type"])
        row["product"] = f"涉及月份 {row['months']}；建议等级 {row['proposed_level'] or '—'}"
    return rows


def select_findings(warehouse: Path, finding_ids: list[str] | None = None, institution: str | None = None,
                    supplier: str | None = None) -> tuple[list[dict], dt.date | None]:
    """The findings a letter command asks for, with their addressee. Raises
    LetterError naming every id that is not in the publication or dismissed."""
    layout = Layout(Path(warehouse).resolve())
    con = _published(layout)
    try:
        as_of = con.execute("select max(as_of) from runs where status = 'published'").fetchone()[0]
        if finding_ids:
            ids = [i.strip() for i in finding_ids if i.strip()]
            rows = _finding_rows(con, "a.anomaly_id in (select unnest(?))", [ids])
            found = {r["anomaly_id"] for r in rows}
            missing = [i for i in ids if i not in found]
            if missing:
                raise LetterError("异常编号不在当前发布中 / not in the current publication: " + ", ".join(missing))
            dismissed = [r["anomaly_id"] for r in rows if r["is_suppressed"]]
            if dismissed:
                raise LetterError("已排除的异常不能发函 / dismissed findings: " + ", ".join(dismissed))
            without = [r["anomaly_id"] for r in rows if not r["fixmedins_code"]]
            if without:
                raise LetterError("这些异常没有对应的医疗机构，无法确定收函单位 / no institution to address: "
                                  + ", ".join(without))
            return rows, as_of
        if institution:
            rows = _finding_rows(con, "a.fixmedins_code = ? and not a.is_suppressed and a.review_status in "
                                      f"({', '.join(repr(s) for s in LETTERABLE)})", [institution.strip().upper()])
            if not rows:
                raise LetterError(f"机构 {institution} 没有待函询的异常 / no open or confirmed findings")
            return rows, as_of
        if supplier:
            rows = _evidence_rows(con, supplier.strip())
            if not rows:
                raise LetterError(f"配送企业 {supplier} 没有信用评价证据 / no credit evaluation evidence")
            return rows, as_of
        raise LetterError("give --finding, --institution or --supplier")
    finally:
        con.close()


def _next_numbers(con: duckdb.DuckDBPyConnection, year: int, count: int) -> list[str]:
    used = [r[0] for r in con.execute("select distinct source_row from anomaly_reviews where source = ?",
                                      [LETTER_SOURCE]).fetchall() if r[0]]
    prefix = f"函询〔{year}〕第"
    numbers = [int(m.group(1)) for u in used if (m := re.fullmatch(re.escape(prefix) + r"(\d+)号", u))]
    start = max(numbers, default=0) + 1
    return [f"{prefix}{n:04d}号" for n in range(start, start + count)]


def _money(value: float | None) -> str:
    return f"{value or 0:,.2f}"


def write_letters(warehouse: Path, finding_ids: list[str] | None = None, institution: str | None = None,
                  supplier: str | None = None, deadline_days: int = 15, by: str | None = None,
                  bureau: str | None = None, today: dt.date | None = None,
                  wait_seconds: float = CLI_LOCK_WAIT_SECONDS) -> list[Letter]:
    """Write one DOCX per addressee and record the findings as 'enquiry' decisions."""
    from docxtpl import DocxTemplate

    layout = Layout(Path(warehouse).resolve())
    rows, as_of = select_findings(warehouse, finding_ids, institution, supplier)
    today = today or dt.date.today()
    by = by or default_reviewer()
    out = letters_dir(warehouse)
    template = out / TEMPLATE_NAME
    if not template.exists():
        write_default_template(template)
    by_addressee: dict[str, list[dict]] = {}
    for row in rows:
        by_addressee.setdefault(row["addressee_code"], []).append(row)
    layout.ensure()
    letters: list[Letter] = []
    with warehouse_lock(layout.lock, "yaocai letter", wait_seconds=wait_seconds):
        con = _lake(layout, wait_seconds=wait_seconds)
        try:
            if not finding_ids:
                # batch forms leave out what an earlier letter already asked about
                asked = {k for k, v in latest_reviews(con).items() if v["status"] == "enquiry"}
                by_addressee = {code: kept for code, found in by_addressee.items()
                                if (kept := [f for f in found if f["anomaly_id"] not in asked])}
                rows = [f for found in by_addressee.values() for f in found]
                if not rows:
                    raise LetterError("每项都已发过函询函 / every finding was already sent in a letter")
            numbers = _next_numbers(con, today.year, len(by_addressee))
            decisions: list[Decision] = []
            for number, (code, findings) in zip(numbers, sorted(by_addressee.items())):
                name = findings[0]["addressee_name"]
                safe = re.sub(r"[^\w\u4e00-\u9fff-]+", "_", f"{number}_{code}")
                letter = Letter(number, code, name, out / f"{safe}.docx", findings)
                doc = DocxTemplate(str(template))
                doc.render({
                    "letter_no": number, "addressee_code": code, "addressee_name": name,
                    "bureau": bureau or DEFAULT_BUREAU, "as_of": as_of.strftime("%Y年%m月%d日") if as_of else "",
                    "reply_deadline": (today + dt.timedelta(days=deadline_days)).strftime("%Y年%m月%d日"),
                    "letter_date": today.strftime("%Y年%m月%d日"), "finding_count": len(findings),
                    "total_amount": _money(letter.total_amount),
                    "findings": [{"anomaly_id": f["anomaly_id"], "type_label": f["type_label"],
                                  "month": f["month"].strftime("%Y-%m") if f.get("month") else "",
                                  "product": f.get("product") or "", "amount": _money(f["amount_value"]),
                                  "detail": f.get("detail") or ""} for f in findings],
                })
                doc.save(str(letter.path))
                letters.append(letter)
                reason = f"函询函 {number}：{name}（{code}）"
                decisions += [Decision(f["anomaly_id"], "enquiry", reason, by, source=LETTER_SOURCE,
                                       source_file=letter.path.name, source_row=number) for f in findings]
            published = {f["anomaly_id"]: {"anomaly_type": f.get("anomaly_type") or f.get("evidence_type"),
                                           "excess_amount": f["amount_value"]} for f in rows}
            _insert(con, decisions, published, as_of, run_id=None)
        finally:
            con.close()
    return letters
