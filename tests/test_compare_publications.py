"""scripts/compare_publications.py, the proof that a restructuring left the
publication unchanged, must itself see every kind of difference."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import duckdb
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "compare_publications.py"
spec = importlib.util.spec_from_file_location("compare_publications", SCRIPT)
compare_publications = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_publications)


@pytest.fixture
def pair(tmp_path):
    a = tmp_path / "a.duckdb"
    con = duckdb.connect(str(a))
    con.execute("create table pdi (fixmedins_code varchar, month date, pdi double, n bigint)")
    con.execute("insert into pdi values ('H1', date '2026-01-01', 1.1, 3), ('H2', date '2026-01-01', 0.9, 4), "
                "('H3', date '2026-02-01', null, 1)")
    con.execute("comment on table pdi is 'index'")
    con.execute("comment on column pdi.pdi is 'paid ÷ reference'")
    con.execute("create table runs (run_id varchar, status varchar)")
    con.execute("insert into runs values ('2026-10-31_1', 'published')")
    con.close()
    b = tmp_path / "b.duckdb"
    shutil.copyfile(a, b)
    return a, b


def _change(path: Path, sql: str) -> None:
    con = duckdb.connect(str(path))
    con.execute(sql)
    con.close()


def test_identical_files_and_float_noise_and_row_order_and_volatile_columns(pair):
    a, b = pair
    _change(b, "update pdi set pdi = pdi * (1 + 1e-12)")  # another summation order
    _change(b, "create temp table t as select * from pdi order by fixmedins_code desc; delete from pdi; "
               "insert into pdi select * from t")  # same rows, another order
    _change(b, "update runs set run_id = '2026-10-31_2'")  # a run id differs by design
    problems, stats = compare_publications.compare(a, b)
    assert problems == [] and stats == {"tables": 2, "columns": 6, "rows": 4}


@pytest.mark.parametrize("sql, expected", [
    ("update pdi set pdi = pdi + 1e-6 where fixmedins_code = 'H1'", "rows only in A"),
    ("delete from pdi where fixmedins_code = 'H3'", "row count 3 vs 2"),
    ("comment on column pdi.pdi is 'changed'", "column comment"),
    ("comment on table pdi is 'changed'", "table comment"),
    ("alter table pdi alter n type integer", "columns/types differ"),
    ("alter table pdi rename column n to lines", "columns/types differ"),
    ("create table extra (x int)", "table main.extra only in B"),
    ("update runs set status = 'failed'", "rows only in A"),
])
def test_every_kind_of_difference_is_reported(pair, sql, expected):
    a, b = pair
    _change(b, sql)
    problems, _ = compare_publications.compare(a, b)
    assert any(expected in p for p in problems), problems
