"""The build line names the feeds `dbt source freshness` found stale (issue 14)."""

from __future__ import annotations

import json

from yaocai.pipeline import _freshness_note


def _result(name: str, status: str, days: float) -> dict:
    return {"unique_id": f"source.yaocai.lake.{name}", "status": status, "max_loaded_at_time_ago_in_s": days * 86400}


def test_stale_feeds_are_named_with_their_level_and_age(tmp_path):
    (tmp_path / "sources.json").write_text(json.dumps({"results": [
        _result("purchases", "warn", 40), _result("products", "error", 70), _result("institutions", "pass", 1)]}))
    assert _freshness_note(tmp_path) == "; stale feeds: purchases (warn, 40 days), products (error, 70 days)"


def test_all_fresh_missing_and_failed_checks(tmp_path):
    assert _freshness_note(tmp_path) == ""  # not run (e.g. the build failed first)
    (tmp_path / "sources.json").write_text(json.dumps({"results": [_result("purchases", "pass", 1)]}))
    assert _freshness_note(tmp_path) == "; feeds fresh"
    (tmp_path / "sources.json").write_text(json.dumps({"error": "RuntimeError: lake not attached"}))
    assert _freshness_note(tmp_path) == "; source freshness not checked (RuntimeError: lake not attached)"
