"""Money and enforcement tables in the officers' outputs (issue 16):
直接结算, 预付, 结余留用, 支付标准, 信用评价 and the 函询 register.

This module reads them (:func:`load_money`, called by reports.data.load:
lists sorted so the rows an officer acts on come first, bounded, with the
counts of what is left out) and names their codes in
Chinese; the workbook's sheets are ``reports.workbook.write_money_sheets``
and the HTML section ``reports.html.money_section``, so neither output
module imports the other. A publication without these tables
(older than issue 16) gives empty sheets and a one-line section.
Definitions: docs/money-and-enforcement.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pandas as pd


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
ROLLUP = {"supplier": "配送企业", "institution": "医疗机构", "city": "地市"}

# Each sheet's rows in the order officers act on them (the HTML shows the
# first TOP_HTML_ROWS). A sheet lists at most MAX_SHEET_ROWS; the guide
# sheet says when rows are left out and which published table holds them.
QUERIES = {
    "settlement_overdue": """select * from settlement_direct_ledger where is_overdue
                             order by coalesce(days_to_settlement, days_outstanding) desc, shipment_id""",
    "settlement_totals": """select rollup_level, party_code, any_value(party_name) as party_name,
                                   sum(shipments) as shipments, sum(amount_payable) as amount_payable,
                                   sum(amount_settled_by_fund) as amount_settled_by_fund,
                                   sum(amount_settled_by_institution) as amount_settled_by_institution,
                                   sum(amount_outstanding) as amount_outstanding, sum(overdue_items) as overdue_items,
                                   sum(overdue_amount) as overdue_amount, max(max_days) as max_days
                            from settlement_direct_summary group by all
                            order by rollup_level desc, overdue_amount desc, party_code""",
    # Prepayments already offset by purchases need nothing more (two thirds
    # of them at 20 M lines); the sheet lists the ones still open.
    "prepayment": """select * from settlement_prepayment where prepayment_status <> 'covered'
                     order by case prepayment_status when 'to_recover' then 0 when 'ahead' then 1 else 2 end,
                              unrecovered_amount desc, fixmedins_code, batch_code, group_code""",
    # Agreements whose period has not ended have no decision yet (more than
    # half of them); the sheet lists the decided ones.
    "retention": """select * from settlement_retained_savings where retention_status <> 'pending'
                    order by case retention_status when 'refused' then 0 else 1 end,
                             potential_retained_amount desc, fixmedins_code, batch_code, group_code""",
    "payment_standards": """select party_code, any_value(party_name) as party_name, any_value(city_admdvs) as city_admdvs,
                                   sum(amount_under_standard) as amount_under_standard,
                                   sum(lines_above_standard) as lines_above_standard,
                                   sum(amount_above_standard) as amount_above_standard,
                                   sum(extra_cost) as extra_cost, sum(extra_cost_patient) as extra_cost_patient,
                                   sum(extra_cost_fund) as extra_cost_fund,
                                   sum(nonwinning_amount_above_standard) / nullif(sum(nonwinning_amount), 0)
                                       as nonwinning_share_above_standard
                            from payment_standard_summary where rollup_level = 'institution' group by all
                            order by extra_cost desc, party_code""",
    "credit": """select * from credit_evaluation_evidence
                 order by proposed_level_rank desc nulls last, amount desc, evidence_id""",
    "letters": "select * from enquiry_letters order by sent_at desc, letter_no, anomaly_id",
}
# What a sheet whose query filters its table lists, for the guide sheet.
SCOPES = {
    "settlement_overdue": "只列逾期的配送单",
    "prepayment": "只列尚未冲抵完的预付（应追回、采购远超序时进度、冲抵中）；已冲抵的不列",
    "retention": "只列已有结论的协议（不予留用、同意留用）；协议期未结束（待协议期结束）的不列",
}


def _source_table(sql: str) -> str:
    return sql.split(" from ", 1)[1].split()[0]


@dataclass
class MoneyData:
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    matching_rows: dict[str, int] = field(default_factory=dict)  # rows the query gives before MAX_SHEET_ROWS
    table_rows: dict[str, int] = field(default_factory=dict)     # rows of the published table it reads

    def get(self, name: str) -> pd.DataFrame:
        return self.frames.get(name, pd.DataFrame())

    def left_out(self, name: str) -> str | None:
        """For the guide sheet: which of the table's rows the sheet does not list, or None when it lists them all."""
        listed, matching, total = len(self.get(name)), self.matching_rows.get(name, 0), self.table_rows.get(name, 0)
        if listed == total:
            return None
        parts = [SCOPES[name]] if name in SCOPES and matching < total else []
        if listed < matching:
            parts.append(f"超过 {MAX_SHEET_ROWS:,} 行，只列前 {listed:,} 行（共 {matching:,} 行）")
        return (f"{'；'.join(parts)}。本表列 {listed:,} 行，发布文件的 {_source_table(QUERIES[name])} "
                f"表中有全部 {total:,} 行。")


def load_money(con: duckdb.DuckDBPyConnection) -> MoneyData:
    """The money sheets' rows from an open connection to the publication."""
    tables = {r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'main'").fetchall()}
    money = MoneyData()
    for name, sql in QUERIES.items():
        table = _source_table(sql)
        if table not in tables:
            money.frames[name] = pd.DataFrame()
            continue
        money.frames[name] = con.execute(f"{sql} limit {MAX_SHEET_ROWS}").df()
        matching = money.matching_rows[name] = con.execute(f"select count(*) from ({sql})").fetchone()[0]
        # a sheet of totals lists groups, not the table's rows: all of them are its rows
        money.table_rows[name] = matching if " group by " in sql else con.execute(
            f"select count(*) from {table}").fetchone()[0]
    return money


def _conditions(text: object) -> str:
    if not isinstance(text, str) or not text:
        return ""
    return "；".join(CONDITIONS.get(c, c) for c in text.split(","))


def _days(r: dict) -> object:
    return r.get("days_to_settlement") if pd.notna(r.get("days_to_settlement")) else r.get("days_outstanding")
