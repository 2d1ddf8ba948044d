"""Where the real public data is (docs/real-data.md), for tests marked ``real_data``.

The folder sits beside the repository clone (``../shared/real-data``, as on
CI); ``YAOCAI_REAL_DATA`` points elsewhere. Never copied into the repository
(no licence is stated for the compilation). Without it a test skips with the
reason, except under ``YAOCAI_REQUIRE_REAL_DATA=1`` (set by scripts/test.sh,
so CI fails instead of skipping).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def real_data_dir() -> Path:
    folder = Path(os.environ.get("YAOCAI_REAL_DATA") or REPO_ROOT.parent / "shared" / "real-data")
    if (folder / "ccpic_datasite").is_dir():
        return folder
    reason = (f"real public data not found at {folder} (expected ../shared/real-data beside the repository, "
              "or set YAOCAI_REAL_DATA)")
    if os.environ.get("YAOCAI_REQUIRE_REAL_DATA") == "1":
        pytest.fail(reason + "; YAOCAI_REQUIRE_REAL_DATA=1 makes this a failure")
    pytest.skip(reason)


def real_spec_strings(folder: Path) -> list[str]:
    """Every distinct 规格 string of the real data: strengths of every bid,
    volume and 4+7 row, the 4+7 winners' spec-and-pack strings, the 规格 /
    规格包装 columns of every raw sheet as published, and the NMPA rows."""
    clean = folder / "ccpic_datasite" / "clean"
    sources = [
        (clean / "vbp_bids_GJ01K_GJ02_GJ03_GJ04.csv", "strength"),
        (clean / "vbp_GJ03_representative_spec_prices.csv", "strength"),
        (clean / "vbp_GJ01_4plus7_winners.csv", "strength"),
        (clean / "vbp_GJ01_4plus7_winners.csv", "winning_spec_pack"),
        (clean / "vbp_GJ01_national_agreed_volumes.csv", "strength"),
        (clean / "vbp_agreed_volumes_by_region.csv", "strength"),
        (folder / "nmpa_issue_sample" / "nmpa_drug_code_sample_raw.csv", "规格"),
    ]
    raw = folder / "ccpic_datasite" / "raw"
    sources += [(raw / "vbp__第一轮集采4plus7.csv", "规格"), (raw / "vbp__第一轮集采4plus7.csv", "中选规格包装"),
                (raw / "vbp_amount__4plus7.csv", "规格"), (raw / "vbp_amount__4plus7_by_city.csv", "规格")]
    sources += [(raw / f"vbp__{sheet}.csv", "规格包装")
                for sheet in ("第一轮集采联盟地区", "第二轮集采", "第三批集采_完整", "第三轮集采", "第四轮集采")]
    sources += [(raw / f"vbp_amount__{sheet}_by_省.csv", "规格") for sheet in ("联盟地区", "第二轮集采", "第三轮集采", "第四轮集采")]
    import csv

    strings: set[str] = set()
    for path, column in sources:
        with path.open(encoding="utf-8", newline="") as handle:
            strings.update(row[column] for row in csv.DictReader(handle) if row.get(column))
    return sorted(strings)


def company_mapping_csv(folder: Path) -> Path:
    """The source's own 365-row company-name mapping (生产企业-原始 → 生产企业)."""
    return folder / "ccpic_datasite" / "raw" / "vbp__生产企业名称mapping.csv"


def real_catalogue_rows(folder: Path) -> list[dict]:
    """A catalogue (products feed shape) built from the same real data: one
    product per variety × strength × manufacturer of every bid of GJ01K–GJ04.

    It is written the way a catalogue is, not the way the results are: the
    variety split into generic name and dosage-form category, variant
    characters normalised (枸櫞 → 枸橼), the strength in mg (0.25g → 250mg),
    and the manufacturer's full legal name: a name the compiler truncated
    (``…股份有``) is completed from the longest name of the same company in
    the source's mapping that starts with it, and a short name (``深圳信立泰``)
    becomes the company's legal name when the mapping gives exactly one."""
    import csv
    import hashlib

    from ingest.vbp_import import clean_name, split_variety

    with company_mapping_csv(folder).open(encoding="utf-8") as handle:
        mapping = [(clean_name(r["生产企业-原始"]), clean_name(r["生产企业"])) for r in csv.DictReader(handle)]

    def full_name(written: str) -> str:
        name = clean_name(written)
        companies = {c for w, c in mapping if w == name}
        longer = [w for w, c in mapping if c in companies and w.startswith(name) and len(w) > len(name)]
        if longer:
            return max(longer, key=len)
        legal = {w for w, c in mapping if c in companies and w.endswith("公司")}
        # a short name (深圳信立泰) where the company has one legal name
        return legal.pop() if not name.endswith("公司") and len(legal) == 1 else name

    bids = folder / "ccpic_datasite" / "clean" / "vbp_bids_GJ01K_GJ02_GJ03_GJ04.csv"
    products: dict[str, dict] = {}
    with bids.open(encoding="utf-8") as handle:
        for bid in csv.DictReader(handle):
            generic, form = split_variety(bid["variety"])
            spec = catalogue_spec(clean_name(bid["strength"]))
            manufacturer = full_name(bid["company_full"])
            code = "R" + hashlib.sha1(f"{generic}|{form}|{spec}|{manufacturer}".encode()).hexdigest()[:14].upper()
            products[code] = {
                "med_list_codg": code, "category": "western", "generic_name": generic, "dosage_form": form,
                "spec": spec, "convrat": 1.0, "min_unit": "片", "manufacturer": manufacturer, "platform_listed": "1",
            }
    return list(products.values())


def catalogue_spec(strength: str) -> str:
    """A published strength as the test catalogue writes it: in mg (0.25g → 250mg)."""
    from ingest.specs import parse_spec

    parsed = parse_spec(strength)
    if parsed.parse_status != "parsed" or parsed.content_unit != "mg" or parsed.pack_count:
        return strength
    content = f"{parsed.content_amount:g}mg"
    return f"{parsed.fill_volume_ml:g}ml:{content}" if parsed.fill_volume_ml else content
