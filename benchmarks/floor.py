"""The floor: one DuckDB pass that reads every purchases file of a landing
directory once and sums price × quantity. Nothing can process the data
faster than it can be read, so each stage is reported as a multiple of this.

* UTF-8 CSV files (with or without BOM): read_csv, every column as text;
* GB18030 CSV files: read as latin-1. DuckDB has no GB18030 decoder, and
  only ASCII digits are summed, which GB18030 leaves as they are (its
  multi-byte characters never contain bytes below 0x80 in the lead byte, and
  a trail byte in 0x30-0x39 only follows a lead byte in 0x81-0xFE, so a
  field of digits is read exactly);
* JSON Lines (NHSA messages): read_json, price and quantity from
  input.purcinfo.

Columns are taken by position (the demo files share the contract's column
order), so Chinese headers need no decoding.

    python benchmarks/floor.py LANDING
"""

from __future__ import annotations

import codecs
import json
import os
import sys
import time
from pathlib import Path

import duckdb

PRICE, COUNT, WIDTH = 12, 13, 19  # positions of finl_trns_pric and purc_retn_cnt; number of columns


def main(landing: Path) -> dict:
    files = sorted(p for p in (landing / "purchases").iterdir() if p.suffix in (".csv", ".jsonl"))
    utf8, latin1, jsonl = [], [], []
    for path in files:
        if path.suffix == ".jsonl":
            jsonl.append(str(path))
            continue
        head = path.open("rb").read(1 << 16)
        try:
            codecs.getincrementaldecoder("utf-8-sig")().decode(head)
            utf8.append(str(path))
        except UnicodeDecodeError:
            latin1.append(str(path))
    con = duckdb.connect()
    con.execute(f"set threads = {os.cpu_count()}")
    columns = {f"c{i}": "varchar" for i in range(WIDTH)}
    parts = []
    for paths, encoding in ((utf8, "utf-8"), (latin1, "latin-1")):
        if paths:
            parts.append(
                f"select sum(try_cast(c{PRICE} as double) * try_cast(c{COUNT} as double)) as amount, count(*) as lines "
                f"from read_csv({paths!r}, header = false, skip = 1, auto_detect = false, delim = ',', quote = '\"', "
                f"escape = '\"', columns = {columns!r}, encoding = '{encoding}')")
    if jsonl:
        parts.append(
            "select sum(input.purcinfo.finl_trns_pric * input.purcinfo.purc_retn_cnt) as amount, count(*) as lines "
            f"from read_json({jsonl!r}, format = 'newline_delimited', "
            "columns = {'input': 'struct(purcinfo struct(finl_trns_pric double, purc_retn_cnt double))'})")
    started = time.monotonic()
    amount, lines = con.execute(f"select sum(amount), sum(lines) from ({' union all '.join(parts)})").fetchone()
    return {"amount": amount, "lines": lines, "files": len(files), "seconds": round(time.monotonic() - started, 2)}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
