"""The lake's raw tables as Parquet, for an engine that reads them in place
(Apache Spark: issue 17 item 3, docs/scale-out.md "The lake as Parquet").

DuckDB stays the lake's one writer (``WAREHOUSE/state/lake.duckdb``); this
module copies its ``main`` tables out as Parquet under one folder:

* ``purchases`` (the only table that grows with every night) as a
  Hive-partitioned folder ``purchases/_month=YYYY-MM-01/*.parquet``, the
  month being that of the receipt time ``purc_retn_stoin_time`` (the month
  every model counts a line in: models/staging/stg_lake__purchases.sql, and
  the month yaocai/incremental.py plans rebuilds by). Readers see the
  partition value as a column ``_month`` (DATE); the leading underscore marks
  it, like ``_file_id``, as added by the lake, not delivered. Spark keeps
  such a directory (it skips names starting with ``_`` only when they hold
  no ``=``).
* every other table as one file ``NAME.parquet``, rewritten whole: they are
  small (catalogue, prices, manifests), and any change to them forces a full
  rebuild anyway (yaocai/incremental.py).

With ``months`` (the build plan's ``rebuild_months``), only those months'
partitions of ``purchases`` are written again: each is written beside the
folder first and then renamed into place, so a reader sees a month's old
files or its new ones, never half of either; a month that has no line any
more (a withdrawn file) loses its partition. Without ``months``, or when the
folder does not exist yet, everything is written. Leftovers of an
interrupted run (hidden ``.NAME.*`` entries, which Spark and DuckDB's globs
skip) are removed first, so re-running is always safe.

A partitioned table with no rows at all still needs a file that carries
its schema (Spark cannot infer one from an empty folder): an empty file in
the NULL partition ``_month=__HIVE_DEFAULT_PARTITION__``, which is also
where rows without a month would go (none: the receipt time is a required
column, ingest/feeds.py) and which every write therefore refreshes.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

import duckdb

from ingest.normalise import quote_ident

# table -> the timestamp whose month partitions it
MONTH_PARTITIONED = {"purchases": "purc_retn_stoin_time"}
PARTITION_COLUMN = "_month"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # Hive's (and DuckDB's, Spark's) name for a NULL value


def partition_dir_name(month: dt.date | None) -> str:
    return f"{PARTITION_COLUMN}={month.isoformat() if month else NULL_PARTITION}"


def _month(text: str) -> dt.date:
    """'YYYY-MM-01' (the build plan's spelling) or 'YYYY-MM' as a month's first day."""
    try:
        day = dt.date.fromisoformat(text if len(text) > 7 else f"{text}-01")
    except ValueError:
        day = None
    if day is None or day.day != 1:
        raise ValueError(f"months: {text!r} is not a month (YYYY-MM or YYYY-MM-01)")
    return day


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_lake_parquet(lake_db: Path, folder: Path, months: Iterable[str] | None = None) -> dict[str, Path]:
    """Write the lake's tables under ``folder`` (module docstring); return
    table name -> the Parquet file or partitioned folder to read it from."""
    rebuilt = None if months is None else sorted({_month(m) for m in months})
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(lake_db), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main' order by 1").fetchall()]
        locations = {}
        for name in names:
            for leftover in folder.glob(f".{name}.*"):
                _remove(leftover)
            if name in MONTH_PARTITIONED:
                locations[name] = _write_partitioned(con, name, folder / name, rebuilt)
            else:
                locations[name] = _write_whole(con, name, folder / f"{name}.parquet")
    finally:
        con.close()
    return locations


def _write_whole(con: duckdb.DuckDBPyConnection, name: str, target: Path) -> Path:
    staging = target.with_name(f".{name}.{uuid.uuid4().hex}.parquet")
    con.execute(f"copy (select * from main.{quote_ident(name)}) to {_literal(staging)} (format parquet)")
    os.replace(staging, target)
    return target


def _write_partitioned(con: duckdb.DuckDBPyConnection, name: str, target: Path,
                       months: list[dt.date] | None) -> Path:
    month_of = f"cast(date_trunc('month', {quote_ident(MONTH_PARTITIONED[name])}) as date)"
    staging = target.with_name(f".{name}.{uuid.uuid4().hex}")
    if months is None or not target.is_dir():
        where, swapped = "true", None  # everything
    else:
        listed = ", ".join(f"date '{m.isoformat()}'" for m in months)
        where = f"({month_of} in ({listed}) or {month_of} is null)" if months else f"{month_of} is null"
        swapped = [partition_dir_name(m) for m in months] + [partition_dir_name(None)]
    relation = f"select *, {month_of} as {PARTITION_COLUMN} from main.{quote_ident(name)} where {where}"
    if con.execute(f"select count(*) from ({relation})").fetchone()[0]:
        con.execute(f"copy ({relation}) to {_literal(staging)} "
                    f"(format parquet, partition_by ({PARTITION_COLUMN}))")
    else:
        staging.mkdir()

    if swapped is None:
        _ensure_schema_file(con, name, staging)
        retired = target.with_name(f".{name}.{uuid.uuid4().hex}.old")
        if target.exists():
            os.rename(target, retired)
        os.rename(staging, target)
        _remove(retired)
        return target

    for partition in swapped:
        retired = target.with_name(f".{name}.{uuid.uuid4().hex}.old")
        if (target / partition).exists():
            os.rename(target / partition, retired)
        if (staging / partition).exists():
            os.rename(staging / partition, target / partition)
        _remove(retired)
    _remove(staging)
    _ensure_schema_file(con, name, target)
    return target


def _ensure_schema_file(con: duckdb.DuckDBPyConnection, name: str, folder: Path) -> None:
    """An empty file in the NULL partition when the folder has no partition
    at all (module docstring)."""
    if any(p.is_dir() for p in folder.glob(f"{PARTITION_COLUMN}=*")):
        return
    (folder / partition_dir_name(None)).mkdir()
    con.execute(f"copy (select * from main.{quote_ident(name)} limit 0) to "
                f"{_literal(folder / partition_dir_name(None) / 'data_0.parquet')} (format parquet)")
