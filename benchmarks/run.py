"""Province-scale benchmark: yaocai's stages against a floor and a peer.

For each size (purchase lines) it generates a demo landing directory with
yaocai_demo (institutions and products grow with the volume: ≥ 3,000 and
≥ 20,000 at 20 M), then measures, each in its own process:

* floor  one DuckDB pass reading every purchases file once and summing
         price × quantity (benchmarks/floor.py): the cost of touching the data;
* typed floor  every purchases column read once, cast to its type and
         written into a DuckDB table (floor.py --typed): the least any ingest
         that checks every value must pay (issue 18);
* the pipeline's steps (yaocai/pipeline.py) on a fresh warehouse: ingest,
         reviews, dbt build, gate, publish, reports;
* write floor  every table of the publication the steps made copied once
         into a new DuckDB file (floor.py --written): the least any build
         that publishes those rows pays to store them, against which the
         dbt build is also given;
* peer   the three indicators computed with pandas from the same files the
         way an analyst would (benchmarks/peer.py), checked against the
         publication;

with wall time, CPU time, peak RSS (largest process of the step's process
tree, from wait4 in a bare launcher: benchmarks/measure.py; and the sampled
sum over the tree) and the load average before and after. Ratios to the
floor are the figures we track.

    .venv/bin/python benchmarks/run.py                          # 1M, 5M, 20M
    .venv/bin/python benchmarks/run.py --sizes 1M --work /tmp/yaocai-bench

Data go to --work (default /tmp/yaocai-bench, never inside the repository);
results to benchmarks/results/<size>.json and the table in
benchmarks/RESULTS.md (between the results markers). ``--nightly`` also
measures a nightly delivery on top of the largest size (see nightly.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script (the orchestrator runs each step so)
    sys.path.insert(0, str(REPO))

from benchmarks.measure import (AS_OF, DEFAULT_WORK, STEPS, measure, measure_steps, python_command,  # noqa: E402 (after the path is set)
                                steps_seconds)
from foundation.layout import DEFAULT_DUCKDB_MEMORY_LIMIT  # noqa: E402
from yaocai.steps import STEPS as PIPELINE_STEPS  # noqa: E402

RESULTS_DIR = REPO / "benchmarks" / "results"
RESULTS_MD = REPO / "benchmarks" / "RESULTS.md"
MARK_START, MARK_END = "<!-- results:start -->", "<!-- results:end -->"
SIZES = {"200k": 200_000, "1M": 1_000_000, "5M": 5_000_000, "20M": 20_000_000, "50M": 50_000_000}


# --------------------------------------------------------------------------
# one pipeline step in this process (called by the orchestrator)
# --------------------------------------------------------------------------

def run_step(step: str, landing: str, warehouse: str, as_of: str, context_file: Path) -> dict:
    from yaocai import pipeline

    if step == "start":
        ctx = pipeline.start_run(landing, warehouse, dt.date.fromisoformat(as_of), trigger="cli")
        context_file.write_text(json.dumps(ctx.to_dict()))
        return {"run_id": ctx.run_id, "line": f"run {ctx.run_id}"}
    ctx = pipeline.RunContext(**json.loads(context_file.read_text()))
    pipeline_step = next(s for s in PIPELINE_STEPS if s.name == step)
    try:
        result = getattr(pipeline, pipeline_step.function)(ctx)
    except BaseException as exc:
        if not pipeline_step.after_publish:
            pipeline.fail_run(ctx, f"{type(exc).__name__}: {exc}")
        raise
    return {k: v for k, v in result.items() if isinstance(v, (str, int, float, bool)) or v is None}


# --------------------------------------------------------------------------
# the benchmark of one size
# --------------------------------------------------------------------------

def landing_for(work: Path, size: str, lines: int) -> tuple[Path, dict]:
    landing = work / f"landing-{size}"
    truth_file = landing / "demo_truth.json"
    if truth_file.exists():
        truth = json.loads(truth_file.read_text())
        if truth.get("purchase_lines_requested") == lines:
            return landing, {"reused": True}
        shutil.rmtree(landing)
    generated = measure(f"generate-{size}", python_command(__file__, "--generate", str(landing), str(lines)), work / "logs")
    if generated["exit"] != 0:
        raise SystemExit(f"generating {size} failed: {generated.get('error')}")
    return landing, generated


def purchase_files(landing: Path) -> list[Path]:
    return sorted(p for p in (landing / "purchases").iterdir() if p.suffix in (".csv", ".jsonl"))


def bench_size(size: str, lines: int, work: Path, peer: bool, memory_limit: str | None, night: bool = False) -> dict:
    print(f"== {size} ({lines:,} purchase lines requested) in {work}", flush=True)
    landing, generated = landing_for(work, size, lines)
    night_facts = None
    if night:  # hold the last day(s) back for the nightly measurement (benchmarks/nightly.py)
        from benchmarks.nightly import split_night

        night_facts = split_night(landing, work / f"night-{size}", AS_OF)
    truth = json.loads((landing / "demo_truth.json").read_text())
    purchases = purchase_files(landing)
    result: dict = {
        "size": size,
        "purchase_lines_requested": lines,
        "purchase_lines": sum(v for k, v in truth["counts"].items() if k.startswith("purchases/"))
        - (night_facts or {}).get("night_lines", 0),
        "institutions": truth["institutions"],
        "products": truth["products"],
        "purchase_files": len(purchases),
        "landing_bytes": sum(p.stat().st_size for p in purchases),
        "generate": generated,
        "held_back_for_nightly": night_facts,
        "started_at": dt.datetime.now().isoformat(timespec="seconds"),
    }
    logs = work / "logs" / size
    env = {"YAOCAI_DUCKDB_MEMORY_LIMIT": memory_limit} if memory_limit else {}
    result["floor"] = measure_floor(landing, logs, env)
    result["typed_floor"] = measure_floor(landing, logs, env, typed=True)
    warehouse = work / f"warehouse-{size}"
    shutil.rmtree(warehouse, ignore_errors=True)
    context_file = work / f"context-{size}.json"
    result["steps"] = measure_steps(landing, warehouse, context_file, logs, env)
    published = warehouse / "yaocai.duckdb"
    if published.exists():
        result["publication"] = publication_facts(warehouse)
        # once: it copies the whole publication (about a minute at 20 M)
        result["write_floor"] = measure("write-floor", python_command(str(REPO / "benchmarks" / "floor.py"), str(published),
                                                                      "--written"), logs, env)
    if peer:
        peer_out = work / f"peer-{size}"
        result["peer"] = measure("peer", python_command(str(REPO / "benchmarks" / "peer.py"), str(landing), "--as-of", AS_OF,
                                                 "--out", str(peer_out)), logs)
        if published.exists() and result["peer"]["exit"] == 0:
            result["peer"]["agreement"] = compare_with_peer(published, peer_out)
    result["finished_at"] = dt.datetime.now().isoformat(timespec="seconds")
    return result


def measure_floor(landing: Path, logs: Path, env: dict | None = None, runs: int = 3, typed: bool = False) -> dict:
    """The floor is a best case: the fastest of a few runs (a 6-second query is
    easily doubled by other work on a shared machine). ``typed``: the typed
    floor (floor.py --typed), two runs (it takes about as long as the ingest
    step's lake writes)."""
    name, extra = ("typed-floor", ["--typed"]) if typed else ("floor", [])
    results = [measure(f"{name}-{i + 1}", python_command(str(REPO / "benchmarks" / "floor.py"), str(landing), *extra), logs, env)
               for i in range(2 if typed else runs)]
    best = min(results, key=lambda r: r["seconds"])
    return {**best, "runs_seconds": [r["seconds"] for r in results]}


def publication_facts(warehouse: Path) -> dict:
    import duckdb

    con = duckdb.connect(str(warehouse / "yaocai.duckdb"), read_only=True)
    try:
        tables = dict(con.execute("select table_name, estimated_size from duckdb_tables() "
                                  "where schema_name = 'main' order by 1").fetchall())
    finally:
        con.close()
    return {"bytes": (warehouse / "yaocai.duckdb").stat().st_size,
            "lake_bytes": (warehouse / "state" / "lake.duckdb").stat().st_size,
            "purchase_lines_rows": tables.get("purchase_lines"), "tables": len(tables)}


def compare_with_peer(published: Path, peer_out: Path) -> dict:
    """How closely the peer's indicators match the publication (same rows, same values)."""
    import duckdb
    import pandas as pd

    checks = {
        "platform_purchase_ratio": (["fixmedins_code", "month", "category_group"], "ratio", "month"),
        "price_deviation_index": (["fixmedins_code", "month", "category_group"], "pdi", "month"),
        "vbp_completion": (["batch_code", "group_code", "fixmedins_code", "period_start"], "completion_rate",
                           "period_start"),
    }
    con = duckdb.connect(str(published), read_only=True)
    agreement = {}
    try:
        for table, (keys, value, date_column) in checks.items():
            pub = con.execute(f"select {', '.join(keys)}, {value} from {table}").df()
            peer = pd.read_csv(peer_out / f"{table}.csv", usecols=[*keys, value], parse_dates=[date_column])
            pub[date_column] = pd.to_datetime(pub[date_column])
            merged = pub.merge(peer, on=keys, how="outer", suffixes=("_yaocai", "_peer"), indicator=True)
            both = merged[merged["_merge"] == "both"]
            a, b = both[f"{value}_yaocai"].astype(float), both[f"{value}_peer"].astype(float)
            same = ((a - b).abs() <= 1e-6 * b.abs().clip(lower=1)) | (a.isna() & b.isna())
            agreement[table] = {"rows_yaocai": len(pub), "rows_peer": len(peer), "rows_matched": len(both),
                                "values_equal": int(same.sum())}
    finally:
        con.close()
    return agreement


# --------------------------------------------------------------------------
# machine and report
# --------------------------------------------------------------------------

def machine(memory_limit: str | None = None) -> dict:
    from importlib.metadata import version

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    versions = {}
    for package in ("duckdb", "dbt-core", "dbt-duckdb", "pandas", "numpy", "great_expectations", "openpyxl", "xlsxwriter"):
        try:
            versions[package] = version(package)
        except Exception:
            versions[package] = None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    # the benchmark's own outputs (rewritten after each size) do not make the measured code "uncommitted"
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", ".", ":!benchmarks/results", ":!benchmarks/RESULTS.md"],
                                cwd=REPO, capture_output=True, text=True).stdout.strip())
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem / 2**20, 1), "os": platform.platform(),
            "python": platform.python_version(), "versions": versions,
            "commit": commit + ("+uncommitted changes" if dirty else ""),
            "duckdb_memory_limit": memory_limit or os.environ.get("YAOCAI_DUCKDB_MEMORY_LIMIT") or f"{DEFAULT_DUCKDB_MEMORY_LIMIT} (default)"}


def _step_cell(step: dict | None, floor: float, second_floor: float | None, second_label: str) -> str:
    """'12.3s (4.5×)', or '12.3s (4.5×; 1.2× typed)' with a second floor."""
    if step is None:
        return "—"
    seconds = step["seconds"]
    second = f"; {seconds / second_floor:.1f}× {second_label}" if second_floor else ""
    return f"{seconds:.1f}s ({seconds / floor:.1f}×{second})"


def render(results: list[dict]) -> str:
    """Markdown tables of the results (written into RESULTS.md)."""
    out = []
    if results:
        m = max(results, key=lambda r: r.get("started_at", ""))["machine"]  # the newest run's versions
        # rows measured at different commits (a size not rerun) say so, each size with its commit
        sizes_by_commit: dict[str, list[str]] = {}
        for r in results:
            sizes_by_commit.setdefault(r["machine"]["commit"], []).append(r["size"])
        commits = (f"commit {m['commit']}" if len(sizes_by_commit) == 1 else "commits: " + "; ".join(
            f"{', '.join(sizes)} at {commit}" for commit, sizes in sizes_by_commit.items()))
        # and rows measured on different machines, each size with its machine
        sizes_by_machine: dict[str, list[str]] = {}
        for r in results:
            rm = r["machine"]
            sizes_by_machine.setdefault(f"{rm['cpu']}, {rm['cores']} cores, {rm['memory_gb']} GB, {rm['os']}", []).append(r["size"])
        machines = (next(iter(sizes_by_machine)) if len(sizes_by_machine) == 1 else "; ".join(
            f"{', '.join(sizes)} on {machine}" for machine, sizes in sizes_by_machine.items()))
        out.append(f"Machine: {machines}; Python {m['python']}, "
                   + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + f"; {commits}; "
                   f"DuckDB memory limit {m['duckdb_memory_limit']}.\n")
    header = ("| size | lines | inst. | products | floor | typed floor | write floor | " + " | ".join(STEPS[1:])
              + " | total | peer | yaocai ÷ peer |")
    out += [header, "|" + "---|" * (header.count("|") - 1)]
    for r in results:
        floor = r["floor"]["seconds"]
        typed_floor = r.get("typed_floor", {}).get("seconds")  # results before issue 18 have none
        write_floor = r.get("write_floor", {}).get("seconds")  # nor these, before the write floor
        steps = r.get("steps", {})
        total = steps_seconds(steps)
        # ingest is also given against the typed floor, the dbt build against the write floor
        second_floors = {"ingest": (typed_floor, "typed"), "dbt_build": (write_floor, "written")}
        cells = [_step_cell(steps.get(step), floor, *second_floors.get(step, (None, ""))) for step in STEPS[1:]]
        peer = r.get("peer", {}).get("seconds")
        out.append(f"| {r['size']} | {r['purchase_lines']:,} | {r['institutions']:,} | {r['products']:,} | {floor:.1f}s | "
                   + (f"{typed_floor:.1f}s ({typed_floor / floor:.1f}×) | " if typed_floor else "— | ")
                   + (f"{write_floor:.1f}s ({write_floor / floor:.1f}×) | " if write_floor else "— | ")
                   + " | ".join(cells) + f" | **{total:.1f}s ({total / floor:.1f}×)** | "
                   + (f"{peer:.1f}s ({peer / floor:.1f}×) | {total / peer:.2f} |" if peer else "— | — |"))
    out += ["", "Peak memory (MB; largest process of the step / sampled sum over its process tree) and load average "
            "(1-minute, before → after):", ""]
    header = "| size | floor | typed floor | write floor | " + " | ".join(STEPS[1:]) + " | peer |"
    out += [header, "|" + "---|" * (header.count("|") - 1)]
    for r in results:
        def cell(s: dict | None) -> str:
            return "—" if not s else f"{s['max_rss_mb']:,} / {s['tree_rss_peak_mb']:,} (load {s['load_before'][0]:.1f}→{s['load_after'][0]:.1f})"
        steps = r.get("steps", {})
        out.append(f"| {r['size']} | {cell(r['floor'])} | {cell(r.get('typed_floor'))} | {cell(r.get('write_floor'))} | "
                   + " | ".join(cell(steps.get(s)) for s in STEPS[1:])
                   + f" | {cell(r.get('peer'))} |")
    agreements = [(r["size"], r["peer"]["agreement"]) for r in results if r.get("peer", {}).get("agreement")]
    if agreements:
        out += ["", "Peer vs publication (rows matched on the key / values equal within 1e-6 relative):", ""]
        for size, agreement in agreements:
            out.append(f"- {size}: " + "; ".join(
                f"{t} {a['rows_matched']:,}/{a['rows_yaocai']:,} rows, {a['values_equal']:,} equal"
                for t, a in agreement.items()))
    for r in (r for r in results if r.get("nightly")):
        n, full = r["nightly"], r["steps"]
        before = n.get("night_before_lines")
        out += ["", f"Nightly delivery on top of {r['size']} ({n['night_lines']:,} lines received from {n['from_day']}; "
                f"the full run above built the rest"
                + (f", then a night of {before:,} of them, the first after the full run" if before else "") + "):", "",
                "| run | " + " | ".join(STEPS[1:]) + " | total |", "|" + "---|" * (len(STEPS) + 1)]
        runs = [("full rebuild", full)] + ([(f"first night ({before:,} lines)", n["night_before_steps"])] if before else [])
        for label, steps in (*runs, ("nightly", n["steps"])):
            total = steps_seconds(steps)
            out.append(f"| {label} | " + " | ".join(f"{steps[s]['seconds']:.1f}s" if s in steps else "—" for s in STEPS[1:])
                       + f" | **{total:.1f}s** |")
        out.append(f"\nNightly ÷ full rebuild: **{n['share_of_full_run']:.0%}**.")
    return "\n".join(out) + "\n"


def write_report() -> None:
    results = []
    for size in SIZES:
        path = RESULTS_DIR / f"{size}.json"
        if path.exists():
            results.append(json.loads(path.read_text()))
    table = render(results)
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else f"# Benchmark results\n\n{MARK_START}\n{MARK_END}\n"
    if MARK_START not in text:
        text += f"\n{MARK_START}\n{MARK_END}\n"
    head, rest = text.split(MARK_START, 1)
    _, tail = rest.split(MARK_END, 1)
    RESULTS_MD.write_text(f"{head}{MARK_START}\n{table}{MARK_END}{tail}")


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="yaocai province-scale benchmark")
    parser.add_argument("--sizes", default="1M,5M,20M", help=f"comma-separated, of {', '.join(SIZES)} (default 1M,5M,20M)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK,
                        help=f"where landing data and warehouses go (default {DEFAULT_WORK})")
    parser.add_argument("--no-peer", action="store_true", help="skip the pandas peer")
    parser.add_argument("--nightly", action="store_true", help="also measure a nightly delivery on the largest size")
    parser.add_argument("--memory-limit", help="YAOCAI_DUCKDB_MEMORY_LIMIT for the steps (default: the pipeline's)")
    parser.add_argument("--report-only", action="store_true", help="rewrite the RESULTS.md table from results/*.json")
    parser.add_argument("--floor-only", action="store_true",
                        help="re-measure the floors (both) of existing results (--sizes)")
    parser.add_argument("--generate", nargs=2, metavar=("LANDING", "LINES"), help=argparse.SUPPRESS)
    parser.add_argument("--step", nargs=5, metavar=("STEP", "LANDING", "WAREHOUSE", "AS_OF", "CONTEXT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.generate:
        from yaocai_demo import generate_demo_landing

        truth = generate_demo_landing(Path(args.generate[0]), purchase_lines=int(args.generate[1]),
                                      as_of=dt.date.fromisoformat(AS_OF))
        print(json.dumps({"institutions": truth["institutions"], "products": truth["products"]}))
        return 0
    if args.step:
        step, landing, warehouse, as_of, context = args.step
        print(json.dumps(run_step(step, landing, warehouse, as_of, Path(context)), ensure_ascii=False, default=str))
        return 0
    if args.floor_only:  # re-measure the floors of existing results (best of 3; the typed floor best of 2)
        for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
            path = RESULTS_DIR / f"{size}.json"
            if path.exists():
                result = json.loads(path.read_text())
                landing, logs = args.work.resolve() / f"landing-{size}", args.work.resolve() / "logs" / size
                result["floor"] = measure_floor(landing, logs)
                result["typed_floor"] = measure_floor(landing, logs, typed=True)
                path.write_text(json.dumps(result, ensure_ascii=False, indent=2))
        write_report()
        return 0
    if args.report_only:
        write_report()
        return 0

    work = args.work.resolve()
    if work == REPO or REPO in work.parents:
        raise SystemExit(f"--work {work} is inside the repository; benchmark data never go there")
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise SystemExit(f"unknown size(s) {unknown}; choose from {list(SIZES)}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    for size in sizes:
        nightly = args.nightly and size == sizes[-1]
        result = bench_size(size, SIZES[size], work, peer=not args.no_peer, memory_limit=args.memory_limit, night=nightly)
        if nightly:
            from benchmarks.nightly import bench_nightly

            result["nightly"] = bench_nightly(size, work, result, memory_limit=args.memory_limit)
        result["machine"] = machine(args.memory_limit)
        (RESULTS_DIR / f"{size}.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
        write_report()
        print(render([result]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
