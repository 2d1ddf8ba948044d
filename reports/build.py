"""Generate the workbook and the HTML report for a publication.

``yaocai run`` calls this after publishing (yaocai.pipeline.reports_step);
``yaocai report --warehouse DIR`` regenerates them from the current
publication. Output: WAREHOUSE/reports/<as-of>/yaocai-<as-of>.{xlsx,html},
each written under a temporary name and renamed into place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from reports.data import load
from reports.html import write_html
from reports.workbook import build_workbook
from foundation.layout import Layout


@dataclass
class ReportFiles:
    as_of: str
    workbook: Path
    html: Path
    anomalies_today: int
    anomalies_suppressed: int
    seconds: float

    def line(self, base: Path | None = None) -> str:
        def show(path: Path) -> str:
            shown = path.relative_to(base) if base and path.is_relative_to(base) else path
            return f"{shown} ({path.stat().st_size / 1024:,.0f} KB)"
        return (f"{show(self.workbook)}, {show(self.html)}; {self.anomalies_today} findings listed, "
                f"{self.anomalies_suppressed} suppressed by dismissals")


def generate_reports(warehouse: Path) -> ReportFiles:
    started = time.monotonic()
    layout = Layout(Path(warehouse))
    data = load(layout.published)
    as_of = data.as_of.isoformat()
    out = layout.report_dir(as_of)
    workbook = build_workbook(data, out / f"yaocai-{as_of}.xlsx")
    html = write_html(data, out / f"yaocai-{as_of}.html", workbook_name=workbook.name)
    return ReportFiles(as_of, workbook, html, len(data.today), len(data.suppressed), time.monotonic() - started)
