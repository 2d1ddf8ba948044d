"""Command line: ``yaocai run | demo-data | summary | report | review``.

``yaocai run --landing DIR --warehouse DIR --as-of YYYY-MM-DD`` runs the
whole nightly pipeline without a scheduler (data-contract.md §3) and exits
0 only when it published (and made its reports), printing one line per step.

Exit statuses: 0 ok, 1 failed (nothing published), 3 another run is
writing, 4 published but the reports failed (``yaocai report`` remakes them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path

from yaocai.steps import ENGINES


class _Output:
    """Printing that survives a closed stdout (``yaocai run … | head -5``):
    once the reader is gone, stdout goes to /dev/null and the command goes
    on, so a published run still ends "published" with exit status 0. Before
    this, the EPIPE raised inside a step line failed the run after it had
    published (issue 13, item 7). Every line goes through
    reports.safe.printable: upload text never puts a control character on
    the terminal."""

    closed = False

    @classmethod
    def line(cls, text: object = "", stream=None, keep_newlines: bool = True) -> None:
        from reports.safe import printable

        stream = stream or sys.stdout
        if cls.closed and stream is sys.stdout:
            return
        try:
            print(printable(text, keep_newlines=keep_newlines), file=stream, flush=True)
        except BrokenPipeError:
            if stream is sys.stdout:
                cls.closed = True
                _silence_stdout()
        except OSError:  # stderr gone too: nothing left to tell
            pass


def _silence_stdout() -> None:
    # Python would otherwise report the EPIPE again when it flushes stdout at exit.
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def line(text: object) -> None:
    """One line built from upload or officer text: line breaks become spaces."""
    _Output.line(text, keep_newlines=False)


class _PrintableFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        from reports.safe import printable

        return printable(super().format(record), keep_newlines=True)


def out(text: object = "") -> None:
    _Output.line(text)


def err(text: object = "") -> None:
    _Output.line(text, stream=sys.stderr)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


class Progress:
    """A one-line progress bar on stderr (only when it is a terminal)."""

    def __init__(self) -> None:
        self.interactive = sys.stderr.isatty()
        self.started = time.monotonic()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.interactive or total <= 0:
            return
        width = 30
        filled = int(width * done / total)
        sys.stderr.write(f"\r{stage:<10} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                         f"{time.monotonic() - self.started:5.1f}s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _step_line(line: str) -> None:
    _Output.line(line, keep_newlines=False)


def cmd_run(args: argparse.Namespace) -> int:
    from foundation.locking import WarehouseBusy
    from yaocai.pipeline import InvalidRunArguments, ReportsFailed, check_as_of, run_pipeline
    from yaocai.summary import summarise

    started = time.monotonic()
    try:
        check_as_of(args.as_of)  # before anything is locked or created
        if args.source != "api" and args.landing is None:
            err(f"yaocai run: --landing is required with --source {args.source}")
            return 2
        ctx = run_pipeline(args.landing, args.warehouse, args.as_of, progress=Progress(), on_step=_step_line,
                           source=args.source, engine=args.engine)
    except ReportsFailed as exc:
        err(f"yaocai run: published {Path(args.warehouse).resolve() / 'yaocai.duckdb'}, but the REPORTS FAILED: {exc}")
        return 4
    except WarehouseBusy as exc:
        err(f"yaocai run: {exc}")
        return 3
    except InvalidRunArguments as exc:
        err(f"yaocai run: refused: {exc}")
        return 2
    except Exception as exc:  # every failure: clear message, non-zero exit, previous publication kept
        err(f"yaocai run: FAILED, nothing published ({type(exc).__name__}: {exc})")
        err(f"yaocai run: the previous publication (if any) is unchanged: {Path(args.warehouse).resolve() / 'yaocai.duckdb'}")
        return 1
    out(f"yaocai run: published {ctx.layout.published} in {time.monotonic() - started:.1f}s (run {ctx.run_id})")
    if not args.quiet:
        out(summarise(ctx.layout.published))
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from yaocai_demo import generate_demo_landing

    truth = generate_demo_landing(Path(args.landing), seed=args.seed, purchase_lines=args.lines, as_of=args.as_of,
                                  progress=Progress())
    files = sum(1 for _ in truth["counts"])
    rows = sum(truth["counts"].values())
    out(f"yaocai demo-data: wrote {files} files, {rows:,} rows to {Path(args.landing).resolve()}")
    return 0


def cmd_bench(bench_args: list[str]) -> int:
    import subprocess

    from foundation.layout import REPO_ROOT

    script = REPO_ROOT / "benchmarks" / "run.py"
    if not script.exists():
        err(f"yaocai bench: {script} not found (the benchmark runs from a clone of the repository)")
        return 2
    return subprocess.call([sys.executable, str(script), *bench_args])


def cmd_summary(args: argparse.Namespace) -> int:
    from yaocai.summary import summarise

    published = Path(args.warehouse) / "yaocai.duckdb"
    if not published.exists():
        err(f"yaocai summary: no publication at {published}")
        return 1
    out(summarise(published))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from reports.build import generate_reports

    try:
        files = generate_reports(args.warehouse)
    except Exception as exc:
        err(f"yaocai report: FAILED ({type(exc).__name__}: {exc})")
        return 1
    out(f"yaocai report: {files.line()} ({files.seconds:.1f}s)")
    return 0


def _warehouse(args: argparse.Namespace) -> Path:
    import os

    warehouse = args.warehouse or os.environ.get("YAOCAI_WAREHOUSE")
    if not warehouse:
        raise SystemExit("yaocai review: give --warehouse DIR (or set YAOCAI_WAREHOUSE)")
    return Path(warehouse)


def cmd_review_mark(args: argparse.Namespace) -> int:
    from reports.labels import parse_status, status_label
    from foundation.locking import WarehouseBusy
    from yaocai.reviews import ReviewError, mark

    status = parse_status(args.status) or args.status
    try:
        recorded = mark(_warehouse(args), args.anomaly_id, status, args.reason, args.by)
    except ReviewError as exc:
        err(f"yaocai review mark: not recorded: {exc}")
        return 1
    except WarehouseBusy as exc:
        err(f"yaocai review mark: not recorded: {exc}")
        return 3
    gap = recorded.get("gap_at_review")
    out(f"yaocai review mark: recorded #{recorded['review_no']} {recorded['anomaly_id']} → "
          f"{status_label(recorded['status'])} ({recorded['status']}) by {recorded['reviewed_by']}"
          + (f", gap at review {gap:.4f}" if gap is not None else "")
          + "; the publication shows it after the next run")
    return 0


def cmd_review_list(args: argparse.Namespace) -> int:
    from reports.labels import ANOMALY_TYPES, SEVERITIES, parse_status, status_label
    from reports.safe import write_csv
    from yaocai.reviews import list_reviews

    status = None
    if args.status:
        status = "reopened" if args.status in ("reopened", "重新打开") else parse_status(args.status)
        if status is None:
            err(f"yaocai review list: unknown status {args.status!r}")
            return 1
    from foundation.locking import WarehouseBusy

    try:
        frame = list_reviews(_warehouse(args), status=status, include_suppressed=True)
    except WarehouseBusy as exc:
        err(f"yaocai review list: {exc}")
        return 3
    if args.type and not frame.empty:
        frame = frame[frame["anomaly_type"] == args.type]
    columns = ["anomaly_id", "anomaly_type", "severity", "effective_status", "review_status", "pending_status",
               "reviewed_by", "reviewed_at", "review_reason", "is_suppressed", "gap", "excess_amount", "detail"]
    if args.csv:
        rows = [[r.get(c) for c in columns] for r in frame.to_dict("records")] if not frame.empty else []
        write_csv(args.csv, columns, rows)
        out(f"yaocai review list: {len(rows)} findings written to {args.csv}")
        return 0
    if frame.empty:
        out("yaocai review list: no findings" + (f" with status {status}" if status else ""))
        return 0
    for r in frame.to_dict("records"):
        pending = "*" if r.get("pending_status") else " "
        who = f" {r['reviewed_by']}" if isinstance(r.get("reviewed_by"), str) else ""
        reason = f" “{r['review_reason']}”" if isinstance(r.get("review_reason"), str) else ""
        line(f"{r['anomaly_id']}  {SEVERITIES.get(r['severity'], r['severity'])}  "
              f"{ANOMALY_TYPES.get(r['anomaly_type'], (r['anomaly_type'],))[0]:<8}  "
              f"{status_label(r['effective_status'])}{pending}{who}{reason}  {str(r['detail'])[:60]}")
    if frame["pending_status"].notna().any():
        out("* recorded after the current publication was built: shown in the publication after the next run")
    out(f"{len(frame)} findings")
    return 0


def cmd_review_history(args: argparse.Namespace) -> int:
    from yaocai.reviews import history

    from foundation.locking import WarehouseBusy

    try:
        frame = history(_warehouse(args), args.anomaly_id)
    except WarehouseBusy as exc:
        err(f"yaocai review history: {exc}")
        return 3
    if frame.empty:
        out(f"yaocai review history: no decisions recorded for {args.anomaly_id}")
        return 0
    def text(value: object) -> str:
        return value if isinstance(value, str) else ""

    for r in frame.to_dict("records"):
        gap = r.get("gap_at_review")
        line(f"#{r['review_no']} {r['reviewed_at']:%Y-%m-%d %H:%M} {r['status']:<9} by {r['reviewed_by']} "
              f"via {r['source']}{(' ' + text(r.get('source_file'))) if text(r.get('source_file')) else ''}"
              f"; gap then {'—' if gap is None or gap != gap else f'{gap:.4f}'}, "
              f"severity then {text(r.get('severity_at_review')) or '—'}"
              + (f"; reason: {r['reason']}" if text(r.get("reason")) else ""))
    return 0


def cmd_import_vbp_results(args: argparse.Namespace) -> int:
    """Published VBP results table → landing/vbp_results/ + lake vbp_result_matching (ingest/vbp_import.py)."""
    import uuid

    import duckdb

    from ingest.lake import ensure_lake
    from ingest.vbp_import import (Catalogue, CatalogueProduct, CompanyMapping, import_results, read_table,
                                   store_matching, write_landing_csv)
    from foundation.layout import Layout
    from foundation.locking import WarehouseBusy, warehouse_lock

    prog = "yaocai import-vbp-results"
    try:
        rows = read_table(args.file, args.sheet)
        mapping = CompanyMapping.from_csv(args.company_mapping) if args.company_mapping else None
    except (OSError, ValueError) as exc:
        print(f"{prog}: nothing imported: {exc}", file=sys.stderr)
        return 1
    layout = Layout(args.warehouse)
    layout.ensure()
    try:
        with warehouse_lock(layout.lock, f"{prog} {args.file.name}", wait_seconds=120):
            con = duckdb.connect(str(layout.lake))
            try:
                ensure_lake(con)
                products = [CatalogueProduct(*row) for row in con.execute(
                    "select med_list_codg, generic_name, dosage_form, spec, convrat, manufacturer from products "
                    "where category in ('western', 'chinese_patent', 'formula_granules')").fetchall()]
                if not products:
                    print(f"{prog}: nothing imported: the catalogue (products) in {layout.lake} is empty; "
                          "ingest the products feed first", file=sys.stderr)
                    return 1
                result = import_results(
                    rows, Catalogue(products, mapping), batch_code=args.batch, batch_name=args.batch_name,
                    batch_level=args.batch_level, cycle_start=args.cycle_start.isoformat(),
                    cycle_end=args.cycle_end.isoformat(), source_file=args.file.name, ceiling_basis=args.ceiling_basis)
                target = write_landing_csv(result, args.landing, args.batch, args.file)
                store_matching(con, result, args.batch, args.file.name, uuid.uuid4().hex)
            finally:
                con.close()
    except WarehouseBusy as exc:
        print(f"{prog}: nothing imported: {exc}", file=sys.stderr)
        return 3
    print(f"{prog}: {args.file.name} as {args.batch}: {result.summary()}; "
          f"{len(result.vbp_results)} rows → {target}; every other awarded row is in vbp_result_matching "
          "after the next run")
    return 0


def _add_import_vbp_results(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("import-vbp-results", help="turn a published VBP results table into vbp_results, "
                         "matched to the catalogue (docs/real-data.md)")
    cmd.add_argument("file", type=Path, help="the results table (CSV or XLSX)")
    cmd.add_argument("--batch", required=True, help="batch code, e.g. GJ04")
    cmd.add_argument("--batch-name")
    cmd.add_argument("--batch-level", default="national", choices=("national", "alliance", "provincial", "city"))
    cmd.add_argument("--cycle-start", required=True, type=_date)
    cmd.add_argument("--cycle-end", required=True, type=_date)
    cmd.add_argument("--landing", required=True, type=Path, help="landing directory: writes vbp_results/imported-…csv")
    cmd.add_argument("--warehouse", required=True, type=Path, help="warehouse: its catalogue; records the matching")
    cmd.add_argument("--company-mapping", type=Path,
                     help="CSV mapping company names as written (生产企业-原始) to one company (生产企业)")
    cmd.add_argument("--ceiling-basis", default="per_unit", choices=("per_unit", "per_pack"),
                     help="per_pack: the ceiling is a pack price (e.g. the 4+7 expansion) and is not compared")
    cmd.add_argument("--sheet", help="XLSX sheet (default: the first)")
    cmd.set_defaults(func=cmd_import_vbp_results)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yaocai", description="药采 yaocai: procurement and price monitoring pipeline")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline once and publish WAREHOUSE/yaocai.duckdb")
    run.add_argument("--landing", type=Path, help="landing directory (one sub-folder per feed); "
                     "required unless --source api")
    run.add_argument("--source", choices=("files", "api", "both"), default="files",
                     help="files (default): the landing directory; api: the provincial platform's API "
                          "(YAOCAI_PLATFORM_URL, YAOCAI_PLATFORM_TOKEN); both: files, then the API")
    run.add_argument("--warehouse", required=True, type=Path, help="warehouse directory (lake, runs, publication)")
    run.add_argument("--engine", choices=ENGINES, default="duckdb",
                     help="duckdb (default): dbt builds on DuckDB in-process; spark: on Apache Spark through "
                          "dbt-spark (extra `spark`, Java 17; docs/scale-out.md)")
    run.add_argument("--as-of", required=True, type=_date, help="data through this day (YYYY-MM-DD)")
    run.add_argument("--quiet", action="store_true", help="do not print the summary")
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo-data", help="generate the synthetic demo landing directory")
    demo.add_argument("--landing", required=True, type=Path)
    demo.add_argument("--lines", type=int, default=40_000, help="approximate purchase lines (default 40000)")
    demo.add_argument("--seed", type=int, default=20241123)
    demo.add_argument("--as-of", type=_date, default=dt.date(2026, 10, 31))
    demo.set_defaults(func=cmd_demo_data)

    # `yaocai bench ARGS…` hands ARGS to benchmarks/run.py (see main); listed here for --help.
    sub.add_parser("bench", help="province-scale benchmark: yaocai bench [--sizes 1M,5M,20M] [--work DIR] [--nightly] "
                                 "(benchmarks/run.py --help)")

    summary = sub.add_parser("summary", help="print the summary of the current publication")
    summary.add_argument("--warehouse", required=True, type=Path)
    summary.set_defaults(func=cmd_summary)

    report = sub.add_parser("report", help="(re)make the workbook and HTML report of the current publication")
    report.add_argument("--warehouse", required=True, type=Path)
    report.set_defaults(func=cmd_report)

    review = sub.add_parser("review", help="record or list officers' decisions on anomalies")
    review_sub = review.add_subparsers(dest="review_command", required=True)
    warehouse_help = "warehouse directory (default $YAOCAI_WAREHOUSE)"
    review_mark = review_sub.add_parser(
        "mark", help="record a decision on one anomaly (applied to the publication at the next run)")
    review_mark.add_argument("anomaly_id")
    review_mark.add_argument("--status", required=True,
                             help="confirmed | dismissed (needs --reason) | enquiry (sent for 函询) | open (withdraw)")
    review_mark.add_argument("--reason", help="why (required for dismissed)")
    review_mark.add_argument("--by", help="who decided (default $YAOCAI_REVIEWER or the login name)")
    review_mark.add_argument("--warehouse", type=Path, help=warehouse_help)
    review_mark.set_defaults(func=cmd_review_mark)
    review_list = review_sub.add_parser("list", help="findings of the current publication with their review status")
    review_list.add_argument("--status", help="open | confirmed | dismissed | enquiry | reopened")
    review_list.add_argument("--type", help="anomaly type, e.g. price_above_listed")
    review_list.add_argument("--csv", type=Path, help="write them to this CSV file instead")
    review_list.add_argument("--warehouse", type=Path, help=warehouse_help)
    review_list.set_defaults(func=cmd_review_list)
    review_history = review_sub.add_parser("history", help="every decision recorded on one anomaly")
    review_history.add_argument("anomaly_id")
    review_history.add_argument("--warehouse", type=Path, help=warehouse_help)
    review_history.set_defaults(func=cmd_review_history)
    _add_letter_parser(sub, warehouse_help)
    _add_import_vbp_results(sub)
    return parser


def _add_letter_parser(sub: argparse._SubParsersAction, warehouse_help: str) -> None:
    letter = sub.add_parser("letter", help="write enquiry letters (函询函, DOCX) for findings and record them as enquiry")
    which = letter.add_mutually_exclusive_group(required=True)
    which.add_argument("--finding", action="append", metavar="AN-…", help="a finding (repeat for more); "
                       "one letter per institution of the findings")
    which.add_argument("--institution", metavar="CODE", help="every open, reopened or confirmed finding of it")
    which.add_argument("--supplier", metavar="NAME", help="its credit evaluation evidence (断供)")
    letter.add_argument("--deadline-days", type=int, default=15, help="reply deadline, days from today (15)")
    letter.add_argument("--bureau", help="issuing bureau printed on the letter (医疗保障局)")
    letter.add_argument("--by", help="officer recorded in the review history (default $YAOCAI_REVIEWER or login)")
    letter.add_argument("--warehouse", type=Path, help=warehouse_help)
    letter.set_defaults(func=cmd_letter)


def cmd_letter(args: argparse.Namespace) -> int:
    from yaocai.letters import LetterError, write_letters
    from foundation.locking import WarehouseBusy

    try:
        letters = write_letters(_warehouse(args), args.finding, args.institution, args.supplier,
                                deadline_days=args.deadline_days, by=args.by, bureau=args.bureau)
    except LetterError as exc:
        print(f"yaocai letter: nothing written: {exc}", file=sys.stderr)
        return 1
    except WarehouseBusy as exc:
        print(f"yaocai letter: nothing written: {exc}", file=sys.stderr)
        return 3
    for letter in letters:
        code = f"（{letter.addressee_code}）" if letter.addressee_code != letter.addressee_name else ""
        print(f"yaocai letter: {letter.letter_no} → {letter.addressee_name}{code}: "
              f"{len(letter.findings)} finding(s), {letter.total_amount:,.2f} yuan: {letter.path}")
    print("yaocai letter: recorded as 已函询 (enquiry) in the review history; the publication shows them after the next run")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return cmd_bench(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # log lines quote file names and upload text too
        handler.setFormatter(_PrintableFormatter(handler.formatter._fmt if handler.formatter else None))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
