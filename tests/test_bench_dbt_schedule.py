"""benchmarks/dbt_schedule.py: dbt build's test edges, the critical path and
the two simulated orders, against schedules worked out by hand."""

from __future__ import annotations

import json

from benchmarks.dbt_schedule import Build, load_build, summary, with_test_edges


def _build(seconds: dict[str, float], parents: dict[str, set[str]]) -> Build:
    return Build(seconds, with_test_edges({n: parents.get(n, set()) for n in seconds}), makespan=0.0)


def test_a_node_waits_for_the_tests_on_its_ancestors_only():
    parents = {"model.a": set(), "model.b": {"model.a"}, "model.c": set(), "model.d": {"model.b"},
               "test.a_unique": {"model.a"}, "test.a_c_relationship": {"model.a", "model.c"}}
    waits = with_test_edges(parents)
    assert waits["model.b"] == {"model.a", "test.a_unique"}
    assert waits["model.d"] == {"model.b", "test.a_unique"}  # a descendant further down waits too
    # the relationship test reads c too, which b does not descend from: no edge (it would add c upstream of b)
    assert "test.a_c_relationship" not in waits["model.b"]
    assert waits["test.a_unique"] == {"model.a"}


def test_simulated_orders_match_the_schedules_worked_by_hand():
    # a (1 s) then b (4 s); c, d, e (1 s each) stand alone; two threads.
    # dbt's order (shallowest level first, then by name): a, c at 0–1; d, e at 1–2 (level 0 before b's
    # level 1); b at 2–6. Longest chain first: a, c at 0–1; b at 1–5 beside d 1–2, e 2–3: 5 s.
    build = _build({"model.a": 1, "model.b": 4, "model.c": 1, "model.d": 1, "model.e": 1}, {"model.b": {"model.a"}})
    figures = summary(build, threads=2)
    assert figures["simulated_dbt_order"] == 6
    assert figures["simulated_longest_chain_first"] == 5
    assert figures["critical_path"] == 5
    assert figures["work"] == 8 and figures["work_per_thread"] == 4


def test_load_build_reads_a_run_folder(tmp_path):
    def result(node: str, start: str, end: str, seconds: float) -> dict:
        return {"unique_id": node, "execution_time": seconds, "thread_id": f"Thread-{1 + (node == 'model.c')} (worker)",
                "timing": [{"name": "compile", "started_at": start, "completed_at": start},
                           {"name": "execute", "started_at": start, "completed_at": end}]}
    (tmp_path / "build_results.json").write_text(json.dumps({"results": [
        result("model.a", "2026-12-03T05:00:00.000000Z", "2026-12-03T05:00:02.000000Z", 2.0),
        result("test.a_unique", "2026-12-03T05:00:02.100000Z", "2026-12-03T05:00:02.600000Z", 0.5),
        result("model.b", "2026-12-03T05:00:02.700000Z", "2026-12-03T05:00:05.700000Z", 3.0),
        result("model.c", "2026-12-03T05:00:01.500000Z", "2026-12-03T05:00:03.000000Z", 1.5)]}))
    (tmp_path / "manifest.json").write_text(json.dumps({"parent_map": {
        "model.a": ["source.lake.purchases"], "test.a_unique": ["model.a"], "model.b": ["model.a"], "model.c": []}}))
    build = load_build(tmp_path)
    assert build.makespan == 5.7 and build.threads == 2
    # c ran beside a (1.5–2.0), the test (2.1–2.6) and b (2.7–3.0): 0.5 + 0.5 + 0.3 s
    assert abs(build.overlapped - 1.3) < 1e-9
    assert build.parents["model.b"] == {"model.a", "test.a_unique"}
    assert build.parents["model.a"] == frozenset()  # sources are not run: not waited for
    assert summary(build, threads=2)["critical_path"] == 5.5
