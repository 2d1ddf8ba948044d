"""The short text summary printed after a run (README command 1) and by
``yaocai summary``: what an officer looks at first."""

from __future__ import annotations

from pathlib import Path

CITY_NAMES = {"440800": "湛江市", "141100": "吕梁市", "371000": "威海市", "420200": "黄石市"}
GROUP_NAMES = {"drug": "药品", "hvc": "高值耗材", "lvc": "低值耗材", "ivd": "检验试剂"}


def _shown(value: object) -> str:
    """Text from uploads (names, details) as one printable line: no NUL, ESC
    or line break reaches the terminal (reports.safe.printable)."""
    from reports.safe import printable

    return printable(value)


def _pct(value: float | None) -> str:
    return "   —  " if value is None else f"{100 * value:5.1f}%"


def summarise(published: Path) -> str:
    from foundation.publication import read_only

    with read_only(published) as con:
        run = con.execute("select run_id, as_of, published_at from runs where status = 'published' "
                          "order by published_at desc limit 1").fetchone()
        as_of = run[1]
        lines = [f"yaocai publication {published}", f"  run {run[0]}, data as of {as_of}, published {run[2]}", ""]

        latest = con.execute("select max(month) from platform_purchase_ratio_region where month <= ?", [as_of]).fetchone()[0]
        lines.append(f"网采率 Platform purchasing ratio by city, {latest:%Y-%m} and year to date (public institutions):")
        rows = con.execute(
            """select admdvs, category_group, ratio, ytd_ratio, target from platform_purchase_ratio_region
               where region_level = 'city' and month = ? and category_group in ('drug', 'hvc')
               order by admdvs, category_group""", [latest]).fetchall()
        for admdvs, group, ratio, ytd, target in rows:
            # Judged on the year to date: the plans' targets are a year's
            # (docs/plan-sources.md), and a month a few points under is noise
            # (int_anomalies__platform_ratio_below_target.sql).
            verdict = "" if target is None else ("  ytd ok" if ytd is not None and ytd >= target else "  ytd BELOW TARGET")
            lines.append(f"  {_shown(CITY_NAMES.get(admdvs, admdvs))} {_shown(admdvs)} {GROUP_NAMES[group]:<6} month {_pct(ratio)}  "
                         f"ytd {_pct(ytd)}  target {_pct(target)}{verdict}")

        lagging = con.execute(
            """select count(*), count(distinct fixmedins_code) from vbp_completion
               where is_lagging and ownership = 'public'""").fetchone()
        total = con.execute("select count(*) from vbp_completion where ownership = 'public'").fetchone()[0]
        lines += ["", f"集采进度 VBP agreements lagging expected progress: {lagging[0]} of {total} "
                      f"({lagging[1]} institutions)"]
        for row in con.execute(
            """select fixmedins_code, fixmedins_name, batch_code, group_code, completion_rate, expected_progress
               from vbp_completion where is_lagging and ownership = 'public'
               order by expected_progress - completion_rate desc, fixmedins_code limit 5""").fetchall():
            lines.append(f"  {_shown(row[0])} {_shown(row[1])}  {_shown(row[2])}/{_shown(row[3])}: "
                         f"completion {_pct(row[4])} vs expected {_pct(row[5])}")

        # Findings an officer dismissed (and that did not get worse since) are not listed.
        reviewed = "is_suppressed" in {r[0] for r in con.execute(
            "select column_name from duckdb_columns() where table_name = 'anomalies'").fetchall()}
        listed = "not is_suppressed" if reviewed else "true"
        counts = con.execute(f"select anomaly_type, count(*) from anomalies where {listed} group by 1 order by 1").fetchall()
        lines += ["", "异常 Anomalies: " + (", ".join(f"{t} {n}" for t, n in counts) or "none")]
        if reviewed:
            suppressed = con.execute("select count(*) from anomalies where is_suppressed").fetchone()[0]
            if suppressed:
                lines.append(f"  ({suppressed} dismissed by officers and not worse since: not listed)")
        lines.append("  top price anomalies:")
        for row in con.execute(
            f"""select anomaly_id, severity, detail from anomalies
               where (starts_with(anomaly_type, 'price_') or anomaly_type = 'listed_price_rise') and {listed}
               order by case severity when 'high' then 0 when 'medium' then 1 else 2 end, gap desc, anomaly_id limit 5""").fetchall():
            lines.append(f"  [{row[1]}] {row[0]} {_shown(row[2])}")
        lines += _money_lines(con)
        quarantined = con.execute("select count(*) from quarantine").fetchone()[0]
        lines += ["", f"隔离 Quarantined input rows: {quarantined} (table quarantine)"]
        return "\n".join(lines)


def _money_lines(con) -> list[str]:
    """资金与执法 (docs/money-and-enforcement.md): one line per table, with its first case."""
    tables = {r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'main'").fetchall()}
    if "settlement_direct_ledger" not in tables:
        return []
    one = lambda sql: con.execute(sql).fetchone()  # noqa: E731
    overdue = one("select count(*), coalesce(sum(amount_outstanding), 0) from settlement_direct_ledger "
                  "where settlement_status = 'unsettled_overdue'")
    late = one("select count(*) from settlement_direct_ledger where settlement_status = 'settled_late'")[0]
    fund = one("select coalesce(sum(amount_payable), 0) from settlement_direct_ledger where settled_by = 'fund'")[0]
    recover = one("select count(*), coalesce(sum(unrecovered_amount), 0) from settlement_prepayment "
                  "where prepayment_status = 'to_recover'")
    retention = one("select count(*) filter (where retention_status = 'granted'), coalesce(sum(retained_amount), 0), "
                    "count(*) filter (where retention_status = 'refused') from settlement_retained_savings")
    above = one("select count(*), coalesce(sum(extra_cost), 0) from payment_standard_excess_lines")
    shortfall = con.execute("select party_code, proposed_level from credit_evaluation_evidence "
                            "where evidence_type = 'supply_shortfall' order by proposed_level_rank desc, party_code").fetchall()
    letters = one("select count(distinct letter_no) from enquiry_letters")[0]
    return ["", "资金与执法 Money and enforcement:",
            f"  直接结算 direct settlement: {overdue[0]} overdue unsettled ({overdue[1]:,.2f} yuan), {late} settled late; "
            f"{fund:,.2f} yuan settled by the fund directly",
            f"  预付 prepayment: {recover[0]} to recover ({recover[1]:,.2f} yuan)",
            f"  结余留用 retained savings: {retention[0]} granted ({retention[1]:,.2f} yuan), {retention[2]} refused",
            f"  支付标准 payment standards: {above[0]} purchase lines above the standard, extra cost {above[1]:,.2f} yuan",
            "  信用评价 credit evidence, 断供: " + (", ".join(f"{_shown(p)} ({lv})" for p, lv in shortfall) or "none")
            + f"; 函询函 letters sent: {letters}"]
