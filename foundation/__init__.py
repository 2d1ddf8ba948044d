"""The ground every layer stands on: where things live in a warehouse
(``layout``), one writer at a time (``locking``), how the published file is
written, verified and read (``publication``), and the fail points of the
fault-injection tests (``faults``).

It imports nothing of yaocai's own, so ingest, the build, the gate, publish
and the reports can all use it while imports keep pointing down the flow
(landing → ingest → dbt → gate → publish → reports; orchestration on top).
"""
