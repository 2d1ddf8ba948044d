"""A nightly delivery on top of a province-scale warehouse.

The generated landing directory is split before the full run: the lines
received on the last day(s) before the as-of date (about 60,000 lines at
20 M, the size of one night's deliveries) are moved out of the last month's
purchases files into night/purchases/<as-of>_night.csv. The full run
(benchmarks/run.py) builds the warehouse from the rest, the history; then
this module drops the night's file into the landing directory and runs the
pipeline's steps again on the same warehouse, as the nightly DAG would,
measuring each step. The night's file is removed again afterwards, so the
landing directory can be reused.

Nights follow nights: the measured night comes after a first, small one
(NIGHT_BEFORE_LINES of the night's lines, also measured and reported), as in
production, where only the first night after a full rebuild copies the
publication (a publish after an incremental build keeps the file it
replaces for the next build: foundation/publication.py).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

NIGHT_LINES = 60_000
NIGHT_FILE = "night.csv"
NIGHT_BEFORE_LINES = 1_000  # the first night after the full run (see the module docstring)


def split_night(landing: Path, night_dir: Path, as_of: str, lines: int = NIGHT_LINES) -> dict:
    """Move the latest ~``lines`` purchase lines out of the landing directory (once)."""
    marker = night_dir / "split.json"
    if marker.exists():
        return json.loads(marker.read_text())
    month = as_of[:7]
    files = sorted((landing / "purchases").glob(f"{month}_*.csv"))
    if not files:
        raise SystemExit(f"no purchases file of {month} to take a night from")
    csv.field_size_limit(sys.maxsize)
    rows: list[tuple[str, Path, list[str]]] = []
    header: list[str] | None = None
    for path in files:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            stamp = header.index("purc_retn_stoin_time")
            rows.extend((row[stamp], path, row) for row in reader)
    # The night: every line received from the cut-off day on (whole days).
    days = sorted({stamp[:10] for stamp, _, _ in rows}, reverse=True)
    cutoff, taken = days[0], 0
    for day in days:
        taken += sum(1 for stamp, _, _ in rows if stamp[:10] == day)
        cutoff = day
        if taken >= lines:
            break
    night_dir.mkdir(parents=True, exist_ok=True)
    night = [row for stamp, _, row in rows if stamp[:10] >= cutoff]
    _write_rows(night_dir / NIGHT_FILE, header, night)
    for path in files:
        kept = [row for stamp, source, row in rows if source == path and stamp[:10] < cutoff]
        tmp = path.with_name(path.name + ".tmp")
        _write_rows(tmp, header, kept)
        tmp.replace(path)
    facts = {"night_lines": len(night), "from_day": cutoff,
             "days_through_as_of": sum(1 for day in days if cutoff <= day <= as_of),
             "lines_after_as_of": sum(1 for stamp, _, _ in rows if stamp[:10] > as_of)}
    marker.write_text(json.dumps(facts))
    return facts


def _write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def night_deliveries(night_dir: Path) -> tuple[list[str], dict[str, list[list[str]]]]:
    """The header and the two deliveries of the split-off night: the first,
    small night after the full run, then the measured night."""
    csv.field_size_limit(sys.maxsize)
    with (night_dir / NIGHT_FILE).open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, {"night_before": rows[:NIGHT_BEFORE_LINES], "night": rows[NIGHT_BEFORE_LINES:]}


def _delivery_path(landing: Path, name: str) -> Path:
    from benchmarks.measure import AS_OF

    return landing / "purchases" / f"{AS_OF}_{name}.csv"


def deliver(landing: Path, name: str, header: list[str], rows: list[list[str]]) -> None:
    """Drops one night's file into the landing directory."""
    _write_rows(_delivery_path(landing, name), header, rows)


def withdraw(landing: Path, names) -> None:
    """Takes the nights' files out again, so the landing directory can be reused."""
    for name in names:
        _delivery_path(landing, name).unlink(missing_ok=True)


def bench_nightly(size: str, work: Path, full: dict, memory_limit: str | None = None) -> dict:
    """Run the nightly steps twice, the night before (small) and the measured
    night, with their files added; compare the measured night with the full run."""
    from benchmarks.measure import failed_step, measure_steps, steps_line, steps_seconds

    landing = work / f"landing-{size}"
    night_dir = work / f"night-{size}"
    facts = json.loads((night_dir / "split.json").read_text())
    header, deliveries = night_deliveries(night_dir)
    env = {"YAOCAI_DUCKDB_MEMORY_LIMIT": memory_limit} if memory_limit else {}
    nights: dict[str, dict] = {}
    try:
        for name, delivery in deliveries.items():
            deliver(landing, name, header, delivery)
            nights[name] = measure_steps(landing, work / f"warehouse-{size}", work / f"context-{size}-{name}.json",
                                         work / "logs" / f"{size}-{name}", env)
            if failed := failed_step(nights[name]):
                raise SystemExit(f"{name}: step {failed} failed")
    finally:
        withdraw(landing, deliveries)

    steps, nightly_total = nights["night"], steps_seconds(nights["night"])
    full_total = steps_seconds(full["steps"])
    share = nightly_total / full_total if full_total else None
    days = facts.get("days_through_as_of", facts.get("days"))
    summary = (f"{len(deliveries['night']):,} lines ({days} day(s) from {facts['from_day']}, after a night of "
               f"{len(deliveries['night_before']):,}): "
               + steps_line(steps) + f"; total {nightly_total:.1f}s = {share:.0%} of the full run ({full_total:.1f}s)")
    print("  nightly: " + summary, flush=True)
    return {**facts, "night_lines": len(deliveries["night"]), "night_before_lines": len(deliveries["night_before"]),
            "night_before_steps": nights["night_before"], "night_before_total_seconds": round(steps_seconds(nights["night_before"]), 2),
            "steps": steps, "total_seconds": round(nightly_total, 2),
            "share_of_full_run": round(share, 4) if share else None, "summary": summary}
