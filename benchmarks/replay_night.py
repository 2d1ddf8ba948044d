"""Replay the benchmark's measured night, for work on the night's cost (issue 18).

A round (``benchmarks/run.py --nightly``) measures the night once, after the
full run of the largest size (about 7 minutes at 20 M lines). To try a change
to the night, this prepares the state the measured night starts from once,
on a warehouse of its own: the full run, then the first, small night
(benchmarks/nightly.py), and keeps a copy of it. Each replay then restores
the copy and runs the measured night's steps on it (about a minute at 20 M),
printing each step's time and the dbt build's longest nodes.

    python benchmarks/replay_night.py prepare 20M   # once; needs a round's landing-20M and night-20M
    python benchmarks/replay_night.py run 20M       # each time: restore, the night, the times

Everything stays under --work (default /tmp/yaocai-bench): replay-SIZE/warehouse
and replay-SIZE/snapshot. The figures are for comparing variants on one
machine, one after the other; RESULTS.md's come from rounds.

Restoring by copy gives the files new inodes and change times, and the
records of the publication and of the retired publication fingerprint both
(foundation/publication.py). A build on the copy would therefore not trust
the retired publication, and would copy the publication instead, as it does
for a file touched since its publish: about 6 s more than the night the round
measured. The copies are byte for byte the files the records were made for,
so the replay re-stamps the two records with the copies' fingerprints
(:func:`restamp_restored_records`). That is for benchmark copies only; never
do it to a warehouse in use, where a changed fingerprint means an edit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script
    sys.path.insert(0, str(REPO))

from benchmarks.measure import DEFAULT_WORK, failed_step, measure_steps, steps_line, steps_seconds  # noqa: E402 (after the path is set)
from benchmarks.nightly import deliver, night_deliveries, withdraw  # noqa: E402
from foundation.files import stat_stamp  # noqa: E402
from foundation.layout import Layout  # noqa: E402
from foundation.publication import record_path, retired_record, write_json_record  # noqa: E402

LONGEST_NODES = 12  # the dbt build's nodes printed after a replay


def restamp_restored_records(warehouse: Path) -> list[Path]:
    """Rewrites the fingerprints in the publication's record and the retired
    publication's record with those of the files as restored (see the module
    docstring). Returns the records rewritten."""
    layout = Layout(warehouse)
    rewritten = []
    for record, target in ((record_path(warehouse), layout.published),
                           (retired_record(layout.retired_publication), layout.retired_publication)):
        if record.exists() and target.exists():
            data = json.loads(record.read_text())
            data["fingerprint"] = stat_stamp(target)
            write_json_record(record, data)
            rewritten.append(record)
    return rewritten


def _run_steps(label: str, landing: Path, warehouse: Path, work: Path) -> dict[str, dict]:
    logs = work / "logs" / label
    steps = measure_steps(landing, warehouse, work / f"context-{label}.json", logs)
    if failed := failed_step(steps):
        raise SystemExit(f"{label}: step {failed} failed (logs in {logs})")
    return steps


def prepare(size: str, work: Path) -> None:
    landing, replay = work / f"landing-{size}", work / f"replay-{size}"
    header, deliveries = night_deliveries(work / f"night-{size}")
    warehouse, snapshot = replay / "warehouse", replay / "snapshot"
    shutil.rmtree(replay, ignore_errors=True)
    withdraw(landing, deliveries)  # the full run reads the history only
    _run_steps(f"replay-{size}-full", landing, warehouse, replay)
    try:
        deliver(landing, "night_before", header, deliveries["night_before"])
        _run_steps(f"replay-{size}-night_before", landing, warehouse, replay)
    finally:
        withdraw(landing, deliveries)
    shutil.copytree(warehouse, snapshot)
    print(f"snapshot of the state before the measured night: {snapshot}")


def replay(size: str, work: Path) -> None:
    landing, replay_dir = work / f"landing-{size}", work / f"replay-{size}"
    warehouse, snapshot = replay_dir / "warehouse", replay_dir / "snapshot"
    if not snapshot.exists():
        raise SystemExit(f"no snapshot in {snapshot}: run `prepare {size}` first")
    header, deliveries = night_deliveries(work / f"night-{size}")
    shutil.rmtree(warehouse, ignore_errors=True)
    shutil.copytree(snapshot, warehouse)
    restamp_restored_records(warehouse)
    try:
        # the landing directory holds both nights' files, as in the round's measured night
        for name, rows in deliveries.items():
            deliver(landing, name, header, rows)
        steps = _run_steps(f"replay-{size}-night", landing, warehouse, replay_dir)
    finally:
        withdraw(landing, deliveries)
    print(f"night: {steps_line(steps)}; total {steps_seconds(steps):.1f}s")
    print(f"  dbt build: {steps['dbt_build'].get('output', {}).get('line', '')}")
    build_results = Path(steps["dbt_build"]["output"]["build_db"]).parent / "dbt_target" / "build_results.json"
    if build_results.exists():
        results = json.loads(build_results.read_text())
        print(f"  dbt nodes: {results['elapsed_time']:.1f}s elapsed; longest:")
        for node in sorted(results["results"], key=lambda r: -r["execution_time"])[:LONGEST_NODES]:
            print(f"    {node['execution_time']:6.2f}s  {node['unique_id']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="replay the benchmark's measured night (issue 18)")
    parser.add_argument("action", choices=("prepare", "run"))
    parser.add_argument("size", help="a size a round generated and split a night from, e.g. 20M")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK,
                        help="the round's --work")
    args = parser.parse_args(argv)
    work = args.work.resolve()
    if not (work / f"night-{args.size}" / "split.json").exists():
        raise SystemExit(f"no night split off in {work / f'night-{args.size}'}: run benchmarks/run.py --nightly first")
    (prepare if args.action == "prepare" else replay)(args.size, work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
