"""规格 parsing (ingest/specs.py): the issue's examples, the DuckDB function
dbt calls, and every distinct real 规格 string (docs/real-data.md)."""

from __future__ import annotations

from collections import Counter

import duckdb
import pytest

from ingest.duckdb_functions import register
from ingest.specs import REFUSAL_DETAILS, parse_spec
from tests.real_data_support import real_data_dir, real_spec_strings


@pytest.mark.parametrize(
    ("text", "content_mg", "fill_ml", "pack"),
    [
        ("20mg*7", 20, None, 7),
        ("0.5mg*28", 0.5, None, 28),
        ("50mg/5ml*5", 50, 5, 5),
        ("5mg/2.5ml", 5, 2.5, None),
        ("10%（150ml:15g）", 15000, 150, None),
        ("0.02%(5ml:1mg)", 1, 5, None),
        ("320g/听", 320000, None, None),
        ("15ml:0.3g(按C33H38N4O6·HCl·3H2O计)", 300, 15, None),
        ("75ml:22.5g(I)", 22500, 75, None),
        ("2ml：15mg", 15, 2, None),
        ("0.25μg", 0.00025, None, None),
        ("0.25µg", 0.00025, None, None),  # micro sign, not Greek mu
        ("500ug", 0.5, None, None),
        ("0.4ml:1.2mg (0.3%)", 1.2, 0.4, None),
        ("２０ｍｇ×１４", 20, None, 14),
        ("10ml", None, 10, None),
        ("0.2mg/2ml*", 0.2, 2, None),  # 4+7 sheet: a bare `*` marks the main strength
    ],
)
def test_real_shapes_parse_to_content_volume_and_pack(text, content_mg, fill_ml, pack):
    parsed = parse_spec(text)
    assert parsed.parse_status == "parsed", parsed
    assert parsed.content_amount == pytest.approx(content_mg) if content_mg is not None else parsed.content_amount is None
    assert parsed.fill_volume_ml == pytest.approx(fill_ml) if fill_ml is not None else parsed.fill_volume_ml is None
    assert parsed.pack_count == pack


def test_notes_are_kept_not_parsed_as_strength():
    assert parse_spec("15ml:0.3g(按C33H38N4O6·HCl·3H2O计)").basis_note == "按C33H38N4O6·HCl·3H2O计"
    assert parse_spec("75ml:22.5g(I)").basis_note == "I"
    assert parse_spec("320g/听").container == "听"
    assert parse_spec("5万单位").content_amount == 50000 and parse_spec("5万单位").content_unit == "单位"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("(150mg+12.5mg)*14", "compound"),
        ("250ml:莫西沙星0.4g\n与氯化钠2.0g", "compound"),
        ("每片含雌二醇1.0mg和屈螺酮2.0mg", "prose"),
        ("每片含氯沙坦钾100mg,氢氯噻嗪12.5mg", "prose"),
        ("2000IU/0.3ml/支", "international_units"),
        ("250000IU", "international_units"),
        ("500mg:4mg", "sachet_weight"),
        ("0.5g:4mg", "sachet_weight"),
        ("10%(150ml:1.5g)", "percentage_disagrees"),
        ("0.1%", "percentage_only"),
        ("0mg", "zero_strength"),
        ("", "empty"),
        (None, "empty"),
        ("适量", "prose"),
        ("2.5×18mm", "unrecognised"),
    ],
)
def test_what_content_cannot_normalise_is_refused_with_its_reason(text, reason):
    parsed = parse_spec(text)
    assert (parsed.parse_status, parsed.refusal_reason) == ("refused", reason)
    assert parsed.content_amount is None and parsed.fill_volume_ml is None
    assert parsed.refusal_detail == REFUSAL_DETAILS[reason]


def test_duckdb_function_returns_what_the_python_parser_returns():
    texts = ["20mg*7", "10%（150ml:15g）", "500mg:4mg", None, "5万单位"]
    with duckdb.connect() as con:
        register(con)
        rows = con.execute("select s, yaocai_parse_spec(s) from unnest(?) as t(s)", [texts]).fetchall()
    assert {text: result for text, result in rows} == {text: parse_spec(text).as_dict() for text in texts}


@pytest.mark.real_data
def test_every_distinct_real_spec_string_is_parsed_or_refused_with_a_reason():
    strings = real_spec_strings(real_data_dir())
    results = {text: parse_spec(text) for text in strings}
    for text, parsed in results.items():
        if parsed.parse_status == "parsed":
            assert parsed.refusal_reason is None
            assert parsed.content_amount is not None or parsed.fill_volume_ml is not None, text
        else:
            assert parsed.parse_status == "refused" and parsed.refusal_reason in REFUSAL_DETAILS, text
    outcome = Counter(p.refusal_reason or "parsed" for p in results.values())
    print(f"\n{len(strings)} distinct real 规格 strings: "
          + ", ".join(f"{key} {n} ({n / len(strings):.1%})" for key, n in outcome.most_common()))
    # the figures of docs/real-data.md; nothing real is unrecognised
    assert len(strings) == 135
    # prose includes one repeated header cell, `规格`, in a volume sheet
    assert outcome == {"parsed": 122, "compound": 7, "prose": 3, "sachet_weight": 2, "international_units": 1}
