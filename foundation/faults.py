"""Fail points for fault-injection tests.

Setting ``YAOCAI_FAULT=<point>`` makes the process kill itself with SIGKILL
when it reaches that point: no cleanup handler, no ``finally``, exactly as
if the machine lost power or the OOM killer struck. tests/test_faults.py
uses it to prove that a crash at any step leaves the previous publication
intact and that the next run recovers without manual cleanup.
Unset (the default), a fail point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "YAOCAI_FAULT"

POINTS = (
    "ingest.before_commit",   # a delivery half-loaded inside its transaction
    "ingest.after_commit",    # one delivery loaded, the rest not yet
    "build.after_dbt",        # build file written, comments not yet applied
    "gate.after_read",        # gate reading the build file
    "publish.before_rename",  # the final file complete, not yet swapped in
    "publish.after_rename",   # swapped in, run record not yet updated
)


def failpoint(name: str) -> None:
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
