"""The public entry point: `generate_demo_landing` writes a whole landing directory."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np

from yaocai_demo.agreed_volumes import _agreed_volumes
from yaocai_demo.anomalies import _build_portfolio, _force_lines, _plan_anomalies
from yaocai_demo.basics import (
    DATA_START,
    EARLIEST_AS_OF,
    FEEDS,
    LATEST_AS_OF,
    RETURN_RATE,
    TRUTH_FILE,
    Progress,
    _calendar,
)
from yaocai_demo.catalogue import (
    _build_catalogue,
    _listed_price_frame,
    _min_products_per_generic,
    _vbp_results_frame,
)
from yaocai_demo.institutions import _build_institutions
from yaocai_demo.money import add_payment_standards
from yaocai_demo.purchases import _PurchaseGenerator
from yaocai_demo.rendering import _PurchaseFiles, _write_csv, _write_institutions_xlsx
from yaocai_demo.truth import _platform_truth, _price_truth, _Tally


def _default_counts(purchase_lines: int) -> tuple[int, int]:
    """Institutions and products grow gently with volume (~120/400 at 40k lines, ≥3,000/20,000 at 20M)."""
    ratio = purchase_lines / 40_000
    institutions = max(40, round(120 * ratio ** 0.53))
    products = max(int(_min_products_per_generic().sum()), round(400 * ratio ** 0.65))
    return institutions, products


def generate_demo_landing(landing_dir: Path, *, seed: int = 20241123, purchase_lines: int = 40_000,
                          as_of: date = date(2026, 10, 31), institutions: int | None = None,
                          products: int | None = None, progress: Progress | None = None) -> dict:
    """Write a synthetic landing directory (contract §1) and return the truth about what it contains.

    `purchase_lines` is the approximate number of purchase + return lines; the
    institution and product counts default to values that grow with it. The
    truth dict is also written to `landing_dir/demo_truth.json`. Raises
    FileExistsError if a feed folder already holds files, so a stale delivery is
    never mixed with a new one.
    """
    if not EARLIEST_AS_OF <= as_of <= LATEST_AS_OF:
        raise ValueError(f"as_of must be between {EARLIEST_AS_OF} and {LATEST_AS_OF}")
    if purchase_lines < 1_000:
        raise ValueError("purchase_lines must be at least 1000")
    default_institutions, default_products = _default_counts(purchase_lines)
    n_institutions = institutions if institutions is not None else default_institutions
    n_products = products if products is not None else default_products
    if n_institutions < 30:
        raise ValueError("institutions must be at least 30")
    if n_products < int(_min_products_per_generic().sum()):
        raise ValueError(f"products must be at least {int(_min_products_per_generic().sum())}")

    landing = Path(landing_dir)
    for feed in FEEDS:
        folder = landing / feed
        if folder.exists() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty")
        folder.mkdir(parents=True, exist_ok=True)

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    rng = np.random.default_rng(seed)
    cal = _calendar(as_of)
    inst = _build_institutions(n_institutions, rng)
    cat = _build_catalogue(n_products, rng, as_of)
    plan, needed_pairs = _plan_anomalies(inst, cat, cal, rng)
    portfolio = _build_portfolio(inst, cat, rng, needed_pairs)
    _force_lines(plan, portfolio, cat, cal)

    institutions_file = "institutions/institutions.xlsx"
    _write_institutions_xlsx(inst.frame, landing / institutions_file, as_of)
    counts = {institutions_file: len(inst.frame)}
    formats = {institutions_file: "xlsx-title-row-chinese-headers"}
    reference = {
        "products/products.csv": cat.frame,
        "listed_prices/listed_prices.csv": _listed_price_frame(cat),
        "vbp_results/vbp_results.csv": _vbp_results_frame(cat),
    }
    for rel, frame in reference.items():
        _write_csv(frame, landing / rel)
        counts[rel] = len(frame)
        formats[rel] = "csv-utf-8"
    report("reference", 1, 1)

    files = _PurchaseFiles(landing)
    tally = _Tally(inst, cat, cal, plan)
    generator = _PurchaseGenerator(rng, inst, cat, portfolio, plan, cal, files, tally,
                                   target_purchases=round(purchase_lines / (1 + RETURN_RATE)),
                                   progress=progress, expected_total=purchase_lines)
    generator.run()
    report("purchases", purchase_lines, purchase_lines)

    agreements, lagging, substitution = _agreed_volumes(rng, inst, cat, cal, tally, plan)
    _write_csv(agreements, landing / "vbp_agreed_volumes/vbp_agreed_volumes.csv")
    counts["vbp_agreed_volumes/vbp_agreed_volumes.csv"] = len(agreements)
    formats["vbp_agreed_volumes/vbp_agreed_volumes.csv"] = "csv-utf-8"
    report("agreed_volumes", 1, 1)
    counts.update(files.counts)
    formats.update(files.formats)

    above, spike = _price_truth(inst, cat, cal, tally, plan)
    truth = {
        "as_of": as_of.isoformat(),
        "seed": seed,
        "purchase_lines_requested": purchase_lines,
        "data_start": DATA_START.isoformat(),
        "institutions": len(inst.frame),
        "public_institutions": int(inst.public.sum()),
        "products": len(cat.frame),
        "counts": counts,
        "formats": formats,
        "summary": tally.summary,
        "above_listed": above,
        "price_spike": spike,
        "vbp_lagging": lagging,
        "vbp_nonwinning_substitution": substitution,
        "low_platform_ratio": _platform_truth(inst, cal, tally, plan),
        "invalid_rows": generator.invalid_rows,
        "after_as_of": generator.late_rows,
    }
    add_payment_standards(landing, truth, inst.frame["admdvs"], as_of, DATA_START)  # issue 16
    (landing / TRUTH_FILE).write_text(json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return truth
