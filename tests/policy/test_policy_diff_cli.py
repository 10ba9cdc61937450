"""`mci policy diff` as CI runs it: a real git repository, the real CLI in a subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest

PAPER = "profiles/paper.yaml"
SCANNER = "rules/scanner/twelve-point.yaml"
GRACEFUL = "rules/shutdown/graceful.yaml"
EMERGENCY = "rules/shutdown/emergency.yaml"
END_OF_DAY = "rules/shutdown/end-of-day.yaml"
SUBJECT_RE = re.compile(r"^(gate|policy):\S{1,400}$")  # mci.approvals._SUBJECT_RE


def _findings(result) -> list[dict]:
    return json.loads(result.stdout)["findings"]


def _no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr


# ---- the three changes of the issue, and their reverse ----------------------------------------


def test_raising_max_daily_loss_fails_with_file_line_and_the_approve_command(repo, policy):
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: 8%")
    line = repo.line_of(PAPER, "max_daily_loss: 8%")
    result = policy("diff", "--base", "HEAD")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"profiles/paper.yaml:{line}:19: LOOSENING WHAT: risk.max_daily_loss raised from 6% to 8%" in result.stdout
    assert "WHY: the day may lose 8% of capital before the kill switch trips, instead of 6%" in result.stdout
    assert (
        "mci policy approve policy:profiles/paper.yaml:risk.max_daily_loss=8% --by NAME --note WHY "
        "--file .mci/approvals.jsonl"
    ) in result.stdout
    assert "FAILED" in result.stdout.splitlines()[-1]


def test_lowering_max_daily_loss_back_passes(repo, policy):
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: 8%")
    repo.commit("loosen")
    repo.replace(PAPER, "max_daily_loss: 8%", "max_daily_loss: 6%")
    result = policy("diff", "--base", "HEAD")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TIGHTENING WHAT: risk.max_daily_loss lowered from 8% to 6%" in result.stdout


def test_removing_a_scanner_check_from_the_rule_file_is_flagged_at_the_rule(repo, policy):
    repo.cut(SCANNER, "  # 11. Orders left open", "  # 12. Disk space")
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 1
    [finding] = _findings(result)
    assert finding["kind"] == "loosening" and not finding["approved"]
    assert finding["file"] == SCANNER
    assert finding["line"] == repo.line_of(SCANNER, "checks:")  # the block it was removed from
    assert "check order_queue (Order queue, orders.stale) removed" in finding["what"]
    assert finding["subject"] == "policy:rules/scanner/twelve-point.yaml:checks.order_queue=removed"


def test_restoring_the_scanner_check_passes(repo, policy):
    removed = repo.cut(SCANNER, "  # 11. Orders left open", "  # 12. Disk space")
    repo.commit("drop check")
    repo.replace(SCANNER, "  # 12. Disk space", removed + "  # 12. Disk space")
    result = policy("diff", "--base", "HEAD")
    assert result.returncode == 0, result.stdout
    assert "TIGHTENING WHAT: checklist twelve-point: check order_queue" in result.stdout


def test_removing_a_scanner_check_through_the_profile_points_at_its_use_line(repo, policy):
    lite = repo.read(SCANNER).replace("name: twelve-point", "name: lite")
    repo.write("rules/scanner/lite.yaml", lite)
    repo.cut("rules/scanner/lite.yaml", "  # 8. Cash usable", "  # 9. Positions")
    repo.commit("a lighter checklist, unused")
    repo.replace(PAPER, "use: scanner/twelve-point", "use: scanner/lite")
    repo.cut(PAPER, "  override:\n    balance:", "\n# The trading engine")
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 1
    [finding] = _findings(result)
    assert (finding["file"], finding["line"]) == (PAPER, repo.line_of(PAPER, "use: scanner/lite"))
    assert finding["subject"] == "policy:profiles/paper.yaml:scan.checks.balance=removed"


def test_dropping_clear_sensitive_data_from_graceful_shutdown_is_flagged(repo, policy):
    repo.cut(GRACEFUL, "  - id: clear_secrets", "  - id: log_final_state")
    result = policy("diff", "--base", "HEAD")
    assert result.returncode == 1
    line = repo.line_of(GRACEFUL, "steps:")
    assert (
        f"rules/shutdown/graceful.yaml:{line}:1: LOOSENING WHAT: sequence graceful: step clear_secrets "
        "(Clear sensitive data, secrets.clear) removed"
    ) in result.stdout
    assert "no longer cleared at shutdown" in result.stdout
    assert "policy:rules/shutdown/graceful.yaml:steps.clear_secrets=removed" in result.stdout


def test_restoring_clear_sensitive_data_passes(repo, policy):
    step = repo.cut(GRACEFUL, "  - id: clear_secrets", "  - id: log_final_state")
    repo.commit("drop step")
    repo.replace(GRACEFUL, "  - id: log_final_state", step + "  - id: log_final_state")
    result = policy("diff", "--base", "HEAD")
    assert result.returncode == 0, result.stdout
    assert "TIGHTENING WHAT: sequence graceful: step clear_secrets" in result.stdout


def test_a_rule_change_is_reported_once_against_the_rule_not_every_profile(repo, policy):
    repo.cut(GRACEFUL, "  - id: clear_secrets", "  - id: log_final_state")
    repo.replace(PAPER, "max_open_positions: 5", "max_open_positions: 4")
    findings = _findings(policy("diff", "--base", "HEAD", "-o", "json"))
    assert [(f["file"], f["kind"]) for f in findings] == [(PAPER, "tightening"), (GRACEFUL, "loosening")]


# ---- approvals -----------------------------------------------------------------------------


def _approval(subject: str, *, at: datetime | None = None, expires: datetime | None = None) -> str:
    at = at or datetime.now(timezone.utc) - timedelta(minutes=1)
    return (
        json.dumps(
            {
                "subject": subject,
                "by": "A. Sharma",
                "note": "reviewed",
                "at": at.isoformat(),
                "expires_at": expires.isoformat() if expires else None,
                "revoked": False,
            }
        )
        + "\n"
    )


def test_an_approval_of_the_exact_subject_lets_the_loosening_pass(repo, policy):
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: 8%")
    repo.write(".mci/approvals.jsonl", _approval("policy:profiles/paper.yaml:risk.max_daily_loss=8%"))
    result = policy("diff", "--base", "HEAD")
    assert result.returncode == 0, result.stdout
    assert "LOOSENING (approved) WHAT: risk.max_daily_loss raised from 6% to 8%" in result.stdout
    assert "approved by A. Sharma" in result.stdout


def test_an_approval_of_another_value_does_not_cover_it(repo, policy):
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: 10%")
    repo.write(".mci/approvals.jsonl", _approval("policy:profiles/paper.yaml:risk.max_daily_loss=8%"))
    result = policy("diff", "--base", "HEAD")
    assert result.returncode == 1
    assert "risk.max_daily_loss=10%" in result.stdout


def test_an_expired_approval_does_not_cover_it(repo, policy):
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: 8%")
    now = datetime.now(timezone.utc)
    repo.write(
        ".mci/approvals.jsonl",
        _approval(
            "policy:profiles/paper.yaml:risk.max_daily_loss=8%",
            at=now - timedelta(days=8),
            expires=now - timedelta(days=1),
        ),
    )
    assert policy("diff", "--base", "HEAD").returncode == 1


def test_an_approvals_file_given_with_approvals_is_read(repo, policy, tmp_path):
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: 8%")
    extra = tmp_path / "signed.jsonl"
    extra.write_text(_approval("policy:profiles/paper.yaml:risk.max_daily_loss=8%"))
    assert policy("diff", "--base", "HEAD", "--approvals", str(extra)).returncode == 0


def test_policy_approve_records_in_the_repository_and_the_audit_log(repo, policy, mci_home):
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: 8%")
    subject = _findings(policy("diff", "--base", "HEAD", "-o", "json"))[0]["subject"]
    result = policy("approve", subject, "--by", "A. Sharma", "--note", "new capital, RISK-12", "--expires", "7d")
    assert result.returncode == 0, result.stderr
    [record] = [json.loads(line) for line in repo.read(".mci/approvals.jsonl").splitlines()]
    assert (record["subject"], record["by"], record["note"]) == (subject, "A. Sharma", "new capital, RISK-12")
    assert record["expires_at"] is not None
    assert policy("diff", "--base", "HEAD").returncode == 0

    from mci.store.state import StateStore

    store = StateStore.open(mci_home)
    try:
        audit = [r for r in store.audit_records() if r.kind == "approval"]
    finally:
        store.close()
    assert [r.data["subject"] for r in audit] == [subject]


def test_policy_approve_refuses_a_subject_that_is_not_policy(policy):
    result = policy("approve", "gate:go-live/cto", "--by", "A", "--note", "B")
    assert result.returncode == 2
    assert "not a policy subject" in result.stderr
    result = policy("approve", "policy:a b", "--by", "A", "--note", "B")
    assert result.returncode == 2
    _no_traceback(result)


# ---- more loosenings -----------------------------------------------------------------------


def test_breaker_made_more_tolerant(repo, policy):
    repo.replace(PAPER, "broker: {fail_max: 5, reset_timeout: 60s}", "broker: {fail_max: 10, reset_timeout: 15s}")
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 1
    line = repo.line_of(PAPER, "fail_max: 10")
    got = {(f["subject"], f["line"], f["kind"]) for f in _findings(result)}
    assert got == {
        ("policy:profiles/paper.yaml:breakers.broker.fail_max=10", line, "loosening"),
        ("policy:profiles/paper.yaml:breakers.broker.reset_timeout=15s", line, "loosening"),
    }


def test_steps_reordered(repo, policy):
    moved = repo.cut(END_OF_DAY, "  - id: square_off_intraday", "  - id: clear_secrets")
    repo.replace(END_OF_DAY, "  - id: close_connections", moved + "  - id: close_connections")
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 1
    [finding] = _findings(result)
    assert "steps reordered" in finding["what"]
    assert finding["line"] == repo.line_of(END_OF_DAY, "- id: square_off_intraday")
    assert finding["subject"].startswith(
        "policy:rules/shutdown/end-of-day.yaml:steps.order=stop_accepting,"
        "complete_pending,square_off_intraday,close_connections"
    )


def test_emergency_sequence_weakened(repo, policy):
    repo.replace(
        EMERGENCY, "      within: 30s\n    timeout: 60s\n", "      within: 30s\n    timeout: 60s\n    on_error: abort\n"
    )
    repo.replace(EMERGENCY, "    timeout: 2m\n\n  - id: log_final_state", "    timeout: 5m\n\n  - id: log_final_state")
    text = repo.read(EMERGENCY)
    repo.write(EMERGENCY, text[: text.index("  - id: halt")])
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 1
    subjects = {f["subject"]: f for f in _findings(result)}
    assert set(subjects) == {
        "policy:rules/shutdown/emergency.yaml:steps.cancel_orders.on_error=abort",
        "policy:rules/shutdown/emergency.yaml:steps.square_off.timeout=5m",
        "policy:rules/shutdown/emergency.yaml:steps.halt=removed",
    }
    assert all(f["kind"] == "loosening" for f in subjects.values())
    assert subjects["policy:rules/shutdown/emergency.yaml:steps.cancel_orders.on_error=abort"]["line"] == repo.line_of(
        EMERGENCY, "on_error: abort"
    )
    assert "latches halted" in subjects["policy:rules/shutdown/emergency.yaml:steps.halt=removed"]["why"]


def test_graceful_step_no_longer_escalates(repo, policy):
    repo.replace(
        GRACEFUL,
        "    on_error: escalate          # an engine that cannot be paused",
        "    on_error: continue          # an engine that cannot be paused",
    )
    [finding] = _findings(policy("diff", "--base", "HEAD", "-o", "json"))
    assert finding["kind"] == "loosening"
    assert finding["subject"] == "policy:rules/shutdown/graceful.yaml:steps.stop_accepting.on_error=continue"


def test_scanner_check_downgraded_and_its_params_loosened_in_the_profile(repo, policy):
    repo.replace(SCANNER, "    kind: market.holiday\n", "    kind: market.holiday\n    severity: advisory\n")
    repo.replace(PAPER, "min_available: ₹50,000", "min_available: ₹10,000")
    findings = {f["subject"]: f for f in _findings(policy("diff", "--base", "HEAD", "-o", "json"))}
    assert findings["policy:rules/scanner/twelve-point.yaml:checks.holiday.severity=advisory"]["kind"] == "loosening"
    param = findings["policy:profiles/paper.yaml:scan.checks.balance.params.min_available=10000"]
    assert param["kind"] == "loosening"
    assert param["line"] == repo.line_of(PAPER, "min_available: ₹10,000")  # the override, not the rule
    assert "₹10,000" in param["why"]


def test_watch_and_risk_tightened_pass(repo, policy):
    repo.replace(PAPER, 'square_off: "15:15"', 'square_off: "15:10"')
    repo.replace(PAPER, "price_band: 10%", "price_band: 5%")
    repo.replace(PAPER, "require_stop_loss: true", "require_stop_loss: true\n  allowed_exchanges: [NSE]")
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 0
    assert {f["kind"] for f in _findings(result)} == {"tightening"}
    assert len(_findings(result)) == 3


# ---- which files, new files, file mode -------------------------------------------------------


def test_nothing_changed_passes(repo, policy):
    result = policy("diff", "--base", "HEAD")
    assert result.returncode == 0
    assert "0 file(s) compared" in result.stdout


def test_a_new_profile_is_reported_and_judged_against_the_loosest_existing_one(repo, policy):
    repo.write(
        "profiles/aggressive.yaml",
        repo.read(PAPER)
        .replace("max_daily_loss: 6%", "max_daily_loss: 18%")
        .replace("name: paper", "name: aggressive"),
    )
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 1  # issue 16: 18% is looser than every profile at the base
    note, loosening = sorted(_findings(result), key=lambda f: f["kind"] != "neutral")
    assert note["kind"] == "neutral" and "new profile aggressive" in note["what"]
    assert loosening["subject"] == "policy:profiles/aggressive.yaml:risk.max_daily_loss=18%"


def test_a_renamed_profile_is_compared_with_its_old_self(repo, policy):
    repo.git("mv", PAPER, "profiles/paper-2.yaml")
    repo.replace("profiles/paper-2.yaml", "max_daily_loss: 6%", "max_daily_loss: 8%")
    repo.git("add", "-A")
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 1
    assert [f["subject"] for f in _findings(result)] == ["policy:profiles/paper-2.yaml:risk.max_daily_loss=8%"]


def test_explicit_paths_limit_the_comparison(repo, policy):
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: 8%")
    repo.cut(GRACEFUL, "  - id: clear_secrets", "  - id: log_final_state")
    result = policy("diff", GRACEFUL, "--base", "HEAD", "-o", "json")
    assert [f["file"] for f in _findings(result)] == [GRACEFUL]


def test_against_an_older_commit_and_from_a_subfolder(repo, policy):
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: 8%")
    repo.commit("loosen")
    repo.commit("unrelated")
    result = policy("diff", "--base", "HEAD~2", cwd=repo.root / "profiles")
    assert result.returncode == 1
    assert "paper.yaml:" in result.stdout and "risk.max_daily_loss=8%" in result.stdout


def test_base_file_mode_compares_two_files(repo, policy, tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text(repo.read(PAPER))
    repo.replace(PAPER, "require_stop_loss: true", "require_stop_loss: false")
    result = policy("diff", PAPER, "--base", str(old))
    assert result.returncode == 1
    line = repo.line_of(PAPER, "require_stop_loss: false")
    assert f"profiles/paper.yaml:{line}:22: LOOSENING WHAT: risk.require_stop_loss turned off" in result.stdout
    result = policy("diff", str(old), "--base", str(tmp_path / "old.yaml"))
    assert result.returncode == 0


def test_base_file_mode_needs_exactly_one_new_file(repo, policy, tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text(repo.read(PAPER))
    result = policy("diff", "--base", str(old))
    assert result.returncode == 2
    assert "name exactly one new file" in result.stderr
    _no_traceback(result)


# ---- output formats ------------------------------------------------------------------------


def test_json_output(repo, policy):
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: 8%")
    repo.replace(PAPER, "max_open_positions: 5", "max_open_positions: 3")
    document = json.loads(policy("diff", "--base", "HEAD", "-o", "json").stdout)
    assert document["status"] == "failed"
    assert document["files"] == [PAPER]
    assert document["counts"] == {"loosening": 1, "tightening": 1, "neutral": 0, "approved": 0, "unapproved": 1}
    for finding in document["findings"]:
        assert set(finding) >= {"kind", "file", "line", "column", "what", "why", "how", "subject", "approved"}
        assert SUBJECT_RE.match(finding["subject"])
    assert document["findings"][0]["approve_command"].startswith("mci policy approve policy:profiles/paper.yaml:")


def test_junit_output(repo, policy):
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: 8%")
    repo.cut(GRACEFUL, "  - id: clear_secrets", "  - id: log_final_state")
    repo.replace(SCANNER, "min_disk_free_mb: 200", "min_disk_free_mb: 500")
    result = policy("diff", "--base", "HEAD", "-o", "junit")
    assert result.returncode == 1
    root = ET.fromstring(result.stdout)
    assert root.get("failures") == "2"
    cases = root.findall(".//testcase")
    assert len(cases) == 3
    failed = sorted(c.get("name") for c in cases if c.find("failure") is not None)
    assert failed == [
        "policy:profiles/paper.yaml:risk.max_daily_loss=8%",
        "policy:rules/shutdown/graceful.yaml:steps.clear_secrets=removed",
    ]


# ---- usage errors: exit 2, no traceback ------------------------------------------------------


def test_unknown_ref_is_a_usage_error(repo, policy):
    result = policy("diff", "--base", "no-such-branch")
    assert result.returncode == 2
    assert "unknown git ref 'no-such-branch'" in result.stderr
    assert "fetch-depth" in result.stderr
    _no_traceback(result)


def test_outside_a_git_repository_is_a_usage_error(policy, tmp_path):
    result = policy("diff", "--base", "HEAD", cwd=tmp_path)
    assert result.returncode == 2
    assert "not in a git repository" in result.stderr
    _no_traceback(result)


def test_json_errors_are_json(repo, policy):
    result = policy("diff", "--base", "no-such-branch", "-o", "json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["code"] == 2


def test_invalid_yaml_in_the_new_version_is_a_validation_failure(repo, policy):
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: [6%")
    result = policy("diff", "--base", "HEAD")
    assert result.returncode == 2
    assert "profiles/paper.yaml:" in result.stderr and "cannot parse" in result.stderr
    _no_traceback(result)


def test_a_new_version_over_a_safety_ceiling_is_a_validation_failure(repo, policy):
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: 25%")
    result = policy("diff", "--base", "HEAD")
    assert result.returncode == 2
    assert f"profiles/paper.yaml:{repo.line_of(PAPER, 'max_daily_loss')}:19" in result.stderr


def test_a_live_profile_compares_without_its_secrets(repo, policy):
    repo.replace("profiles/zerodha-live.yaml", "max_orders_per_second: 5", "max_orders_per_second: 9")
    result = policy("diff", "--base", "HEAD", "-o", "json")  # KITE_API_SECRET and MCI_TOKEN_KEY are unset
    assert result.returncode == 1, result.stdout + result.stderr
    assert [f["subject"] for f in _findings(result)] == [
        "policy:profiles/zerodha-live.yaml:risk.max_orders_per_second=9"
    ]


def test_unknown_output_is_a_usage_error(repo, policy):
    result = policy("diff", "--base", "HEAD", "-o", "xml")
    assert result.returncode == 2
    _no_traceback(result)


def test_a_deleted_rule_is_compared_with_the_shipped_rule_profiles_fall_back_to(repo, policy):
    repo.replace(
        GRACEFUL,
        "    on_error: continue          # a missing report",
        "    on_error: escalate          # a missing report",
    )
    repo.commit("stricter than shipped")
    repo.path(GRACEFUL).unlink()
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 1
    got = [(f["kind"], f["subject"]) for f in _findings(result)]
    assert ("neutral", "policy:rules/shutdown/graceful.yaml:file=deleted") in got
    assert ("loosening", "policy:rules/shutdown/graceful.yaml:steps.log_final_state.on_error=continue") in got


def test_a_branch_is_judged_against_where_it_left_the_base(repo, policy):
    repo.git("checkout", "-q", "-b", "feature")
    repo.replace(PAPER, "max_open_positions: 5", "max_open_positions: 6")
    repo.commit("feature loosens one limit")
    repo.git("checkout", "-q", "main")
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: 4%")
    repo.commit("main tightens another")
    repo.git("checkout", "-q", "feature")
    result = policy("diff", "--base", "main", "-o", "json")
    assert [f["subject"] for f in _findings(result)] == ["policy:profiles/paper.yaml:risk.max_open_positions=6"]


@pytest.mark.parametrize("where", ["a submodule's own repository", "this repository"])
def test_a_submodule_named_like_a_rule_file_is_not_read_as_one(repo, policy, where):
    """A gitlink under rules/ has no content at the base: it crashed the diff (exit 70) instead of being skipped.

    Its commit elsewhere (a real submodule) is `missing` to cat-file; one in this repository comes with a body
    that must not be read as the next file's header."""
    commit = (
        "1234567890abcdef1234567890abcdef12345678" if where.startswith("a") else repo.git("rev-parse", "HEAD").strip()
    )
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{commit},rules/gates/vendored.yaml")
    repo.git("commit", "-q", "-m", "a submodule")
    repo.path("rules/gates/vendored.yaml").mkdir()  # its checkout
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: 8%")
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert [f["subject"] for f in _findings(result)] == ["policy:profiles/paper.yaml:risk.max_daily_loss=8%"]


def test_the_first_commit_has_everything_new(policy, tmp_path, repo):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "profiles").mkdir()
    (fresh / "profiles" / "paper.yaml").write_text(repo.read(PAPER))
    subprocess.run(["git", "init", "-q"], cwd=fresh, check=True)
    subprocess.run(["git", "add", "-A"], cwd=fresh, check=True)
    result = policy("diff", "--base", "HEAD", "-o", "json", cwd=fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [f["kind"] for f in _findings(result)] == ["neutral"]
