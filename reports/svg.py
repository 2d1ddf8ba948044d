"""Small inline-SVG charts for the HTML report, generated in Python.

No JavaScript and no external resources: each function returns one
``<svg>`` element that scales to its container (``viewBox``) and inherits
the page's CJK font stack. Text is escaped; numbers are formatted here.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reports.safe import printable

BLUE, ORANGE, GREEN, RED, PURPLE, GREY, DARK = "#2b6cb0", "#dd6b20", "#2f855a", "#c53030", "#6b46c1", "#a0aec0", "#1a202c"
SERIES = ["#2b6cb0", "#dd6b20", "#2f855a", "#6b46c1", "#b7791f", "#c53030", "#319795", "#d53f8c"]


def esc(text: object) -> str:
    """HTML-escaped text with control characters replaced (reports.safe.printable):
    a NUL or ESC from an upload never reaches the page."""
    return html.escape(printable(text), quote=True)


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.{digits}f}%"


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{esc(label)}" '
            f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet"><title>{esc(label)}</title>'
            + "".join(body) + "</svg>")


def _text(x: float, y: float, text: object, size: int = 12, anchor: str = "start", fill: str = DARK,
          weight: str = "normal", baseline: str = "middle") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
            f'font-weight="{weight}" dominant-baseline="{baseline}">{esc(text)}</text>')


def _legend(x: float, y: float, items: Sequence[tuple[str, str, str]]) -> list[str]:
    """items: (shape, colour, label) with shape one of dot, ring, tick, bar, line, dash."""
    out, cx = [], x
    for shape, colour, label in items:
        if shape == "dot":
            out.append(f'<circle cx="{cx + 6:.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>')
        elif shape == "ring":
            out.append(f'<circle cx="{cx + 6:.1f}" cy="{y:.1f}" r="4.5" fill="#fff" stroke="{colour}" stroke-width="2"/>')
        elif shape == "tick":
            out.append(f'<line x1="{cx + 6:.1f}" x2="{cx + 6:.1f}" y1="{y - 8:.1f}" y2="{y + 8:.1f}" stroke="{colour}" stroke-width="3"/>')
        elif shape == "bar":
            out.append(f'<rect x="{cx:.1f}" y="{y - 6:.1f}" width="14" height="12" fill="{colour}" rx="2"/>')
        elif shape == "dash":
            out.append(f'<line x1="{cx:.1f}" x2="{cx + 16:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" stroke-width="2" stroke-dasharray="5 3"/>')
        else:
            out.append(f'<line x1="{cx:.1f}" x2="{cx + 16:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" stroke-width="3"/>')
        out.append(_text(cx + 22, y, label, 12))
        cx += 30 + 13 * len(label) + 10
    return out


def _nice_step(span: float, ticks: int = 6) -> float:
    raw = span / max(ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * magnitude:
            return m * magnitude
    return 10 * magnitude


@dataclass
class RatioRow:
    label: str
    value: float | None        # filled dot (e.g. year to date)
    second: float | None       # ring (e.g. this month)
    target: float | None       # tick


def ratio_dot_chart(rows: Sequence[RatioRow], title: str, value_label: str, second_label: str,
                    width: int = 640) -> str:
    """One row per region: dot = value, ring = second value, dark tick = target;
    the dot is red when below its target. The axis starts where the data
    does (not at 0): this is a dot plot, so no bar length misleads."""
    row_h, top, left, right = 24, 58, 150, 70
    height = top + row_h * max(len(rows), 1) + 34
    values = [v for r in rows for v in (r.value, r.second, r.target) if v is not None and not math.isnan(v)]
    lo = min(values + [0.8]) if values else 0.0
    lo = max(0.0, math.floor((lo - 0.02) * 20) / 20)
    hi = max(values + [1.0]) if values else 1.0
    hi = math.ceil(hi * 20) / 20

    def x(v: float) -> float:
        return left + (width - left - right) * (min(max(v, lo), hi) - lo) / (hi - lo or 1)

    body = [_text(0, 14, title, 15, weight="bold")]
    body += _legend(0, 38, [("dot", BLUE, value_label), ("ring", BLUE, second_label), ("tick", DARK, "目标"),
                            ("dot", RED, "低于目标")])
    step = 0.05 if hi - lo <= 0.5 else 0.1
    tick = lo
    while tick <= hi + 1e-9:
        body.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top - 6}" y2="{height - 30}" stroke="#e2e8f0"/>')
        body.append(_text(x(tick), height - 18, pct(tick, 0), 11, "middle", "#4a5568"))
        tick += step
    for k, r in enumerate(rows):
        y = top + row_h * k + row_h / 2
        if k % 2 == 0:
            body.append(f'<rect x="0" y="{y - row_h / 2:.1f}" width="{width}" height="{row_h}" fill="#f7fafc"/>')
        body.append(_text(left - 8, y, r.label, 12, "end"))
        below = r.value is not None and r.target is not None and r.value < r.target
        colour = RED if below else BLUE
        if r.target is not None:
            body.append(f'<line x1="{x(r.target):.1f}" x2="{x(r.target):.1f}" y1="{y - 9:.1f}" y2="{y + 9:.1f}" '
                        f'stroke="{DARK}" stroke-width="3"/>')
        if r.second is not None and not math.isnan(r.second):
            body.append(f'<circle cx="{x(r.second):.1f}" cy="{y:.1f}" r="4.5" fill="#fff" stroke="{colour}" stroke-width="2"/>')
        if r.value is not None and not math.isnan(r.value):
            body.append(f'<circle cx="{x(r.value):.1f}" cy="{y:.1f}" r="6" fill="{colour}"/>')
        body.append(_text(width - right + 8, y, pct(r.value), 12, fill=colour, weight="bold" if below else "normal"))
    return _svg(width, height, title, body)


@dataclass
class ProgressRow:
    label: str
    value: float | None                  # bar: aggregate completion
    expected: float | None               # tick: expected progress
    points: Sequence[tuple[float, bool]]  # (institution completion, lagging)
    note: str = ""


def progress_chart(rows: Sequence[ProgressRow], title: str, width: int = 1280) -> str:
    """Bars of completion against an expected-progress tick, with one dot per
    institution (red = lagging: more than 10 points behind)."""
    row_h, top, left, right = 30, 58, 120, 190
    height = top + row_h * max(len(rows), 1) + 34
    all_values = [v for r in rows for v in [r.value, r.expected, *(p for p, _ in r.points)] if v is not None]
    hi = min(1.5, max(all_values + [1.0]))
    hi = math.ceil(hi * 10) / 10

    def x(v: float) -> float:
        return left + (width - left - right) * min(max(v, 0.0), hi) / hi

    body = [_text(0, 14, title, 15, weight="bold")]
    body += _legend(0, 38, [("bar", "#90cdf4", "完成率（公立机构合计）"), ("tick", DARK, "序时进度"),
                            ("dot", BLUE, "各机构完成率"), ("dot", RED, "滞后机构（落后超过 10 个百分点）")])
    tick = 0.0
    while tick <= hi + 1e-9:
        body.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top - 6}" y2="{height - 30}" stroke="#e2e8f0"/>')
        body.append(_text(x(tick), height - 18, pct(tick, 0), 11, "middle", "#4a5568"))
        tick += 0.2 if hi > 1 else 0.1
    for k, r in enumerate(rows):
        y = top + row_h * k + row_h / 2
        if k % 2 == 0:
            body.append(f'<rect x="0" y="{y - row_h / 2:.1f}" width="{width}" height="{row_h}" fill="#f7fafc"/>')
        body.append(_text(left - 8, y, r.label, 12, "end"))
        if r.value is not None:
            body.append(f'<rect x="{left}" y="{y - 8:.1f}" width="{x(r.value) - left:.1f}" height="16" fill="#90cdf4" rx="2"/>')
        for n, (value, lagging) in enumerate(r.points):
            jitter = ((n * 7919) % 11 - 5) * 1.2  # deterministic spread so equal values stay visible
            colour = RED if lagging else BLUE
            radius = 4.5 if lagging else 3
            opacity = "1" if lagging else "0.55"
            body.append(f'<circle cx="{x(value):.1f}" cy="{y + jitter:.1f}" r="{radius}" fill="{colour}" fill-opacity="{opacity}"/>')
        if r.expected is not None:
            body.append(f'<line x1="{x(r.expected):.1f}" x2="{x(r.expected):.1f}" y1="{y - 12:.1f}" y2="{y + 12:.1f}" '
                        f'stroke="{DARK}" stroke-width="3"/>')
        behind = r.value is not None and r.expected is not None and r.value < r.expected - 0.10
        body.append(_text(width - right + 8, y, f"{pct(r.value)} / {pct(r.expected)} {r.note}", 12,
                          fill=RED if behind else DARK))
    return _svg(width, height, title, body)


def line_chart(x_labels: Sequence[str], series: Mapping[str, Sequence[float | None]], title: str, y_label: str,
               reference: float | None = None, reference_label: str = "", width: int = 1280, height: int = 360,
               value_format=lambda v: f"{v:.3f}", emphasis: str | None = None) -> str:
    """Monthly series with an optional horizontal reference line; the series
    named ``emphasis`` (e.g. the whole area) is drawn dark and thicker."""

    def colour_of(k: int, name: str) -> str:
        return "#111827" if name == emphasis else SERIES[k % len(SERIES)]

    top, left, right, bottom = 58, 70, 30, 44
    values = [v for s in series.values() for v in s if v is not None and not math.isnan(v)]
    if reference is not None:
        values.append(reference)
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.05, hi + 0.05
    pad = (hi - lo) * 0.1
    lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo, 5)
    lo = math.floor(lo / step) * step
    hi = math.ceil(hi / step) * step
    n = max(len(x_labels), 1)

    def x(i: int) -> float:
        return left + (width - left - right) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - lo) / (hi - lo))

    body = [_text(0, 14, title, 15, weight="bold")]
    def last_value(points: Sequence[float | None]) -> str:
        known = [v for v in points if v is not None and not math.isnan(v)]
        return f" {value_format(known[-1])}" if known else ""

    # the latest value goes in the legend: end-of-line labels collide when series are close
    legend = [("line", colour_of(k, name), f"{name}{last_value(points)}") for k, (name, points) in enumerate(series.items())]
    if reference is not None:
        legend.append(("dash", DARK, reference_label))
    body += _legend(0, 38, legend)
    tick = lo
    while tick <= hi + 1e-9:
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e2e8f0"/>')
        body.append(_text(left - 8, y(tick), value_format(tick), 11, "end", "#4a5568"))
        tick += step
    body.append(_text(12, (top + height - bottom) / 2, y_label, 11, "middle", "#4a5568").replace(
        "<text ", f'<text transform="rotate(-90 12 {(top + height - bottom) / 2:.1f})" '))
    every = max(1, math.ceil(n / 12))
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == n - 1:
            body.append(_text(x(i), height - bottom + 16, label, 11, "middle", "#4a5568"))
    if reference is not None:
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y(reference):.1f}" y2="{y(reference):.1f}" '
                    f'stroke="{DARK}" stroke-width="1.5" stroke-dasharray="6 4"/>')
    for k, (name, points) in enumerate(series.items()):
        colour = colour_of(k, name)
        path: list[str] = []
        for i, v in enumerate(points):
            if v is None or math.isnan(v):
                continue
            path.append(f"{'M' if not path else 'L'}{x(i):.1f},{y(v):.1f}")
        if path:
            body.append(f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" '
                        f'stroke-width="{3.5 if name == emphasis else 2.2}"/>')
        for i, v in enumerate(points):
            if v is not None and not math.isnan(v):
                body.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>')
    return _svg(width, height, title, body)


def histogram(bins: Sequence[tuple[float | None, float | None, int]], title: str, width: int = 1280,
              height: int = 340) -> str:
    """Counts per deviation bin on a log scale (the tails are the findings and
    would vanish on a linear one); bins above the reference are orange/red."""
    top, left, right, bottom = 58, 70, 20, 48
    counts = [c for _, _, c in bins]
    peak = max(counts + [1])
    decades = max(1, math.ceil(math.log10(peak + 1)))
    n = len(bins)
    bar_w = (width - left - right) / max(n, 1)

    def y(count: float) -> float:
        return top + (height - top - bottom) * (1 - math.log10(count + 1) / decades)

    body = [_text(0, 14, title, 15, weight="bold")]
    body += _legend(0, 38, [("bar", BLUE, "低于或等于参照价"), ("bar", ORANGE, "高于参照价"),
                            ("bar", RED, "高出 20% 以上")])
    for d in range(decades + 1):
        value = 10 ** d
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y(value - 1):.1f}" y2="{y(value - 1):.1f}" stroke="#e2e8f0"/>')
        body.append(_text(left - 8, y(value - 1), f"{value:,}", 11, "end", "#4a5568"))
    for k, (low, high, count) in enumerate(bins):
        x0 = left + k * bar_w
        # bins are (low, high]
        colour = BLUE if low is None else RED if high is None or low >= 0.2 - 1e-9 else ORANGE if low >= -1e-9 else BLUE
        if count:
            body.append(f'<rect x="{x0 + 1:.1f}" y="{y(count):.1f}" width="{bar_w - 2:.1f}" '
                        f'height="{height - bottom - y(count):.1f}" fill="{colour}"/>')
            if (low is not None and low >= 0.02) or low is None or high is None:
                body.append(_text(x0 + bar_w / 2, y(count) - 8, f"{count:,}", 10, "middle", colour))
        if low is None:
            body.append(_text(x0 + bar_w / 2, height - bottom + 16, f"≤{pct(high, 0)}", 10, "middle", "#4a5568"))
        elif high is None:
            body.append(_text(x0 + bar_w / 2, height - bottom + 16, f">{pct(low, 0)}", 10, "middle", "#4a5568"))
        elif abs(round(high * 10) - high * 10) < 1e-6 and k + 1 < n and bins[k + 1][1] is not None:
            body.append(_text(x0 + bar_w, height - bottom + 16, pct(high, 0), 10, "middle", "#4a5568"))
    # the reference line sits at the right edge of the (−2 %, 0] bin
    zero = next((k + 1 for k, (_, high, _) in enumerate(bins) if high is not None and abs(high) < 1e-9), None)
    if zero is not None:
        zx = left + zero * bar_w
        body.append(f'<line x1="{zx:.1f}" x2="{zx:.1f}" y1="{top - 4}" y2="{height - bottom}" stroke="{DARK}" '
                    f'stroke-width="1.5" stroke-dasharray="4 3"/>')
    body.append(_text(left + (width - left - right) / 2, height - 10, "单价相对参照价的偏离（upp ÷ 参照价 − 1）；纵轴为行数，对数刻度",
                      11, "middle", "#4a5568"))
    return _svg(width, height, title, body)
