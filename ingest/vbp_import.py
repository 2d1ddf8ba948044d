"""Published VBP results tables -> the contract's ``vbp_results`` (``yaocai import-vbp-results``).

Officers receive results as published: one row per bid or winner with the
generic name (often the procured variety, e.g. ``阿托伐他汀口服常释剂型``), the
规格包装 (``20mg*7``), the company as written (truncated, line-broken,
traditional characters), unit and/or pack price, the ceiling, supply
provinces — never the national product code. This module

1. reads such a table (CSV or XLSX; header labels below, title rows allowed),
2. checks each row's prices (placeholder ``99999`` bids, ``流标`` or ``-`` in a
   price column, a price cell the compiler rescaled (``=1.0571*2``), a unit
   price above the per-unit ceiling or not the pack price ÷ pack count: these
   are reported, not passed),
3. matches each awarded row to the catalogue (the lake's ``products``) by
   generic name + dosage form + strength + manufacturer, and
4. returns the ``vbp_results`` rows (written to the landing folder, so the
   night's ingest checks them like any delivery) and one matching row per
   awarded row for the lake table ``vbp_result_matching`` (published by
   dbt as mart ``vbp_result_matching``): every unmatched, ambiguous or
   rejected row is listed there with its reason, never dropped.

Matching (docs/real-data.md, "Matching"): names are compared after NFKC
(full-width → ASCII), removing whitespace and line breaks, and mapping
variant characters (``VARIANT_CHARACTERS``: 櫞 → 橼 …). Strength is compared
on the parsed content and fill volume (ingest/specs.py: ``0.25g`` = ``250mg``,
``μg`` = ``ug``): method ``content``; a spec the parser refuses (compound
``80mg+12.5mg``, sachet ``500mg:4mg``) only matches the same text: ``text``. Manufacturer, in this order, the first level with a
candidate deciding: ``exact`` (1.0), ``truncated_name`` (one name is a prefix
of the other, at least ``MIN_PREFIX`` characters: 0.9), ``company_mapping``
(both names map to one company in the mapping file, e.g. the source's own
365-row 生产企业名称mapping: 0.8). The generic name matches ``exact`` or, when
no catalogue name is equal, ``contains`` (the catalogue's generic name
contains the published one, e.g. 甲磺酸伊马替尼 ⊃ 伊马替尼: confidence × 0.9).
One candidate = matched; more = ambiguous (all candidates listed).
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.specs import ParsedSpec, parse_spec

# Traditional / variant characters met in published drug and company names
# (枸櫞酸西地那非片 vs 枸橼酸西地那非片 in the same round 4 table).
VARIANT_CHARACTERS = str.maketrans({
    "櫞": "橼", "鹽": "盐", "鈉": "钠", "鉀": "钾", "劑": "剂", "顆": "颗", "膠": "胶", "緩": "缓",
    "釋": "释", "藥": "药", "製": "制", "廠": "厂", "團": "团", "國": "国", "東": "东", "華": "华",
})
# Procurement variety names end in a dosage-form category (通用名 + 剂型类别)
FORM_CATEGORIES = ("口服常释剂型", "缓释控释剂型", "口服溶液剂", "口服液体剂", "口服散剂", "注射用浓溶液",
                   "颗粒剂", "注射剂", "滴眼剂", "吸入剂")
# Catalogue dosage forms inside each category (a catalogue writes 片剂, 胶囊 …)
FORM_CATEGORY_MEMBERS = {
    "口服常释剂型": ("口服常释片剂", "片剂", "普通片", "薄膜衣片", "糖衣片", "胶囊", "硬胶囊", "软胶囊", "肠溶片", "肠溶胶囊",
                 "分散片", "口腔崩解片", "咀嚼片", "口服常释剂型"),
    "缓释控释剂型": ("缓释片", "控释片", "缓释胶囊", "控释胶囊", "缓释控释剂型"),
    "注射剂": ("注射液", "注射剂", "冻干粉", "粉针剂", "注射用浓溶液"),
}
MIN_PREFIX = 6  # characters a truncated company name must keep to count as a prefix match
PLACEHOLDER_BIDS = (99999.0,)  # "no real bid" sentinels in published bid columns

LABELS = {
    "seq": ("序号",),
    "generic_name": ("药品通用名", "通用名", "通用名称", "品种名", "品种名称", "generic_name"),
    "dosage_form": ("剂型", "dosage_form"),
    "spec": ("中选规格包装", "规格包装", "规格", "spec"),
    "manufacturer": ("生产企业-全称", "生产企业全称", "中选企业", "拟中选企业", "生产企业", "企业名称", "manufacturer"),
    "is_winner": ("是否中标", "是否中选", "is_winner"),
    "unit_price": ("竞标价格(最小规格)(元)", "中选价格(最小规格)", "最小规格价格", "单位价格", "unit_price"),
    "pack_price": ("每盒价格", "中选价格(盒)", "中选价", "pack_price"),
    "max_price": ("最高限价", "最高有效申报价", "max_price"),
    "supply_regions": ("供应省份", "供应省(区)", "供应地区", "supply_regions"),
    "sheet_row": ("_sheet_row",),
}


def clean_name(text: object) -> str:
    """NFKC (full-width → ASCII), no whitespace or line breaks, variant characters mapped."""
    if text is None:
        return ""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).translate(VARIANT_CHARACTERS)


def split_variety(name: object, dosage_form: object = None) -> tuple[str, str | None]:
    """``阿托伐他汀口服常释剂型`` → (``阿托伐他汀``, ``口服常释剂型``); a strength the
    compiler appended (``…剂型_1mg``, ``…滴眼剂 0.1%``) is dropped."""
    text = re.sub(r"_?\d+(\.\d+)?(mg|g|μg|ug|%)$", "", clean_name(name))
    form = clean_name(dosage_form) or None
    if form:
        return text, form
    for category in FORM_CATEGORIES:
        if text.endswith(category) and len(text) > len(category):
            return text[: -len(category)], category
    return text, None


def form_category(form: str | None) -> str | None:
    for category, members in FORM_CATEGORY_MEMBERS.items():
        if form == category or form in members:
            return category
    return form


def forms_compatible(published: str | None, catalogue: str | None) -> bool:
    """Same form, or both in one category (片剂 and 口服常释片剂 are 口服常释剂型)."""
    if not published or not catalogue:
        return True
    return form_category(published) == form_category(catalogue)


@dataclass(frozen=True)
class CatalogueProduct:
    med_list_codg: str
    generic_name: str
    dosage_form: str | None
    spec: str | None
    convrat: float | None
    manufacturer: str | None


@dataclass
class _Indexed:
    product: CatalogueProduct
    generic: str
    form: str | None
    strength: ParsedSpec
    manufacturer: str


@dataclass(frozen=True)
class Match:
    status: str  # matched | ambiguous | unmatched
    med_list_codg: str | None
    method: str | None
    confidence: float | None
    candidates: tuple[str, ...]
    reason: str | None


class CompanyMapping:
    """Company names as written → one company (e.g. the source's 生产企业名称mapping:
    columns 生产企业-原始 → 生产企业). Truncated names map through their prefix."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()):
        self.by_name: dict[str, str] = {}
        for written, company in pairs:
            if clean_name(written) and clean_name(company):
                self.by_name[clean_name(written)] = clean_name(company)

    @classmethod
    def from_csv(cls, path: Path) -> CompanyMapping:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
        header = [clean_name(h) for h in rows[0]]
        written = _column_index(header, ("生产企业-原始", "原始名称", "written"))
        company = _column_index(header, ("生产企业", "企业", "company"))
        if written is None or company is None:
            raise ValueError(f"{path}: company mapping needs columns 生产企业-原始 and 生产企业 (got {rows[0]})")
        return cls((row[written], row[company]) for row in rows[1:] if len(row) > max(written, company))

    def company(self, name: str) -> str | None:
        if name in self.by_name:
            return self.by_name[name]
        if len(name) >= MIN_PREFIX:
            found = {c for written, c in self.by_name.items()
                     if written.startswith(name) or (len(written) >= MIN_PREFIX and name.startswith(written))}
            if len(found) == 1:
                return found.pop()
        return None


class Catalogue:
    def __init__(self, products: Iterable[CatalogueProduct], mapping: CompanyMapping | None = None):
        self.mapping = mapping or CompanyMapping()
        self.items: list[_Indexed] = []
        self.by_generic: dict[str, list[_Indexed]] = {}
        for p in products:
            generic, form = split_variety(p.generic_name, p.dosage_form)
            item = _Indexed(p, generic, form, parse_spec(p.spec), clean_name(p.manufacturer))
            self.items.append(item)
            self.by_generic.setdefault(generic, []).append(item)

    def match(self, generic_name: str, dosage_form: str | None, spec: str, manufacturer: str) -> Match:
        generic, form = split_variety(generic_name, dosage_form)
        generic_method, generic_factor = "exact", 1.0
        pool = [i for i in self.by_generic.get(generic, []) if forms_compatible(form, i.form)]
        if not pool and generic:
            pool = [i for i in self.items if generic in i.generic and forms_compatible(form, i.form)]
            generic_method, generic_factor = "contains", 0.9
        if not pool:
            return Match("unmatched", None, None, None, (),
                         f"no product named {generic}{' (' + form + ')' if form else ''} in the catalogue")
        strength = parse_spec(spec)
        if strength.parse_status == "parsed":
            strength_method = "content"
            same_strength = [i for i in pool if _same_strength(strength, i.strength)]
        else:
            # compound products, sachet weights…: not comparable by content, but
            # the same string (after normalising) is the same strength
            strength_method = "text"
            same_strength = [i for i in pool if clean_name(i.product.spec).lower() == clean_name(spec).lower()]
        if not same_strength:
            known = sorted({i.product.spec or "" for i in pool})
            return Match("unmatched", None, None, None, (),
                         f"no {generic} at strength {spec} in the catalogue (it has {', '.join(known[:8])})")
        name = clean_name(manufacturer)
        company = self.mapping.company(name)
        levels = (
            ("exact", 1.0, lambda i: i.manufacturer == name),
            ("truncated_name", 0.9, lambda i: len(name) >= MIN_PREFIX and len(i.manufacturer) >= MIN_PREFIX
             and (i.manufacturer.startswith(name) or name.startswith(i.manufacturer))),
            ("company_mapping", 0.8, lambda i: company is not None and self.mapping.company(i.manufacturer) == company),
        )
        for method, confidence, test in levels:
            found = [i for i in same_strength if test(i)]
            codes = tuple(sorted({i.product.med_list_codg for i in found}))
            if len(codes) == 1:
                return Match("matched", codes[0],
                             f"generic:{generic_method};strength:{strength_method};manufacturer:{method}",
                             round(confidence * generic_factor, 4), codes, None)
            if len(codes) > 1:
                return Match("ambiguous", None,
                             f"generic:{generic_method};strength:{strength_method};manufacturer:{method}",
                             round(confidence * generic_factor, 4), codes,
                             f"{len(codes)} catalogue products of {manufacturer} at {spec}: choose one")
        return Match("unmatched", None, None, None, (),
                     f"no {generic} {spec} made by {manufacturer} in the catalogue "
                     f"({len(same_strength)} of other manufacturers)")

    def product(self, code: str) -> CatalogueProduct:
        if not hasattr(self, "_by_code"):
            self._by_code = {i.product.med_list_codg: i.product for i in self.items}
        return self._by_code[code]


def _same_strength(a: ParsedSpec, b: ParsedSpec) -> bool:
    if b.parse_status != "parsed" or a.content_unit != b.content_unit:
        return False
    return _close(a.content_amount, b.content_amount) and _close(a.fill_volume_ml, b.fill_volume_ml)


def _close(x: float | None, y: float | None) -> bool:
    if x is None or y is None:
        return x is None and y is None
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y))


def parse_price(text: object) -> tuple[float | None, str | None]:
    """A price cell → (yuan, None) or (None, problem). Problems: ``price_missing``
    (empty, ``-``), ``tender_failed_流标``, ``placeholder_99999``, ``price_not_numeric``."""
    cleaned = clean_name(text).replace("元", "").replace("¥", "").replace(",", "")
    if cleaned in ("", "-", "—", "--", "/"):
        return None, "price_missing"
    if "流标" in cleaned:
        return None, "tender_failed_流标"
    try:
        value = float(cleaned)
    except ValueError:
        return None, "price_not_numeric"
    if value in PLACEHOLDER_BIDS:
        return None, "placeholder_99999"
    if value <= 0:
        return None, "price_not_positive"
    return value, None


def volume_in_units(value: object, unit_label: str) -> float | None:
    """Agreed volume as written (``万片``/``万支``/``万袋`` in the header) → minimum units."""
    number, problem = parse_price(value)
    if problem:
        return None
    return round(number * 10_000, 6) if "万" in unit_label else number


@dataclass
class ImportResult:
    vbp_results: list[dict] = field(default_factory=list)
    matching: list[dict] = field(default_factory=list)
    rows_read: int = 0
    not_awarded: int = 0

    def count(self, status: str) -> int:
        return sum(1 for m in self.matching if m["status"] == status)

    def summary(self) -> str:
        awarded = len(self.matching) - self.count("not_awarded")
        return (f"{self.rows_read} rows read, {self.not_awarded} not awarded "
                f"({self.count('not_awarded')} of them with a price cell that is not a price), {awarded} awarded: "
                f"{self.count('imported')} imported, {self.count('ambiguous')} ambiguous, "
                f"{self.count('unmatched')} unmatched, {self.count('rejected')} rejected")


def read_table(path: Path, sheet: str | None = None) -> list[dict]:
    """Rows of a CSV or XLSX table keyed by canonical field (``LABELS``); the
    header is the first row with a generic-name label (title rows above it
    allowed). ``formulas`` holds, per field, a cell's formula where the cell
    was one: XLSX formula cells, or the ``_formulas`` column (``header=expr``
    pairs joined by `` | ``) of a CSV exported with its formulas."""
    formula_grid: list[list[str]] | None = None
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        grids = []
        for data_only in (True, False):
            book = load_workbook(path, read_only=True, data_only=data_only)
            ws = book[sheet] if sheet else book.worksheets[0]
            grids.append([["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)])
            book.close()
        grid, formula_grid = grids
    else:
        grid = _read_csv_grid(path)
    for h, header in enumerate(grid):  # noqa: B007 (h, the header row, is read after the loop)
        fields = _header_fields(header)
        if "generic_name" in fields.values():
            break
    else:
        raise ValueError(f"{path}: no header row with a generic-name column ({'/'.join(LABELS['generic_name'])})")
    by_label = {clean_name(text): fields[i] for i, text in enumerate(header) if i in fields}
    formulas_column = next((i for i, text in enumerate(header) if clean_name(text) == "_formulas"), None)
    rows = []
    for n, row in enumerate(grid[h + 1:], start=h + 2):
        if not any(str(v).strip() for v in row):
            continue
        record: dict = {name: (row[i] if i < len(row) else "") for i, name in fields.items()}
        record.setdefault("sheet_row", str(n))
        formulas = {}
        if formula_grid is not None and n - 1 < len(formula_grid):
            formulas = {fields[i]: v for i, v in enumerate(formula_grid[n - 1]) if i in fields and v.startswith("=")}
        elif formulas_column is not None and formulas_column < len(row):
            for pair in filter(None, row[formulas_column].split(" | ")):
                label, _, expression = pair.partition("=")
                if clean_name(label) in by_label:
                    formulas[by_label[clean_name(label)]] = "=" + expression
        record["formulas"] = formulas
        rows.append(record)
    return rows


def _read_csv_grid(path: Path) -> list[list[str]]:
    """UTF-8 (with or without BOM), else GB18030 (GBK exports from Excel)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gb18030")
    return list(csv.reader(text.splitlines(keepends=True)))


def _header_fields(header: list[str]) -> dict[int, str]:
    """Column index → field; where two columns carry one field's labels the
    earlier label in LABELS wins (中选规格包装 ``20mg*7`` over 规格 ``20mg``)."""
    best: dict[str, tuple[int, int]] = {}  # field → (label priority, column)
    for i, text in enumerate(header):
        for name, spellings in LABELS.items():
            cleaned = [clean_name(label) for label in spellings]
            if clean_name(text) in cleaned:
                priority = cleaned.index(clean_name(text))
                if name not in best or priority < best[name][0]:
                    best[name] = (priority, i)
    return {i: name for name, (_, i) in best.items()}


def _column_index(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if clean_name(name) in header:
            return header.index(clean_name(name))
    return None


def import_results(rows: list[dict], catalogue: Catalogue, *, batch_code: str, batch_name: str | None,
                   batch_level: str, cycle_start: str, cycle_end: str, source_file: str,
                   ceiling_basis: str = "per_unit") -> ImportResult:
    """Check, match and turn the awarded rows into vbp_results rows (see the module docstring)."""
    result = ImportResult(rows_read=len(rows))
    seq = generic_written = None
    used: dict[tuple[str, str], str] = {}
    for row in rows:
        seq = row.get("seq") or seq  # merged 序号 and name cells are carried down
        generic_written = clean_name(row.get("generic_name")) or generic_written
        generic, form = split_variety(generic_written, row.get("dosage_form"))
        spec = clean_name(row.get("spec"))
        manufacturer = str(row.get("manufacturer") or "")
        unit_price, unit_problem = parse_price(row.get("unit_price")) if "unit_price" in row else (None, None)
        pack_price, pack_problem = parse_price(row.get("pack_price")) if "pack_price" in row else (None, None)
        max_price, _ = parse_price(row.get("max_price")) if "max_price" in row else (None, None)
        problems = [p for p in (unit_problem, pack_problem) if p and p != "price_missing"]
        problems += _rescaled_prices(row.get("formulas") or {})
        winner = clean_name(row.get("is_winner", "是"))
        if winner in ("否", "0", "false", "n") or ("is_winner" not in row and not clean_name(manufacturer)):
            # not a result (a losing bid, or a strength nobody won); listed
            # only when its price cell is not a price, so the source's
            # placeholders are seen, never silently read as prices
            result.not_awarded += 1
            if problems:
                result.matching.append(_record(batch_code, source_file, row, generic, form, spec, manufacturer,
                                               unit_price, pack_price, max_price, ceiling_basis, seq,
                                               "not_awarded", "; ".join(problems), None))
            continue
        match = catalogue.match(generic, form, spec, manufacturer)
        group_code = _group_code(batch_code, seq, generic, form)
        problems = [p for p in (unit_problem, pack_problem) if p]
        if unit_price is not None or pack_price is not None:
            problems = [p for p in problems if p != "price_missing"]  # one of the two prices is enough
        problems += _rescaled_prices(row.get("formulas") or {})
        if unit_price is not None and max_price is not None and ceiling_basis == "per_unit" \
                and unit_price > max_price * (1 + 1e-9):
            problems.append(f"above_ceiling: unit price {unit_price:g} > ceiling {max_price:g} per unit")
        pack_count = parse_spec(spec).pack_count
        if unit_price is not None and pack_price is not None and pack_count \
                and abs(pack_price / pack_count - unit_price) > 1e-6 * max(unit_price, 1):
            problems.append(f"unit_price_disagrees: pack price {pack_price:g} ÷ {pack_count} ≠ unit price {unit_price:g}")
        status, reason = {"matched": ("imported", None)}.get(match.status, (match.status, match.reason))
        code = match.med_list_codg
        if problems:
            status, reason = "rejected", "; ".join(problems)
        elif code and (group_code, code) in used:
            status, reason = "ambiguous", f"matches {code}, already matched by row {used[(group_code, code)]}"
        record = _record(batch_code, source_file, row, generic, form, spec, manufacturer, unit_price, pack_price,
                         max_price, ceiling_basis, seq, status, reason, match)
        result.matching.append(record)
        if status != "imported":
            continue
        used[(group_code, code)] = str(record["source_row"])
        product = catalogue.product(code)
        if pack_price is None:
            pack_price = unit_price * (product.convrat or 1)  # contract: winning_price is per pack
        result.vbp_results.append({
            "batch_code": batch_code, "batch_name": batch_name or batch_code, "batch_level": batch_level,
            "group_code": group_code, "generic_name": product.generic_name, "dosage_form": product.dosage_form,
            "med_list_codg": code, "manufacturer": product.manufacturer, "winning_price": round(pack_price, 6),
            "cycle_start": cycle_start, "cycle_end": cycle_end,
        })
    return result


def _rescaled_prices(formulas: dict[str, str]) -> list[str]:
    """A price cell that is arithmetic on constants (``=1.0571*2``) is a
    compiler's rescaling, not a published price. Arithmetic on other cells
    (``=H3/7``: pack price ÷ pack count) is a unit conversion and is kept
    (and checked: unit_price_disagrees)."""
    return [f"analyst_rescaled: {field} is {formula} in the source, not a published price"
            for field, formula in sorted(formulas.items())
            if field in ("unit_price", "pack_price", "max_price") and re.search(r"[*/]", formula)
            and not re.search(r"[A-Za-z]+\d+", formula)]


def _group_code(batch_code: str, seq: str | None, generic: str, form: str | None) -> str:
    if seq and re.fullmatch(r"\d+(\.0)?", clean_name(seq)):
        return f"{batch_code}-{int(float(seq)):03d}"
    return f"{batch_code}-{hashlib.sha1(f'{generic}|{form}'.encode()).hexdigest()[:8]}"


def _record(batch_code, source_file, row, generic, form, spec, manufacturer, unit_price, pack_price, max_price,
            ceiling_basis, seq, status, reason, match: Match | None) -> dict:
    return {
        "batch_code": batch_code, "source_file": source_file, "source_row": int(float(row["sheet_row"])),
        "group_code": _group_code(batch_code, seq, generic, form), "generic_name": generic, "dosage_form": form,
        "spec": spec, "manufacturer": clean_name(manufacturer), "unit_price": unit_price, "pack_price": pack_price,
        "max_price": max_price, "ceiling_basis": ceiling_basis, "status": status, "reason": reason,
        "match_method": match.method if match else None, "match_confidence": match.confidence if match else None,
        "med_list_codg": match.med_list_codg if match else None,
        "candidate_codes": (",".join(match.candidates) or None) if match else None,
    }


VBP_RESULTS_COLUMNS = ("batch_code", "batch_name", "batch_level", "group_code", "generic_name", "dosage_form",
                       "med_list_codg", "manufacturer", "winning_price", "cycle_start", "cycle_end")
MATCHING_COLUMNS = ("batch_code", "source_file", "source_row", "group_code", "generic_name", "dosage_form", "spec",
                    "manufacturer", "unit_price", "pack_price", "max_price", "ceiling_basis", "status", "reason",
                    "match_method", "match_confidence", "med_list_codg", "candidate_codes")


def write_landing_csv(result: ImportResult, landing: Path, batch_code: str, source: Path) -> Path:
    """The vbp_results delivery; the same name on a re-import restates the earlier file."""
    folder = landing / "vbp_results"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"imported-{batch_code}-{source.stem}.csv"
    partial = target.with_name(target.name + ".part")  # the ingest skips .part files
    with partial.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, VBP_RESULTS_COLUMNS)
        writer.writeheader()
        writer.writerows(result.vbp_results)
    partial.replace(target)
    return target


def store_matching(con, result: ImportResult, batch_code: str, source_file: str, import_id: str) -> None:
    """Replace this file's matching rows in the lake table (re-importing is safe)."""
    con.execute("begin")
    try:
        con.execute("delete from vbp_result_matching where batch_code = ? and source_file = ?",
                    [batch_code, source_file])
        if result.matching:
            columns = ", ".join(MATCHING_COLUMNS)
            placeholders = ", ".join("?" for _ in MATCHING_COLUMNS)
            con.executemany(
                f"insert into vbp_result_matching ({columns}, import_id, imported_at) "
                f"values ({placeholders}, ?, current_timestamp)",
                [[m[c] for c in MATCHING_COLUMNS] + [import_id] for m in result.matching])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def reconcile_volumes(first: dict[tuple, float], second: dict[tuple, float],
                      relative_tolerance: float = 1e-6) -> list[tuple[tuple, float, float]]:
    """One agreed volume given in two tables (e.g. a results sheet and a volume
    sheet of the same batch, both in minimum units): every key whose two
    figures differ, as (key, first, second) — a finding, never a silent choice."""
    return [(key, first[key], second[key]) for key in sorted(first.keys() & second.keys())
            if abs(first[key] - second[key]) > relative_tolerance * max(abs(first[key]), abs(second[key]))]
