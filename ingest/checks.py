"""Row rules of each feed beyond "the value parses" (data-contract.md §1).

Each rule is a SQL condition over the typed row (alias ``t``) that is TRUE
when the row breaks it, and the reason written to quarantine. Rules that
need other rows (duplicates, unknown codes, returns) live in the loader.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    broken_when: str
    reason: str  # SQL expression (usually a literal) giving the reason text


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# National code shapes (docs/domain-notes.md §5; data-contract.md §1 products):
# 西药 X+22, 中成药 Z+19, 饮片/配方颗粒 T…, 耗材 C+19 or C+26. Only prefix and
# length are checked because the segment boundaries are not published.
CODE_SHAPE = """case t.category
    when 'western' then regexp_matches(t.med_list_codg, '^X[A-Z0-9]{22}$')
    when 'chinese_patent' then regexp_matches(t.med_list_codg, '^Z[A-Z0-9]{19}$')
    when 'herbal_pieces' then regexp_matches(t.med_list_codg, '^T[A-Z0-9]+$')
    when 'formula_granules' then regexp_matches(t.med_list_codg, '^T[A-Z0-9]+$')
    else regexp_matches(t.med_list_codg, '^C([A-Z0-9]{19}|[A-Z0-9]{26})$')
end"""

# Receipt dates before this are not credible for an upload to the NHSA
# platform (3503 went live with the national platform in 2021; older
# back-loads exist, so the floor is generous).
EARLIEST_PLAUSIBLE = "date '2015-01-01'"
# Later than the day the file was loaded (+1 day for time zones) is a typo.
LATEST_PLAUSIBLE = "(current_date + 1)"

RULES: dict[str, list[Rule]] = {
    "institutions": [
        Rule("not regexp_matches(t.admdvs, '^[0-9]{6}$')", lit("admdvs: must be a 6-digit division code")),
    ],
    "products": [
        Rule("t.convrat <= 0", lit("convrat: must be > 0")),
        Rule(f"not ({CODE_SHAPE})", "'med_list_codg: code shape does not match category ' || t.category"),
    ],
    "listed_prices": [
        Rule("t.listed_price <= 0", lit("listed_price: must be > 0")),
        Rule("t.valid_to <= t.valid_from", lit("valid_to: must be after valid_from (valid_to is exclusive)")),
    ],
    "vbp_results": [
        Rule("t.winning_price <= 0", lit("winning_price: must be > 0")),
        Rule("t.cycle_end < t.cycle_start", lit("cycle_end: before cycle_start")),
    ],
    "vbp_agreed_volumes": [
        Rule("t.agreed_qty <= 0", lit("agreed_qty: must be > 0")),
        Rule("t.period_end < t.period_start", lit("period_end: before period_start")),
    ],
    "purchases": [
        Rule("t.purc_retn_cnt <= 0", lit("purc_retn_cnt: must be > 0 (returns are 3504 lines with a positive count)")),
        Rule("t.finl_trns_pric < 0", lit("finl_trns_pric: negative price")),
        Rule(
            f"cast(t.purc_retn_stoin_time as date) < {EARLIEST_PLAUSIBLE} "
            f"or cast(t.purc_retn_stoin_time as date) > {LATEST_PLAUSIBLE}",
            "'purc_retn_stoin_time: ' || cast(cast(t.purc_retn_stoin_time as date) as varchar) || ' outside the plausible range'",
        ),
        Rule("t.infno = '3504' and t.medins_prod_purc_no is null",
             lit("medins_prod_purc_no: a 3504 return must name the purchase it returns")),
    ],
    "payment_standards": [
        Rule("not regexp_matches(t.admdvs, '^[0-9]{6}$')", lit("admdvs: must be a 6-digit division code")),
        Rule("t.payment_standard <= 0", lit("payment_standard: must be > 0 (leave empty for the winning price)")),
        Rule("t.valid_to <= t.valid_from", lit("valid_to: must be after valid_from (valid_to is exclusive)")),
    ],
}

# Foreign keys checked against the lake (plus the rows of the same run that
# were accepted before): (column, lake table, lake column, reason)
REFERENCES: dict[str, list[tuple[str, str, str, str]]] = {
    "listed_prices": [("med_list_codg", "products", "med_list_codg", "unknown product code (not in products)")],
    "vbp_results": [("med_list_codg", "products", "med_list_codg", "unknown product code (not in products)")],
    "vbp_agreed_volumes": [
        ("fixmedins_code", "institutions", "fixmedins_code", "unknown institution (not in institutions)"),
        ("designated_med_list_codg", "products", "med_list_codg", "unknown designated product code"),
    ],
    "purchases": [
        ("fixmedins_code", "institutions", "fixmedins_code", "unknown institution (not in institutions)"),
        ("med_list_codg", "products", "med_list_codg", "unknown product code (not in products)"),
    ],
}
