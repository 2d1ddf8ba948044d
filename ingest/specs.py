"""规格 (specification) strings -> strength, fill volume and pack count.

The one home of the parsing rule. dbt's ``price_spec_normalisation`` calls it
as the DuckDB function ``yaocai_parse_spec`` (registered by
``ingest/duckdb_functions.py``), and ``yaocai import-vbp-results`` uses it to
compare strengths; docs/real-data.md gives the figures measured on every
distinct real 规格 string.

Catalogues, hospital exports and published VBP results write strength and
pack in one field. Understood (full-width characters, spaces and line breaks
are ignored; the micro sign and Greek mu are the same):

============================  =============================================
``20mg``, ``0.5g``, ``250μg``  content (mg; μg/ug/mcg ×0.001, g ×1000, kg ×10⁶)
``5万单位``, ``300单位``        content in 单位 (pharmacopoeial potency units)
``10ml``, ``1L``               fill volume only (ml)
``20mg*7``, ``0.5mg*28``       strength × units per pack (``*``, ``×``, ``x``);
                               a bare trailing ``*`` (``20mg*``) is a footnote mark
``10ml:0.1g``, ``2ml：15mg``   fill volume : content
``50mg/5ml``, ``50mg/5ml*5``   content per fill volume (with or without a pack)
``10%(150ml:15g)``             percentage whose real strength is in brackets
                               (the two must agree: 15 g ÷ 150 ml = 10 %)
``5ml:5mg(0.1%)``              strength followed by its percentage (checked)
``320g/听``                    per-container weight (container kept)
``15ml:0.3g(按C33H38…计)``     salt basis note (kept in ``basis_note``)
``75ml:22.5g(I)``              element note: content as iodine
``1g(相当于饮片5g)``           other trailing note (kept, ignored)
============================  =============================================

Refused, each with its reason, because content cannot normalise them
(发改价格〔2011〕2452号 prices one active ingredient by its content):

- ``compound``: two or more ingredients, ``(150mg+12.5mg)*14``,
  ``250ml:莫西沙星0.4g与氯化钠2.0g``;
- ``prose``: a sentence, ``每片含雌二醇1.0mg和屈螺酮2.0mg``;
- ``international_units``: IU/U of biologicals (``2000IU/0.3ml/支``): the
  unit is defined per product, so two products' IU are not one content;
- ``sachet_weight``: a weight before a colon (``500mg:4mg``): granules
  whose left side is the sachet's weight, not a fill volume;
- ``percentage_disagrees``: a percentage that contradicts its strength;
- ``percentage_only``: a percentage without the strength (``0.1%``);
- ``zero_strength``; ``empty``; ``unrecognised`` (anything else).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass

MASS_TO_MG = {"kg": 1_000_000.0, "g": 1000.0, "mg": 1.0, "μg": 0.001, "ug": 0.001, "mcg": 0.001}
POTENCY_TO_UNITS = {"万单位": 10_000.0, "单位": 1.0}
VOLUME_TO_ML = {"ml": 1.0, "l": 1000.0}
CONTAINERS = "听支瓶袋片粒盒板罐"

REFUSAL_DETAILS = {
    "empty": "spec is empty",
    "compound": "compound product (two or more ingredients): content cannot normalise it",
    "prose": "spec is prose (e.g. 每片含…), not a strength",
    "international_units": "strength in IU/U (biological units are product-specific): not normalised by content",
    "sachet_weight": "weight:weight (granules whose left side is the sachet weight): not a fill volume and content",
    "percentage_disagrees": "percentage contradicts the strength given with it",
    "percentage_only": "percentage without the strength (content per fill volume)",
    "zero_strength": "strength is zero",
    "unrecognised": "spec not recognised as a strength (e.g. 20mg, 0.5g*28, 10ml:0.1g, 50mg/5ml, 5万单位)",
}

_NUMBER = r"(\d+(?:\.\d+)?)"
_MASS = r"(kg|mg|g|μg|ug|mcg)"
_CONTENT = r"(kg|mg|g|μg|ug|mcg|万单位|单位)"
_VOLUME = r"(ml|l)"
_SINGLE = re.compile(rf"^{_NUMBER}{_CONTENT}$")
_VOLUME_ONLY = re.compile(rf"^{_NUMBER}{_VOLUME}$")
_VOLUME_CONTENT = re.compile(rf"^{_NUMBER}{_VOLUME}:{_NUMBER}{_CONTENT}$")
_CONTENT_PER_VOLUME = re.compile(rf"^{_NUMBER}{_CONTENT}/{_NUMBER}{_VOLUME}$")
_MASS_MASS = re.compile(rf"^{_NUMBER}{_MASS}:{_NUMBER}{_MASS}$")
_PACK = re.compile(r"^(.*?)[*×x](\d+)$")
_CONTAINER = re.compile(rf"^(.*?)/([{CONTAINERS}])$")
_PERCENT_WITH_STRENGTH = re.compile(rf"^{_NUMBER}%\((.+)\)$")
_PERCENT = re.compile(rf"^{_NUMBER}%$")
_TRAILING_NOTE = re.compile(r"^(.+?)\(([^()]*)\)$")
_AMOUNT = re.compile(rf"{_NUMBER}\s*{_CONTENT}")
_IU = re.compile(r"\d万?(iu|u)(?![a-z])")
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class ParsedSpec:
    """One 规格 string, parsed or refused (never both)."""

    parse_status: str  # parsed | refused
    refusal_reason: str | None  # a REFUSAL_DETAILS key when refused
    content_amount: float | None  # mg, or 单位 when content_unit = '单位'
    content_unit: str | None  # mg | 单位
    fill_volume_ml: float | None
    pack_count: int | None  # units per pack written in the spec (``*7``)
    container: str | None  # ``听`` in ``320g/听``
    percentage: float | None  # w/v % written with the strength
    basis_note: str | None  # bracketed note: salt basis, element, 相当于…

    @property
    def refusal_detail(self) -> str | None:
        return REFUSAL_DETAILS.get(self.refusal_reason) if self.refusal_reason else None

    def as_dict(self) -> dict:
        return {**asdict(self), "refusal_detail": self.refusal_detail}


def clean_spec(text: str | None) -> str:
    """Full-width to ASCII (NFKC; also µ → μ), no whitespace or line breaks, lower case."""
    if text is None:
        return ""
    folded = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", "", folded).lower()


def _refused(reason: str) -> ParsedSpec:
    return ParsedSpec("refused", reason, None, None, None, None, None, None, None)


def parse_spec(text: str | None) -> ParsedSpec:
    """Parse one 规格 string (see the module docstring for what is understood)."""
    raw = clean_spec(text)
    if not raw:
        return _refused("empty")
    if "+" in raw:
        return _refused("compound")
    if raw.startswith(("每", "含")):
        return _refused("prose")
    if _IU.search(raw):
        return _refused("international_units")
    # a trailing `*` with no count after it is a footnote mark (the 4+7
    # sheet marks its main strengths `20mg*`), not a pack
    spec = raw.rstrip("*") if re.search(r"[^*\d]\*+$|\d[a-zμ]+\*+$", raw) else raw
    pack_count = None
    match = _PACK.match(spec)
    if match:
        spec, pack_count = match.group(1), int(match.group(2))
    container = None
    match = _CONTAINER.match(spec)
    if match:
        spec, container = match.group(1), match.group(2)
    percentage = None
    basis_note = None
    match = _PERCENT_WITH_STRENGTH.match(spec)
    if match:
        percentage, spec = float(match.group(1)), match.group(2)
    else:
        match = _TRAILING_NOTE.match(spec)
        if match:
            spec, note = match.group(1), match.group(2)
            note_percent = _PERCENT.match(note)
            if note_percent:
                percentage = float(note_percent.group(1))
            else:
                basis_note = _original_note(text, note)
    if _PERCENT.match(spec):
        return _refused("percentage_only")
    if _CJK.search(re.sub(r"万单位|单位", "", spec)):
        return _refused("compound" if len(_AMOUNT.findall(spec)) > 1 else "prose")
    if _MASS_MASS.match(spec):
        return _refused("sachet_weight")
    content = volume = None
    unit = None
    if m := _SINGLE.match(spec):
        content, unit = _content(m.group(1), m.group(2))
    elif m := _VOLUME_ONLY.match(spec):
        volume = float(m.group(1)) * VOLUME_TO_ML[m.group(2)]
    elif m := _VOLUME_CONTENT.match(spec):
        volume = float(m.group(1)) * VOLUME_TO_ML[m.group(2)]
        content, unit = _content(m.group(3), m.group(4))
    elif m := _CONTENT_PER_VOLUME.match(spec):
        content, unit = _content(m.group(1), m.group(2))
        volume = float(m.group(3)) * VOLUME_TO_ML[m.group(4)]
    else:
        return _refused("unrecognised")
    if content == 0 or volume == 0 or pack_count == 0:
        return _refused("zero_strength")
    if percentage is not None:
        # w/v percent = grams per 100 ml = mg per ml ÷ 10; labels round the
        # percentage, so agreement within 5 % of it is agreement
        if unit != "mg" or volume is None or abs(content / volume / 10 - percentage) > 0.05 * percentage:
            return _refused("percentage_disagrees")
    return ParsedSpec("parsed", None, content, unit, volume, pack_count, container, percentage, basis_note)


def _content(amount: str, unit: str) -> tuple[float, str]:
    if unit in MASS_TO_MG:
        return float(amount) * MASS_TO_MG[unit], "mg"
    return float(amount) * POTENCY_TO_UNITS[unit], "单位"


def _original_note(text: str, cleaned_note: str) -> str:
    """The note as written (case kept: ``I`` is iodine, ``HCl`` a salt)."""
    folded = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    match = _TRAILING_NOTE.match(folded)
    return match.group(2) if match and match.group(2).lower() == cleaned_note else cleaned_note
