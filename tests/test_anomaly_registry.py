"""The anomaly-type registry (var anomaly_types in dbt_project.yml) and the
detector models agree, so adding a type is one model plus one entry and a
model without an entry cannot silently stay out of the union (issue 14)."""

from __future__ import annotations

import csv

from reports.labels import ANOMALY_TYPES, anomaly_type_registry
from reports.workbook import FORMATS, GENERIC_COLS, TYPE_COLS, anomaly_cols
from foundation.layout import DBT_PROJECT_DIR

DETECTORS = DBT_PROJECT_DIR / "models" / "intermediate" / "anomalies"


def test_every_detector_model_has_a_registry_entry_and_every_entry_a_model():
    models = {p.stem.removeprefix("int_anomalies__") for p in DETECTORS.glob("int_anomalies__*.sql")}
    registered = [t["type"] for t in anomaly_type_registry()]
    assert len(registered) == len(set(registered))
    assert set(registered) == models


def test_entries_are_complete_and_their_thresholds_exist():
    with (DBT_PROJECT_DIR / "seeds" / "monitoring_thresholds.csv").open(encoding="utf-8") as handle:
        thresholds = {row["name"] for row in csv.DictReader(handle)}
    for entry in anomaly_type_registry():
        assert entry["label_zh"] and entry["description_zh"] and entry["label_en"], entry["type"]
        assert set(entry["thresholds"]) <= thresholds, entry["type"]
        for spec in entry["workbook_columns"]:
            header, _, rest = spec.partition("=")
            _, _, fmt = rest.partition(":")
            assert header and rest and fmt in ("", "group", *FORMATS), spec


def test_reports_read_the_registry():
    assert list(ANOMALY_TYPES) == [t["type"] for t in anomaly_type_registry()]
    above = anomaly_cols("price_above_listed")
    assert [c.header for c in TYPE_COLS["price_above_listed"]][:2] == ["月份", "产品编码"]
    assert any(c.header == "超挂网价金额（元）" and c.value == "excess_amount" and c.fmt == "yuan" for c in above)
    group = next(c for c in TYPE_COLS["platform_ratio_below_target"] if c.header == "分组")
    assert group.get({"category_group": "hvc"}) == "高值医用耗材"
    # no columns in its entry: the generic ones
    headers = [c.header for c in anomaly_cols("payment_overdue")]
    generic = [c.header for c in GENERIC_COLS]
    assert "payment_overdue" not in TYPE_COLS and any(headers[i:i + len(generic)] == generic for i in range(len(headers)))
