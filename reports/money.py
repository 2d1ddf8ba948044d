"""Money and enforcement tables in the officers' outputs (issue 16):
直接结算, 预付, 结余留用, 支付标准, 信用评价 and the 函询 register.

``write_money_sheets`` adds one workbook sheet per table (called from
reports.workbook.build_workbook); ``money_section`` is the HTML report's
section (called from reports.html.render_html). Both read the publication
through :func:`load_money`, with bounded row counts (lists are sorted so the
rows an officer acts on come first). A publication without these tables
(older than issue 16) gives empty sheets and a one-line section.
Definitions: docs/money-and-enforcement.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from reports.labels import city_name

MAX_SHEET_ROWS = 20_000
TOP_HTML_ROWS = 10

SETTLEMENT_STATUS = {"settled_on_time": "按期结算", "settled_late": "逾期结算", "unsettled_overdue": "逾期未结算",
                     "unsettled_not_due": "未到期"}
PARTY = {"fund": "医保基金直接结算", "institution": "医疗机构"}
PREPAYMENT_STATUS = {"to_recover": "应追回", "ahead": "采购远超序时进度", "covered": "已冲抵", "in_progress": "冲抵中"}
RETENTION_STATUS = {"granted": "同意留用", "pending": "待协议期结束", "refused": "不予留用"}
CONDITIONS = {"period_not_ended": "协议期未结束", "completion_below_min": "约定采购量未完成",
              "offplatform_findings": "存在未解决的网下采购线索", "substitution_findings": "存在未解决的非中选替代线索"}
EVIDENCE = {"supply_shortfall": "断供（配送率不足）", "price_above_listed": "超挂网价", "payment_overdue": "拖欠货款",
            "offplatform_listed": "网下采购挂网产品", "vbp_nonwinning_substitution": "非中选产品替代"}
PARTY_TYPE = {"supplier": "配送企业", "manufacturer": "生产企业", "institution": "医疗机构"}
REVIEW = {"open": "待处理", "confirmed": "已确认", "dismissed": "已排除", "enquiry": "已函询", "reopened": "重新打开"}
ROLLUP = {"supplier": "配送企业", "institution": "医疗机构", "city": "地市"}

QUERIES = {
    "settlement_overdue": f"""select * from settlement_direct_ledger where is_overdue
                              order by coalesce(days_to_settlement, days_outstanding) desc, shipment_id
                              limit {MAX_SHEET_ROWS}""",
    "settlement_totals": f"""select rollup_level, party_code, any_value(party_name) as party_name,
                                    sum(shipments) as shipments, sum(amount_payable) as amount_payable,
                                    sum(amount_settled_by_fund) as amount_settled_by_fund,
                                    sum(amount_settled_by_institution) as amount_settled_by_institution,
                                    sum(amount_outstanding) as amount_outstanding, sum(overdue_items) as overdue_items,
                                    sum(overdue_amount) as overdue_amount, max(max_days) as max_days
                             from settlement_direct_summary group by all
                             order by rollup_level desc, overdue_amount desc, party_code limit {MAX_SHEET_ROWS}""",
    "prepayment": f"""select * from settlement_prepayment
                      order by case prepayment_status when 'to_recover' then 0 when 'ahead' then 1 else 2 end,
                               unrecovered_amount desc, fixmedins_code, batch_code, group_code
                      limit {MAX_SHEET_ROWS}""",
    "retention": f"""select * from settlement_retained_savings
                     order by case retention_status when 'refused' then 0 when 'granted' then 1 else 2 end,
                              potential_retained_amount desc, fixmedins_code, batch_code, group_code
                     limit {MAX_SHEET_ROWS}""",
    "payment_standards": f"""select party_code, any_value(party_name) as party_name, any_value(city_admdvs) as city_admdvs,
                                    sum(amount_under_standard) as amount_under_standard,
                                    sum(lines_above_standard) as lines_above_standard,
                                    sum(amount_above_standard) as amount_above_standard,
                                    sum(extra_cost) as extra_cost, sum(extra_cost_patient) as extra_cost_patient,
                                    sum(extra_cost_fund) as extra_cost_fund,
                                    sum(nonwinning_amount_above_standard) / nullif(sum(nonwinning_amount), 0)
                                        as nonwinning_share_above_standard
                             from payment_standard_summary where rollup_level = 'institution' group by all
                             order by extra_cost desc, party_code limit {MAX_SHEET_ROWS}""",
    "credit": f"""select * from credit_evaluation_evidence
                  order by proposed_level_rank desc nulls last, amount desc, evidence_id limit {MAX_SHEET_ROWS}""",
    "letters": f"select * from enquiry_letters order by sent_at desc, letter_no, anomaly_id limit {MAX_SHEET_ROWS}",
}


@dataclass
class MoneyData:
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    def get(self, name: str) -> pd.DataFrame:
        return self.frames.get(name, pd.DataFrame())


def load_money(published: Path) -> MoneyData:
    con = duckdb.connect(str(published), read_only=True)
    try:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'main'").fetchall()}
        frames = {}
        for name, sql in QUERIES.items():
            needed = sql.split(" from ", 1)[1].split()[0]
            frames[name] = con.execute(sql).df() if needed in tables else pd.DataFrame()
        return MoneyData(frames)
    finally:
        con.close()


def _conditions(text: object) -> str:
    if not isinstance(text, str) or not text:
        return ""
    return "；".join(CONDITIONS.get(c, c) for c in text.split(","))


def _days(r: dict) -> object:
    return r.get("days_to_settlement") if pd.notna(r.get("days_to_settlement")) else r.get("days_outstanding")


def _sheet_columns():
    from reports.workbook import Col

    return {
        "settlement_overdue": ("直接结算逾期", [
            Col("配送单号", "shipment_id"), Col("配送企业", "supplier_name"), Col("机构编号", "fixmedins_code"),
            Col("机构名称", "fixmedins_name"), Col("地市", lambda r: city_name(r.get("city_admdvs"))),
            Col("产品编码", "med_list_codg"), Col("集采批次", "batch_code"), Col("品种", "group_code"),
            Col("入库日期", "receipt_date", "date"), Col("数量（包装）", "shipped_qty", "qty"),
            Col("中选价（元）", "winning_price", "yuan"), Col("应结算金额（元）", "amount_payable", "yuan"),
            Col("应结算方", lambda r: PARTY.get(r.get("settlement_party"), r.get("settlement_party"))),
            Col("应结算日", "due_date", "date"), Col("结算日期", "settled_date", "date"),
            Col("结算方", lambda r: PARTY.get(r.get("settled_by"), r.get("settled_by"))),
            Col("天数", _days, "int"),
            Col("状态", lambda r: SETTLEMENT_STATUS.get(r.get("settlement_status"), r.get("settlement_status"))),
            Col("发票号", "invoice_no")]),
        "settlement_totals": ("直接结算汇总", [
            Col("层级", lambda r: ROLLUP.get(r.get("rollup_level"), r.get("rollup_level"))),
            Col("编码", "party_code"),
            Col("名称", lambda r: city_name(r.get("party_code")) if r.get("rollup_level") == "city" else r.get("party_name")),
            Col("配送单数", "shipments", "int"), Col("应结算金额（元）", "amount_payable", "yuan"),
            Col("基金直接结算（元）", "amount_settled_by_fund", "yuan"),
            Col("机构结算（元）", "amount_settled_by_institution", "yuan"),
            Col("未结算（元）", "amount_outstanding", "yuan"), Col("逾期笔数", "overdue_items", "int"),
            Col("逾期金额（元）", "overdue_amount", "yuan"), Col("最长天数", "max_days", "int")]),
        "prepayment": ("集采预付", [
            Col("机构编号", "fixmedins_code"), Col("机构名称", "fixmedins_name"),
            Col("地市", lambda r: city_name(r.get("city_admdvs"))), Col("批次", "batch_code"), Col("品种", "group_code"),
            Col("协议期开始", "period_start", "date"), Col("协议期结束", "period_end", "date"),
            Col("约定金额（元）", "agreed_amount", "yuan"), Col("预付比例", "prepayment_share", "pct"),
            Col("预付金额（元）", "prepaid_amount", "yuan"),
            Col("累计采购（元）", "cumulative_purchased_amount", "yuan"),
            Col("剩余预付（元）", "prepayment_remaining", "yuan"), Col("序时进度", "expected_progress", "pct"),
            Col("采购/序时", "purchases_to_expected", "index"),
            Col("状态", lambda r: PREPAYMENT_STATUS.get(r.get("prepayment_status"), r.get("prepayment_status"))),
            Col("待追回（元）", "unrecovered_amount", "yuan")]),
        "retention": ("结余留用", [
            Col("机构编号", "fixmedins_code"), Col("机构名称", "fixmedins_name"),
            Col("地市", lambda r: city_name(r.get("city_admdvs"))), Col("批次", "batch_code"), Col("品种", "group_code"),
            Col("协议期开始", "period_start", "date"), Col("协议期结束", "period_end", "date"),
            Col("完成率", "completion_rate", "pct"), Col("节约金额（元）", "savings_amount", "yuan"),
            Col("留用比例", "retention_share", "pct"), Col("可留用（元）", "potential_retained_amount", "yuan"),
            Col("结论", lambda r: RETENTION_STATUS.get(r.get("retention_status"), r.get("retention_status"))),
            Col("未满足条件", lambda r: _conditions(r.get("failed_conditions")), wrap=True),
            Col("核定留用（元）", "retained_amount", "yuan"),
            Col("网下采购线索", "offplatform_anomaly_ids"), Col("非中选替代线索", "substitution_anomaly_ids")]),
        "payment_standards": ("支付标准", [
            Col("机构编号", "party_code"), Col("机构名称", "party_name"),
            Col("地市", lambda r: city_name(r.get("city_admdvs"))),
            Col("支付标准内采购（元）", "amount_under_standard", "yuan"),
            Col("超标准明细数", "lines_above_standard", "int"), Col("超标准采购（元）", "amount_above_standard", "yuan"),
            Col("超标准费用（元）", "extra_cost", "yuan"), Col("患者负担（元）", "extra_cost_patient", "yuan"),
            Col("基金负担（元）", "extra_cost_fund", "yuan"),
            Col("非中选超标准占比", "nonwinning_share_above_standard", "pct")]),
        "credit": ("信用评价证据", [
            Col("证据编号", "evidence_id"),
            Col("对象类型", lambda r: PARTY_TYPE.get(r.get("party_type"), r.get("party_type"))),
            Col("对象", lambda r: r.get("party_name") or r.get("party_code")), Col("编码", "party_code"),
            Col("证据类型", lambda r: EVIDENCE.get(r.get("evidence_type"), r.get("evidence_type"))),
            Col("次数", "occurrences", "int"), Col("月份", "months"), Col("金额（元）", "amount", "yuan"),
            Col("建议等级", "proposed_level"),
            Col("审核状态", lambda r: REVIEW.get(r.get("review_status"), r.get("review_status"))),
            Col("证据说明", "detail", wrap=True), Col("异常编号", "anomaly_ids", wrap=True)]),
        "letters": ("函询登记", [
            Col("函询函编号", "letter_no"), Col("收函单位", "addressee_name"), Col("编码", "addressee_code"),
            Col("异常编号", "anomaly_id"), Col("类型", "anomaly_type"), Col("金额（元）", "excess_amount", "yuan"),
            Col("发函人", "sent_by"), Col("发函时间", "sent_at"), Col("文件", "letter_file")]),
    }


def write_money_sheets(wb, data) -> None:
    """One sheet per money/enforcement table (after the VBP and ratio sheets)."""
    from reports.workbook import _records, write_table

    money = load_money(data.published)
    for name, (title, cols) in _sheet_columns().items():
        write_table(wb.create_sheet(title), cols, _records(money.get(name)))


def _table(frame: pd.DataFrame, columns: list[tuple[str, object]]) -> str:
    from reports.html import _yuan
    from reports.svg import esc

    if frame.empty:
        return "<p>无。</p>"
    head = "".join(f"<th>{esc(h)}</th>" for h, _ in columns)
    rows = []
    for r in frame.head(TOP_HTML_ROWS).to_dict("records"):
        cells = []
        for _, get in columns:
            value = get(r) if callable(get) else r.get(get)
            if isinstance(value, pd.Timestamp):
                value = value.date()
            if isinstance(get, str) and ("amount" in get or "cost" in get):
                cells.append(f'<td class="num">{_yuan(value)}</td>')
            else:
                cells.append(f"<td>{esc('' if value is None or (isinstance(value, float) and pd.isna(value)) else value)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def money_section(data) -> str:
    """HTML section: overdue settlements, prepayments to recover, refused retentions,
    purchases above payment standards, credit evidence and letters sent."""
    from reports.html import _section, _yuan

    money = load_money(data.published)
    overdue, prepay, retention = money.get("settlement_overdue"), money.get("prepayment"), money.get("retention")
    standards, credit, letters = money.get("payment_standards"), money.get("credit"), money.get("letters")
    recover = prepay[prepay["prepayment_status"] == "to_recover"] if not prepay.empty else prepay
    refused = retention[retention["retention_status"] == "refused"] if not retention.empty else retention
    above = standards[standards["extra_cost"] > 0] if not standards.empty else standards
    lead = (f"逾期结算 {len(overdue)} 笔；应追回预付 {len(recover)} 项（{_yuan(recover['unrecovered_amount'].sum() if len(recover) else 0)} 元）；"
            f"不予结余留用 {len(refused)} 项；超支付标准采购机构 {len(above)} 家"
            f"（超标准费用 {_yuan(above['extra_cost'].sum() if len(above) else 0)} 元）；信用评价证据 {len(credit)} 条；"
            f"已发函询函 {letters['letter_no'].nunique() if len(letters) else 0} 份。各表全部行见工作簿同名工作表；"
            "口径与规则依据见 docs/money-and-enforcement.md。")
    days = lambda r: _days(r)  # noqa: E731
    body = (
        "<h3>直接结算：逾期（前 10 笔，按天数）</h3>" + _table(overdue, [
            ("配送企业", "supplier_name"), ("机构", "fixmedins_name"), ("入库日期", "receipt_date"),
            ("应结算金额（元）", "amount_payable"),
            ("应结算方", lambda r: PARTY.get(r.get("settlement_party"))), ("天数", days),
            ("状态", lambda r: SETTLEMENT_STATUS.get(r.get("settlement_status")))])
        + "<h3>预付：应追回</h3>" + _table(recover, [
            ("机构", "fixmedins_name"), ("批次/品种", lambda r: f"{r.get('batch_code')} {r.get('group_code')}"),
            ("协议期结束", "period_end"), ("预付金额（元）", "prepaid_amount"),
            ("累计采购（元）", "cumulative_purchased_amount"), ("待追回（元）", "unrecovered_amount")])
        + "<h3>结余留用：不予留用及原因</h3>" + _table(refused, [
            ("机构", "fixmedins_name"), ("批次/品种", lambda r: f"{r.get('batch_code')} {r.get('group_code')}"),
            ("完成率", lambda r: f"{r['completion_rate']:.1%}" if pd.notna(r.get("completion_rate")) else ""),
            ("可留用（元）", "potential_retained_amount"),
            ("未满足条件", lambda r: _conditions(r.get("failed_conditions")))])
        + "<h3>支付标准：超标准采购（按超标准费用）</h3>" + _table(above, [
            ("机构", "party_name"), ("超标准采购（元）", "amount_above_standard"), ("超标准费用（元）", "extra_cost"),
            ("患者负担（元）", "extra_cost_patient"),
            ("非中选超标准占比", lambda r: f"{r['nonwinning_share_above_standard']:.1%}"
             if pd.notna(r.get("nonwinning_share_above_standard")) else "")])
        + "<h3>信用评价证据（建议等级，由经办人审核决定）</h3>" + _table(credit, [
            ("对象", lambda r: r.get("party_name") or r.get("party_code")),
            ("类型", lambda r: EVIDENCE.get(r.get("evidence_type"))), ("建议等级", "proposed_level"),
            ("金额（元）", "amount"), ("证据说明", "detail"),
            ("审核状态", lambda r: REVIEW.get(r.get("review_status")))])
        + "<h3>函询登记</h3>" + _table(letters, [
            ("编号", "letter_no"), ("收函单位", "addressee_name"), ("异常编号", "anomaly_id"), ("发函人", "sent_by")]))
    return _section("资金与执法：直接结算、预付、结余留用、支付标准、信用评价、函询", lead, body, "money")
