"""The HTML report: WAREHOUSE/reports/<as-of>/yaocai-<as-of>.html.

One self-contained file that opens offline: inline CSS, inline SVG charts
(reports/svg.py), no script, no web font, no external link. Chinese renders
with the fonts the reader's machine has (a CJK font stack: Noto/Source Han,
PingFang, Microsoft YaHei, WenQuanYi, SimHei …).

Sections, in the order officers read them: today's points, 网采率 by county
against the city targets, VBP completion against expected progress, the
price index (or monthly PDI by city while no ``price_index`` table is
published), the distribution of line price deviations, and the top findings
with their evidence sentences. Findings suppressed by a dismissal are left
out of the lists (counted in a note).
"""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from reports.data import ReportData
from reports.money import EVIDENCE, PARTY, SETTLEMENT_STATUS, TOP_HTML_ROWS, _conditions, _days
from reports.labels import ANOMALY_TYPES, GROUPS, SEVERITIES, anomaly_title, city_name, region_label, status_label
from reports.svg import (ProgressRow, RatioRow, esc, histogram, line_chart, pct, progress_chart, ratio_dot_chart)

TOP_ANOMALIES = 30
FONT_STACK = ('"Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "PingFang SC", "Hiragino Sans GB", '
              '"Microsoft YaHei", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "SimHei", "Heiti SC", sans-serif')

CSS = """
:root { --ink: #1a202c; --muted: #4a5568; --line: #e2e8f0; --red: #c53030; --blue: #2b6cb0; }
* { box-sizing: border-box; }
body { font-family: %(fonts)s; color: var(--ink); margin: 0; background: #f4f6f8; line-height: 1.5; }
main { max-width: 1360px; margin: 0 auto; padding: 20px 24px 40px; }
header { background: #1f4e79; color: #fff; padding: 18px 24px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 0; opacity: .9; font-size: 14px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 16px 0; }
h2 { font-size: 18px; margin: 0 0 6px; }
p.lead, p.note { color: var(--muted); font-size: 13px; margin: 4px 0 10px; }
p.note { font-style: normal; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; background: #fff; }
.card b { display: block; font-size: 26px; }
.card span { color: var(--muted); font-size: 13px; }
.card.bad b { color: var(--red); }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 16px; align-items: start; }
svg.chart { display: block; max-width: 100%%; height: auto; font-family: %(fonts)s; }
ul.points { margin: 6px 0 0; padding-left: 20px; }
table { border-collapse: collapse; width: 100%%; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: #edf2f7; position: sticky; top: 0; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.id { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; white-space: nowrap; }
.sev { display: inline-block; min-width: 1.8em; text-align: center; border-radius: 4px; color: #fff; padding: 0 4px; }
.sev.high { background: #c53030; } .sev.medium { background: #dd6b20; } .sev.low { background: #718096; }
.status, .nowrap, th { white-space: nowrap; } .status.reopened { color: var(--red); font-weight: bold; }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
@media print { body { background: #fff; } section { break-inside: avoid; border: none; } th { position: static; } }
""" % {"fonts": FONT_STACK}


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _yuan(value: object) -> str:
    number = _num(value)
    return "—" if number is None else f"{number:,.2f}"


def _section(title: str, lead: str, body: str, anchor: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2><p class="lead">{esc(lead)}</p>{body}</section>'


def _points(data: ReportData) -> str:
    today = data.today
    cities = data.city_indicators
    below = cities[(cities["indicator"].str.startswith("网采率")) & (cities["met"] == False)]  # noqa: E712
    items = []
    if below.empty:
        items.append("各市药品、高值耗材年初至今网采率均达到目标。")
    else:
        items.append("网采率未达标：" + "；".join(
            f"{city_name(r.city_admdvs)}{GROUPS.get(r.group, r.group)} {pct(r.value)}（目标 {pct(r.target, 0)}）"
            for r in below.itertuples()))
    lagging = data.vbp_lagging_public
    items.append(f"集采约定量完成滞后的公立机构协议 {lagging} 个。")
    high = int((today["severity"] == "high").sum())
    reopened = int((today["review_status"] == "reopened").sum())
    open_ = int(today["review_status"].isin(["open", "reopened"]).sum())
    items.append(f"异常线索 {len(today)} 条（待处理 {open_} 条，其中高严重度 {high} 条"
                 + (f"，排除后恶化而重新打开 {reopened} 条" if reopened else "") + "）。")
    if len(data.suppressed):
        items.append(f"已排除且未恶化的 {len(data.suppressed)} 条不在今日清单中（见工作簿“已排除”表）。")
    if data.quarantined_rows:
        items.append(f"隔离（未入库）的输入行 {data.quarantined_rows:,} 行，见发布文件 quarantine 表。")
    return '<ul class="points">' + "".join(f"<li>{esc(t)}</li>" for t in items) + "</ul>"


def _cards(data: ReportData) -> str:
    today = data.today
    cities = data.city_indicators
    ratio_rows = cities[cities["indicator"].str.startswith("网采率")] if not cities.empty else cities
    below = int((ratio_rows["met"] == False).sum()) if not ratio_rows.empty else 0  # noqa: E712
    lagging = data.vbp_lagging
    high = int((today["severity"] == "high").sum())
    cards = [
        (f"{len(today)}", "今日异常线索", high > 0),
        (f"{high}", "其中高严重度", high > 0),
        (f"{below}", "网采率未达标（市 × 分组）", below > 0),
        (f"{lagging}", "集采进度滞后协议", lagging > 0),
        (f"{len(data.suppressed)}", "已排除（未列出）", False),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card{" bad" if bad else ""}"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for v, k, bad in cards) + "</div>"


def _platform_section(data: ReportData) -> str:
    frame = data.county_ratio
    panels = []
    for group in ("drug", "hvc"):
        rows = frame[frame["category_group"] == group].copy()
        if rows.empty:
            continue
        rows["city"] = rows["admdvs"].str[:4]
        rows = rows.sort_values(["city", "ytd_ratio", "admdvs"])
        chart_rows = [RatioRow(region_label(r.admdvs), _num(r.ytd_ratio), _num(r.ratio), _num(r.target))
                      for r in rows.itertuples()]
        panels.append(ratio_dot_chart(chart_rows, f"{GROUPS[group]}：各区县网采率（公立机构）", "年初至今", "当月"))
    month = f"{data.latest_month:%Y年%m月}" if data.latest_month else ""
    body = f'<div class="grid2">{"".join(panels)}</div>' if panels else "<p>本次发布没有区县网采率数据。</p>"
    return _section("网采率：区县与目标", f"{month}，公立机构；实心点为年初至今，空心点为当月，黑色竖线为所在市目标，"
                    "红色表示年初至今低于目标。网采率 = 平台采购净金额 ÷ 采购净金额（不含中药饮片）。", body, "platform")


def _vbp_section(data: ReportData) -> str:
    frame = data.vbp_groups
    rows = []
    for r in frame.itertuples():
        rates = [(_num(v) or 0.0, bool(lag)) for v, lag in zip(r.institution_rates, r.institution_lagging)]
        note = f"（{int(r.agreements)} 家" + (f"，滞后 {int(r.lagging)}" if r.lagging else "") + "）"
        rows.append(ProgressRow(f"{r.batch_code} {r.group_code}", _num(r.completion_rate), _num(r.expected_progress),
                                rates, note))
    body = progress_chart(rows, "集采约定量完成率与序时进度（当前协议期，公立机构）") if rows else "<p>当前没有进行中的集采协议。</p>"
    return _section("集采进度：完成率与序时进度", f"截至 {data.as_of}；条形为公立机构合计完成率（已采购量 ÷ 约定采购量），"
                    "黑色竖线为序时进度，每个点是一家机构，红点为落后序时进度超过 10 个百分点的机构。", body, "vbp")


def _price_index_charts(data: ReportData) -> tuple[list[str], str]:
    """Charts of the published ``price_index`` table (one per category group,
    one line per city plus 全部), or no chart and the reason."""
    frame = data.price_index
    if frame is None or frame.empty:
        return [], data.price_index_note
    columns = list(frame.columns)
    x_col = next((c for c in ("month", "period", "period_start", "index_month", "date") if c in columns), None)
    y_col = next((c for c in ("index_value", "price_index", "chained_index", "laspeyres_index", "index", "value")
                  if c in columns), None)
    if x_col is None or y_col is None:
        return [], f"price_index 表的列（{', '.join(columns[:12])}）无法识别为“月份 + 指数值”，下图改用各市月度价格偏离指数（PDI）。"
    frame = frame.copy()
    frame["_x"] = pd.to_datetime(frame[x_col], errors="coerce")
    frame = frame.dropna(subset=["_x"])
    frame = frame[frame["_x"] <= pd.Timestamp(data.as_of)]
    if frame.empty:
        return [], "price_index 表没有截止日前的月份，下图改用各市月度价格偏离指数（PDI）。"

    def series_name(row: pd.Series) -> str:
        level = row.get("region_level")
        admdvs = row.get("admdvs") if "admdvs" in row else row.get("city_admdvs")
        if level == "all" or not isinstance(admdvs, str) or not admdvs:
            return "全部"
        return city_name(admdvs) if level in (None, "city") or admdvs.endswith("00") else region_label(admdvs)

    if "region_level" in columns and "county" in set(frame["region_level"]):
        frame = frame[frame["region_level"] != "county"]  # too many lines to read: cities and the whole area
    frame["_s"] = frame.apply(series_name, axis=1)
    if "category_group" in columns:
        present = list(dict.fromkeys(frame["category_group"].dropna()))
        groups = [g for g in ("drug", "hvc") if g in present] or present[:2]
    else:
        groups = [None]
    charts = []
    for group in groups:
        part = frame if group is None else frame[frame["category_group"] == group]
        months = sorted(part["_x"].unique())
        labels = [pd.Timestamp(m).strftime("%Y-%m") for m in months]
        order = sorted(part["_s"].unique(), key=lambda name: (name == "全部", name))
        series: dict[str, list[float | None]] = {}
        for name in order[:8]:
            rows = part[part["_s"] == name]
            by_month = dict(zip(rows["_x"], rows[y_col].map(_num)))
            series[str(name)] = [by_month.get(m) for m in months]
        values = [v for s in series.values() for v in s if v is not None]
        reference = 100.0 if values and sum(values) / len(values) > 10 else 1.0
        title = f"{GROUPS.get(group, group)}：价格指数" if group else "价格指数"
        charts.append(line_chart(labels, series, title, "指数", reference, f"基期 = {reference:g}", height=320,
                                 value_format=(lambda v: f"{v:.1f}") if reference == 100 else (lambda v: f"{v:.3f}"),
                                 emphasis="全部"))
    return charts, (f"来源：发布文件中的价格指数表 price_index（{y_col}，{len(frame):,} 行）；"
                    "月度环比链式拉氏指数，公立机构，基期 = 100，低于 100 表示比基期便宜。")


def _price_section(data: ReportData) -> str:
    charts, note = _price_index_charts(data)
    if charts:
        return _section("价格指数", note, "".join(charts), "prices")
    frame = data.pdi_city_month
    panels = []
    for group in ("drug", "hvc"):
        part = frame[frame["category_group"] == group]
        if part.empty:
            continue
        months = sorted(part["month"].unique())
        labels = [pd.Timestamp(m).strftime("%Y-%m") for m in months]
        series = {}
        for city, rows in part.groupby("city_admdvs"):
            by_month = dict(zip(rows["month"], rows["pdi"].map(_num)))
            series[city_name(city)] = [by_month.get(m) for m in months]
        panels.append(line_chart(labels, series, f"{GROUPS[group]}：各市月度价格偏离指数（PDI）", "PDI", 1.0,
                                 "1.00 = 按参照价采购", height=320))
    body = "".join(panels) if panels else "<p>本次发布没有价格偏离指数数据。</p>"
    return _section("价格指数", "PDI = 实付金额 ÷ 参照价金额（中选价、挂网价、同类机构中位价依次取用），全部机构；"
                    "高于 1.00 表示整体买贵。", f'<p class="note">注：{esc(note)}</p>' + body, "prices")


def _deviation_section(data: ReportData) -> str:
    bins = [(_num(r.bin_low), _num(r.bin_high), int(r.lines)) for r in data.deviation_hist.itertuples()]
    total = sum(c for _, _, c in bins)
    above = sum(c for low, _, c in bins if low is not None and low >= -1e-9)
    body = histogram(bins, f"采购明细单价偏离分布（{total:,} 行）")
    return _section("价格偏离分布", f"参与价格指标的采购明细（3503，非赠送，有成交价）相对参照价的偏离；"
                    f"高于参照价的 {above:,} 行（{pct(above / total if total else None)}）。", body, "deviation")


def _anomaly_table(data: ReportData) -> str:
    today = data.today.head(TOP_ANOMALIES)
    if today.empty:
        return "<p>今日没有需要处理的异常线索。</p>"
    head = "<tr><th>严重程度</th><th>类型</th><th>状态</th><th>机构</th><th>金额（元）</th><th>异常描述（函询用语）</th><th>异常编号</th></tr>"
    rows = []
    for r in today.itertuples():
        status = status_label(r.review_status)
        by = f"（{esc(r.reviewed_by)}）" if isinstance(r.reviewed_by, str) and r.reviewed_by else ""
        rows.append(
            f'<tr><td><span class="sev {esc(r.severity)}">{esc(SEVERITIES.get(r.severity, r.severity))}</span></td>'
            f'<td class="nowrap">{esc(anomaly_title(r.anomaly_type))}</td>'
            f'<td class="status {esc(r.review_status)}">{esc(status)}{by}</td>'
            f"<td>{esc(r.fixmedins_name if isinstance(r.fixmedins_name, str) else '')}<br>"
            f'<span class="id">{esc(r.fixmedins_code if isinstance(r.fixmedins_code, str) else "")}</span></td>'
            f'<td class="num">{_yuan(r.excess_amount)}</td><td>{esc(r.detail)}</td>'
            f'<td class="id">{esc(r.anomaly_id)}</td></tr>')
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _anomaly_section(data: ReportData) -> str:
    counts = data.today["anomaly_type"].value_counts()
    types = list(ANOMALY_TYPES) + sorted(set(counts.index) - set(ANOMALY_TYPES))
    lead = ("；".join(f"{anomaly_title(t)} {int(counts.get(t, 0))} 条" for t in types)
            + f"。按 待处理/重新打开 → 严重程度 → 金额 排序，列出前 {TOP_ANOMALIES} 条；全部线索见工作簿。")
    note = ""
    if len(data.suppressed):
        note = (f'<p class="note">另有 {len(data.suppressed)} 条已排除的线索未列出（排除后未明显恶化）；'
                "若差距扩大超过阈值或严重程度升高，将以“重新打开”状态重新列出。</p>")
    return _section("今日异常线索", lead, note + _anomaly_table(data), "anomalies")


def render_html(data: ReportData, workbook_name: str | None = None) -> str:
    published = f"{data.published_at:%Y-%m-%d %H:%M}" if isinstance(data.published_at, dt.datetime) else ""
    workbook = (f"工作簿：{workbook_name}（同一目录）。" if workbook_name else "")
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>药采 yaocai 监测报告 {esc(data.as_of)}</title>
<style>{CSS}</style>
</head>
<body>
<header><h1>药品耗材采购与价格监测报告</h1>
<p>数据截至 {esc(data.as_of)} ｜ 发布 {esc(published)} ｜ 运行 {esc(data.run_id)}</p></header>
<main>
<section id="today"><h2>今日要点</h2>{_cards(data)}{_points(data)}</section>
{_platform_section(data)}
{_vbp_section(data)}
{_price_section(data)}
{_deviation_section(data)}
{_anomaly_section(data)}
{money_section(data)}
<footer>由 yaocai 根据发布文件 {esc(data.published.name)} 生成。{esc(workbook)}
指标口径见 data-contract.md §2；登记处理结果：在工作簿中填写“状态 / 说明 / 处理人”后放入 review_inbox/，
或使用 <code>yaocai review mark</code>。</footer>
</main>
</body>
</html>
"""


def write_html(data: ReportData, path: Path, workbook_name: str | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_html(data, workbook_name), encoding="utf-8")
    os.replace(tmp, path)
    return path


# --- money and enforcement section (issue 16; data: reports/money.py) ----------

def _money_table(frame: pd.DataFrame, columns: list[tuple[str, object]]) -> str:
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
    money = data.money
    overdue, prepay, retention = money.get("settlement_overdue"), money.get("prepayment"), money.get("retention")
    standards, credit, letters = money.get("payment_standards"), money.get("credit"), money.get("letters")
    # Each list is sorted with these rows first: all of them are listed unless they alone pass MAX_SHEET_ROWS.
    recover = prepay[prepay["prepayment_status"] == "to_recover"] if not prepay.empty else prepay
    refused = retention[retention["retention_status"] == "refused"] if not retention.empty else retention
    above = standards[standards["extra_cost"] > 0] if not standards.empty else standards
    lead = (f"逾期结算 {money.matching_rows.get('settlement_overdue', 0)} 笔；应追回预付 {len(recover)} 项（{_yuan(recover['unrecovered_amount'].sum() if len(recover) else 0)} 元）；"
            f"不予结余留用 {len(refused)} 项；超支付标准采购机构 {len(above)} 家"
            f"（超标准费用 {_yuan(above['extra_cost'].sum() if len(above) else 0)} 元）；信用评价证据 {len(credit)} 条；"
            f"已发函询函 {letters['letter_no'].nunique() if len(letters) else 0} 份。工作簿同名工作表列出需处理的行"
            "（所列范围见其“使用说明”），全部行在发布文件中；"
            "口径与规则依据见 docs/money-and-enforcement.md。")
    days = lambda r: _days(r)  # noqa: E731
    body = (
        "<h3>直接结算：逾期（前 10 笔，按天数）</h3>" + _money_table(overdue, [
            ("配送企业", "supplier_name"), ("机构", "fixmedins_name"), ("入库日期", "receipt_date"),
            ("应结算金额（元）", "amount_payable"),
            ("应结算方", lambda r: PARTY.get(r.get("settlement_party"))), ("天数", days),
            ("状态", lambda r: SETTLEMENT_STATUS.get(r.get("settlement_status")))])
        + "<h3>预付：应追回</h3>" + _money_table(recover, [
            ("机构", "fixmedins_name"), ("批次/品种", lambda r: f"{r.get('batch_code')} {r.get('group_code')}"),
            ("协议期结束", "period_end"), ("预付金额（元）", "prepaid_amount"),
            ("累计采购（元）", "cumulative_purchased_amount"), ("待追回（元）", "unrecovered_amount")])
        + "<h3>结余留用：不予留用及原因</h3>" + _money_table(refused, [
            ("机构", "fixmedins_name"), ("批次/品种", lambda r: f"{r.get('batch_code')} {r.get('group_code')}"),
            ("完成率", lambda r: f"{r['completion_rate']:.1%}" if pd.notna(r.get("completion_rate")) else ""),
            ("可留用（元）", "potential_retained_amount"),
            ("未满足条件", lambda r: _conditions(r.get("failed_conditions")))])
        + "<h3>支付标准：超标准采购（按超标准费用）</h3>" + _money_table(above, [
            ("机构", "party_name"), ("超标准采购（元）", "amount_above_standard"), ("超标准费用（元）", "extra_cost"),
            ("患者负担（元）", "extra_cost_patient"),
            ("非中选超标准占比", lambda r: f"{r['nonwinning_share_above_standard']:.1%}"
             if pd.notna(r.get("nonwinning_share_above_standard")) else "")])
        + "<h3>信用评价证据（建议等级，由经办人审核决定）</h3>" + _money_table(credit, [
            ("对象", lambda r: r.get("party_name") or r.get("party_code")),
            ("类型", lambda r: EVIDENCE.get(r.get("evidence_type"))), ("建议等级", "proposed_level"),
            ("金额（元）", "amount"), ("证据说明", "detail"),
            ("审核状态", lambda r: status_label(r.get("review_status")))])
        + "<h3>函询登记</h3>" + _money_table(letters, [
            ("编号", "letter_no"), ("收函单位", "addressee_name"), ("异常编号", "anomaly_id"), ("发函人", "sent_by")]))
    return _section("资金与执法：直接结算、预付、结余留用、支付标准、信用评价、函询", lead, body, "money")
