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
    volume and 4+7 row, the 4+7 winners' spec-and-pack strings and the NMPA rows."""
    import duckdb

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
    union = " union ".join(f"select \"{column}\" as s from read_csv('{path}', all_varchar = true)"
                           for path, column in sources)
    with duckdb.connect() as con:
        return [row[0] for row in con.sql(f"select distinct s from ({union}) where s is not null order by s").fetchall()]
