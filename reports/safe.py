"""Safe text for every output: spreadsheets, the HTML report, the terminal.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return can be taken for a formula by Excel, WPS or LibreOffice when the file
is opened (CSV/formula injection). Institution names, product names and
reasons come from outside (hospital uploads, officers' notes), so every text
value written to an .xlsx or .csv goes through :func:`neutralise`, which
prefixes such text with a single quote, as the OWASP "CSV Injection" page
recommends. Numbers, dates and booleans are written as themselves.

Text that only *starts* with blanks before the trigger (a newline, a
non-breaking space, an ideographic space, a byte-order mark, then ``=``) is
neutralised too: spreadsheet programs and import wizards trim such blanks.

Reading back (review workbooks) uses :func:`unneutralise` to drop that quote.

Control characters (issue 13, item 4): a NUL or ESC inside a product name
made openpyxl refuse the whole workbook (``IllegalCharacterError``: XML 1.0
cannot hold C0 controls) and reached the terminal raw, where ESC sequences
can rewrite the screen and a CR can overwrite a line. So

- spreadsheets (:func:`neutralise`): every control character except tab, LF
  and CR (which a cell holds as text) becomes U+FFFD, so the officer sees
  that something was there instead of it silently disappearing;
- the terminal and the HTML report (:func:`printable`): every control
  character becomes U+FFFD, and line and paragraph breaks (CR, LF, VT, FF,
  NEL, U+2028, U+2029) and tabs become one space, so one value stays on one
  line (``keep_newlines`` keeps LF for multi-line messages we compose).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
REPLACEMENT = "\ufffd"
# Blanks that may stand before a formula trigger (str.isspace() covers the
# rest: NBSP, U+3000, U+2028 ...): BOM and zero-width space are not "space".
_INVISIBLE_LEAD = "\ufeff\u200b\u200c\u200d\u2060"
# C0 controls but tab/LF/CR, DEL, C1 controls, and the two XML non-characters.
_SHEET_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_LINE_BREAKS = re.compile("[\t\n\r\x0b\x0c\x85\u2028\u2029]")
_LINE_BREAKS_BUT_LF = re.compile("[\t\r\x0b\x0c\x85\u2028\u2029]")
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")


def printable(value: object, keep_newlines: bool = False) -> str:
    """Text safe to print on a terminal or put in the HTML report: control
    characters become U+FFFD, line breaks and tabs a space (LF kept with
    ``keep_newlines``)."""
    text = str(value)
    if text.isprintable():  # the common case costs one C-level scan
        return text
    text = (_LINE_BREAKS_BUT_LF if keep_newlines else _LINE_BREAKS).sub(" ", text)
    return _CONTROLS.sub(REPLACEMENT, text)


def _looks_like_formula(text: str) -> bool:
    if text.startswith(FORMULA_TRIGGERS):
        return True
    stripped = text.lstrip().lstrip(_INVISIBLE_LEAD).lstrip()
    return stripped != text and stripped.startswith(FORMULA_TRIGGERS)


def neutralise(value: object) -> object:
    """The value to write: text starting with a formula trigger (possibly
    after blanks) gets a leading single quote, and control characters a cell
    cannot hold become U+FFFD; other values are returned unchanged (NaN
    becomes None)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        value = _SHEET_ILLEGAL.sub(REPLACEMENT, value)
        return QUOTE + value if _looks_like_formula(value) else value
    return value


def unneutralise(value: object) -> object:
    """Undo :func:`neutralise` on text read back from an exported file."""
    if isinstance(value, str) and value.startswith(QUOTE) and _looks_like_formula(value[1:]):
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
