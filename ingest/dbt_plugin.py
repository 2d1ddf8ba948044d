"""dbt-duckdb plugin: the DuckDB functions of ingest/duckdb_functions.py on
every connection dbt opens (listed under ``plugins:`` in dbt_project/profiles.yml)."""

from __future__ import annotations

import duckdb
from dbt.adapters.duckdb.plugins import BasePlugin

from ingest.duckdb_functions import register


class Plugin(BasePlugin):
    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        register(conn)
