"""What every part of the demo generator shares: the feeds, the data window, line-level rates, dates.

Column names and Chinese labels come from the feed definitions in `ingest/feeds.py`
(data-contract.md §1), so the demo files are shaped by the same specs the loader reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from ingest.feeds import FEEDS as FEED_SPECS
from ingest.feeds import HOSP_LV_NAMES, INSTITUTIONS, OWNERSHIP_NAMES, PURCHASES

FEEDS: tuple[str, ...] = tuple(feed.name for feed in FEED_SPECS)  # one landing sub-folder each
TRUTH_FILE = "demo_truth.json"

# Purchases run from DATA_START to as_of. The VBP cycles below are fixed
# dates, so as_of must leave the planted lagging agreement (GJ09, 2026) far
# enough into its year for "behind expected progress" to mean something.
DATA_START = date(2025, 7, 1)
EARLIEST_AS_OF = date(2026, 6, 30)
LATEST_AS_OF = date(2027, 6, 30)

PURCHASE_COLUMNS: tuple[str, ...] = tuple(PURCHASES.column_names)
# The Chinese-header purchase file labels only these columns (the ones the
# contract gives a bracketed label, docs/data-contract.md §1 purchases), each
# with its first label in the feed definition; the others keep their canonical
# names, as partly translated exports do.
_LABELLED_PURCHASE_COLUMNS = ("fixmedins_bchno", "spler_name", "prodentp_name", "finl_trns_pric", "purc_retn_cnt",
                              "purc_retn_stoin_time", "prod_geay_flag", "platform_order_no")
PURCHASE_LABELS_ZH: dict[str, str] = {name: PURCHASES.column(name).labels[0] for name in _LABELLED_PURCHASE_COLUMNS}
# The register's XLSX export: every column under its first Chinese label, coded
# values under their first Chinese name.
INSTITUTION_LABELS_ZH: dict[str, str] = {column.name: column.labels[0] for column in INSTITUTIONS.columns}
HOSP_LV_ZH: dict[str, str] = {code: names[0] for code, names in HOSP_LV_NAMES.items()}
OWNERSHIP_ZH: dict[str, str] = {code: names[0] for code, names in OWNERSHIP_NAMES.items()}

# Line-level rates (docs/domain-notes.md §2: gifts and missing prices occur in 3503 uploads).
RETURN_RATE = 0.015
GIFT_RATE = 0.005
MISSING_PRICE_RATE = 0.003
OFF_PLATFORM_RATE = 0.04  # plus every line of a product not listed on the platform
LATE_LINES = 6  # lines received after as_of, which the pipeline must ignore

CHUNK_LINES = 250_000  # lines drawn and rendered at a time: bounds memory (~0.5 GB) at any volume
MAX_ROWS_PER_FILE = 1_000_000
XLSX_TIMESTAMP = datetime(2026, 1, 1)

_EPOCH = date(1970, 1, 1)
_NEVER = np.int64(10**9)  # a day number later than any real date: "no change", "not a winner"
_SECONDS_PER_DAY = 86_400
_WORKDAY = (8 * 3600, 18 * 3600)  # receipts are booked during working hours

Progress = Callable[[str, int, int], None]


def _day(d: date) -> int:
    return (d - _EPOCH).days


def _date(day: int) -> date:
    return _EPOCH + timedelta(days=int(day))


def _add_months(d: date, months: int) -> date:
    year, month0 = divmod(d.month - 1 + months, 12)
    return date(d.year + year, month0 + 1, 1)


def _floor_cents(x: np.ndarray) -> np.ndarray:
    # Flooring keeps ordinary prices at or below the listed price, so the
    # only lines above it are the planted ones.
    return np.maximum(0.01, np.floor(x * 100.0) / 100.0)


@dataclass
class _Calendar:
    months: list[date]
    start_day: np.ndarray  # first day of each month
    end_day: np.ndarray  # last day of each month inside the data window
    as_of: date
    as_of_day: int
    as_of_end: int  # last second of as_of

    def month_of(self, day: np.ndarray) -> np.ndarray:
        """Month index of each day; days after as_of fall in the last month, so callers filter on time first."""
        return np.searchsorted(self.start_day, day, side="right") - 1


def _calendar(as_of: date) -> _Calendar:
    months = []
    m = DATA_START
    while m <= as_of:
        months.append(m)
        m = _add_months(m, 1)
    start = np.array([_day(m) for m in months], dtype=np.int64)
    end = np.array([min(_day(_add_months(m, 1)) - 1, _day(as_of)) for m in months], dtype=np.int64)
    return _Calendar(months, start, end, as_of, _day(as_of), (_day(as_of) + 1) * _SECONDS_PER_DAY - 1)


# A block of lines as parallel numpy arrays (rendered to text only when written).
_Lines = dict[str, np.ndarray]


def _take(lines: _Lines, index: np.ndarray) -> _Lines:
    return {k: v[index] for k, v in lines.items()}


def _concat(blocks: list[_Lines]) -> _Lines:
    blocks = [b for b in blocks if len(b["t"])]
    if not blocks:
        return {}
    return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
