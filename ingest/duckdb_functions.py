"""The spec parser (ingest/specs.py) as the DuckDB function ``yaocai_parse_spec``.

``yaocai_parse_spec(spec varchar)`` returns a STRUCT with the fields of
``ingest.specs.ParsedSpec`` plus ``refusal_detail``. dbt reaches it through
the dbt-duckdb plugin ``ingest/dbt_plugin.py`` (``plugins:`` in
dbt_project/profiles.yml), so
``price_spec_normalisation`` and the importer share one parsing rule. Only
table models may call it: a view calling it could not be read by a process
without the function (the gate, the officers' tools).
"""

from __future__ import annotations

import duckdb
from ingest.specs import parse_spec

PARSED_SPEC_TYPE = (
    "STRUCT(parse_status VARCHAR, refusal_reason VARCHAR, content_amount DOUBLE, content_unit VARCHAR, "
    "fill_volume_ml DOUBLE, pack_count INTEGER, container VARCHAR, percentage DOUBLE, basis_note VARCHAR, "
    "refusal_detail VARCHAR)"
)


def _parse(spec: str | None) -> dict:
    return parse_spec(spec).as_dict()


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``yaocai_parse_spec`` on this connection (idempotent)."""
    try:
        con.remove_function("yaocai_parse_spec")
    except (duckdb.InvalidInputException, duckdb.CatalogException):
        pass
    con.create_function("yaocai_parse_spec", _parse, ["VARCHAR"], duckdb.sqltype(PARSED_SPEC_TYPE),
                        null_handling="special", side_effects=False)  # type: ignore[call-overload]  # duckdb's stubs lack null_handling

