"""The officers' Excel workbook: WAREHOUSE/reports/<as-of>/yaocai-<as-of>.xlsx.

Sheets: 概览 (indicators against targets per city), one sheet per anomaly
type (the findings not suppressed by a dismissal, with the review columns
状态 / 说明 / 处理人 to fill in), 已排除 (suppressed findings, to undo a
dismissal), 集采进度 and 网采率 by institution, and 使用说明 (run, legend,
how to return the workbook).

Every data sheet: header in row 1, frozen, auto-filter, number formats
(percent and yuan with 2 decimals, unit prices with 4), fitted column
widths, and every text cell through :func:`reports.safe.neutralise`.

Review round trip: an officer edits 状态/说明/处理人 and drops the file into
WAREHOUSE/review_inbox/; :func:`read_review_rows` reads it back
(yaocai/reviews.py applies it). The hidden columns 原状态/原说明 hold what
was printed, so only rows the officer changed count as decisions.

The workbook is written by XlsxWriter in constant-memory mode (each row goes
to the file as the next one starts: memory follows one row, not the sheet)
and read back by openpyxl. XlsxWriter writes a cell in about half the time
openpyxl's write-only mode took (1.15 M cells at 20 M purchase lines: the
reports step's main cost every night; issue 18, benchmarks/RESULTS.md).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import numbers
import os
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xlsxwriter
from openpyxl import load_workbook

from reports.data import ReportData
from reports.money import (EVIDENCE, PARTY, PARTY_TYPE, PREPAYMENT_STATUS, RETENTION_STATUS, ROLLUP,
                           SETTLEMENT_STATUS, _conditions, _days)
from reports.labels import (ANOMALY_TYPES, DECISIONS, GROUPS, OWNERSHIP, REFERENCE_TYPES, SEVERITIES, STATUS_LABELS,
                            anomaly_title, anomaly_type_registry, city_name, status_label)
from reports.safe import neutralise, unneutralise

# Review columns (the names; the reader finds them by header text).
ID_HEADER = "异常编号"
STATUS_HEADER = "状态"
REASON_HEADER = "说明"
BY_HEADER = "处理人"
ORIG_STATUS_HEADER = "原状态"
ORIG_REASON_HEADER = "原说明"

FORMATS = {
    "pct": "0.00%",
    "yuan": "#,##0.00",
    "unit_price": "#,##0.0000",
    "qty": "#,##0",
    "int": "0",
    "index": "0.000",
    "date": "yyyy-mm-dd",
    "month": "yyyy-mm",
    "datetime": "yyyy-mm-dd hh:mm",
}
# Cell styles: XlsxWriter format properties (CellStyle), one Format per
# distinct style and workbook (_Formats).
CellStyle = dict[str, object]  # num_format, bold, font_color, bg_color, pattern, text_wrap, valign …
HEADER_STYLE: CellStyle = {"bold": True, "font_color": "#FFFFFF", "bg_color": "#1F4E79", "pattern": 1, "valign": "vcenter"}
EDIT_STYLE: CellStyle = {"bg_color": "#FFF2CC", "pattern": 1}  # the cells officers fill in
BAD_STYLE: CellStyle = {"font_color": "#C00000", "bold": True}
WRAP_STYLE: CellStyle = {"text_wrap": True, "valign": "top"}
MAX_WIDTH = 60
WRAP_WIDTH = 70  # the evidence sentence: wide, wrapped


@dataclass
class Col:
    header: str
    value: Callable[[dict], object] | str  # row key or function of the row
    fmt: str | None = None                 # key of FORMATS
    wrap: bool = False
    editable: bool = False
    hidden: bool = False
    min_width: int = 0                     # room to type in (review columns)

    def get(self, row: dict) -> object:
        return row.get(self.value) if isinstance(self.value, str) else self.value(row)


def _clean(value: object) -> object:
    """Cell value: NaN/NaT → empty, pandas timestamps → datetime, text neutralised."""
    kind = type(value)
    if kind is int or (kind is float and value == value):  # most cells: a number, not NaN, kept as it is
        return value
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    return neutralise(value)


def _display_width(value: object, fmt: str | None) -> int:
    if value is None:
        return 0
    if isinstance(value, (dt.datetime, dt.date)):
        return 16 if fmt == "datetime" else 10
    if isinstance(value, bool):
        return 2
    if isinstance(value, (int, float)):
        if fmt == "pct":
            return len(f"{value * 100:,.2f}%")
        if fmt in ("yuan", "qty"):
            return len(f"{value:,.2f}")
        if fmt == "unit_price":
            return len(f"{value:,.4f}")
        return len(f"{value:,.3f}")
    return _text_width(str(value))


@functools.lru_cache(maxsize=1 << 16)
def _text_width(text: str) -> int:
    # East Asian wide characters take two columns
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _column_width(values: Iterable[object], fmt: str | None) -> int:
    """The largest _display_width of a column's values, formatting two of its
    numbers instead of every one: a number's formatted width never shrinks
    as its magnitude grows, so the smallest and the largest finite number
    are the widest of either sign (issue 18: widths cell by cell were a
    tenth of the workbook's time at 20 M lines)."""
    widest = 0
    low = high = None
    for value in values:
        if (type(value) is int or type(value) is float) and math.isfinite(value):
            low = value if low is None or value < low else low
            high = value if high is None or value > high else high
        elif value is not None:
            widest = max(widest, _display_width(value, fmt))
    return max([widest, *(_display_width(v, fmt) for v in (low, high) if v is not None)])


class _Formats:
    """The workbook's Format objects, one per distinct style."""

    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self.workbook = workbook
        self._formats: dict[tuple, object] = {}

    def get(self, style: CellStyle) -> object | None:
        key = tuple(sorted((k, v) for k, v in style.items() if v is not None))
        if not key:
            return None
        if key not in self._formats:
            self._formats[key] = self.workbook.add_format(dict(key))
        return self._formats[key]


def _write_cell(ws, formats: _Formats, row: int, col: int, value: object, style: CellStyle, fmt: object) -> None:
    """One cell, by its type: text is always written as text (never read as
    a formula or a link), dates as Excel dates with a date format. ``fmt``
    is ``formats.get(style)``, which callers resolve once per column, not
    once per cell."""
    if value is None:
        if style.get("bg_color"):  # an empty cell needs a style only to show a fill
            ws.write_blank(row, col, None, fmt)
        return
    if isinstance(value, bool):
        ws.write_boolean(row, col, value, fmt)
    elif isinstance(value, numbers.Number):
        ws.write_number(row, col, value, fmt)
    elif isinstance(value, (dt.datetime, dt.date)):
        if not style.get("num_format"):
            fmt = formats.get({**style, "num_format": FORMATS["datetime" if isinstance(value, dt.datetime) else "date"]})
        ws.write_datetime(row, col, value, fmt)
    else:
        # A line break in a cell is LF in Excel; a CR would be stored as the
        # escape _x000D_, which readers other than Excel show literally.
        text = str(value).replace("\r\n", "\n").replace("\r", "\n")
        ws.write_string(row, col, text, fmt)


def write_table(ws, formats: _Formats, cols: Sequence[Col], rows: Sequence[dict], status_validation: bool = False,
                row_styles: Callable[[dict], dict[int, CellStyle]] | None = None) -> None:
    """Header in row 1, data below; frozen header, auto-filter, formats, widths.

    ``ws`` is a sheet of a constant-memory workbook (each row streamed to
    the file, issue 18), so rows are written in order, each cell with its
    style. ``row_styles``: per-row styles of some columns (0-based column →
    style), over the column's own."""
    widths = [_display_width(c.header, None) + 2 for c in cols]  # + filter button
    table = [[_clean(c.get(row)) for c in cols] for row in rows]
    for k, c in enumerate(cols):
        widths[k] = max(widths[k], _column_width((values[k] for values in table), c.fmt))
    n = len(rows)
    for k, c in enumerate(cols):
        fitted = max(widths[k], c.min_width, 16 if c.fmt == "datetime" else 0)
        ws.set_column(k, k, min(WRAP_WIDTH if c.wrap else MAX_WIDTH, fitted + 2), None, {"hidden": c.hidden})
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(n, 1), len(cols) - 1)
    if status_validation:
        k = [c.header for c in cols].index(STATUS_HEADER)
        ws.data_validation(1, k, max(n, 1), k, {
            "validate": "list", "source": [STATUS_LABELS[s] for s in DECISIONS], "ignore_blank": True,
            "show_error": False, "input_title": "状态", "input_message": "待处理 / 已确认 / 已排除（须填写说明）/ 已函询"})
    header_format = formats.get(HEADER_STYLE)
    for k, c in enumerate(cols):
        _write_cell(ws, formats, 0, k, neutralise(c.header), HEADER_STYLE, header_format)
    column_styles: list[CellStyle] = [
        {"num_format": FORMATS[c.fmt] if c.fmt else None, **(WRAP_STYLE if c.wrap else {}),
         **(EDIT_STYLE if c.editable else {})} for c in cols]
    column_formats = [formats.get(style) for style in column_styles]
    for number, (row, values) in enumerate(zip(rows, table), start=1):
        styles, row_formats = column_styles, column_formats
        if row_styles is not None:
            styles = list(column_styles)
            for k, extra in row_styles(row).items():
                styles[k] = {**styles[k], **extra}
            row_formats = [formats.get(style) for style in styles]
        for k, (v, style, fmt) in enumerate(zip(values, styles, row_formats)):
            _write_cell(ws, formats, number, k, v, style, fmt)


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records") if frame is not None and not frame.empty else []


# --- anomaly sheets -----------------------------------------------------

def _review_cols() -> list[Col]:
    return [
        Col(STATUS_HEADER, lambda r: status_label(r.get("review_status")), editable=True, min_width=10),
        Col(REASON_HEADER, "review_reason", editable=True, min_width=30),
        Col(BY_HEADER, "reviewed_by", editable=True, min_width=10),
        Col("处理时间", "reviewed_at", "datetime"),
    ]


def _hidden_original_cols() -> list[Col]:
    return [
        Col(ORIG_STATUS_HEADER, lambda r: status_label(r.get("review_status")), hidden=True),
        Col(ORIG_REASON_HEADER, "review_reason", hidden=True),
    ]


def _institution_cols() -> list[Col]:
    return [
        Col("机构编号", "fixmedins_code"),
        Col("机构名称", "fixmedins_name"),
        Col("地市", lambda r: city_name(r.get("admdvs")) if r.get("admdvs") else None),
        Col("区划", "admdvs"),
    ]


def _registry_col(spec: str) -> Col:
    """A sheet column from the registry's "header=row key:format" (format
    ``group``: the category group's Chinese name)."""
    header, _, rest = spec.partition("=")
    key, _, fmt = rest.partition(":")
    if fmt == "group":
        return Col(header, lambda r: GROUPS.get(r.get(key), r.get(key)))
    return Col(header, key, fmt or None)


# Each anomaly type's own columns, from the registry (reports/labels.py).
TYPE_COLS: dict[str, list[Col]] = {t["type"]: [_registry_col(c) for c in t["workbook_columns"]]
                                   for t in anomaly_type_registry() if t["workbook_columns"]}
# A type added later without columns here still gets its sheet with these.
GENERIC_COLS = [
    Col("月份", "month", "month"),
    Col("产品编码", "med_list_codg"),
    Col("批次", "batch_code"),
    Col("品种", "group_code"),
    Col("分组", lambda r: GROUPS.get(r.get("category_group"), r.get("category_group"))),
    Col("指标值", "metric_value", "index"),
    Col("参照值", "reference_value", "index"),
    Col("参照类型", lambda r: REFERENCE_TYPES.get(r.get("reference_type"), r.get("reference_type"))),
    Col("差距", "gap", "index"),
    Col("金额（元）", "excess_amount", "yuan"),
]


def anomaly_cols(anomaly_type: str | None) -> list[Col]:
    head = [Col(ID_HEADER, "anomaly_id"), Col("严重程度", lambda r: SEVERITIES.get(r.get("severity"), r.get("severity")))]
    if anomaly_type is None:  # the 已排除 sheet mixes types
        specific = [Col("异常类型", lambda r: anomaly_title(r["anomaly_type"])), *GENERIC_COLS]
    else:
        specific = TYPE_COLS.get(anomaly_type, GENERIC_COLS)
    return [*head, *_review_cols(), *_institution_cols(), *specific, Col("异常描述（函询用语）", "detail", wrap=True),
            *_hidden_original_cols()]


# --- other sheets -------------------------------------------------------

SUMMARY_COLS = [
    Col("地市", lambda r: city_name(r["city_admdvs"])),
    Col("区划", "city_admdvs"),
    Col("指标", "indicator"),
    Col("分组", lambda r: GROUPS.get(r.get("group"), r.get("group"))),
    Col("当前值", "value"),  # format per row (set after writing)
    Col("当月值", "month_value"),
    Col("目标 / 参照", "target"),
    Col("差距", "gap"),
    Col("结论", "verdict"),
    Col("口径说明", "note", wrap=True),
]

VBP_COLS = [
    Col("批次", "batch_code"), Col("品种", "group_code"), Col("机构编号", "fixmedins_code"), Col("机构名称", "fixmedins_name"),
    Col("经济类型", lambda r: OWNERSHIP.get(r.get("ownership"), r.get("ownership"))),
    Col("地市", lambda r: city_name(r.get("admdvs"))), Col("区划", "admdvs"),
    Col("协议期开始", "period_start", "date"), Col("协议期结束", "period_end", "date"),
    Col("报量品牌", "designated_med_list_codg"),
    Col("约定采购量（最小单位）", "agreed_qty", "qty"), Col("已采购量（最小单位）", "purchased_qty", "qty"),
    Col("完成率", "completion_rate", "pct"), Col("序时进度", "expected_progress", "pct"),
    Col("落后序时进度", "behind", "pct"),
    Col("是否滞后", lambda r: "滞后" if r.get("is_lagging") else ""),
    Col("非中选产品占比", "nonwinning_share", "pct"),
]

RATIO_COLS = [
    Col("机构编号", "fixmedins_code"), Col("机构名称", "fixmedins_name"),
    Col("经济类型", lambda r: OWNERSHIP.get(r.get("ownership"), r.get("ownership"))),
    Col("地市", lambda r: city_name(r.get("admdvs"))), Col("区划", "admdvs"),
    Col("分组", lambda r: GROUPS.get(r.get("category_group"), r.get("category_group"))),
    Col("当月网采率", "ratio", "pct"), Col("当月平台采购金额（元）", "platform_amount", "yuan"),
    Col("当月采购金额（元）", "total_amount", "yuan"),
    Col("年初至今网采率", "ytd_ratio", "pct"), Col("年初至今平台采购金额（元）", "ytd_platform_amount", "yuan"),
    Col("年初至今采购金额（元）", "ytd_total_amount", "yuan"),
    Col("市目标", "target", "pct"),
    Col("低于目标", lambda r: "低于目标" if r.get("below_target") is True else ""),
]


def _write_summary(ws, formats: _Formats, data: ReportData) -> None:
    headers = [c.header for c in SUMMARY_COLS]
    numeric = [headers.index(h) for h in ("当前值", "当月值", "目标 / 参照", "差距")]
    verdict = headers.index("结论")

    def row_styles(row: dict) -> dict[int, CellStyle]:
        fmt = {"pct": FORMATS["pct"], "index": FORMATS["index"], "count": FORMATS["int"]}[row["unit"]]
        styles: dict[int, CellStyle] = {k: {"num_format": fmt} for k in numeric}
        if row.get("met") is False:
            styles[verdict] = BAD_STYLE
        return styles

    write_table(ws, formats, SUMMARY_COLS, _records(data.city_indicators), row_styles=row_styles)


def _write_guide(ws, formats: _Formats, data: ReportData, counts: dict[str, int]) -> None:
    lines = [
        ("药采 yaocai 价格与采购监测", ""),
        ("数据截止日", data.as_of),
        ("发布时间", data.published_at),
        ("运行编号", data.run_id),
        ("发布文件", str(data.published)),
        ("", ""),
        ("今日异常线索（未排除）", len(data.today)),
        *[(f"  {anomaly_title(t)}", n) for t, n in counts.items()],
        ("已排除（未恶化，不在今日清单）", len(data.suppressed)),
        ("", ""),
        ("如何登记处理结果", ""),
        ("1", "在各异常工作表的黄色列填写：状态（下拉选择）、说明、处理人。只改需要处理的行，其余行保持不变。"),
        ("2", "状态：待处理 / 已确认 / 已排除（必须填写说明，例如“系统录入错误，已核实”）/ 已函询（已发函询）。"),
        ("3", "保存后把整个工作簿放入 仓库目录/review_inbox/，下次运行（每晚或 yaocai run）时登记，文件移到 review_inbox/processed/。"),
        ("4", "有问题的行（如“已排除”未填说明、状态无法识别）会使整个文件不被登记，文件移到 review_inbox/needs_fix/，旁边的 .errors.txt 列出每一行的问题；改正后重新放入 review_inbox/。"),
        ("5", "已排除的线索不再出现在今日清单中；若之后明显恶化（差距比排除时扩大 20% 以上，或严重程度升高），会以“重新打开”状态重新出现。"),
        ("6", "也可在命令行登记：yaocai review mark 异常编号 --status dismissed --reason \"…\" --by 姓名；查看：yaocai review list。"),
        ("集采进度（机构）", "只列数据截止日仍在协议期内的协议；已结束协议期的完成情况在发布文件的 vbp_completion 表中。"),
        *_money_guide_lines(data),
        ("", ""),
        ("严重程度", "高：差距 ≥ 50%；中：≥ 20%；低：其余（集采滞后按落后百分点计）"),
        ("参照类型", "；".join(f"{v}（{k}）" for k, v in REFERENCE_TYPES.items())),
    ]
    ws.set_column(0, 0, 34)
    ws.set_column(1, 1, 110)
    value_style: CellStyle = {"text_wrap": True, "valign": "top", "align": "left"}
    for number, (key, value) in enumerate(lines):
        shown_key, shown_value = _clean(key), _clean(value)
        key_style: CellStyle = ({"bold": True, "font_size": 14} if number == 0
                     else {"bold": True} if shown_key in ("如何登记处理结果", "今日异常线索（未排除）") else {})
        _write_cell(ws, formats, number, 0, shown_key, key_style, formats.get(key_style))
        _write_cell(ws, formats, number, 1, shown_value, value_style, formats.get(value_style))


def _sheet_title(anomaly_type: str) -> str:
    # Excel: at most 31 characters, none of []:*?/\\
    title = anomaly_title(anomaly_type)
    return "".join("_" if ch in '[]:*?/\\' else ch for ch in title)[:31]


def build_workbook(data: ReportData, path: Path) -> Path:
    """Write the workbook to ``path`` (via a temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    # nan_inf_to_errors: a ratio that is infinite shows as #DIV/0! instead of failing the workbook
    wb = xlsxwriter.Workbook(str(tmp), {"constant_memory": True, "nan_inf_to_errors": True})
    formats = _Formats(wb)
    _write_summary(wb.add_worksheet("概览"), formats, data)

    today = data.today
    counts: dict[str, int] = {}
    # One sheet per type: the known ones (even when empty today) and any newer type present.
    types = list(ANOMALY_TYPES) + sorted(set(data.anomalies["anomaly_type"]) - set(ANOMALY_TYPES))
    for anomaly_type in types:
        rows = _records(today[today["anomaly_type"] == anomaly_type])
        counts[anomaly_type] = len(rows)
        ws = wb.add_worksheet(_sheet_title(anomaly_type))
        write_table(ws, formats, anomaly_cols(anomaly_type), rows, status_validation=True)
    ws = wb.add_worksheet("已排除")
    write_table(ws, formats, anomaly_cols(None), _records(data.suppressed), status_validation=True)

    write_table(wb.add_worksheet("集采进度（机构）"), formats, VBP_COLS, _records(data.vbp))
    write_table(wb.add_worksheet("网采率（机构）"), formats, RATIO_COLS, _records(data.institution_ratio))
    write_money_sheets(wb, formats, data)  # issue 16: settlement, prepayment, retention, payment standards, credit, letters
    _write_guide(wb.add_worksheet("使用说明"), formats, data, counts)

    # author "yaocai" is also the file's "last modified by", which read_review_rows takes for no one
    wb.set_properties({"title": f"药采 yaocai {data.as_of}", "author": "yaocai"})
    wb.close()
    os.replace(tmp, path)
    return path


# --- reading review decisions back --------------------------------------

@dataclass
class ReviewRow:
    sheet: str
    row: int
    anomaly_id: str | None
    status_text: str
    reason: str | None
    reviewed_by: str | None
    original_status_text: str | None  # None when the workbook has no 原状态 column
    original_reason: str | None

    @property
    def where(self) -> str:
        return f"{self.sheet}!{self.row}"


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(unneutralise(value)).strip()
    return text or None


def read_review_rows(path: Path) -> tuple[list[ReviewRow], str | None]:
    """Every data row of every sheet that has 异常编号 and 状态 columns.

    Returns the rows and the workbook's "last modified by" (the default
    处理人). Sheets are found by their header, so renamed or reordered
    sheets, and workbooks assembled by hand, still work."""
    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        rows: list[ReviewRow] = []
        for ws in wb.worksheets:
            header_row = None
            for values in ws.iter_rows(min_row=1, max_row=1, values_only=True):
                header_row = [(_text(v) or "") for v in values]
            if not header_row or ID_HEADER not in header_row or STATUS_HEADER not in header_row:
                continue
            index = {h: k for k, h in enumerate(header_row) if h}

            def cell(values: tuple, header: str) -> object:
                k = index.get(header)  # noqa: B023 (called in this iteration only)
                return values[k] if k is not None and k < len(values) else None

            for number, values in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
                anomaly_id = _text(cell(values, ID_HEADER))
                status = _text(cell(values, STATUS_HEADER)) or ""
                reason = _text(cell(values, REASON_HEADER))
                by = _text(cell(values, BY_HEADER))
                if not anomaly_id and not status and not reason:
                    continue
                has_original = ORIG_STATUS_HEADER in index
                rows.append(ReviewRow(
                    sheet=ws.title, row=number, anomaly_id=anomaly_id, status_text=status, reason=reason,
                    reviewed_by=by,
                    original_status_text=(_text(cell(values, ORIG_STATUS_HEADER)) or "") if has_original else None,
                    original_reason=_text(cell(values, ORIG_REASON_HEADER)) if has_original else None))
        modified_by = wb.properties.lastModifiedBy if wb.properties else None
        if modified_by in ("openpyxl", "yaocai"):
            modified_by = None
        return rows, modified_by
    finally:
        wb.close()


# --- money and enforcement sheets (issue 16; data: reports/money.py) -----------

def _money_sheet_columns():
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
            Col("审核状态", lambda r: status_label(r.get("review_status"))),
            Col("证据说明", "detail", wrap=True), Col("异常编号", "anomaly_ids", wrap=True)]),
        "letters": ("函询登记", [
            Col("函询函编号", "letter_no"), Col("收函单位", "addressee_name"), Col("编码", "addressee_code"),
            Col("异常编号", "anomaly_id"), Col("类型", "anomaly_type"), Col("金额（元）", "excess_amount", "yuan"),
            Col("发函人", "sent_by"), Col("发函时间", "sent_at"), Col("文件", "letter_file")]),
    }


def write_money_sheets(wb, formats: _Formats, data) -> None:
    """One sheet per money/enforcement table (after the VBP and ratio sheets)."""
    for name, (title, cols) in _money_sheet_columns().items():
        write_table(wb.add_worksheet(title), formats, cols, _records(data.money.get(name)))


def _money_guide_lines(data) -> list[tuple[str, str]]:
    """The guide's line for each money sheet that does not list every row of its table."""
    return [(title, note) for name, (title, _) in _money_sheet_columns().items()
            if (note := data.money.left_out(name))]
