"""The lake as Parquet for Spark (issue 17 item 3; ingest/lake_parquet.py):
purchases Hive-partitioned by receipt month, other tables one file each,
content equal to the lake's, and a rewrite of given months touching only
those months' partitions. DuckDB only, a few dozen rows: fast."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from ingest.lake import ensure_lake
from ingest.lake_parquet import write_lake_parquet


def _add_lines(con: duckdb.DuckDBPyConnection, file_id: str, month: str, count: int, price: float = 10.0) -> None:
    """``count`` purchase lines received in ``month`` ('YYYY-MM'), spread over its days."""
    for i in range(count):
        con.execute(
            "insert into purchases by name select ? as fixmedins_code, ? as fixmedins_bchno, '3503' as infno, "
            "'X01' as med_list_codg, ? as finl_trns_pric, 2 as purc_retn_cnt, ? as purc_retn_stoin_time, "
            "'白云''s 供应商' as spler_name, ? as _file_id, ? as _source_file, ? as _row_number",
            ["H1", f"{file_id}-{i}", price + i, dt.datetime.fromisoformat(f"{month}-{1 + i % 28:02d}T{i % 24:02d}:30:00"),
             file_id, f"{file_id}.csv", i + 2])


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    path = tmp_path / "lake.duckdb"
    con = duckdb.connect(str(path))
    try:
        ensure_lake(con)
        for month, count in (("2025-12", 5), ("2026-01", 7), ("2026-02", 4), ("2026-03", 6)):
            _add_lines(con, f"f{month}", month, count)
        con.execute("insert into products by name select 'X01' as med_list_codg, '阿莫西林' as generic_name, "
                    "'a' as _file_id, 'p.csv' as _source_file, 2 as _row_number")
    finally:
        con.close()
    return path


def _differences(lake: Path, name: str, location: Path) -> int:
    """Rows in one and not the other (both ways, duplicates counted), the
    Parquet read as any reader would: every file under the location, the
    partition value from the path."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{lake}' as lake (read_only)")
        pattern = f"{location}/**/*.parquet" if location.is_dir() else str(location)
        parquet = f"(select * exclude (_month) from read_parquet('{pattern}', hive_partitioning = true))" \
            if location.is_dir() else f"read_parquet('{pattern}')"
        return con.execute(
            f"select (select count(*) from (select * from lake.main.{name} except all select * from {parquet}))"
            f" + (select count(*) from (select * from {parquet} except all select * from lake.main.{name}))"
        ).fetchone()[0]
    finally:
        con.close()


def _partitions(folder: Path) -> dict[str, set[int]]:
    """partition directory -> inode of each file in it (a rewritten file gets a new one)."""
    return {p.name: {f.stat().st_ino for f in p.iterdir()} for p in sorted(folder.iterdir()) if p.is_dir()}


def test_tables_are_written_as_parquet_equal_to_the_lake(lake: Path, tmp_path: Path):
    locations = write_lake_parquet(lake, tmp_path / "parquet")
    con = duckdb.connect(str(lake), read_only=True)
    tables = {r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'main'").fetchall()}
    con.close()
    assert set(locations) == tables
    assert locations["purchases"] == tmp_path / "parquet" / "purchases"
    assert locations["products"] == tmp_path / "parquet" / "products.parquet"
    assert set(_partitions(locations["purchases"])) == {
        "_month=2025-12-01", "_month=2026-01-01", "_month=2026-02-01", "_month=2026-03-01"}
    for name, location in locations.items():
        assert _differences(lake, name, location) == 0, name
    # each partition holds its month's lines only, and the partition value reads as a DATE
    rows = duckdb.sql(f"select _month, typeof(_month), count(*), min(date_trunc('month', purc_retn_stoin_time)), "
                      f"max(date_trunc('month', purc_retn_stoin_time)) from read_parquet("
                      f"'{locations['purchases']}/**/*.parquet', hive_partitioning = true) group by all order by 1"
                      ).fetchall()
    assert [(r[0].isoformat(), r[1], r[2]) for r in rows] == [
        ("2025-12-01", "DATE", 5), ("2026-01-01", "DATE", 7), ("2026-02-01", "DATE", 4), ("2026-03-01", "DATE", 6)]
    assert all(r[3].date() == r[0] == r[4].date() for r in rows)
    # an empty table still has a file carrying its schema
    assert duckdb.sql(f"select count(*) from read_parquet('{locations['anomaly_reviews']}')").fetchone()[0] == 0


def test_given_months_only_are_rewritten_and_an_emptied_month_disappears(lake: Path, tmp_path: Path):
    folder = tmp_path / "parquet"
    write_lake_parquet(lake, folder)
    before = _partitions(folder / "purchases")

    con = duckdb.connect(str(lake))
    con.execute("delete from purchases where _file_id = 'f2026-01'")                  # a withdrawn file
    con.execute("update purchases set finl_trns_pric = finl_trns_pric / 2 where _file_id = 'f2026-02'")  # restated
    _add_lines(con, "f2026-04", "2026-04", 3)                                          # the night
    con.execute("update purchases set spler_name = 'changed' where _file_id = 'f2026-03'")  # a month not asked for
    con.execute("update products set generic_name = '阿莫西林胶囊'")
    con.close()

    locations = write_lake_parquet(lake, folder, months=["2026-01-01", "2026-02-01", "2026-04"])
    after = _partitions(folder / "purchases")
    assert set(after) == {"_month=2025-12-01", "_month=2026-02-01", "_month=2026-03-01", "_month=2026-04-01"}
    assert after["_month=2025-12-01"] == before["_month=2025-12-01"]  # untouched files
    assert after["_month=2026-03-01"] == before["_month=2026-03-01"]  # not asked for: still the old content
    assert after["_month=2026-02-01"] != before["_month=2026-02-01"]
    assert _differences(lake, "purchases", locations["purchases"]) == 12  # March's 6 lines both ways: old in the files, new in the lake
    assert _differences(lake, "products", locations["products"]) == 0  # other tables rewritten whole
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # nothing left beside

    # re-running is safe; a full write catches up March
    write_lake_parquet(lake, folder, months=["2026-01", "2026-02", "2026-04"])
    assert _differences(lake, "purchases", locations["purchases"]) == 12
    write_lake_parquet(lake, folder)
    assert _differences(lake, "purchases", locations["purchases"]) == 0


def test_a_table_emptied_by_a_rewrite_keeps_its_schema_and_bad_months_are_refused(lake: Path, tmp_path: Path):
    folder = tmp_path / "parquet"
    write_lake_parquet(lake, folder)
    (folder / ".purchases.interrupted").mkdir()  # a run killed mid-swap left this
    con = duckdb.connect(str(lake))
    con.execute("delete from purchases")
    con.close()
    write_lake_parquet(lake, folder, months=["2025-12", "2026-01", "2026-02", "2026-03"])
    assert [p.name for p in (folder / "purchases").iterdir()] == ["_month=__HIVE_DEFAULT_PARTITION__"]
    assert _differences(lake, "purchases", folder / "purchases") == 0
    assert not (folder / ".purchases.interrupted").exists()
    with pytest.raises(ValueError, match="not a month"):
        write_lake_parquet(lake, folder, months=["2026-02-15"])
