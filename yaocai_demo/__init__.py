"""yaocai_demo: synthetic landing data for demos, tests and benchmarks (`yaocai demo-data`).

`generate_demo_landing` writes a landing directory shaped like a real delivery
(data-contract.md §1): the six feeds in the formats the contract accepts (XLSX
with a title row and Chinese headers, UTF-8 / UTF-8-with-BOM / GB18030 CSV,
NHSA 3503 JSON Lines), with known problems planted in it, and
`demo_truth.json` saying exactly what was planted, so the published anomalies
and quarantine can be checked against it. Outside the planted cases the data
keep the rules the pipeline checks: prices at or below the listed price, VBP
agreements on track, non-winning VBP volume a small share of the winning one.

All randomness comes from one seeded numpy Generator consumed in a fixed
order, so the same arguments give byte-identical files. Purchases are drawn
month by month in vectorised chunks and streamed to disk: memory is bounded by
the chunk size, not by `purchase_lines`, so the generator scales to tens of
millions of lines.

The data are synthetic. County and district codes are real; institution,
manufacturer and supplier names are generated from patterns, and manufacturer
and supplier names use invented word stems so they do not name real firms.

One module per job, in the order a landing is made:

  basics          feeds, column names and labels (from ingest/feeds.py), data window, rates, dates
  reference       cities and counties, name pools, generics, VBP batches
  institutions    the register of designated institutions
  catalogue       products, listed-price history, VBP results
  anomalies       who buys what, and the planted anomalies
  purchases       purchase and return lines, drawn month by month in chunks
  rendering       file renderers (CSV, GB18030 with Chinese headers, NHSA JSON Lines, XLSX)
  agreed_volumes  约定采购量, set from what was bought
  truth           what was written and planted (demo_truth.json)
  landing         generate_demo_landing, the entry point

It is not part of the production pipeline: nothing in yaocai, ingest, reports
or the DAGs imports it (the CLI loads it only for `yaocai demo-data`).
"""

from yaocai_demo.basics import (
    FEEDS,
    HOSP_LV_ZH,
    INSTITUTION_LABELS_ZH,
    OWNERSHIP_ZH,
    PURCHASE_COLUMNS,
    PURCHASE_LABELS_ZH,
    TRUTH_FILE,
)
from yaocai_demo.landing import generate_demo_landing

__all__ = [
    "FEEDS",
    "HOSP_LV_ZH",
    "INSTITUTION_LABELS_ZH",
    "OWNERSHIP_ZH",
    "PURCHASE_COLUMNS",
    "PURCHASE_LABELS_ZH",
    "TRUTH_FILE",
    "generate_demo_landing",
]
