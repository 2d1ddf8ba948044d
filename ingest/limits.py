"""Limits on one delivery file, so that no file can take the night's time or
the machine's memory (issue 13: every input bounded in time and memory).

A file over a limit is rejected whole (manifest status ``rejected`` and a
file-level quarantine row naming the limit and its setting); the other files
of the night load as usual. Each limit is an environment variable, read when
a file is read (so a test or an operator can change it without a restart);
the README's "Limits on delivery files" lists them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

MIB = 1 << 20


class FileRejected(Exception):
    """The whole file cannot be read; the message is shown to the data provider."""


class SettingError(ValueError):
    """A limit's environment variable is not a positive number: the night
    stops (rejecting every file for it would keep them rejected)."""


@dataclass(frozen=True)
class Limit:
    env: str          # the setting's environment variable
    default: int
    what: str         # for messages: "over the limit of 10 <what>"

    def value(self, feed: str | None = None) -> int | float:
        """The setting; ``<env>_<FEED>`` (e.g. YAOCAI_MAX_FILE_BYTES_PURCHASES)
        overrides it for one feed where a limit is per feed (file size and
        wall time)."""
        for name in ([f"{self.env}_{feed.upper()}"] if feed else []) + [self.env]:
            text = os.environ.get(name, "").strip()
            if text:
                try:
                    number = float(text)
                except ValueError:
                    raise SettingError(f"{name}={text!r} is not a number") from None
                if not number > 0:
                    raise SettingError(f"{name}={text!r} must be positive")
                return int(number) if number.is_integer() else number
        return self.default

    def exceeded(self, actual: int | str, feed: str | None = None) -> str:
        """The rejection reason an officer reads."""
        return f"{actual}, over the limit of {self.value(feed):,} {self.what} ({self.env})"


# A delivery file's size on disk. Per feed: YAOCAI_MAX_FILE_BYTES_<FEED>.
# 4 GiB is about 13 M purchase lines (20 M lines are 6 GB, ingest/lake.py);
# the demo and benchmark deliveries are one file per month.
MAX_FILE_BYTES = Limit("YAOCAI_MAX_FILE_BYTES", 4096 * MIB, "bytes per file")
# One cell (CSV field, JSON value, XLSX cell), in characters. Real fields are
# names, codes and numbers (well under 1 KB); 1 Mi characters leaves room
# for notes pasted into a cell and keeps every staged row far below DuckDB's
# line limit.
MAX_FIELD_CHARS = Limit("YAOCAI_MAX_FIELD_CHARS", MIB, "characters per field")
# Columns of one file (header or any row). A feed has at most 19 columns;
# unknown ones are kept in _extra, so 1,000 is generous.
MAX_COLUMNS = Limit("YAOCAI_MAX_COLUMNS", 1000, "columns")
# Nesting depth of one JSON line. An NHSA message is 3 deep.
MAX_JSON_DEPTH = Limit("YAOCAI_MAX_JSON_DEPTH", 64, "levels of JSON nesting")
# One line of a CSV or JSON Lines file, in characters (a line is read whole
# before it is parsed, so this bounds the memory one line takes).
MAX_LINE_CHARS = Limit("YAOCAI_MAX_LINE_CHARS", 16 * MIB, "characters per line")
# Rows of an XLSX sheet, counted as read (never from the sheet's declared
# <dimension>). Excel itself stops at 1,048,576.
MAX_XLSX_ROWS = Limit("YAOCAI_MAX_XLSX_ROWS", 1_048_576, "rows per XLSX sheet")
# An XLSX is a zip: the sum of its parts' declared uncompressed sizes, checked
# before it is opened (Python's zipfile never inflates a part past its
# declared size, so the check is a real bound).
MAX_XLSX_INFLATED_BYTES = Limit("YAOCAI_MAX_XLSX_INFLATED_BYTES", 1024 * MIB, "bytes uncompressed")
# Uncompressed / compressed size of any part of an XLSX. Spreadsheet XML
# compresses 5-11 times (the workbooks in shared/real-data, the demo's);
# a zip bomb about 1,000 times.
MAX_XLSX_RATIO = Limit("YAOCAI_MAX_XLSX_RATIO", 200, "times")
# Wall time to read one file (decode, check and stage its rows). A whole
# ingest of 20 M lines takes 169 s (benchmarks/RESULTS.md), so 30 minutes
# per file only stops a file that would never end.
MAX_FILE_SECONDS = Limit("YAOCAI_MAX_FILE_SECONDS", 1800, "seconds per file")

PER_FEED = (MAX_FILE_BYTES, MAX_FILE_SECONDS)
ALL = (MAX_FILE_BYTES, MAX_FIELD_CHARS, MAX_COLUMNS, MAX_JSON_DEPTH, MAX_LINE_CHARS, MAX_XLSX_ROWS,
       MAX_XLSX_INFLATED_BYTES, MAX_XLSX_RATIO, MAX_FILE_SECONDS)



def check_settings(feeds: list[str]) -> None:
    """Raise SettingError for any limit set to something that is not a
    positive number (checked once before the first file is read)."""
    for limit in ALL:
        limit.value()
    for limit in PER_FEED:
        for feed in feeds:
            limit.value(feed)


# The clock of the file being read (one file at a time per process); the
# readers call check_clock() in their loops, the loader interrupts DuckDB.
_deadline: float | None = None
_feed: str | None = None


def start_clock(feed: str | None = None) -> float:
    """Start the wall-time limit of one file; returns its deadline (monotonic)."""
    global _deadline, _feed
    _feed = feed
    _deadline = time.monotonic() + MAX_FILE_SECONDS.value(feed)
    return _deadline


def stop_clock() -> None:
    global _deadline
    _deadline = None


def out_of_time() -> FileRejected:
    return FileRejected(f"reading it took longer than the limit of {MAX_FILE_SECONDS.value(_feed):,} "
                        f"{MAX_FILE_SECONDS.what} ({MAX_FILE_SECONDS.env}, or {MAX_FILE_SECONDS.env}_<FEED>)")


def check_clock() -> None:
    if _deadline is not None and time.monotonic() > _deadline:
        raise out_of_time()
