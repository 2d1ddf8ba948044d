"""The "boring way": yaocai's published indicators recomputed in plain Python.

This module is written from the wording of docs/data-contract.md §2/§3 only,
without looking at the dbt SQL, so that the integration test can compare two
independent implementations. It favours obviousness over speed: every line is
turned into a plain dict once, and each indicator is a loop over those dicts
that adds numbers into ordinary dictionaries.

Entry point: ``compute_reference(raw, as_of, plan_targets)``.

Choices made where the contract (docs/data-contract.md) is silent:

* a line whose price is missing is priced from the listed price valid that
  day (``valid_from <= day < valid_to``, ``valid_to`` NULL = open); if there is
  no listed price either, its amount is unknown and the line is left out of
  every *amount* (platform ratio); its *quantity* still counts for VBP
  completion, which needs no price;
* ``platform_order_no`` counts as empty when it is NULL or blank after
  stripping whitespace;
* reference price order is winning price (lowest one when several cycles
  cover the day), then listed price, then peer median;
* region targets: the city's own figure from dbt_project/seeds/plan_targets.csv, county rows use
  their city's figure, the ``all`` level and cities without a figure use the
  national default (0.90 drug, 0.80 hvc), other groups get None.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

import pandas as pd

# category -> category group; herbal_pieces is deliberately in no group.
CATEGORY_GROUP = {
    "western": "drug",
    "chinese_patent": "drug",
    "formula_granules": "drug",
    "hvc": "hvc",
    "lvc": "lvc",
    "ivd": "ivd",
}

DEFAULT_TARGETS = {"drug": 0.90, "hvc": 0.80}

PLATFORM_COLUMNS = [
    "fixmedins_code", "month", "category_group",
    "platform_amount", "total_amount", "ratio", "ownership",
]
REGION_COLUMNS = [
    "region_level", "admdvs", "month", "category_group",
    "platform_amount", "total_amount", "ratio", "ytd_ratio", "target",
]
PDI_COLUMNS = [
    "fixmedins_code", "month", "category_group",
    "actual_amount", "reference_amount", "pdi", "coverage", "ownership",
]
VBP_COLUMNS = [
    "batch_code", "group_code", "fixmedins_code", "period_start",
    "agreed_qty", "purchased_qty", "completion_rate", "expected_progress",
    "is_lagging", "nonwinning_qty", "nonwinning_share",
]

NAN = float("nan")


# --------------------------------------------------------------------------
# small value helpers (inputs may carry None, NaN, NaT, Decimal, Timestamp…)
# --------------------------------------------------------------------------

def is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def to_float(value):
    """Decimal / float / int / numeric string -> float; missing -> None."""
    if is_missing(value):
        return None
    if isinstance(value, str):
        if value.strip() == "":
            return None
        return float(value.strip())
    if isinstance(value, Decimal):
        return float(value)
    return float(value)


def to_date(value):
    """date / datetime / Timestamp / ISO string -> datetime.date; missing -> None."""
    if is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, datetime):  # must come before date: datetime is a date
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(value).date()


def to_text(value):
    """Anything -> stripped str; missing or blank -> None."""
    if is_missing(value):
        return None
    text = str(value).strip()
    if text == "":
        return None
    return text


def first_of_month(day: date) -> date:
    return date(day.year, day.month, 1)


def divide(numerator, denominator):
    """numerator / denominator, NaN when the denominator is 0 (or missing)."""
    if numerator is None or denominator is None or denominator == 0:
        return NAN
    return numerator / denominator


def records(df: pd.DataFrame | None) -> list[dict]:
    if df is None:
        return []
    return df.to_dict("records")


# --------------------------------------------------------------------------
# reference data lookups
# --------------------------------------------------------------------------

def build_products(raw) -> dict[str, dict]:
    products = {}
    for row in records(raw.get("products")):
        code = to_text(row.get("med_list_codg"))
        products[code] = {
            "category": to_text(row.get("category")),
            "generic_name": to_text(row.get("generic_name")) or "",
            "dosage_form": to_text(row.get("dosage_form")) or "",
            "convrat": to_float(row.get("convrat")),
        }
    return products


def build_institutions(raw) -> dict[str, dict]:
    institutions = {}
    for row in records(raw.get("institutions")):
        code = to_text(row.get("fixmedins_code"))
        institutions[code] = {
            "admdvs": to_text(row.get("admdvs")),
            "ownership": to_text(row.get("ownership")),
        }
    return institutions


def build_listed_prices(raw) -> dict[str, list[tuple]]:
    """med_list_codg -> list of (valid_from, valid_to or None, price per pack)."""
    listed = defaultdict(list)
    for row in records(raw.get("listed_prices")):
        code = to_text(row.get("med_list_codg"))
        listed[code].append(
            (to_date(row.get("valid_from")), to_date(row.get("valid_to")),
             to_float(row.get("listed_price")))
        )
    return listed


def listed_price_on(listed, code, day):
    """Listed price per pack valid on `day` (valid_from <= day < valid_to), else None."""
    for valid_from, valid_to, price in listed.get(code, []):
        if valid_from is not None and valid_from > day:
            continue
        if valid_to is not None and day >= valid_to:
            continue
        return price
    return None


def build_winning_prices(raw) -> dict[str, list[tuple]]:
    """med_list_codg -> list of (cycle_start, cycle_end, winning price per pack)."""
    winning = defaultdict(list)
    for row in records(raw.get("vbp_results")):
        code = to_text(row.get("med_list_codg"))
        winning[code].append(
            (to_date(row.get("cycle_start")), to_date(row.get("cycle_end")),
             to_float(row.get("winning_price")))
        )
    return winning


def lowest_winning_price_on(winning, code, day):
    """Lowest winning price per pack of a cycle covering `day` (inclusive), else None."""
    prices = []
    for cycle_start, cycle_end, price in winning.get(code, []):
        if price is None:
            continue
        if cycle_start is not None and day < cycle_start:
            continue
        if cycle_end is not None and day > cycle_end:
            continue
        prices.append(price)
    if not prices:
        return None
    return min(prices)


def median(values: list[float]) -> float:
    values = sorted(values)
    n = len(values)
    middle = n // 2
    if n % 2 == 1:
        return values[middle]
    return (values[middle - 1] + values[middle]) / 2


# --------------------------------------------------------------------------
# purchase lines
# --------------------------------------------------------------------------

def prepare_lines(raw, as_of: date, products, institutions, listed) -> list[dict]:
    """Every usable purchase/return line as a plain dict.

    Dropped here: lines received after as_of, gifts, lines of unknown
    products or with an infno other than 3503/3504.
    """
    lines = []
    for row in records(raw.get("purchases")):
        receipt = to_date(row.get("purc_retn_stoin_time"))
        if receipt is None or receipt > as_of:
            continue
        if to_text(row.get("prod_geay_flag")) == "1":
            continue  # gift: excluded from every indicator
        infno = to_text(row.get("infno"))
        if infno == "3503":
            sign = 1
        elif infno == "3504":
            sign = -1
        else:
            continue
        code = to_text(row.get("med_list_codg"))
        product = products.get(code)
        if product is None or not product["convrat"]:
            continue
        convrat = product["convrat"]
        packs = to_float(row.get("purc_retn_cnt"))
        given_price = to_float(row.get("finl_trns_pric"))
        if given_price is not None:
            price = given_price
            price_given = True
        else:
            price = listed_price_on(listed, code, receipt)  # may be None
            price_given = False
        if price is None:
            amount = None  # unknown: counted in no amount
        else:
            amount = price * packs
        institution_code = to_text(row.get("fixmedins_code"))
        institution = institutions.get(institution_code, {})
        lines.append({
            "fixmedins_code": institution_code,
            "ownership": institution.get("ownership"),
            "admdvs": institution.get("admdvs"),
            "med_list_codg": code,
            "infno": infno,
            "sign": sign,
            "day": receipt,
            "month": first_of_month(receipt),
            "category_group": CATEGORY_GROUP.get(product["category"]),  # None for herbal pieces
            "generic_name": product["generic_name"],
            "dosage_form": product["dosage_form"],
            "convrat": convrat,
            "packs": packs,
            "qty": packs * convrat,  # minimum units, always positive
            "price_given": price_given,
            "price": price,  # per pack; None when unknown
            "amount": amount,  # per-line amount, always positive; None when unknown
            "on_platform": to_text(row.get("platform_order_no")) is not None,
        })
    return lines


# --------------------------------------------------------------------------
# platform purchase ratio
# --------------------------------------------------------------------------

def platform_purchase_ratio(lines) -> pd.DataFrame:
    platform = defaultdict(float)
    total = defaultdict(float)
    ownership = {}
    for line in lines:
        if line["category_group"] is None or line["amount"] is None:
            continue
        key = (line["fixmedins_code"], line["month"], line["category_group"])
        net_amount = line["sign"] * line["amount"]
        total[key] += net_amount
        if line["on_platform"]:
            platform[key] += net_amount
        ownership[key] = line["ownership"]

    rows = []
    for key in sorted(total):
        fixmedins_code, month, group = key
        rows.append({
            "fixmedins_code": fixmedins_code,
            "month": month,
            "category_group": group,
            "platform_amount": platform[key],
            "total_amount": total[key],
            "ratio": divide(platform[key], total[key]),
            "ownership": ownership[key],
        })
    return pd.DataFrame(rows, columns=PLATFORM_COLUMNS)


def target_lookup(plan_targets: pd.DataFrame | None) -> dict[tuple, float]:
    """(city_admdvs, category_group) -> target_2025 for platform_purchase_ratio."""
    targets = {}
    for row in records(plan_targets):
        if to_text(row.get("indicator")) != "platform_purchase_ratio":
            continue
        value = to_float(row.get("target_2025"))
        if value is None:
            continue
        targets[(to_text(row.get("city_admdvs")), to_text(row.get("category_group")))] = value
    return targets


def target_for(targets, level, admdvs, group):
    city = None
    if level == "county":
        city = admdvs[:4] + "00"
    elif level == "city":
        city = admdvs
    if city is not None and (city, group) in targets:
        return targets[(city, group)]
    return DEFAULT_TARGETS.get(group)


def platform_purchase_ratio_region(lines, plan_targets) -> pd.DataFrame:
    platform = defaultdict(float)
    total = defaultdict(float)
    for line in lines:
        if line["category_group"] is None or line["amount"] is None:
            continue
        if line["ownership"] != "public":
            continue
        county = line["admdvs"]
        city = county[:4] + "00"
        net_amount = line["sign"] * line["amount"]
        for level, admdvs in (("county", county), ("city", city), ("all", None)):
            key = (level, admdvs, line["month"], line["category_group"])
            total[key] += net_amount
            if line["on_platform"]:
                platform[key] += net_amount

    targets = target_lookup(plan_targets)
    rows = []
    for key in total:
        level, admdvs, month, group = key
        # year to date: same region and group, same calendar year, months <= this one
        ytd_platform = 0.0
        ytd_total = 0.0
        for other_key in total:
            other_level, other_admdvs, other_month, other_group = other_key
            if (other_level, other_admdvs, other_group) != (level, admdvs, group):
                continue
            if other_month.year == month.year and other_month <= month:
                ytd_platform += platform[other_key]
                ytd_total += total[other_key]
        rows.append({
            "region_level": level,
            "admdvs": admdvs,
            "month": month,
            "category_group": group,
            "platform_amount": platform[key],
            "total_amount": total[key],
            "ratio": divide(platform[key], total[key]),
            "ytd_ratio": divide(ytd_platform, ytd_total),
            "target": target_for(targets, level, admdvs, group),
        })
    rows.sort(key=lambda r: (r["region_level"], r["admdvs"] or "", r["month"], r["category_group"]))
    result = pd.DataFrame(rows, columns=REGION_COLUMNS)
    # pandas turns None into NaN when building the frame; keep a real None
    result["admdvs"] = result["admdvs"].astype(object).where(result["admdvs"].notna(), None)
    return result


# --------------------------------------------------------------------------
# price deviation index
# --------------------------------------------------------------------------

def price_eligible(line) -> bool:
    # 3503 only, price actually given (not filled in from the listed price);
    # gifts were already dropped in prepare_lines.
    return line["infno"] == "3503" and line["price_given"]


def peer_medians(lines) -> dict[tuple, float]:
    """(med_list_codg, month) -> median over public institutions of their
    quantity-weighted mean upp; only when >= 3 public institutions bought it."""
    paid = defaultdict(float)   # (product, month, institution) -> Σ upp × qty
    bought = defaultdict(float)  # (product, month, institution) -> Σ qty
    for line in lines:
        if not price_eligible(line) or line["ownership"] != "public":
            continue
        upp = line["price"] / line["convrat"]
        key = (line["med_list_codg"], line["month"], line["fixmedins_code"])
        paid[key] += upp * line["qty"]
        bought[key] += line["qty"]

    means_by_product_month = defaultdict(list)
    for key in paid:
        product, month, _institution = key
        means_by_product_month[(product, month)].append(paid[key] / bought[key])

    result = {}
    for product_month, means in means_by_product_month.items():
        if len(means) >= 3:
            result[product_month] = median(means)
    return result


def price_deviation_index(lines, listed, winning) -> pd.DataFrame:
    peers = peer_medians(lines)
    actual = defaultdict(float)     # Σ upp×qty over lines with a reference
    reference = defaultdict(float)  # Σ r×qty over the same lines
    referenced_lines = defaultdict(int)
    all_amount = defaultdict(float)  # Σ upp×qty over all eligible lines
    ownership = {}
    for line in lines:
        if line["category_group"] is None or not price_eligible(line):
            continue
        key = (line["fixmedins_code"], line["month"], line["category_group"])
        ownership[key] = line["ownership"]
        upp = line["price"] / line["convrat"]
        qty = line["qty"]
        all_amount[key] += upp * qty

        code = line["med_list_codg"]
        r = None
        winning_price = lowest_winning_price_on(winning, code, line["day"])
        if winning_price is not None:
            r = winning_price / line["convrat"]
        else:
            listed_price = listed_price_on(listed, code, line["day"])
            if listed_price is not None:
                r = listed_price / line["convrat"]
            else:
                r = peers.get((code, line["month"]))  # may be None
        if r is None:
            continue
        actual[key] += upp * qty
        reference[key] += r * qty
        referenced_lines[key] += 1

    rows = []
    for key in sorted(all_amount):
        fixmedins_code, month, group = key
        if referenced_lines[key] == 0:
            actual_amount = NAN
            reference_amount = NAN
            pdi = NAN
            coverage = 0.0
        else:
            actual_amount = actual[key]
            reference_amount = reference[key]
            pdi = divide(actual_amount, reference_amount)
            coverage = divide(actual_amount, all_amount[key])
        rows.append({
            "fixmedins_code": fixmedins_code,
            "month": month,
            "category_group": group,
            "actual_amount": actual_amount,
            "reference_amount": reference_amount,
            "pdi": pdi,
            "coverage": coverage,
            "ownership": ownership[key],
        })
    return pd.DataFrame(rows, columns=PDI_COLUMNS)


# --------------------------------------------------------------------------
# VBP completion
# --------------------------------------------------------------------------

def vbp_completion(raw, lines, as_of: date) -> pd.DataFrame:
    winners = defaultdict(set)        # (batch, group) -> winning med_list_codg
    generic_forms = defaultdict(set)  # (batch, group) -> {(generic_name, dosage_form)}
    for row in records(raw.get("vbp_results")):
        key = (to_text(row.get("batch_code")), to_text(row.get("group_code")))
        winners[key].add(to_text(row.get("med_list_codg")))
        generic_forms[key].add(
            (to_text(row.get("generic_name")) or "", to_text(row.get("dosage_form")) or "")
        )

    lines_by_institution = defaultdict(list)
    for line in lines:
        lines_by_institution[line["fixmedins_code"]].append(line)

    rows = []
    for row in records(raw.get("vbp_agreed_volumes")):
        batch_code = to_text(row.get("batch_code"))
        group_code = to_text(row.get("group_code"))
        fixmedins_code = to_text(row.get("fixmedins_code"))
        period_start = to_date(row.get("period_start"))
        period_end = to_date(row.get("period_end"))
        agreed_qty = to_float(row.get("agreed_qty"))
        designated = to_text(row.get("designated_med_list_codg"))

        group_winners = winners[(batch_code, group_code)]
        if designated is not None:
            counted_products = {designated}
        else:
            counted_products = group_winners

        purchased_qty = 0.0
        nonwinning_qty = 0.0
        for line in lines_by_institution[fixmedins_code]:
            # lines are already <= as_of and gift-free
            if line["day"] < period_start or line["day"] > period_end:
                continue
            net_qty = line["sign"] * line["qty"]
            if line["med_list_codg"] in counted_products:
                purchased_qty += net_qty
            elif line["med_list_codg"] not in group_winners and (
                (line["generic_name"], line["dosage_form"]) in generic_forms[(batch_code, group_code)]
            ):
                nonwinning_qty += net_qty
            # else: another winner of the group while a brand is designated,
            # or an unrelated product: counted nowhere

        completion_rate = divide(purchased_qty, agreed_qty)
        elapsed_days = (min(as_of, period_end) - period_start).days + 1
        period_days = (period_end - period_start).days + 1
        expected_progress = max(0, elapsed_days) / period_days
        if math.isnan(completion_rate):
            is_lagging = None
        else:
            is_lagging = completion_rate < expected_progress - 0.10
        if nonwinning_qty == 0 and purchased_qty == 0:
            nonwinning_share = NAN
        else:
            nonwinning_share = divide(nonwinning_qty, nonwinning_qty + purchased_qty)

        rows.append({
            "batch_code": batch_code,
            "group_code": group_code,
            "fixmedins_code": fixmedins_code,
            "period_start": period_start,
            "agreed_qty": agreed_qty,
            "purchased_qty": purchased_qty,
            "completion_rate": completion_rate,
            "expected_progress": expected_progress,
            "is_lagging": is_lagging,
            "nonwinning_qty": nonwinning_qty,
            "nonwinning_share": nonwinning_share,
        })
    rows.sort(key=lambda r: (r["batch_code"], r["group_code"], r["fixmedins_code"], r["period_start"]))
    return pd.DataFrame(rows, columns=VBP_COLUMNS)


# --------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------

def compute_reference(raw: dict[str, pd.DataFrame], as_of: date,
                      plan_targets: pd.DataFrame) -> dict[str, pd.DataFrame]:
    as_of = to_date(as_of)
    products = build_products(raw)
    institutions = build_institutions(raw)
    listed = build_listed_prices(raw)
    winning = build_winning_prices(raw)
    lines = prepare_lines(raw, as_of, products, institutions, listed)
    return {
        "platform_purchase_ratio": platform_purchase_ratio(lines),
        "platform_purchase_ratio_region": platform_purchase_ratio_region(lines, plan_targets),
        "price_deviation_index": price_deviation_index(lines, listed, winning),
        "vbp_completion": vbp_completion(raw, lines, as_of),
    }
