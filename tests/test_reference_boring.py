"""Hand-computed cases for the boring reference implementation.

Every expected number below was worked out by hand; the arithmetic is in the
comments next to it.
"""

from datetime import date
from decimal import Decimal
import math

import pandas as pd
import pytest

try:
    from tests.reference.boring import compute_reference
except ImportError:  # tests/ imported as a rootdir-less directory
    from reference.boring import compute_reference


PURCHASE_COLUMNS = [
    "infno", "fixmedins_code", "fixmedins_bchno", "med_list_codg",
    "finl_trns_pric", "purc_retn_cnt", "purc_retn_stoin_time",
    "prod_geay_flag", "medins_prod_purc_no", "platform_order_no",
]

# the bundled dbt_project/seeds/plan_targets.csv only holds the national defaults for the
# platform ratio, so a custom one is used to see the city lookup at work
PLAN = pd.DataFrame([
    {"city_admdvs": "141100", "city_name": "吕梁市", "indicator": "platform_purchase_ratio",
     "category_group": "drug", "baseline_2020": "0.85", "target_2025": "0.95"},
    {"city_admdvs": "141100", "city_name": "吕梁市", "indicator": "vbp_varieties_implemented",
     "category_group": "hvc", "baseline_2020": "1", "target_2025": "10"},
])


def institution(code, admdvs, ownership):
    return {"fixmedins_code": code, "fixmedins_name": code, "admdvs": admdvs,
            "hosp_lv": "2", "ownership": ownership}


def product(code, category, convrat, generic="g", form="tablet"):
    return {"med_list_codg": code, "category": category, "generic_name": generic,
            "dosage_form": form, "convrat": float(convrat), "manufacturer": "m",
            "platform_listed": True}


def line(n, infno, inst, code, price, packs, when, platform=None, gift="0"):
    return {
        "infno": infno, "fixmedins_code": inst, "fixmedins_bchno": f"B{n}",
        "med_list_codg": code,
        "finl_trns_pric": None if price is None else Decimal(str(price)),
        "purc_retn_cnt": Decimal(str(packs)),
        "purc_retn_stoin_time": pd.Timestamp(when),
        "prod_geay_flag": gift, "medins_prod_purc_no": None,
        "platform_order_no": platform,
    }


def raw_tables(institutions, products, purchases, listed=(), vbp=(), agreed=()):
    return {
        "institutions": pd.DataFrame(institutions),
        "products": pd.DataFrame(products),
        "purchases": pd.DataFrame(purchases, columns=PURCHASE_COLUMNS),
        "listed_prices": pd.DataFrame(list(listed),
                                      columns=["med_list_codg", "listed_price", "valid_from", "valid_to"]),
        "vbp_results": pd.DataFrame(list(vbp), columns=[
            "batch_code", "batch_name", "batch_level", "group_code", "generic_name", "dosage_form",
            "med_list_codg", "manufacturer", "winning_price", "cycle_start", "cycle_end"]),
        "vbp_agreed_volumes": pd.DataFrame(list(agreed), columns=[
            "batch_code", "group_code", "fixmedins_code", "period_start", "period_end",
            "agreed_qty", "designated_med_list_codg"]),
    }


def as_dict(df, key_columns):
    return {tuple(row[c] for c in key_columns): row for row in df.to_dict("records")}


def nan(x):
    return x is None or (isinstance(x, float) and math.isnan(x))


# ---------------------------------------------------------------------------
# platform purchase ratio
# ---------------------------------------------------------------------------

def platform_case():
    institutions = [
        institution("H1", "141102", "public"),   # 吕梁 city 141100
        institution("H2", "141181", "public"),   # 吕梁 city 141100, other county
        institution("H3", "141102", "private"),  # same county as H1, private
    ]
    products = [
        product("X1", "western", 10),
        product("C1", "hvc", 1, form=None),
        product("T1", "herbal_pieces", 1),
    ]
    listed = [
        ("X1", Decimal("50"), date(2024, 1, 1), date(2024, 2, 1)),
        ("X1", Decimal("40"), date(2024, 2, 1), None),
        # C1 has no listed price
    ]
    purchases = [
        line(0, "3503", "H1", "X1", 50, 1, "2023-12-20", None),          # Dec 2023: 50 off-platform
        line(1, "3503", "H1", "X1", 45, 10, "2024-01-10 09:00", "P1"),   # Jan: 450 platform
        line(2, "3503", "H1", "X1", 50, 4, "2024-01-20", ""),            # Jan: 200 off ('' = empty)
        line(3, "3503", "H1", "X1", None, 5, "2024-02-05", "P2"),        # Feb: imputed 40*5 = 200 platform
        line(4, "3504", "H1", "X1", 45, 2, "2024-02-10", "P1"),          # Feb: return -90 platform
        line(5, "3503", "H1", "X1", 45, 3, "2024-02-12", None, gift="1"),  # gift: ignored
        line(6, "3503", "H1", "C1", None, 1, "2024-02-15", None),        # no price, no listed: ignored
        line(7, "3503", "H1", "T1", 10, 5, "2024-01-05", None),          # herbal pieces: ignored
        line(8, "3503", "H2", "X1", 42, 10, "2024-01-15", None),         # Jan: 420 off
        line(9, "3503", "H2", "C1", 1000, 2, "2024-02-01", "P9"),        # Feb hvc: 2000 platform
        line(10, "3503", "H3", "X1", 40, 10, "2024-01-03", "P3"),        # private, Jan: 400 platform
        line(11, "3503", "H2", "X1", 40, 1, "2024-03-20", None),         # after as_of: ignored
        line(12, "3503", "H1", "X1", 45, 2, "2024-03-15 18:30", "P4"),   # on as_of day: 90 platform
        line(13, "3503", "H2", "X1", 30, 2, "2024-03-01", "P5"),         # Mar: +60 platform
        line(14, "3504", "H2", "X1", 30, 2, "2024-03-05", None),         # Mar: -60 off -> total 0
    ]
    return raw_tables(institutions, products, purchases, listed)


def test_platform_purchase_ratio_institution():
    out = compute_reference(platform_case(), date(2024, 3, 15), PLAN)["platform_purchase_ratio"]
    rows = as_dict(out, ["fixmedins_code", "month", "category_group"])
    expected = {
        # key: (platform_amount, total_amount, ratio)
        ("H1", date(2023, 12, 1), "drug"): (0.0, 50.0, 0.0),
        ("H1", date(2024, 1, 1), "drug"): (450.0, 650.0, 450 / 650),   # 0.6923
        ("H1", date(2024, 2, 1), "drug"): (110.0, 110.0, 1.0),         # 200 - 90 both on platform
        ("H1", date(2024, 3, 1), "drug"): (90.0, 90.0, 1.0),
        ("H2", date(2024, 1, 1), "drug"): (0.0, 420.0, 0.0),
        ("H2", date(2024, 2, 1), "hvc"): (2000.0, 2000.0, 1.0),
        ("H2", date(2024, 3, 1), "drug"): (60.0, 0.0, None),           # total 0 -> ratio NaN
        ("H3", date(2024, 1, 1), "drug"): (400.0, 400.0, 1.0),         # private still listed
    }
    assert set(rows) == set(expected)  # no H1 Feb hvc (unknown amount), no herbal row
    for key, (platform, total, ratio) in expected.items():
        row = rows[key]
        assert row["platform_amount"] == pytest.approx(platform), key
        assert row["total_amount"] == pytest.approx(total), key
        if ratio is None:
            assert nan(row["ratio"]), key
        else:
            assert row["ratio"] == pytest.approx(ratio), key
    assert rows[("H3", date(2024, 1, 1), "drug")]["ownership"] == "private"


def test_platform_purchase_ratio_region():
    out = compute_reference(platform_case(), date(2024, 3, 15), PLAN)["platform_purchase_ratio_region"]
    rows = as_dict(out, ["region_level", "admdvs", "month", "category_group"])
    D, J, F, M = date(2023, 12, 1), date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)
    expected = {
        # key: (platform, total, ratio, ytd_ratio, target)
        # county 141102 = H1 only (H3 is private)
        ("county", "141102", D, "drug"): (0, 50, 0.0, 0.0, 0.95),
        ("county", "141102", J, "drug"): (450, 650, 450 / 650, 450 / 650, 0.95),   # ytd restarts in 2024
        ("county", "141102", F, "drug"): (110, 110, 1.0, 560 / 760, 0.95),         # 0.7368
        ("county", "141102", M, "drug"): (90, 90, 1.0, 650 / 850, 0.95),           # 0.7647
        # county 141181 = H2
        ("county", "141181", J, "drug"): (0, 420, 0.0, 0.0, 0.95),
        ("county", "141181", F, "hvc"): (2000, 2000, 1.0, 1.0, 0.80),   # no city hvc figure -> default
        ("county", "141181", M, "drug"): (60, 0, None, 60 / 420, 0.95),  # ytd (0+60)/(420+0)
        # city 141100 = H1 + H2
        ("city", "141100", D, "drug"): (0, 50, 0.0, 0.0, 0.95),
        ("city", "141100", J, "drug"): (450, 1070, 450 / 1070, 450 / 1070, 0.95),
        ("city", "141100", F, "drug"): (110, 110, 1.0, 560 / 1180, 0.95),
        ("city", "141100", F, "hvc"): (2000, 2000, 1.0, 1.0, 0.80),
        ("city", "141100", M, "drug"): (150, 90, 150 / 90, 710 / 1270, 0.95),  # 90+60 / 90+0
        # all = same public lines, national default targets
        ("all", None, D, "drug"): (0, 50, 0.0, 0.0, 0.90),
        ("all", None, J, "drug"): (450, 1070, 450 / 1070, 450 / 1070, 0.90),
        ("all", None, F, "drug"): (110, 110, 1.0, 560 / 1180, 0.90),
        ("all", None, F, "hvc"): (2000, 2000, 1.0, 1.0, 0.80),
        ("all", None, M, "drug"): (150, 90, 150 / 90, 710 / 1270, 0.90),
    }
    assert set(rows) == set(expected)
    for key, (platform, total, ratio, ytd, target) in expected.items():
        row = rows[key]
        assert row["platform_amount"] == pytest.approx(platform), key
        assert row["total_amount"] == pytest.approx(total), key
        if ratio is None:
            assert nan(row["ratio"]), key
        else:
            assert row["ratio"] == pytest.approx(ratio), key
        assert row["ytd_ratio"] == pytest.approx(ytd), key
        assert row["target"] == pytest.approx(target), key


def test_region_target_none_for_lvc():
    raw = raw_tables([institution("H1", "141102", "public")], [product("L1", "lvc", 1, form=None)],
                     [line(1, "3503", "H1", "L1", 2, 3, "2024-01-02", "P")])
    out = compute_reference(raw, date(2024, 1, 31), PLAN)["platform_purchase_ratio_region"]
    assert len(out) == 3
    assert all(nan(t) for t in out["target"])
    assert list(out["ratio"]) == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------------------
# price deviation index
# ---------------------------------------------------------------------------

def price_case():
    institutions = [
        institution("P1", "141102", "public"),
        institution("P2", "141102", "public"),
        institution("P3", "141181", "public"),
        institution("P4", "141181", "public"),
        institution("Q1", "141102", "private"),
    ]
    products = [
        product("X1", "western", 10),         # winning product (two batches), also listed
        product("X2", "western", 20),         # listed only: 100/pack = 5 per unit
        product("X3", "chinese_patent", 1),   # no listed/winning -> peer median
        product("X5", "western", 1),          # nothing, bought by < 3 public -> no reference
    ]
    listed = [
        ("X1", Decimal("40"), date(2023, 1, 1), None),   # 4 per unit
        ("X2", Decimal("100"), date(2024, 1, 1), None),  # 5 per unit
    ]
    vbp = [
        ("B1", "b1", "national", "G1", "g", "tablet", "X1", "m", Decimal("30"),
         date(2024, 1, 1), date(2024, 12, 31)),         # 3 per unit
        ("B2", "b2", "provincial", "G9", "g", "tablet", "X1", "m", Decimal("35"),
         date(2024, 3, 1), date(2025, 2, 28)),          # 3.5 per unit; lowest (3) wins
    ]
    purchases = [
        # peer lines, X3 May 2024 (convrat 1 so upp = price, qty = packs)
        line(1, "3503", "P1", "X3", 10, 10, "2024-05-02"),
        line(2, "3503", "P1", "X3", 14, 30, "2024-05-03"),   # P1 mean (100+420)/40 = 13
        line(3, "3503", "P2", "X3", 12, 5, "2024-05-04"),    # P2 mean 12
        line(4, "3503", "P3", "X3", 9, 5, "2024-05-05"),     # P3 mean 9
        line(5, "3503", "P4", "X3", 20, 1, "2024-05-06"),    # P4 mean 20
        line(6, "3503", "Q1", "X3", 100, 1, "2024-05-07"),   # private: not a peer
        # median of 9, 12, 13, 20 = (12 + 13) / 2 = 12.5
        line(7, "3503", "P2", "X3", 1, 100, "2024-05-08", gift="1"),  # gift: not a peer, not graded
        line(8, "3504", "P1", "X3", 5, 10, "2024-05-09"),    # return: not a peer, not graded
        line(9, "3503", "P1", "X1", 33, 2, "2024-05-10"),    # upp 3.3, qty 20, r = 3 (winning)
        line(10, "3503", "P1", "X2", 110, 1, "2024-05-12"),  # upp 5.5, qty 20, r = 5 (listed)
        line(11, "3503", "P1", "X2", None, 2, "2024-05-15"),  # imputed price: not graded
        line(12, "3503", "P1", "X5", 8, 5, "2024-05-20"),    # 40, no reference
        line(13, "3503", "P2", "X1", 38, 1, "2023-12-20"),   # before cycle: r = listed 4; upp 3.8 qty 10
        line(14, "3503", "Q1", "X5", 8, 1, "2024-06-03"),    # Q1 June: nothing referenced
    ]
    return raw_tables(institutions, products, purchases, listed, vbp)


def test_price_deviation_index():
    out = compute_reference(price_case(), date(2024, 6, 30), PLAN)["price_deviation_index"]
    rows = as_dict(out, ["fixmedins_code", "month", "category_group"])
    May = date(2024, 5, 1)
    expected = {
        # key: (actual, reference, pdi, coverage)
        # P1 May: X3 100 (ref 10*12.5=125) + X3 420 (ref 30*12.5=375)
        #         + X1 3.3*20=66 (ref 3*20=60) + X2 5.5*20=110 (ref 5*20=100)
        #         actual 696, reference 660, all eligible 696 + X5 40 = 736
        ("P1", May, "drug"): (696.0, 660.0, 696 / 660, 696 / 736),
        ("P2", May, "drug"): (60.0, 62.5, 0.96, 1.0),      # 5 * 12 vs 5 * 12.5
        ("P3", May, "drug"): (45.0, 62.5, 0.72, 1.0),      # 5 * 9
        ("P4", May, "drug"): (20.0, 12.5, 1.6, 1.0),
        ("Q1", May, "drug"): (100.0, 12.5, 8.0, 1.0),      # private graded against public median
        ("P2", date(2023, 12, 1), "drug"): (38.0, 40.0, 0.95, 1.0),
        ("Q1", date(2024, 6, 1), "drug"): (None, None, None, 0.0),
    }
    assert set(rows) == set(expected)
    for key, (actual, reference, pdi, coverage) in expected.items():
        row = rows[key]
        for column, value in (("actual_amount", actual), ("reference_amount", reference), ("pdi", pdi)):
            if value is None:
                assert nan(row[column]), (key, column)
            else:
                assert row[column] == pytest.approx(value), (key, column)
        assert row["coverage"] == pytest.approx(coverage), key


def test_peer_median_needs_three_public_institutions():
    case = price_case()
    # drop P4's line: peers are now 9, 12, 13 -> odd count, median 12
    case["purchases"] = case["purchases"][case["purchases"]["fixmedins_bchno"] != "B5"]
    rows = as_dict(compute_reference(case, date(2024, 6, 30), PLAN)["price_deviation_index"],
                   ["fixmedins_code", "month", "category_group"])
    assert rows[("P2", date(2024, 5, 1), "drug")]["pdi"] == pytest.approx(1.0)   # 60 / 60
    # drop P3 as well: only two public buyers left -> no peer median at all
    case["purchases"] = case["purchases"][case["purchases"]["fixmedins_bchno"] != "B4"]
    rows = as_dict(compute_reference(case, date(2024, 6, 30), PLAN)["price_deviation_index"],
                   ["fixmedins_code", "month", "category_group"])
    p2 = rows[("P2", date(2024, 5, 1), "drug")]
    assert nan(p2["pdi"]) and p2["coverage"] == 0.0
    p1 = rows[("P1", date(2024, 5, 1), "drug")]
    # P1 keeps X1 (66 vs 60) and X2 (110 vs 100): 176 / 160; coverage 176 / 736
    assert p1["pdi"] == pytest.approx(1.1)
    assert p1["coverage"] == pytest.approx(176 / 736)


# ---------------------------------------------------------------------------
# VBP completion
# ---------------------------------------------------------------------------

def vbp_case():
    institutions = [institution(h, "141102", "public") for h in ("H1", "H2", "H3")]
    products = [
        product("A1", "western", 7, generic="amlo", form="tablet"),    # winner
        product("A2", "western", 14, generic="amlo", form="tablet"),   # winner
        product("A3", "western", 10, generic="amlo", form="tablet"),   # same generic+form, not a winner
        product("A4", "western", 10, generic="amlo", form="capsule"),  # other form: unrelated
    ]
    vbp = [
        ("GJ01", "第一批", "national", "G1", "amlo", "tablet", "A1", "m1", Decimal("7"),
         date(2023, 3, 1), date(2025, 2, 28)),
        ("GJ01", "第一批", "national", "G1", "amlo", "tablet", "A2", "m2", Decimal("14"),
         date(2023, 3, 1), date(2025, 2, 28)),
    ]
    agreed = [
        ("GJ01", "G1", "H1", date(2024, 1, 1), date(2024, 12, 31), Decimal("1500"), None),
        # ends mid-month (10 March), brand A2 designated
        ("GJ01", "G1", "H2", date(2023, 3, 11), date(2024, 3, 10), Decimal("280"), "A2"),
        # starts after as_of
        ("GJ01", "G1", "H3", date(2024, 4, 1), date(2025, 3, 31), Decimal("100"), None),
    ]
    purchases = [
        line(1, "3503", "H1", "A1", 7, 10, "2024-01-10"),              # +70
        line(2, "3503", "H1", "A2", 14, 5, "2024-02-10"),              # +70
        line(3, "3504", "H1", "A1", 7, 2, "2024-03-01"),               # -14
        line(4, "3503", "H1", "A1", 0, 100, "2024-02-01", gift="1"),   # gift: ignored
        line(5, "3503", "H1", "A1", 7, 10, "2023-12-31"),              # before period
        line(6, "3503", "H1", "A1", 7, 10, "2024-03-16"),              # after as_of
        line(7, "3503", "H1", "A3", None, 3, "2024-02-01"),            # non-winner +30 (no price needed)
        line(8, "3503", "H1", "A4", 9, 5, "2024-02-01"),               # capsule: ignored
        line(9, "3503", "H2", "A2", 14, 20, "2023-06-01"),             # designated +280
        line(10, "3503", "H2", "A1", 7, 10, "2023-07-01"),             # other winner: counted nowhere
        line(11, "3503", "H2", "A2", 14, 5, "2024-03-12"),             # after period_end
        line(12, "3504", "H2", "A2", 14, 1, "2024-03-05"),             # -14
    ]
    return raw_tables(institutions, products, purchases, vbp=vbp, agreed=agreed)


def test_vbp_completion():
    out = compute_reference(vbp_case(), date(2024, 3, 15), PLAN)["vbp_completion"]
    rows = as_dict(out, ["batch_code", "group_code", "fixmedins_code", "period_start"])
    assert len(rows) == 3

    h1 = rows[("GJ01", "G1", "H1", date(2024, 1, 1))]
    # purchased 70 + 70 - 14 = 126 -> 126 / 1500 = 0.084
    # expected: 1 Jan..15 Mar 2024 = 31 + 29 + 15 = 75 days of 366 = 0.204918
    # 0.084 < 0.104918 -> lagging; non-winning 30 -> 30 / (30 + 126) = 0.192308
    assert h1["agreed_qty"] == pytest.approx(1500)
    assert h1["purchased_qty"] == pytest.approx(126)
    assert h1["completion_rate"] == pytest.approx(0.084)
    assert h1["expected_progress"] == pytest.approx(75 / 366)
    assert h1["is_lagging"] is True
    assert h1["nonwinning_qty"] == pytest.approx(30)
    assert h1["nonwinning_share"] == pytest.approx(30 / 156)

    h2 = rows[("GJ01", "G1", "H2", date(2023, 3, 11))]
    # designated A2 only: 280 - 14 = 266 (the 12 March line is after period_end)
    # 266 / 280 = 0.95; expected min(15 Mar, 10 Mar) -> whole period = 1.0
    # 0.95 < 0.90 is false -> not lagging; A1 is a winner so not "non-winning": share 0 / 266 = 0
    assert h2["purchased_qty"] == pytest.approx(266)
    assert h2["completion_rate"] == pytest.approx(0.95)
    assert h2["expected_progress"] == pytest.approx(1.0)
    assert h2["is_lagging"] is False
    assert h2["nonwinning_qty"] == pytest.approx(0)
    assert h2["nonwinning_share"] == pytest.approx(0.0)

    h3 = rows[("GJ01", "G1", "H3", date(2024, 4, 1))]
    # as_of before the period: max(0, -16) / 365 = 0; nothing bought -> share NULL
    assert h3["purchased_qty"] == 0
    assert h3["completion_rate"] == 0
    assert h3["expected_progress"] == 0
    assert h3["is_lagging"] is False
    assert h3["nonwinning_qty"] == 0
    assert nan(h3["nonwinning_share"])
