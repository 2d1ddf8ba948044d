"""Chinese names for codes officers see (anomaly types, statuses, groups,
cities), shared by the workbook, the HTML report and the review CLI."""

from __future__ import annotations

import csv
from functools import lru_cache

import yaml  # type: ignore[import-untyped, unused-ignore]  # PyYAML ships no types (typed when the spark extra brings stubs along)

from foundation.layout import DBT_PROJECT_DIR

@lru_cache(maxsize=1)
def anomaly_type_registry() -> tuple[dict, ...]:
    """The anomaly types in sheet order, one entry each: type, label_zh,
    description_zh, label_en, thresholds, workbook_columns (the registry:
    var anomaly_types in dbt_project/dbt_project.yml)."""
    with (DBT_PROJECT_DIR / "dbt_project.yml").open(encoding="utf-8") as handle:
        return tuple(yaml.safe_load(handle)["vars"]["anomaly_types"])


# code: (sheet / section title, short description)
ANOMALY_TYPES = {t["type"]: (t["label_zh"], t["description_zh"]) for t in anomaly_type_registry()}


def anomaly_title(code: str) -> str:
    """Sheet / section title of an anomaly type; unknown (newer) types keep their code."""
    return ANOMALY_TYPES.get(code, (code,))[0]

SEVERITIES = {"high": "高", "medium": "中", "low": "低"}
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}

# Review statuses: code → the label printed in the workbook's 状态 column.
STATUS_LABELS = {
    "open": "待处理",
    "confirmed": "已确认",
    "dismissed": "已排除",
    "enquiry": "已函询",
    "reopened": "重新打开",
}
DECISIONS = ("confirmed", "dismissed", "enquiry", "open")  # what an officer can record
# Everything accepted in a 状态 cell, and what it means. 重新打开 (printed by
# the pipeline when a dismissed finding got worse) typed in by hand means
# "withdraw the dismissal", i.e. open.
STATUS_INPUT = {
    "": "open", "待处理": "open", "未处理": "open", "open": "open", "撤销": "open",
    "重新打开": "open", "reopened": "open", "reopen": "open",
    "已确认": "confirmed", "确认": "confirmed", "confirmed": "confirmed", "confirm": "confirmed",
    "已排除": "dismissed", "排除": "dismissed", "dismissed": "dismissed", "dismiss": "dismissed",
    "误报": "dismissed", "不予处理": "dismissed",
    "已函询": "enquiry", "函询": "enquiry", "enquiry": "enquiry", "inquiry": "enquiry", "已发函": "enquiry",
}

GROUPS = {"drug": "药品", "hvc": "高值医用耗材", "lvc": "低值医用耗材", "ivd": "检验试剂"}
OWNERSHIP = {"public": "公立", "private": "民营"}
REFERENCE_TYPES = {"listed_price": "挂网价", "peer_median": "同类机构中位价", "expected_progress": "序时进度",
                   "city_target": "市目标", "winning_price": "中选价", "platform_listed": "省级平台挂网",
                   "winning_volume": "中选产品采购量"}

_FALLBACK_CITIES = {"440800": "湛江市", "141100": "吕梁市", "371000": "威海市", "420200": "黄石市"}


@lru_cache(maxsize=1)
def city_names() -> dict[str, str]:
    """City division code → name, from dbt_project/seeds/plan_targets.csv (plus known demo cities)."""
    names = dict(_FALLBACK_CITIES)
    seed = DBT_PROJECT_DIR / "seeds" / "plan_targets.csv"
    if seed.exists():
        with seed.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row.get("city_admdvs") and row.get("city_name"):
                    names[row["city_admdvs"]] = row["city_name"]
    return names


def city_name(admdvs: str | None) -> str:
    if not admdvs:
        return "全部"
    code = str(admdvs)
    return city_names().get(code[:4] + "00", code[:4] + "00")


def region_label(admdvs: str | None) -> str:
    """County code with its city's name: 湛江市 440802."""
    if not admdvs:
        return "全部"
    return f"{city_name(admdvs)} {admdvs}"


def status_label(code: str | None) -> str:
    return STATUS_LABELS.get(code or "open", code or "")


def parse_status(text: object) -> str | None:
    """A 状态 cell as typed by an officer → decision code, or None if unknown."""
    key = "" if text is None else str(text).strip().lower()
    return STATUS_INPUT.get(key)
