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

The typed floor (``--typed``, issue 18) reads *every* column of every
purchases file once, casts each value to the contract's type
(docs/data-contract.md §1: codes and text as varchar, dates, DECIMAL(18,6)
amounts, a timestamp; try_cast, so a value that does not parse is NULL) and
writes the rows into one table of a DuckDB database file (ingest must persist
what it checked, so the floor pays DuckDB's compression and write too). No
trimming, no rules, no quarantine, no keys: the least any ingest that checks
every value must pay. The GB18030 file is read as latin-1 here too (its text
columns then hold mis-decoded text: a real decoder's cost is not in the
floor).

The publication's write floor (``--written``) is measured on the other
side of the build: every table of a published DuckDB file (the marts and
the month-incremental working tables it keeps) read and written once, as
it is, into a new DuckDB file, compressed and checkpointed as the build's
file is. A build that publishes these rows pays at least this to store
them, whatever it computes; the rest of the dbt build is the computing.
The pandas peer (benchmarks/peer.py) stores three indicator tables as CSV,
so this is a cost yaocai has and the peer does not.

    python benchmarks/floor.py LANDING            # the tokenising floor
    python benchmarks/floor.py LANDING --typed    # the typed floor
    python benchmarks/floor.py PUBLISHED_DB --written   # the publication's write floor
"""

from __future__ import annotations

import codecs
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb

PRICE, COUNT, WIDTH = 12, 13, 19  # positions of finl_trns_pric and purc_retn_cnt; number of columns
# The purchases columns in the contract's order with their lake types
# (docs/data-contract.md §1; ingest/feeds.py is not imported: the floor uses
# no yaocai code). The NHSA messages carry infno and fixmedins_code in the
# envelope, the rest in input.purcinfo.
PURCHASE_TYPES = (
    ("infno", "varchar"), ("fixmedins_code", "varchar"), ("fixmedins_bchno", "varchar"), ("med_list_codg", "varchar"),
    ("fixmedins_hilist_id", "varchar"), ("fixmedins_hilist_name", "varchar"), ("spler_name", "varchar"),
    ("prodentp_name", "varchar"), ("aprvno", "varchar"), ("manu_lotnum", "varchar"), ("manu_date", "date"),
    ("expy_end", "date"), ("finl_trns_pric", "decimal(18, 6)"), ("purc_retn_cnt", "decimal(18, 6)"),
    ("purc_retn_stoin_time", "timestamp"), ("purc_invo_no", "varchar"), ("prod_geay_flag", "varchar"),
    ("medins_prod_purc_no", "varchar"), ("platform_order_no", "varchar"),
)
ENVELOPE = ("infno", "fixmedins_code")


def purchases_by_encoding(landing: Path) -> tuple[list[str], list[str], list[str], int]:
    """(UTF-8 CSV files, GB18030 CSV files, JSON Lines files, number of files)."""
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
    return utf8, latin1, jsonl, len(files)


def main(landing: Path) -> dict:
    utf8, latin1, jsonl, files = purchases_by_encoding(landing)
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
    return {"amount": amount, "lines": lines, "files": files, "seconds": round(time.monotonic() - started, 2)}


def typed(landing: Path) -> dict:
    """The typed floor: every column of every purchases file, cast, into a
    table of a DuckDB file (in a temporary directory, removed afterwards)."""
    utf8, latin1, jsonl, files = purchases_by_encoding(landing)
    text_columns = {f"c{i}": "varchar" for i in range(WIDTH)}
    cast = ", ".join(f"try_cast(c{i} as {kind}) as {name}" for i, (name, kind) in enumerate(PURCHASE_TYPES))
    parts = [f"select {cast} from read_csv({paths!r}, header = false, skip = 1, auto_detect = false, delim = ',', "
             f"quote = '\"', escape = '\"', columns = {text_columns!r}, encoding = '{encoding}')"
             for paths, encoding in ((utf8, "utf-8"), (latin1, "latin-1")) if paths]
    if jsonl:
        entry = ", ".join(f"{name} varchar" for name, _ in PURCHASE_TYPES if name not in ENVELOPE)
        json_columns = {**{name: "varchar" for name in ENVELOPE}, "input": f"struct(purcinfo struct({entry}))"}
        values = ", ".join(f"try_cast({name if name in ENVELOPE else 'input.purcinfo.' + name} as {kind}) as {name}"
                           for name, kind in PURCHASE_TYPES)
        parts.append(f"select {values} from read_json({jsonl!r}, format = 'newline_delimited', columns = {json_columns!r})")
    with tempfile.TemporaryDirectory(prefix="yaocai-floor-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "floor.duckdb"))
        con.execute(f"set threads = {os.cpu_count()}")
        started = time.monotonic()
        con.execute(f"create table purchases as {' union all '.join(parts)}")
        con.execute("checkpoint")
        seconds = time.monotonic() - started
        lines, unparsed, amount = con.execute(
            "select count(*), count(*) filter (where purc_retn_stoin_time is null or purc_retn_cnt is null), "
            "sum(finl_trns_pric::double * purc_retn_cnt::double) from purchases").fetchone()
        con.close()
    return {"amount": amount, "lines": lines, "lines_with_unparsed_required_values": unparsed, "files": files,
            "seconds": round(seconds, 2)}


def written(published: Path) -> dict:
    """The publication's write floor: every table of ``published`` copied
    as it is into a table of a new DuckDB file (in a temporary directory,
    removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="yaocai-floor-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "written.duckdb"))
        con.execute(f"set threads = {os.cpu_count()}")
        con.execute("attach '{}' as published (read_only)".format(str(published).replace("'", "''")))
        tables = con.execute("select schema_name, table_name, estimated_size from duckdb_tables() "
                             "where database_name = 'published' order by schema_name, table_name").fetchall()
        started = time.monotonic()
        for schema, table, _ in tables:
            con.execute(f'create schema if not exists "{schema}"')
            con.execute(f'create table "{schema}"."{table}" as select * from published."{schema}"."{table}"')
        con.execute("checkpoint")
        seconds = time.monotonic() - started
        rows = sum(con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0] for schema, table, _ in tables)
        largest = max(tables, key=lambda t: t[2], default=None)
        con.close()
    return {"tables": len(tables), "rows": rows, "largest_table": largest[1] if largest else None,
            "seconds": round(seconds, 2)}


if __name__ == "__main__":
    target = Path(sys.argv[1])
    options = sys.argv[2:]
    print(json.dumps(written(target) if "--written" in options else typed(target) if "--typed" in options else main(target)))
