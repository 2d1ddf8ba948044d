"""What the workbook and the HTML report show, read from the publication.

One read-only connection, a handful of aggregate queries (sizes bounded by
institutions × months, not by purchase lines: the deviation histogram is
binned in SQL), returned as pandas frames in :class:`ReportData`.

Works on publications made before review columns existed (every finding is
then 'open') and with or without a ``price_index`` table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from reports.labels import SEVERITY_ORDER
from reports.money import MoneyData, load_money

REVIEW_COLUMNS = {  # column: SQL default when the publication predates reviews
    "review_status": "'open'",
    "review_reason": "null::varchar",
    "reviewed_by": "null::varchar",
    "reviewed_at": "null::timestamp",
    "is_suppressed": "false",
}
# Status order of the "today" lists: what needs a decision first.
STATUS_ORDER = {"reopened": 0, "open": 1, "enquiry": 2, "confirmed": 3, "dismissed": 4}

# Deviation histogram: 2-point bins (low, high] from −50 % to +50 %, plus one bin each side.
HIST_LOW, HIST_HIGH, HIST_STEP = -0.5, 0.5, 0.02


@dataclass
class ReportData:
    published: Path
    run_id: str
    as_of: dt.date
    published_at: dt.datetime | None
    latest_month: dt.date | None
    anomalies: pd.DataFrame            # every finding, enriched; is_suppressed says whether it is listed today
    city_indicators: pd.DataFrame      # city × indicator rows for the summary sheet
    county_ratio: pd.DataFrame         # county × group, latest month: ratio, ytd_ratio, target
    vbp: pd.DataFrame                  # vbp_completion with names: agreement periods in force on the as-of date
    vbp_groups: pd.DataFrame           # current agreements per batch × group, public institutions
    institution_ratio: pd.DataFrame    # institution × group: month and year-to-date ratio, target
    pdi_city_month: pd.DataFrame       # city × month × group: pdi
    deviation_hist: pd.DataFrame       # bin_low, bin_high, lines
    price_index: pd.DataFrame | None   # the publication's price_index table when present
    price_index_note: str = ""
    quarantined_rows: int = 0
    tables: set[str] = field(default_factory=set)
    # Lagging agreements over every period of vbp_completion (the HTML's
    # counts), not only the current ones listed in ``vbp``.
    vbp_lagging: int = 0
    vbp_lagging_public: int = 0
    money: MoneyData = field(default_factory=MoneyData)  # the money and enforcement sheets (reports/money.py)

    @property
    def today(self) -> pd.DataFrame:
        """Findings officers act on: everything not suppressed by a dismissal."""
        return self.anomalies[~self.anomalies["is_suppressed"]]

    @property
    def suppressed(self) -> pd.DataFrame:
        return self.anomalies[self.anomalies["is_suppressed"]]


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def load(published: Path) -> ReportData:
    published = Path(published)
    if not published.exists():
        raise FileNotFoundError(f"no publication at {published}")
    from foundation.publication import read_only

    # read_only: a private copy when an analyst's read-write connection holds the file's lock
    with read_only(published) as con:
        return _load(con, published)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "select column_name from duckdb_columns() where schema_name = 'main' and table_name = ?", [table]).fetchall()}


def _load(con: duckdb.DuckDBPyConnection, published: Path) -> ReportData:
    tables = {r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'main'").fetchall()}
    run = con.execute("select run_id, as_of, published_at from runs where status = 'published' "
                      "order by published_at desc nulls last limit 1").fetchone()
    if run is None:
        raise ValueError(f"{published} has no published run")
    run_id, as_of, published_at = run
    latest_month = con.execute("select max(month) from platform_purchase_ratio_region where month <= ?",
                               [as_of]).fetchone()[0]
    year_start = dt.date(as_of.year, 1, 1)

    con.execute("""create temp table institutions as
        select fixmedins_code, any_value(fixmedins_name) as fixmedins_name, any_value(admdvs) as admdvs,
               any_value(city_admdvs) as city_admdvs, any_value(ownership) as ownership
        from (select fixmedins_code, fixmedins_name, admdvs, city_admdvs, ownership from vbp_completion
              union all
              select fixmedins_code, fixmedins_name, admdvs, city_admdvs, ownership from purchase_lines)
        group by fixmedins_code""")
    # Names of products from price_spec_normalisation, one row per catalogue
    # product (the same generic_name and min_unit purchase_lines carries,
    # both from stg_lake__products): grouping the 20 M purchase lines by
    # product for them took 4.3 s of the 20 M night's report (issue 18).
    # A publication made before that table existed falls back to the lines.
    product_source = "price_spec_normalisation" if "price_spec_normalisation" in tables else "purchase_lines"
    con.execute(f"""create temp table products as
        select med_list_codg, any_value(generic_name) as generic_name, any_value(min_unit) as min_unit
        from {product_source} group by med_list_codg""")

    present = _columns(con, "anomalies")
    review_select = ", ".join(f"a.{c}" if c in present else f"{default} as {c}" for c, default in REVIEW_COLUMNS.items())
    anomalies = _df(con, f"""
        select a.anomaly_id, a.anomaly_type, a.severity, a.fixmedins_code, i.fixmedins_name, i.admdvs, i.city_admdvs,
               i.ownership, a.med_list_codg, p.generic_name, p.min_unit, a.month, a.metric_value, a.reference_value,
               a.reference_type, a.gap, cast(a.excess_amount as double) as excess_amount, a.batch_code, a.group_code,
               a.period_start, a.category_group, a.detail, {review_select}
        from anomalies as a
        left join institutions as i using (fixmedins_code)
        left join products as p using (med_list_codg)""")
    anomalies["is_suppressed"] = anomalies["is_suppressed"].fillna(False).astype(bool)
    anomalies["review_status"] = anomalies["review_status"].fillna("open")
    anomalies = _sort_anomalies(anomalies)

    county_ratio = _df(con, """
        select admdvs, category_group, ratio, ytd_ratio, target, total_amount, ytd_total_amount, institution_count
        from platform_purchase_ratio_region
        where region_level = 'county' and month = ? order by admdvs, category_group""", [latest_month])

    city_indicators = _city_indicators(con, as_of, latest_month, anomalies)

    # The workbook's VBP sheet lists the agreement periods in force on the
    # as-of date only (issue 18: every period of history was 31,927 rows at
    # 20 M lines, most of the workbook's time); ended periods stay in the
    # published vbp_completion table (README, "For pricing officers").
    vbp = _df(con, """
        select batch_code, group_code, fixmedins_code, fixmedins_name, ownership, admdvs, city_admdvs, period_start,
               period_end, designated_med_list_codg, agreed_qty, purchased_qty, completion_rate, expected_progress,
               expected_progress - completion_rate as behind, is_lagging, nonwinning_share
        from vbp_completion
        where period_start <= ? and period_end >= ?
        order by is_lagging desc, expected_progress - completion_rate desc, fixmedins_code, batch_code, group_code""",
        [as_of, as_of])
    vbp_lagging, vbp_lagging_public = con.execute(
        "select count(*) filter (where is_lagging), count(*) filter (where is_lagging and ownership = 'public') "
        "from vbp_completion").fetchone()
    vbp_groups = _df(con, """
        select batch_code, group_code, count(*) as agreements, sum(is_lagging::int) as lagging,
               sum(purchased_qty) / nullif(sum(agreed_qty), 0) as completion_rate,
               sum(expected_progress * agreed_qty) / nullif(sum(agreed_qty), 0) as expected_progress,
               list(completion_rate order by fixmedins_code) as institution_rates,
               list(is_lagging order by fixmedins_code) as institution_lagging
        from vbp_completion
        where ownership = 'public' and period_start <= ? and period_end >= ?
        group by batch_code, group_code order by batch_code, group_code""", [as_of, as_of])

    institution_ratio = _df(con, """
        with ytd as (
            select fixmedins_code, category_group,
                   sum(platform_amount) as ytd_platform_amount, sum(total_amount) as ytd_total_amount,
                   sum(platform_amount) / nullif(sum(total_amount), 0) as ytd_ratio
            from platform_purchase_ratio where month between ? and ? group by all
        ),
        latest as (
            select fixmedins_code, category_group, ratio, platform_amount, total_amount
            from platform_purchase_ratio where month = ?
        ),
        targets as (
            select admdvs as city_admdvs, category_group, target from platform_purchase_ratio_region
            where region_level = 'city' and month = ?
        )
        select y.fixmedins_code, i.fixmedins_name, i.ownership, i.admdvs, i.city_admdvs, y.category_group,
               l.ratio, l.platform_amount, l.total_amount, y.ytd_ratio, y.ytd_platform_amount, y.ytd_total_amount,
               t.target, y.ytd_ratio < t.target as below_target
        from ytd as y
        left join latest as l using (fixmedins_code, category_group)
        left join institutions as i using (fixmedins_code)
        left join targets as t on t.city_admdvs = i.city_admdvs and t.category_group = y.category_group
        order by below_target desc nulls last, y.ytd_ratio, y.fixmedins_code, y.category_group""",
        [year_start, as_of, latest_month, latest_month])

    pdi_city_month = _df(con, """
        select left(admdvs, 4) || '00' as city_admdvs, month, category_group,
               sum(actual_amount) / nullif(sum(reference_amount), 0) as pdi, sum(actual_amount) as actual_amount
        from price_deviation_index
        where month <= ? and reference_amount > 0
        group by all order by city_admdvs, category_group, month""", [as_of])

    deviation_hist = _df(con, f"""
        with lines as (
            -- bins are (low, high]: exactly 0 (paid the reference) falls in (−2 %, 0]
            select case when deviation <= {HIST_LOW} then -1
                        when deviation > {HIST_HIGH} then 10000
                        else greatest(0, cast(ceil((deviation - ({HIST_LOW})) / {HIST_STEP} - 1e-9) as integer) - 1) end as bin
            from purchase_lines where is_price_eligible and deviation is not null and not is_after_as_of
        )
        select bin, count(*) as lines from lines group by bin order by bin""")
    deviation_hist = _label_bins(deviation_hist)

    price_index, note = None, ""
    if "price_index" in tables:
        price_index = _df(con, "select * from price_index")
    else:
        note = "本次发布中尚无价格指数表（price_index），下图改用各市月度价格偏离指数（PDI）。"

    quarantined = con.execute("select count(*) from quarantine").fetchone()[0] if "quarantine" in tables else 0
    return ReportData(published=published, run_id=run_id, as_of=as_of, published_at=published_at,
                      latest_month=latest_month, anomalies=anomalies, city_indicators=city_indicators,
                      county_ratio=county_ratio, vbp=vbp, vbp_groups=vbp_groups, institution_ratio=institution_ratio,
                      pdi_city_month=pdi_city_month, deviation_hist=deviation_hist, price_index=price_index,
                      price_index_note=note, quarantined_rows=int(quarantined), tables=tables,
                      vbp_lagging=int(vbp_lagging), vbp_lagging_public=int(vbp_lagging_public),
                      money=load_money(con))


def _sort_anomalies(frame: pd.DataFrame) -> pd.DataFrame:
    keyed = frame.assign(
        _status=frame["review_status"].map(STATUS_ORDER).fillna(9),
        _severity=frame["severity"].map(SEVERITY_ORDER).fillna(9),
        _excess=-frame["excess_amount"].fillna(0),
        _gap=-frame["gap"].fillna(0),
    )
    keyed = keyed.sort_values(["_status", "_severity", "_excess", "_gap", "anomaly_id"], kind="stable")
    return keyed.drop(columns=["_status", "_severity", "_excess", "_gap"]).reset_index(drop=True)


def _label_bins(hist: pd.DataFrame) -> pd.DataFrame:
    """Every bin from the low overflow to the high overflow, empty ones included."""
    n = round((HIST_HIGH - HIST_LOW) / HIST_STEP)
    counts = dict(zip(hist["bin"], hist["lines"]))
    rows = [{"bin_low": None, "bin_high": HIST_LOW, "lines": int(counts.get(-1, 0))}]
    for k in range(n):
        low = HIST_LOW + k * HIST_STEP
        rows.append({"bin_low": round(low, 4), "bin_high": round(low + HIST_STEP, 4), "lines": int(counts.get(k, 0))})
    rows.append({"bin_low": HIST_HIGH, "bin_high": None, "lines": int(counts.get(10000, 0)) + int(counts.get(n, 0))})
    return pd.DataFrame(rows)


def _city_indicators(con: duckdb.DuckDBPyConnection, as_of: dt.date, latest_month: dt.date | None,
                     anomalies: pd.DataFrame) -> pd.DataFrame:
    """Long table: one row per city × indicator, with value, target and verdict."""
    rows: list[dict] = []
    for admdvs, group, ratio, ytd, target in con.execute(
            """select admdvs, category_group, ratio, ytd_ratio, target from platform_purchase_ratio_region
               where region_level = 'city' and month = ? order by admdvs, category_group""", [latest_month]).fetchall():
        if group not in ("drug", "hvc") and target is None:
            continue
        met = None if target is None or ytd is None else bool(ytd >= target)
        rows.append({"city_admdvs": admdvs, "indicator": "网采率（年初至今）", "group": group, "value": ytd,
                     "month_value": ratio, "target": target, "gap": None if target is None or ytd is None else ytd - target,
                     "unit": "pct", "met": met, "verdict": None if met is None else ("达标" if met else "未达标"),
                     "note": "公立机构，平台采购净金额 ÷ 采购净金额；目标取自 plan-targets.csv，否则药品 90%、高值耗材 80%"})
    for city, done, expected, agreements, lagging in con.execute(
            """select city_admdvs, sum(purchased_qty) / nullif(sum(agreed_qty), 0),
                      sum(expected_progress * agreed_qty) / nullif(sum(agreed_qty), 0), count(*), sum(is_lagging::int)
               from vbp_completion where ownership = 'public' and period_start <= ? and period_end >= ?
               group by city_admdvs order by city_admdvs""", [as_of, as_of]).fetchall():
        met = None if done is None or expected is None else bool(done >= expected - 0.10)
        rows.append({"city_admdvs": city, "indicator": "集采约定量完成率（当前协议期）", "group": None, "value": done,
                     "month_value": None, "target": expected, "gap": None if done is None or expected is None else done - expected,
                     "unit": "pct", "met": met, "verdict": None if met is None else ("符合序时进度" if met else "滞后"),
                     "note": f"公立机构 {agreements} 个协议，滞后 {lagging} 个；参照值为按约定量加权的序时进度，落后超过 10 个百分点为滞后"})
    for city, group, pdi in con.execute(
            """select left(admdvs, 4) || '00', category_group, sum(actual_amount) / nullif(sum(reference_amount), 0)
               from price_deviation_index where month = ? and ownership = 'public' and reference_amount > 0
               group by all order by 1, 2""", [latest_month]).fetchall():
        if group not in ("drug", "hvc"):
            continue
        met = None if pdi is None else bool(pdi <= 1.0)
        rows.append({"city_admdvs": city, "indicator": "价格偏离指数 PDI（当月）", "group": group, "value": pdi,
                     "month_value": pdi, "target": 1.0, "gap": None if pdi is None else pdi - 1.0, "unit": "index",
                     "met": met, "verdict": None if met is None else ("不高于参照价" if met else "高于参照价"),
                     "note": "实付金额 ÷ 参照价金额（中选价、挂网价、同类机构中位价依次取用）；1.00 为按参照价采购，越高越贵"})
    today = anomalies[~anomalies["is_suppressed"]]
    per_city = today.groupby("city_admdvs").agg(total=("anomaly_id", "size"),
                                                high=("severity", lambda s: int((s == "high").sum())))
    for city in sorted({r["city_admdvs"] for r in rows} | set(per_city.index.dropna())):
        total = int(per_city.loc[city, "total"]) if city in per_city.index else 0
        high = int(per_city.loc[city, "high"]) if city in per_city.index else 0
        rows.append({"city_admdvs": city, "indicator": "今日异常线索", "group": None, "value": total,
                     "month_value": None, "target": None, "gap": None, "unit": "count", "met": None, "verdict": None,
                     "note": f"其中高严重度 {high} 条；含待处理、重新打开、已确认、已函询，已排除且未恶化的不计入"})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    order = {"网采率（年初至今）": 0, "集采约定量完成率（当前协议期）": 1, "价格偏离指数 PDI（当月）": 2, "今日异常线索": 3}
    frame["_o"] = frame["indicator"].map(order)
    return frame.sort_values(["city_admdvs", "_o", "group"], na_position="last").drop(columns="_o").reset_index(drop=True)
