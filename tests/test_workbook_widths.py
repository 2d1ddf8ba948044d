"""Column widths of the officers' workbook (reports/workbook.py): computed
per column from two numbers instead of formatting every cell (issue 18),
they must equal the widest cell computed cell by cell."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from reports.workbook import _column_width, _display_width

FORMATS = [None, "pct", "yuan", "qty", "unit_price", "datetime", "date"]
# Values where rounding or the sign could make a smaller magnitude wider.
EDGES = [-0.004, 0.004, -0.0049, 0.005, 9.995, -9.995, 999.9995, 0.0, -0.0, 1e15, -1e15]


def _random_value(rng: random.Random) -> object:
    r = rng.random()
    if r < 0.4:
        return rng.choice([1, -1]) * rng.random() * 10 ** rng.randint(-4, 12)
    if r < 0.55:
        return rng.randint(-10**9, 10**9)
    if r < 0.62:
        return rng.choice([math.inf, -math.inf, True, False, None])
    if r < 0.72:
        return rng.choice(["医院", "abc", "混合 text 长", "", "１２３"])
    if r < 0.85:
        return rng.choice(EDGES)
    return rng.choice([dt.date(2026, 1, 31), dt.datetime(2026, 1, 31, 8, 30)])


@pytest.mark.parametrize("fmt", FORMATS)
def test_column_width_is_the_widest_cell(fmt):
    rng = random.Random(18)
    for _ in range(500):
        values = [_random_value(rng) for _ in range(rng.randint(0, 15))]
        assert _column_width(values, fmt) == max([0, *(_display_width(v, fmt) for v in values)]), values
