"""Measuring one benchmark step in a child process, and what the benchmark
runs: shared by benchmarks/run.py (each size), benchmarks/nightly.py (a
night on top of the largest size) and benchmarks/replay_night.py, so none
imports another for it."""

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
# Where a round keeps its data (never the repository: 20 M lines are GBs); --work overrides it.
DEFAULT_WORK = Path(os.environ.get("YAOCAI_BENCH_WORK", "/tmp/yaocai-bench"))


# --------------------------------------------------------------------------
# measuring a child process
# --------------------------------------------------------------------------

def _descendants_rss(pid: int) -> int:
    """Resident size summed over the descendants of ``pid`` (the launcher's: the step and its children)."""
    import psutil

    try:
        procs = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


# Starts a command and writes its exit status, peak RSS (KiB) and CPU seconds
# to the file named first. On Linux a child's high-water mark starts at its
# parent's resident size when it forks (and a vfork'd child's exec records
# the parent's), so wait4 on a child of the benchmark's own process, which
# holds a size's results and psutil, gave any small step that process's
# size: reviews and publish "171 MB" at 20 M against 110 and 132 MB sampled.
# This launcher is a bare interpreter (about 10 MiB) between the two; the
# usage wait4 returns includes the descendants each child waited for (dbt).
# tests/test_hostile_platform_and_outputs.py measures yaocai the same way.
PEAK_RSS_LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
"""


def launched(command: list[str], result_path: Path) -> list[str]:
    """``command`` started through PEAK_RSS_LAUNCHER, which writes to ``result_path``."""
    return [sys.executable, "-c", PEAK_RSS_LAUNCHER, str(result_path), *command]


def launched_result(result_path: Path) -> tuple[int, int, float]:
    """(exit status, peak RSS in KiB, CPU seconds) that PEAK_RSS_LAUNCHER wrote."""
    status, peak_kib, cpu_seconds = result_path.read_text().split()
    return int(status), int(peak_kib), float(cpu_seconds)


def measure(name: str, command: list[str], log_dir: Path, env: dict[str, str] | None = None) -> dict:
    """Run ``command``; wall and CPU time, peak RSS, load average, its last JSON line."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
    usage_path = log_dir / f"{name}.usage"
    usage_path.unlink(missing_ok=True)
    load_before = os.getloadavg()
    started = time.monotonic()
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(launched(command, usage_path), stdout=out, stderr=err,
                                env={**os.environ, **(env or {})}, cwd=REPO)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                peak[0] = max(peak[0], _descendants_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        launcher_exit = proc.wait()
        done.set()
        sampler.join()
    seconds = time.monotonic() - started
    if not usage_path.exists():
        raise RuntimeError(f"the launcher of {name} ended with {launcher_exit} without its measure: {command}")
    exit_status, peak_kib, cpu_seconds = launched_result(usage_path)
    result: dict[str, Any] = {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        # the largest resident set of the step's process or of any descendant it waited for (dbt's)
        "max_rss_mb": round(peak_kib / 1024),
        "tree_rss_peak_mb": round(peak[0] / 2**20),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "exit": exit_status,
    }
    lines = [line for line in out_path.read_text(errors="replace").splitlines() if line.startswith("{")]
    if lines:
        try:
            result["output"] = json.loads(lines[-1])
        except json.JSONDecodeError:
            pass
    if exit_status != 0:
        result["error"] = err_path.read_text(errors="replace")[-3000:]
    print(f"  {name:<10} {seconds:8.1f}s  cpu {result['cpu_seconds']:8.1f}s  rss {result['max_rss_mb']:6d} MB "
          f"(tree {result['tree_rss_peak_mb']:6d} MB)  load {load_before[0]:.1f}→{result['load_after'][0]:.1f}"
          + ("" if exit_status == 0 else f"  FAILED (exit {exit_status}, see {err_path})"), flush=True)
    return result


def python_command(*args: str) -> list[str]:
    return [sys.executable, *args]


def measure_steps(landing: Path, warehouse: Path, context_file: Path, log_dir: Path,
                  env: dict[str, str] | None = None) -> dict[str, dict]:
    """The pipeline's steps in order on one warehouse (``benchmarks/run.py
    --step``), each measured in a child process; stops after the first that
    fails, whose entry holds its exit status (see :func:`failed_step`)."""
    steps: dict[str, dict] = {}
    for step in STEPS:
        steps[step] = measure(step, python_command(str(REPO / "benchmarks" / "run.py"), "--step", step, str(landing),
                                                   str(warehouse), AS_OF, str(context_file)), log_dir, env)
        if steps[step]["exit"] != 0:
            break
    return steps


def failed_step(steps: dict[str, dict]) -> str | None:
    return next((name for name, step in steps.items() if step["exit"] != 0), None)


def steps_seconds(steps: dict[str, dict]) -> float:
    """The steps' wall time, without "start" (opening the run record)."""
    return sum(step["seconds"] for name, step in steps.items() if name != "start")


def steps_line(steps: dict[str, dict]) -> str:
    """"ingest 2.4s, reviews 0.4s, …", without "start"."""
    return ", ".join(f"{name} {step['seconds']:.1f}s" for name, step in steps.items() if name != "start")
