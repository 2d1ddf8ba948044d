"""``dbt build`` then ``dbt docs generate`` in one process.

The pipeline's build step runs ``python -m yaocai.dbt_runner ARGS…`` as a
subprocess (dbt-duckdb holds its DuckDB files open for the life of the
process, so dbt never runs inside the pipeline's own process). Running the
commands in one process, on one parsed manifest, saves dbt's start-up and
parse for every command after the first.

ARGS are the options common to both commands (--project-dir, --profiles-dir,
--vars, --log-path …), plus ``--parse-cache DIR`` (below), and two for
incremental builds: ``--skip-docs`` leaves the docs out, and
``--exclude-resource-type X`` goes to dbt build alone. The exit status is
dbt build's (0 ok, 1 failures, 2 error). Docs are
generated only after a successful build, with ``--static`` (a single
static_index.html that opens without a web server);
a docs failure does not fail the build: it is written to
TARGET/docs_result.json for the pipeline to report. ``dbt source freshness``
runs after every successful build (feeds that stopped arriving); its result
is TARGET/sources.json, reported by the pipeline, never a failure. TARGET/build_results.json
keeps the build's run_results.json (docs generation overwrites the latter).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path


# The options of ARGS that `dbt parse` takes too (with whether each has a
# value); node selection (--select, --indirect-selection …) is build's alone.
PARSE_OPTIONS = {"--project-dir": True, "--profiles-dir": True, "--vars": True, "--log-path": True,
                 "--target": True, "--target-path": True, "--no-use-colors": False}


def _parse_options(argv: list[str]) -> list[str]:
    kept, i = [], 0
    while i < len(argv):
        option = argv[i].split("=", 1)[0]
        takes_value = PARSE_OPTIONS.get(option)
        width = 2 if (takes_value or (option not in PARSE_OPTIONS and i + 1 < len(argv)
                                      and not argv[i + 1].startswith("--"))) and "=" not in argv[i] else 1
        if option in PARSE_OPTIONS:
            kept += argv[i:i + width]
        i += width
    return kept


def _split_option(argv: list[str], name: str) -> tuple[list[str], list[str]]:
    """(``name`` and its value, the other arguments); ([], argv) without it."""
    if name not in argv:
        return [], argv
    i = argv.index(name)
    return argv[i:i + 2], argv[:i] + argv[i + 2:]


# ``--parse-cache DIR``: where the parse is kept for the next run. dbt
# reuses an earlier parse (partial parsing: DIR/partial_parse.msgpack, only
# the changed files parsed again) only when the command line's vars, the
# connection settings of profiles.yml and the env vars of dbt_project.yml
# are the ones it was made with; dbt itself checks that the project's files
# and its own version are unchanged. Every run has its own build file,
# scratch database, target folder and as-of date, so the parse is made
# without --vars and with these fixed stand-ins for the run's settings. It
# only finds the refs and configs of the project, which depend on none of
# them; each command after it compiles the models with the run's own vars
# and settings (the 20 M night's parse: 7.2 s, issue 18).
PARSE_STAND_INS = {
    "YAOCAI_WORK_DB": "work.duckdb",
    "YAOCAI_DUCKDB_TEMP_DIR": ".duckdb_tmp",
    "YAOCAI_DUCKDB_MEMORY_LIMIT": "5GB",
    "YAOCAI_DUCKDB_THREADS": "2",
    "YAOCAI_DBT_THREADS": "2",
}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _parse(argv: list[str], cache: str | None):
    """`dbt parse` with the options of ARGS it takes; with a cache, the
    stand-ins above instead of the run's vars and settings."""
    from dbt.cli.main import dbtRunner

    options = _parse_options(argv)
    if not cache:
        return dbtRunner().invoke(["parse", *options])
    _, options = _split_option(options, "--vars")
    # the build file's name names its database (the run's is always build.duckdb)
    stand_ins = {**PARSE_STAND_INS, "YAOCAI_DBT_TARGET_PATH": cache,
                 "YAOCAI_BUILD_DB": Path(os.environ.get("YAOCAI_BUILD_DB", "build.duckdb")).name}
    with _environment(stand_ins):
        return dbtRunner().invoke(["parse", *options])


def main(argv: list[str]) -> int:
    from dbt.cli.main import dbtRunner
    from dbt.contracts.graph.manifest import Manifest

    skip_docs = "--skip-docs" in argv  # incremental builds: the project, hence its docs, did not change
    argv = [arg for arg in argv if arg != "--skip-docs"]
    parse_cache_option, argv = _split_option(argv, "--parse-cache")
    parse_cache = parse_cache_option[1] if parse_cache_option else None
    # options for dbt build alone (not dbt docs generate)
    build_only, argv = _split_option(argv, "--exclude-resource-type")
    target = Path(os.environ.get("YAOCAI_DBT_TARGET_PATH", "target"))
    started = time.monotonic()
    # Parse once and hand the manifest to every command (each writes it to
    # TARGET/manifest.json): each invoke otherwise parses the project again
    # (a partial parse at best), about 5 s per command on a busy 2-core
    # machine (issue 18).
    parse = _parse(argv, parse_cache)
    if not parse.success:
        return 2 if parse.exception is not None else 1
    manifest = parse.result
    assert isinstance(manifest, Manifest)  # what `dbt parse` returns
    runner = dbtRunner(manifest=manifest)
    build = runner.invoke(["build", *build_only, *argv])
    build_seconds = time.monotonic() - started
    if (target / "run_results.json").exists():
        shutil.copyfile(target / "run_results.json", target / "build_results.json")
    if not build.success:
        return 2 if build.exception is not None else 1
    # Source freshness (sources' `freshness` in models/staging/_lake__sources.yml):
    # dbt writes TARGET/sources.json; reported by the pipeline, never fails the build.
    try:
        runner.invoke(["source", "freshness", *argv])
    except Exception as exc:  # a report, not a reason to lose the night's build
        (target / "sources.json").write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
    if skip_docs:
        return 0
    started = time.monotonic()
    try:
        docs = runner.invoke(["docs", "generate", "--static", *argv])
        ok, error = docs.success, (None if docs.success else repr(docs.exception or docs.result))
    except Exception as exc:  # never fail a good build over its documentation
        ok, error = False, f"{type(exc).__name__}: {exc}"
    (target / "docs_result.json").write_text(json.dumps(
        {"ok": ok, "error": error, "build_seconds": round(build_seconds, 2),
         "docs_seconds": round(time.monotonic() - started, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
