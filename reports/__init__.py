"""What pricing officers (价格/招采科) see after each nightly run.

- ``reports.workbook``: the Excel workbook WAREHOUSE/reports/<as-of>/yaocai-<as-of>.xlsx
  (summary against targets, one sheet per anomaly type with review columns,
  VBP progress and platform ratio by institution);
- ``reports.html``: the self-contained HTML report with inline SVG charts;
- ``reports.safe``: the one helper every export uses to neutralise
  formula-looking text (CSV/formula injection);
- ``reports.build``: generate both for a publication (``yaocai report``).

Everything reads the published file read-only; nothing here writes DuckDB.
"""
