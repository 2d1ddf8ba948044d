"""Table and column comments of ``runs`` in the published file.

Analysts browse the published DuckDB file with ``duckdb_tables()`` /
``duckdb_columns()`` or their SQL client's schema view. The dbt models'
comments come from their YAML descriptions through dbt's ``persist_docs``
(dbt_project.yml); ``runs`` is written by the publish step, not by dbt, so
its comments are here.
"""

from __future__ import annotations

import duckdb

RUNS_TABLE_COMMENT = "运行记录 / Run history: one row per pipeline run, including failed ones."
RUNS_COLUMN_COMMENTS = {
    "run_id": "运行编号 / Run id (as-of date + start time, UTC)",
    "as_of": "数据截止日 / As-of date: data through this day",
    "status": "状态 / Status: running, published or failed",
    "rows_in": "本次读入行数 / Data rows read from new deliveries in this run",
    "rows_loaded": "本次入库行数 / Rows accepted into the lake in this run",
    "rows_quarantined": "本次隔离行数 / Rows quarantined in this run (rows_in = rows_loaded + rows_quarantined)",
    "gate_passed": "质量门禁是否通过 / Whether the quality gate passed",
    "published_at": "发布时间 / When this run's file was published (local time)",
    "started_at": "开始时间 / Run start",
    "finished_at": "结束时间 / Run end",
    "files_loaded": "本次入库文件数 / Delivery files loaded in this run",
    "trigger": "触发方式 / cli or airflow",
    "message": "说明 / Failure reason or note",
}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def comment_runs_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"comment on table main.runs is {_literal(RUNS_TABLE_COMMENT)}")
    for column, text in RUNS_COLUMN_COMMENTS.items():
        con.execute(f'comment on column main.runs."{column}" is {_literal(text)}')
