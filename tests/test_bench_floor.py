"""The benchmark's floors (benchmarks/floor.py). On a small demo landing,
the two input floors read every purchases line of every format once, and the
typed floor's typed columns give the amount the tokenising floor sums from
text; the write floor copies every table of a publication, whatever its schema."""

from __future__ import annotations

import datetime as dt
import math

import duckdb

from benchmarks import floor
from yaocai_demo import generate_demo_landing


def test_typed_floor_reads_every_line_typed_and_agrees_with_the_text_floor(tmp_path):
    landing = tmp_path / "landing"
    truth = generate_demo_landing(landing, purchase_lines=6_000, as_of=dt.date(2026, 10, 31))
    delivered = sum(n for name, n in truth["counts"].items() if name.startswith("purchases/"))
    formats = {p.suffix for p in (landing / "purchases").iterdir()}
    assert {".csv", ".jsonl"} <= formats  # the JSON Lines month is read too

    text = floor.main(landing)
    typed = floor.typed(landing)
    assert text["lines"] == typed["lines"] == delivered
    assert typed["files"] == text["files"] == len(list((landing / "purchases").iterdir()))
    # Required values missing or unreadable are rare planted rows, not a misread column.
    assert 0 <= typed["lines_with_unparsed_required_values"] < delivered / 100
    assert math.isclose(typed["amount"], text["amount"], rel_tol=1e-9)


def test_write_floor_copies_every_table_of_every_schema(tmp_path):
    # a publication in miniature: a mart in main, a working table kept in its own schema
    published = tmp_path / "yaocai.duckdb"
    con = duckdb.connect(str(published))
    con.execute("create table purchase_lines as select range as line, range * 0.5 as amount from range(50000)")
    con.execute("create schema incremental")
    con.execute("create table incremental.int_institution_months as select range as month from range(120)")
    con.close()

    written = floor.written(published)
    assert written["tables"] == 2
    assert written["rows"] == 50_120
    assert written["largest_table"] == "purchase_lines"
    assert written["seconds"] >= 0
