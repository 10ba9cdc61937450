"""`mci validate` as CI runs it: exit codes, positions, JSON, and live profiles without their secrets."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_tree_is_valid_with_placeholder_env_and_names_missing_vars_without(run_mci):
    ok = run_mci("validate", "--placeholder-env", "profiles/", "rules/")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    strict = run_mci("validate", "profiles/zerodha-live.yaml", "-o", "json")
    assert strict.returncode == 2
    errors = json.loads(strict.stdout)["errors"]
    assert {e["location"]["file"] for e in errors} == {"profiles/zerodha-live.yaml"}
    assert any("KITE_API_SECRET" in e["what"] for e in errors)


def test_placeholder_env_does_not_excuse_a_literal_secret(run_mci, tmp_path):
    live = (ROOT / "profiles" / "zerodha-live.yaml").read_text(encoding="utf-8")
    leaked = tmp_path / "leaked.yaml"
    leaked.write_text(live.replace("${env:KITE_API_SECRET}", "abcd1234verysecret"), encoding="utf-8")
    proc = run_mci("validate", "--placeholder-env", str(leaked))
    assert proc.returncode == 2
    assert "abcd1234verysecret" not in proc.stdout + proc.stderr
    assert "leaked.yaml:" in proc.stdout


def test_invalid_profile_reports_every_error_with_file_line_col(run_mci, tmp_path):
    paper = (ROOT / "profiles" / "paper.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        paper.replace("max_daily_loss: 6%", "max_daily_loss: 60%").replace(
            "max_open_positions: 5", "max_open_positions: five"
        ),
        encoding="utf-8",
    )
    proc = run_mci("validate", str(bad), "-o", "json")
    assert proc.returncode == 2
    payload = json.loads(proc.stdout)
    assert payload["status"] == "invalid"
    assert len(payload["errors"]) >= 2
    lines = paper.splitlines()
    daily = next(i for i, line in enumerate(lines, 1) if "max_daily_loss: 6%" in line)
    hit = [e for e in payload["errors"] if "max_daily_loss" in e["what"]]
    assert hit and hit[0]["location"]["line"] == daily
    for error in payload["errors"]:
        assert error["what"] and error["why"] and error["how"]


def test_folder_without_yaml_and_missing_path_are_clear_errors(run_mci, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_mci("validate", str(empty), str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.count("WHAT:") == 2
