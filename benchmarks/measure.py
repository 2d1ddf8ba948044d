"""Measuring one benchmark step in a child process, and what the benchmark
runs: shared by benchmarks/run.py (each size) and benchmarks/nightly.py (a
night on top of the largest size), so neither imports the other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from yaocai.steps import STEPS as PIPELINE_STEPS

REPO = Path(__file__).resolve().parent.parent
# The pipeline's own step table (yaocai/steps.py), as `yaocai run --source files`
# runs it; "start" opens the run record.
STEPS = ("start", *(step.name for step in PIPELINE_STEPS if step.runs_for("files")))
AS_OF = "2026-10-31"


# --------------------------------------------------------------------------
# measuring a child process
# --------------------------------------------------------------------------

def _tree_rss(pid: int) -> int:
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(name: str, command: list[str], log_dir: Path, env: dict[str, str] | None = None) -> dict:
    """Run ``command``; wall and CPU time, peak RSS, load average, its last JSON line."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
    load_before = os.getloadavg()
    started = time.monotonic()
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, env={**os.environ, **(env or {})}, cwd=REPO)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                peak[0] = max(peak[0], _tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # wait4 gives the child's rusage including the children it waited for
        # (dbt): ru_maxrss is the largest resident set of any of them.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
    seconds = time.monotonic() - started
    result: dict[str, Any] = {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "max_rss_mb": round(usage.ru_maxrss / 1024),
        "tree_rss_peak_mb": round(peak[0] / 2**20),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "exit": proc.returncode,
    }
    lines = [line for line in out_path.read_text(errors="replace").splitlines() if line.startswith("{")]
    if lines:
        try:
            result["output"] = json.loads(lines[-1])
        except json.JSONDecodeError:
            pass
    if proc.returncode != 0:
        result["error"] = err_path.read_text(errors="replace")[-3000:]
    print(f"  {name:<10} {seconds:8.1f}s  cpu {result['cpu_seconds']:8.1f}s  rss {result['max_rss_mb']:6d} MB "
          f"(tree {result['tree_rss_peak_mb']:6d} MB)  load {load_before[0]:.1f}→{result['load_after'][0]:.1f}"
          + ("" if proc.returncode == 0 else f"  FAILED (exit {proc.returncode}, see {err_path})"), flush=True)
    return result


def python_command(*args: str) -> list[str]:
    return [sys.executable, *args]
