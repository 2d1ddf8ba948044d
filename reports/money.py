"""Money and enforcement tables in the officers' outputs (issue 16):
直接结算, 预付, 结余留用, 支付标准, 信用评价 and the 函询 register.

This module reads them (:func:`load_money`, bounded row counts, lists
sorted so the rows an officer acts on come first) and names their codes in
Chinese; the workbook's sheets are ``reports.workbook.write_money_sheets``
and the HTML section ``reports.html.money_section``, so neither output
module imports the other. A publication without these tables
(older than issue 16) gives empty sheets and a one-line section.
Definitions: docs/money-and-enforcement.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
