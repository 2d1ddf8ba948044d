"""File renderers: purchase lines to CSV rows and NHSA 3503/3504 messages, the monthly
purchase files, and the reference feeds (CSV, the register as a bureau's XLSX export)."""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.xml.constants import ARC_CORE
from openpyxl.xml.functions import tostring

from yaocai_demo.basics import (
    _SECONDS_PER_DAY,
    HOSP_LV_ZH,
    INSTITUTION_LABELS_ZH,
    MAX_ROWS_PER_FILE,
    OWNERSHIP_ZH,
    PURCHASE_COLUMNS,
    PURCHASE_LABELS_ZH,
    XLSX_TIMESTAMP,
    _Lines,
)
from yaocai_demo.catalogue import _Catalogue
from yaocai_demo.institutions import _Institutions
from yaocai_demo.reference import _CITIES


def _dates(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(days.astype("datetime64[D]"))


def _compact_dates(days: np.ndarray) -> np.ndarray:
    return np.strings.replace(_dates(days), "-", "")


def _serials(prefix: str | np.ndarray, days: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Serial numbers shaped prefix + yyyyMMdd + 9-digit sequence (unique because the sequence is)."""
    return np.strings.add(np.strings.add(prefix, _compact_dates(days)), np.strings.zfill(seq.astype(str), 9))


@dataclass(frozen=True)
class _FileFormat:
    suffix: str
    encoding: str
    chinese_headers: bool = False

    @property
    def label(self) -> str:
        if self.suffix == ".jsonl":
            return "jsonl-nhsa"
        return f"csv-{self.encoding}" + ("-chinese-headers" if self.chinese_headers else "")


_CSV = _FileFormat(".csv", "utf-8")
_CSV_BOM = _FileFormat(".csv", "utf-8-sig")
_CSV_GB18030 = _FileFormat(".csv", "gb18030", chinese_headers=True)
_JSONL = _FileFormat(".jsonl", "utf-8")


def _render(lines: _Lines, inst: _Institutions, cat: _Catalogue, suppliers: np.ndarray) -> pd.DataFrame:
    """Text columns of the purchases feed (contract §1) for a block of lines."""
    is_return = lines["kind"] == 1
    prod, who = lines["prod"], lines["inst"]
    day = lines["t"] // _SECONDS_PER_DAY
    stamps = np.strings.replace(np.datetime_as_string(lines["t"].astype("datetime64[s]")), "T", " ")
    manu = _dates(lines["manu_day"])
    own_serial = _serials(np.where(is_return, "TH", "CG"), day, lines["seq"])
    # A purchase's order number is derived from its own date and serial; a return
    # goes through the platform's 退货单 for the same order, so it repeats it.
    order_day = np.where(is_return, lines["orig_t"] // _SECONDS_PER_DAY, day)
    order_seq = np.where(is_return, lines["orig_seq"], lines["seq"])
    order_no = np.strings.add(np.strings.add("PT", inst.province[who].astype(str)),
                              _serials("", order_day, order_seq))
    lot = np.strings.add(np.strings.replace(np.strings.slice(manu, 2, None), "-", ""),
                         np.strings.zfill(lines["lot"].astype(str), 2))
    # 3504 has no 生产批号/批准文号/生产厂家/赠送标志 (docs/domain-notes.md §5).
    return pd.DataFrame({
        "infno": np.where(is_return, "3504", "3503"),
        "fixmedins_code": inst.code[who],
        "fixmedins_bchno": own_serial,
        "med_list_codg": cat.code[prod],
        "fixmedins_hilist_id": cat.hilist_id[prod],
        "fixmedins_hilist_name": cat.hilist_name[prod],
        "spler_name": suppliers[lines["supplier"]],
        "prodentp_name": np.where(is_return, "", cat.manufacturer[prod]),
        "aprvno": np.where(is_return, "", cat.aprvno[prod]),
        "manu_lotnum": np.where(is_return, "", lot),
        "manu_date": manu,
        "expy_end": _dates(lines["manu_day"] + cat.shelf_days[prod] - 1),
        "finl_trns_pric": lines["price"],
        "purc_retn_cnt": lines["qty"],
        "purc_retn_stoin_time": stamps,
        "purc_invo_no": lines["invoice"].astype(str),
        "prod_geay_flag": np.where(is_return, "", np.where(lines["gift"], "1", "0")),
        "medins_prod_purc_no": np.where(is_return, _serials("CG", order_day, order_seq), ""),
        "platform_order_no": np.where(lines["online"], order_no, ""),
    }, columns=list(PURCHASE_COLUMNS))


def _nhsa_messages(frame: pd.DataFrame, lines: _Lines, inst: _Institutions, cat: _Catalogue) -> Iterator[str]:
    """Whole NHSA 3503/3504 messages, one per line, as a hospital interface would send them."""
    names = inst.name[lines["inst"]]
    operators = inst.operator[lines["inst"]]
    rx = np.where(cat.rx[lines["prod"]], "1", "0")
    omitted_in_3504 = ("prodentp_name", "aprvno", "manu_lotnum", "prod_geay_flag")
    columns = [c for c in PURCHASE_COLUMNS if c not in ("infno", "fixmedins_code")]
    for k, row in enumerate(frame.itertuples(index=False)):
        record = row._asdict()
        purcinfo = {c: record[c] for c in columns}
        price = record["finl_trns_pric"]
        purcinfo["finl_trns_pric"] = None if math.isnan(price) else float(price)
        purcinfo["purc_retn_cnt"] = int(record["purc_retn_cnt"])
        purcinfo["rx_flag"] = str(rx[k])
        purcinfo["purc_retn_opter_name"] = str(operators[k])
        if record["infno"] == "3504":
            for c in omitted_in_3504:
                del purcinfo[c]
        stamp = record["purc_retn_stoin_time"]
        digits = stamp.replace("-", "").replace(" ", "").replace(":", "")
        # msgid = institution code + yyyyMMddHHmmss + 4-digit sequence, as in NHSA messages.
        message = {"infno": record["infno"], "msgid": f"{record['fixmedins_code']}{digits}{k % 10_000:04d}",
                   "inf_time": stamp, "fixmedins_code": record["fixmedins_code"],
                   "fixmedins_name": str(names[k]), "input": {"purcinfo": purcinfo}}
        yield json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n"


class _PurchaseFiles:
    """Monthly delivery files (`2026-05_a.csv`, `_b`… when a month exceeds MAX_ROWS_PER_FILE)."""

    def __init__(self, landing: Path) -> None:
        self._landing = landing
        self._current: tuple[date, str] | None = None  # (month, letter) of the file being filled
        self._rows = 0
        self.counts: dict[str, int] = {}
        self.formats: dict[str, str] = {}

    def write(self, month: date, fmt: _FileFormat, frame: pd.DataFrame,
              messages: Iterator[str] | None) -> tuple[str, int]:
        """Append a block; returns the file's relative path and the block's first 1-based data row."""
        if self._current is None or self._current[0] != month:
            self._current, self._rows = (month, "a"), 0
        elif self._rows + len(frame) > MAX_ROWS_PER_FILE:
            self._current, self._rows = (month, chr(ord(self._current[1]) + 1)), 0
        rel = f"purchases/{month:%Y-%m}_{self._current[1]}{fmt.suffix}"
        first_row = self._rows + 1
        # Appending never repeats the UTF-8 BOM: TextIOWrapper writes it only at position 0.
        with open(self._landing / rel, "a" if self._rows else "w", encoding=fmt.encoding, newline="") as handle:
            if messages is not None:
                handle.writelines(messages)
            else:
                header: list[str] | bool = False
                if self._rows == 0:
                    header = [PURCHASE_LABELS_ZH.get(c, c) if fmt.chinese_headers else c for c in frame.columns]
                frame.to_csv(handle, header=header, index=False, lineterminator="\n")
        self._rows += len(frame)
        self.counts[rel] = self._rows
        self.formats[rel] = fmt.label
        return rel, first_row


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")


def _write_institutions_xlsx(frame: pd.DataFrame, path: Path, as_of: date) -> None:
    """The register as a bureau exports it: a title row, then Chinese headers and Chinese coded values."""
    wb = Workbook()
    ws = wb.active
    ws.title = "定点医疗机构"
    cities = "、".join(f"{c.name}市" for c in _CITIES)
    ws.append([f"定点医疗机构名单（{cities}，截至{as_of.year}年{as_of.month}月{as_of.day}日）"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(frame.columns))
    ws.append([INSTITUTION_LABELS_ZH[c] for c in frame.columns])
    for code, name, admdvs, level, ownership in frame.itertuples(index=False):
        ws.append([code, name, admdvs, HOSP_LV_ZH[level], OWNERSHIP_ZH[ownership]])  # admdvs stays text
    wb.properties.creator = "yaocai demo_data"
    buffer = io.BytesIO()
    wb.save(buffer)
    # openpyxl stamps the document's modified time and every zip entry with the
    # current time on save; rewrite both with a fixed time for byte-identical output.
    wb.properties.created = wb.properties.modified = XLSX_TIMESTAMP
    core_properties = tostring(wb.properties.to_tree())
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=XLSX_TIMESTAMP.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            content = core_properties if entry.filename == ARC_CORE else source.read(entry.filename)
            target.writestr(fixed, content)
