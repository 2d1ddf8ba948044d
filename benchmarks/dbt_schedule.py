"""How a dbt build's time splits between its work, its longest chain and its order (issue 18).

Reads a build's ``build_results.json`` and ``manifest.json`` (a run's
``dbt_target`` folder under WAREHOUSE/state/runs/) and prints:

* **makespan**: first node's start to last node's end, as run, and of it
  the seconds when two or more nodes ran at once (**overlapped**);
* **work**: the nodes' execution times added up; ÷ threads is the least any
  order could take if the nodes' times stayed as measured;
* **critical path**: the longest chain of nodes that must run one after the
  other, the least any number of threads could take;
* two **simulated** orders on the same times and threads: dbt's (a ready node
  of the shallowest graph level first, ties by name: dbt/graph/queue.py
  ``_get_scores``) and longest-remaining-chain first.

What it tells: if the simulated orders differ little, the order of the nodes
is not worth changing; if work ≈ makespan while several threads ran, the
threads overlapped only by sharing the cores (each DuckDB query already uses
them all), so more threads or a better order cannot help. The node times are
measured with the threads competing, so the simulations are estimates.

    python benchmarks/dbt_schedule.py WAREHOUSE/state/runs/RUN/dbt_target [--threads N]

Like dbt build (dbt/compilation.py ``add_test_edges``), a node waits for the
tests on its ancestors: for a test and a node that descends from every node
the test reads.
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import networkx as nx


@dataclass(frozen=True)
class Build:
    seconds: dict[str, float]                 # node → execution time
    parents: dict[str, frozenset[str]]        # node → the nodes it waits for (run nodes only)
    makespan: float                           # as run
    overlapped: float = 0.0                   # seconds of the makespan with two or more nodes running
    threads: int = 1                          # dbt threads the build ran with (its results' thread names)

    @cached_property
    def graph(self) -> nx.DiGraph:
        return _graph(self.parents)


def _graph(parents: Mapping[str, Iterable[str]]) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(parents)
    graph.add_edges_from((parent, node) for node, ps in parents.items() for parent in ps)
    return graph


def _is_test(node: str) -> bool:
    return node.startswith("test.")


def with_test_edges(parents: dict[str, set[str]]) -> dict[str, frozenset[str]]:
    """Adds dbt build's edges: a non-test node waits for a test when it
    descends from every node the test reads (that rule never makes a cycle)."""
    graph = _graph(parents)
    tests = [node for node in parents if _is_test(node) and parents[node]]
    waits = {}
    for node, ps in parents.items():
        above = set() if _is_test(node) else nx.ancestors(graph, node)
        waits[node] = frozenset(ps) | {test for test in tests if parents[test] <= above}
    return waits


def load_build(target: Path) -> Build:
    results = json.loads((target / "build_results.json").read_text())["results"]
    parent_map = json.loads((target / "manifest.json").read_text())["parent_map"]
    seconds = {r["unique_id"]: float(r["execution_time"]) for r in results}
    parents = {node: {p for p in parent_map.get(node, []) if p in seconds} for node in seconds}
    spans = [(dt.datetime.fromisoformat(t["started_at"].rstrip("Z")), dt.datetime.fromisoformat(t["completed_at"].rstrip("Z")))
             for r in results for t in r["timing"] if t["name"] == "execute" and t.get("started_at")]
    makespan = (max(end for _, end in spans) - min(start for start, _ in spans)).total_seconds() if spans else 0.0
    threads = len({r["thread_id"] for r in results if r.get("thread_id")}) or 1
    return Build(seconds, with_test_edges(parents), makespan, _overlapped(spans), threads)


def _overlapped(spans: list[tuple[dt.datetime, dt.datetime]]) -> float:
    """Seconds during which two or more of the spans were open."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    total, running, since = 0.0, 0, None
    for moment, step in events:
        if running >= 2 and since is not None:
            total += (moment - since).total_seconds()
        running += step
        since = moment
    return total


def remaining_chain(build: Build) -> dict[str, float]:
    """Each node's time plus the longest chain of nodes after it."""
    chain: dict[str, float] = {}
    for node in reversed(list(nx.topological_sort(build.graph))):
        chain[node] = build.seconds[node] + max((chain[c] for c in build.graph.successors(node)), default=0.0)
    return chain


def dbt_levels(build: Build) -> dict[str, int]:
    """dbt's score: the node's generation in a topological sort that groups ties (dbt/graph/queue.py)."""
    return {node: level for level, nodes in enumerate(nx.topological_generations(build.graph)) for node in nodes}


def simulate(build: Build, threads: int, priority: Callable[[str], object]) -> float:
    """The makespan of a list schedule: whenever a thread is free it takes the ready node of lowest priority value."""
    waiting = {node: len(ps) for node, ps in build.parents.items()}
    ready = [(priority(node), node) for node, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now = 0.0
    while ready or running:
        while ready and len(running) < threads:
            _, node = heapq.heappop(ready)
            heapq.heappush(running, (now + build.seconds[node], node))
        now, node = heapq.heappop(running)
        for child in build.graph.successors(node):
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (priority(child), child))
    return now


def summary(build: Build, threads: int) -> dict[str, float]:
    chain, level = remaining_chain(build), dbt_levels(build)
    work = sum(build.seconds.values())
    return {
        "makespan": build.makespan,
        "overlapped": build.overlapped,
        "work": work,
        "work_per_thread": work / threads,
        "critical_path": max(chain.values(), default=0.0),
        "simulated_dbt_order": simulate(build, threads, lambda node: (level[node], node)),
        "simulated_longest_chain_first": simulate(build, threads, lambda node: (-chain[node], node)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a dbt build's work, critical path and order (issue 18)")
    parser.add_argument("target", type=Path, help="a run's dbt_target folder (build_results.json, manifest.json)")
    parser.add_argument("--threads", type=int, help="threads to simulate (default: those the build ran with; "
                        "yaocai/pipeline.py gives a full rebuild one)")
    args = parser.parse_args(argv)
    build = load_build(args.target)
    threads = args.threads or build.threads
    print(f"{build.threads} dbt thread(s) as run; simulated with {threads}")
    figures = summary(build, threads)
    for name, seconds in figures.items():
        print(f"{name:32s} {seconds:8.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
