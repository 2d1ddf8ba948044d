"""Imports point down the flow and run in no circle (issue 14, item 1).

The flow is landing → ingest → dbt → gate → publish → reports, with the
orchestration (the pipeline, the CLI, the DAG) on top and `foundation/`
(warehouse layout, locking, the published file, fail points) underneath.
Every `import` statement of the project is read with `ast`, including the
ones inside functions, so a lazy import cannot hide an arrow that runs back
up. Run this file to check a change: `pytest tests/test_layering.py`.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# package -> the packages of ours it may import (besides itself)
ALLOWED = {
    "foundation": set(),
    "ingest": {"foundation"},
    "expectations": {"foundation", "ingest"},
    "reports": {"foundation", "ingest"},
    "platform_emulator": {"foundation", "ingest"},
    "yaocai_demo": {"foundation", "ingest"},
    "yaocai": {"foundation", "ingest", "expectations", "reports", "yaocai_demo"},
    "benchmarks": {"foundation", "ingest", "expectations", "reports", "yaocai", "yaocai_demo"},
    "dags": {"foundation", "yaocai"},
}
OURS = set(ALLOWED)


def _modules() -> dict[str, Path]:
    found = {}
    for package in OURS:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, module: str) -> set[str]:
    """Every module of ours that `path` imports, anywhere in the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")[: -node.level] if path.name != "__init__.py" else module.split(".")
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] in OURS}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        targets = set()
        for name in _imports(path, module):
            # `from a.b import c` names a.b.c, which is a module or a name in a.b
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def test_every_package_imports_only_what_lies_below_it():
    back_up = [f"{module} imports {target}" for module, targets in _graph().items() for target in targets
               if target.split(".")[0] != module.split(".")[0]
               and target.split(".")[0] not in ALLOWED[module.split(".")[0]]]
    assert back_up == []


def test_no_module_imports_itself_through_a_circle():
    graph = _graph()
    circles = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                circles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_the_check_sees_an_arrow_that_runs_back_up(tmp_path):
    """The reader of imports is not blind: a lazy import inside a function counts."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from yaocai.pipeline import run_pipeline\n    import reports.workbook as w\n")
    assert _imports(probe, "ingest.probe") == {"yaocai.pipeline", "yaocai.pipeline.run_pipeline", "reports.workbook"}
