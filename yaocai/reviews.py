"""Officers' decisions on anomalies, kept across nightly rebuilds.

A decision (confirmed, dismissed with a reason, enquiry = sent for 函询, or
open = withdraw an earlier decision) is attached to a finding's stable
``anomaly_id`` and appended to the lake table ``anomaly_reviews``
(ingest/lake.py), together with who, when, and the finding as published when
the decision was taken (severity, metric, gap). The publication is rebuilt
every night; dbt reads the table and marts/core/anomalies.sql publishes the
latest decision per finding, suppressing a dismissed one unless it got
materially worse since (var ``review_reopen_worsening``).

Two ways in:
- ``yaocai review mark ID --status … [--reason …] [--by …]`` (:func:`mark`);
- the workbook: officers fill 状态/说明/处理人 and drop the file into
  WAREHOUSE/review_inbox/; the run's reviews step (:func:`process_inbox`)
  applies it before the dbt build and moves it to review_inbox/processed/.
  A workbook is applied whole or not at all: if any row is wrong (unknown
  status, dismissed without a reason, unknown anomaly id, one finding given
  two different decisions), nothing from it is recorded, the file moves to
  review_inbox/needs_fix/ with NAME.errors.txt beside it listing every bad
  row, and the run log says so. A workbook already applied (same content)
  is not applied twice.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from ingest.lake import ensure_lake
from reports.labels import DECISIONS, STATUS_LABELS, parse_status
from foundation.layout import Layout
from foundation.locking import WarehouseBusy, warehouse_lock

log = logging.getLogger("yaocai.reviews")

WORKBOOK_SUFFIXES = {".xlsx", ".xlsm"}
CLI_LOCK_WAIT_SECONDS = 120  # a nightly step holds the lock for seconds to minutes


class ReviewError(ValueError):
    pass


@dataclass
class Decision:
    anomaly_id: str
    status: str
    reason: str | None
    reviewed_by: str
    source: str = "cli"
    source_file: str | None = None
    source_sha256: str | None = None
    source_row: str | None = None


def _published_findings(layout: Layout, with_evidence: bool = False) -> tuple[dict[str, dict], dt.date | None]:
    """anomaly_id → the finding as published now (with its review columns when present)."""
    if not layout.published.exists():
        return {}, None
    con = duckdb.connect(str(layout.published), read_only=True)
    try:
        columns = {r[0] for r in con.execute("select column_name from duckdb_columns() "
                                             "where schema_name = 'main' and table_name = 'anomalies'").fetchall()}
        extra = [c for c in ("review_status", "review_reason", "reviewed_by", "reviewed_at", "is_suppressed") if c in columns]
        rows = con.execute(
            "select anomaly_id, anomaly_type, severity, metric_value, gap, cast(excess_amount as double), detail"
            + "".join(f", {c}" for c in extra) + " from anomalies").fetchall()
        as_of = con.execute("select max(as_of) from runs where status = 'published'").fetchone()[0]
        evidence = _credit_evidence(con) if with_evidence else {}
    finally:
        con.close()
    keys = ["anomaly_id", "anomaly_type", "severity", "metric_value", "gap", "excess_amount", "detail", *extra]
    return {**{row[0]: dict(zip(keys, row)) for row in rows}, **evidence}, as_of


def _credit_evidence(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """Credit evaluation evidence (CE-…, docs/money-and-enforcement.md) is reviewed like a
    finding: the officer confirms or dismisses the proposed level against its evidence_id."""
    if not con.execute("select count(*) from duckdb_tables() where schema_name = 'main' "
                       "and table_name = 'credit_evaluation_evidence'").fetchone()[0]:
        return {}
    rows = con.execute("""select evidence_id, 'credit_' || evidence_type, proposed_level, cast(occurrences as double),
                                 cast(null as double), cast(amount as double), detail, review_status
                          from credit_evaluation_evidence""").fetchall()
    keys = ["anomaly_id", "anomaly_type", "severity", "metric_value", "gap", "excess_amount", "detail", "review_status"]
    return {row[0]: dict(zip(keys, row)) for row in rows}


def _lake(layout: Layout, read_only: bool = False, wait_seconds: float = 60) -> duckdb.DuckDBPyConnection:
    """Open the lake, waiting while another process has it open: the warehouse
    lock orders writers, but a run's gate reads the lake without holding it,
    and DuckDB refuses a writer while any other process has the file open."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            con = duckdb.connect(str(layout.lake), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusy(f"the lake {layout.lake} is in use by a running pipeline step; "
                                    "try again when it has finished") from None
            time.sleep(0.5)
    if not read_only:
        ensure_lake(con)
    return con


def latest_reviews(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    rows = con.execute("""select anomaly_id, status, reason, reviewed_by, reviewed_at, review_no
                          from anomaly_reviews
                          qualify row_number() over (partition by anomaly_id order by review_no desc) = 1""").fetchall()
    return {r[0]: {"status": r[1], "reason": r[2], "reviewed_by": r[3], "reviewed_at": r[4], "review_no": r[5]}
            for r in rows}


def _insert(con: duckdb.DuckDBPyConnection, decisions: list[Decision], findings: dict[str, dict],
            as_of: dt.date | None, run_id: str | None) -> list[int]:
    """Append decisions in one transaction; returns their review numbers."""
    con.execute("begin")
    try:
        next_no = con.execute("select coalesce(max(review_no), 0) + 1 from anomaly_reviews").fetchone()[0]
        now = dt.datetime.now()
        numbers = []
        for k, d in enumerate(decisions):
            f = findings.get(d.anomaly_id, {})
            con.execute(
                """insert into anomaly_reviews (review_no, anomaly_id, status, reason, reviewed_by, reviewed_at,
                       anomaly_type, severity_at_review, metric_value_at_review, gap_at_review,
                       excess_amount_at_review, as_of_at_review, source, source_file, source_sha256, source_row, run_id)
                   values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [next_no + k, d.anomaly_id, d.status, d.reason, d.reviewed_by, now, f.get("anomaly_type"),
                 f.get("severity"), f.get("metric_value"), f.get("gap"), f.get("excess_amount"), as_of, d.source,
                 d.source_file, d.source_sha256, d.source_row, run_id])
            numbers.append(next_no + k)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return numbers


def _check(decision: Decision, findings: dict[str, dict]) -> str | None:
    """What is wrong with a decision, in Chinese and English, or None."""
    if decision.status not in DECISIONS:
        return (f"状态“{decision.status}”无法识别 / unknown status; "
                f"use {', '.join(STATUS_LABELS[s] for s in DECISIONS)} ({', '.join(DECISIONS)})")
    if decision.status == "dismissed" and not (decision.reason or "").strip():
        return "已排除必须填写说明（原因） / dismissed needs a reason"
    if decision.anomaly_id not in findings:
        return f"异常编号 {decision.anomaly_id} 不在当前发布中 / anomaly id not in the current publication"
    return None


def default_reviewer() -> str:
    return os.environ.get("YAOCAI_REVIEWER") or getpass.getuser()


def mark(warehouse: Path, anomaly_id: str, status: str, reason: str | None = None, by: str | None = None,
         wait_seconds: float = CLI_LOCK_WAIT_SECONDS) -> dict:
    """Record one decision (``yaocai review mark``). Raises ReviewError when
    the decision is not valid; WarehouseBusy when a run holds the lock longer
    than ``wait_seconds``."""
    layout = Layout(Path(warehouse).resolve())
    findings, as_of = _published_findings(layout, with_evidence=True)
    if not findings and not layout.published.exists():
        raise ReviewError(f"no publication at {layout.published}: run the pipeline first")
    decision = Decision(anomaly_id.strip(), status, (reason or "").strip() or None, by or default_reviewer())
    problem = _check(decision, findings)
    if problem:
        raise ReviewError(problem)
    layout.ensure()
    with warehouse_lock(layout.lock, f"yaocai review mark {decision.anomaly_id}", wait_seconds=wait_seconds):
        con = _lake(layout, wait_seconds=wait_seconds)
        try:
            (number,) = _insert(con, [decision], findings, as_of, run_id=None)
        finally:
            con.close()
    finding = findings[decision.anomaly_id]
    log.info("review %s: %s %s by %s", number, decision.anomaly_id, decision.status, decision.reviewed_by)
    return {"review_no": number, **asdict(decision), "anomaly_type": finding.get("anomaly_type"),
            "gap_at_review": finding.get("gap"), "severity_at_review": finding.get("severity")}


def list_reviews(warehouse: Path, status: str | None = None, include_suppressed: bool = True) -> pd.DataFrame:
    """Findings of the current publication with their review state.

    ``pending`` is a decision recorded after the publication was built (it
    takes effect at the next run); ``effective_status`` is what the finding
    will show once it does (for a pending decision) or shows now."""
    layout = Layout(Path(warehouse).resolve())
    findings, _ = _published_findings(layout)
    frame = pd.DataFrame(list(findings.values()))
    if frame.empty:
        return frame
    for column, default in (("review_status", "open"), ("review_reason", None), ("reviewed_by", None),
                            ("reviewed_at", None), ("is_suppressed", False)):
        if column not in frame:
            frame[column] = default
    latest: dict[str, dict] = {}
    if layout.lake.exists():
        con = _lake(layout, read_only=True, wait_seconds=CLI_LOCK_WAIT_SECONDS)
        try:
            tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
            if "anomaly_reviews" in tables:
                latest = latest_reviews(con)
        finally:
            con.close()

    def pending(row: pd.Series) -> str | None:
        review = latest.get(row["anomaly_id"])
        if review is None:
            return None
        published_at = row["reviewed_at"]
        if published_at is None or pd.isna(published_at) or review["reviewed_at"] > pd.Timestamp(published_at):
            return review["status"]
        return None

    frame["pending_status"] = frame.apply(pending, axis=1)
    frame["effective_status"] = frame["pending_status"].fillna(frame["review_status"].fillna("open"))
    frame["is_suppressed"] = frame["is_suppressed"].fillna(False).astype(bool)
    if status:
        frame = frame[frame["effective_status"] == status]
    elif not include_suppressed:
        frame = frame[~frame["is_suppressed"]]
    return frame.sort_values(["anomaly_type", "severity", "anomaly_id"]).reset_index(drop=True)


def history(warehouse: Path, anomaly_id: str) -> pd.DataFrame:
    layout = Layout(Path(warehouse).resolve())
    if not layout.lake.exists():
        return pd.DataFrame()
    con = _lake(layout, read_only=True, wait_seconds=CLI_LOCK_WAIT_SECONDS)
    try:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        if "anomaly_reviews" not in tables:
            return pd.DataFrame()
        return con.execute("select * from anomaly_reviews where anomaly_id = ? order by review_no", [anomaly_id]).df()
    finally:
        con.close()


# --- the review inbox ---------------------------------------------------

@dataclass
class WorkbookOutcome:
    file: str
    status: str  # applied | already_applied | needs_fix
    decisions: int = 0
    unchanged_rows: int = 0
    problems: list[str] = field(default_factory=list)
    moved_to: str = ""


@dataclass
class InboxOutcome:
    workbooks: list[WorkbookOutcome] = field(default_factory=list)

    @property
    def decisions(self) -> int:
        return sum(w.decisions for w in self.workbooks)

    @property
    def needs_fix(self) -> list[WorkbookOutcome]:
        return [w for w in self.workbooks if w.status == "needs_fix"]

    def line(self) -> str:
        if not self.workbooks:
            return "no workbooks in review_inbox"
        parts = [f"{len(self.workbooks)} workbook{'s' if len(self.workbooks) != 1 else ''}",
                 f"{self.decisions} decision{'s' if self.decisions != 1 else ''} recorded"]
        already = sum(1 for w in self.workbooks if w.status == "already_applied")
        if already:
            parts.append(f"{already} already applied")
        for w in self.needs_fix:
            parts.append(f"NOT APPLIED {w.file}: {len(w.problems)} row(s) to fix, see {w.moved_to}.errors.txt")
        return ", ".join(parts)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _inbox_files(inbox: Path) -> list[Path]:
    """Every file dropped into the inbox (other formats are reported, not ignored)."""
    if not inbox.is_dir():
        return []
    return sorted(p for p in inbox.iterdir()
                  if p.is_file() and not p.name.startswith(("~$", "."))  # Excel lock files, temporaries
                  and not p.name.endswith((".tmp", ".part", ".crdownload")))  # still being copied


def _move(path: Path, folder: Path, stamp: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stamp}_{path.name}"
    shutil.move(str(path), target)
    return target


def _workbook_decisions(path: Path, sha: str, findings: dict[str, dict], latest: dict[str, dict]
                        ) -> tuple[list[Decision], int, list[str]]:
    """The decisions a returned workbook carries, rows left as printed, and problems."""
    from reports.workbook import read_review_rows

    rows, modified_by = read_review_rows(path)
    decisions: list[Decision] = []
    problems: list[str] = []
    unchanged = 0
    seen: dict[str, tuple[str, str | None, str]] = {}
    for row in rows:
        status = parse_status(row.status_text)
        if not row.anomaly_id:
            problems.append(f"{row.where}: 异常编号为空 / empty anomaly id")
            continue
        if status is None:
            problems.append(f"{row.where} {row.anomaly_id}: 状态“{row.status_text}”无法识别 / unknown status "
                            f"(use {', '.join(STATUS_LABELS[s] for s in DECISIONS)})")
            continue
        # Only what the officer changed is a decision: the hidden 原状态/原说明
        # columns hold what was printed. Without them (a hand-made sheet),
        # any row whose decision differs from the one recorded counts.
        if row.original_status_text is not None:
            changed = (status, row.reason) != (parse_status(row.original_status_text), row.original_reason)
        else:
            current = latest.get(row.anomaly_id)
            changed = (status, row.reason) != ((current["status"], current["reason"]) if current else ("open", None))
        if not changed:
            unchanged += 1
            continue
        decision = Decision(row.anomaly_id, status, row.reason, row.reviewed_by or modified_by or f"workbook {path.name}",
                            source="workbook", source_file=path.name, source_sha256=sha, source_row=row.where)
        problem = _check(decision, findings)
        if problem:
            problems.append(f"{row.where} {row.anomaly_id}: {problem}")
            continue
        key = (decision.status, decision.reason, decision.reviewed_by)
        if row.anomaly_id in seen and seen[row.anomaly_id] != key:
            problems.append(f"{row.where} {row.anomaly_id}: 同一异常在工作簿中有两个不同的处理结果 / two different decisions")
            continue
        if row.anomaly_id not in seen:
            seen[row.anomaly_id] = key
            decisions.append(decision)
    return decisions, unchanged, problems


def process_inbox(warehouse: Path, run_id: str | None = None, wait_seconds: float = 600) -> InboxOutcome:
    """Apply every workbook in WAREHOUSE/review_inbox/ (the run's reviews step)."""
    layout = Layout(Path(warehouse).resolve())
    inbox = layout.review_inbox
    outcome = InboxOutcome()
    files = _inbox_files(inbox)
    if not files:
        return outcome
    findings, as_of = _published_findings(layout)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    with warehouse_lock(layout.lock, f"run {run_id} reviews", wait_seconds=wait_seconds):
        con = _lake(layout, wait_seconds=wait_seconds)
        try:
            for path in files:
                sha = _sha256(path)
                result = WorkbookOutcome(file=path.name, status="applied")
                applied_before = con.execute("select count(*) from anomaly_reviews where source_sha256 = ?",
                                             [sha]).fetchone()[0]
                if applied_before:
                    result.status = "already_applied"
                    result.moved_to = str(_move(path, inbox / "processed", stamp).relative_to(layout.warehouse))
                    outcome.workbooks.append(result)
                    continue
                decisions: list[Decision]
                if path.suffix.lower() not in WORKBOOK_SUFFIXES:
                    decisions, result.problems = [], [
                        f"不是 .xlsx 工作簿，请用 Excel/WPS 另存为 .xlsx 后重新放入 / not an .xlsx workbook: {path.name}"]
                else:
                    try:
                        decisions, result.unchanged_rows, result.problems = _workbook_decisions(
                            path, sha, findings, latest_reviews(con))
                    except Exception as exc:  # not a workbook we can read: keep it, say why
                        decisions, result.problems = [], [
                            f"无法读取工作簿 / cannot read the workbook: {type(exc).__name__}: {exc}"]
                if result.problems:
                    result.status = "needs_fix"
                    target = _move(path, inbox / "needs_fix", stamp)
                    target.with_name(target.name + ".errors.txt").write_text(
                        f"{path.name}: 未登记任何处理结果 / nothing from this workbook was recorded.\n"
                        "请改正以下各行后重新放入 review_inbox/ / fix these rows and put the workbook back into review_inbox/:\n\n"
                        + "\n".join(result.problems) + "\n", encoding="utf-8")
                    result.moved_to = str(target.relative_to(layout.warehouse))
                    log.warning("reviews: %s NOT applied, %d problem(s): %s (file kept: %s)", path.name,
                                len(result.problems), "; ".join(result.problems[:5]), result.moved_to)
                else:
                    if decisions:
                        _insert(con, decisions, findings, as_of, run_id)
                    result.decisions = len(decisions)
                    result.moved_to = str(_move(path, inbox / "processed", stamp).relative_to(layout.warehouse))
                    log.info("reviews: %s applied, %d decision(s), %d row(s) unchanged", path.name,
                             result.decisions, result.unchanged_rows)
                outcome.workbooks.append(result)
            con.execute("checkpoint")
        finally:
            con.close()
    return outcome


def outcome_json(outcome: InboxOutcome) -> str:
    return json.dumps([asdict(w) for w in outcome.workbooks], ensure_ascii=False, indent=2)
