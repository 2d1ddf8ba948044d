"""Command line: ``yaocai run | demo-data | summary``.

``yaocai run --landing DIR --warehouse DIR --as-of YYYY-MM-DD`` runs the
whole nightly pipeline without a scheduler (data-contract.md §3) and exits
0 only when it published.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path


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


def cmd_run(args: argparse.Namespace) -> int:
    from yaocai.locking import WarehouseBusy
    from yaocai.pipeline import run_pipeline
    from yaocai.summary import summarise

    started = time.monotonic()
    try:
        ctx = run_pipeline(args.landing, args.warehouse, args.as_of, progress=Progress())
    except WarehouseBusy as exc:
        print(f"yaocai run: {exc}", file=sys.stderr)
        return 3
    except Exception as exc:  # every failure: clear message, non-zero exit, previous publication kept
        print(f"yaocai run: FAILED, nothing published ({type(exc).__name__}: {exc})", file=sys.stderr)
        print(f"yaocai run: the previous publication (if any) is unchanged: {Path(args.warehouse).resolve() / 'yaocai.duckdb'}",
              file=sys.stderr)
        return 1
    print(f"yaocai run: published {ctx.layout.published} in {time.monotonic() - started:.1f}s (run {ctx.run_id})")
    if not args.quiet:
        print(summarise(ctx.layout.published))
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from yaocai.demo_data import generate_demo_landing

    truth = generate_demo_landing(Path(args.landing), seed=args.seed, purchase_lines=args.lines, as_of=args.as_of,
                                  progress=Progress())
    files = sum(1 for _ in truth["counts"])
    rows = sum(truth["counts"].values())
    print(f"yaocai demo-data: wrote {files} files, {rows:,} rows to {Path(args.landing).resolve()}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from yaocai.summary import summarise

    published = Path(args.warehouse) / "yaocai.duckdb"
    if not published.exists():
        print(f"yaocai summary: no publication at {published}", file=sys.stderr)
        return 1
    print(summarise(published))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yaocai", description="药采 yaocai: procurement and price monitoring pipeline")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline once and publish WAREHOUSE/yaocai.duckdb")
    run.add_argument("--landing", required=True, type=Path, help="landing directory (one sub-folder per feed)")
    run.add_argument("--warehouse", required=True, type=Path, help="warehouse directory (lake, runs, publication)")
    run.add_argument("--as-of", required=True, type=_date, help="data through this day (YYYY-MM-DD)")
    run.add_argument("--quiet", action="store_true", help="do not print the summary")
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo-data", help="generate the synthetic demo landing directory")
    demo.add_argument("--landing", required=True, type=Path)
    demo.add_argument("--lines", type=int, default=40_000, help="approximate purchase lines (default 40000)")
    demo.add_argument("--seed", type=int, default=20241123)
    demo.add_argument("--as-of", type=_date, default=dt.date(2026, 10, 31))
    demo.set_defaults(func=cmd_demo_data)

    summary = sub.add_parser("summary", help="print the summary of the current publication")
    summary.add_argument("--warehouse", required=True, type=Path)
    summary.set_defaults(func=cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
