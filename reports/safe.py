"""Safe text for spreadsheets: the one helper every export uses.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return can be taken for a formula by Excel, WPS or LibreOffice when the file
is opened (CSV/formula injection). Institution names, product names and
reasons come from outside (hospital uploads, officers' notes), so every text
value written to an .xlsx or .csv goes through :func:`neutralise`, which
prefixes such text with a single quote, as the OWASP "CSV Injection" page
recommends. Numbers, dates and booleans are written as themselves.

Reading back (review workbooks) uses :func:`unneutralise` to drop that quote.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutralise(value: object) -> object:
    """The value to write: text starting with a formula trigger gets a leading
    single quote; other values are returned unchanged (NaN becomes None)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        return QUOTE + value if value.startswith(FORMULA_TRIGGERS) else value
    return value


def unneutralise(value: object) -> object:
    """Undo :func:`neutralise` on text read back from an exported file."""
    if isinstance(value, str) and value.startswith(QUOTE) and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


def _csv_text(value: object) -> str:
    value = neutralise(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (float, Decimal)):
        return format(value, "f") if isinstance(value, Decimal) else repr(value)
    return str(value)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]], bom: bool = True) -> Path:
    """Write a CSV every cell of which went through :func:`neutralise`.

    UTF-8 with BOM by default, so Excel/WPS on Chinese Windows open it with
    the right encoding. Written to a temporary name and renamed: a reader
    never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow([_csv_text(h) for h in header])
        for row in rows:
            writer.writerow([_csv_text(v) for v in row])
    os.replace(tmp, path)
    return path
