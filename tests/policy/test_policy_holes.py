"""The config gates' holes of issue 16, each a failing `mci policy diff` or `mci validate` (real git repositories,
the real CLI in a subprocess)."""

from __future__ import annotations

import json

PAPER = "profiles/paper.yaml"
EMERGENCY = "rules/shutdown/emergency.yaml"


def _findings(result) -> list[dict]:
    return json.loads(result.stdout)["findings"]


def test_a_copied_profile_with_a_looser_daily_loss_is_a_loosening(repo, policy):
    repo.write(
        "profiles/loose.yaml",
        repo.read(PAPER).replace("max_daily_loss: 6%", "max_daily_loss: 20%").replace("name: paper", "name: loose"),
    )
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    found = {f["subject"]: f for f in _findings(result)}
    finding = found["policy:profiles/loose.yaml:risk.max_daily_loss=20%"]
    assert finding["kind"] == "loosening" and not finding["approved"]
    assert finding["line"] == repo.line_of("profiles/loose.yaml", "max_daily_loss: 20%")
    assert "looser than every profile at the base" in finding["what"] and "6%" in finding["what"]
    assert [f["kind"] for f in _findings(result)].count("loosening") == 1  # the copied limits are not news


def test_a_new_profile_as_tight_as_an_existing_one_passes(repo, policy):
    repo.write(
        "profiles/copy.yaml",
        repo.read(PAPER).replace("name: paper", "name: copy").replace("max_daily_loss: 6%", "max_daily_loss: 4%"),
    )
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    [note] = _findings(result)
    assert note["kind"] == "neutral" and "judged against the loosest" in note["why"]


def test_a_new_profile_dropping_a_limit_every_existing_one_has_is_a_loosening(repo, policy):
    text = repo.read(PAPER).replace("name: paper", "name: nostop")
    assert "require_stop_loss: true" in text
    repo.write("profiles/nostop.yaml", text.replace("require_stop_loss: true", "require_stop_loss: false"))
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 1
    assert "policy:profiles/nostop.yaml:risk.require_stop_loss=false" in {f["subject"] for f in _findings(result)}


def test_a_longer_emergency_within_is_a_loosening(repo, policy):
    repo.replace(EMERGENCY, "      within: 90s ", "      within: 10m ")
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    [finding] = [f for f in _findings(result) if "within" in f["subject"]]
    assert finding["kind"] == "loosening"
    assert finding["subject"] == "policy:rules/shutdown/emergency.yaml:steps.square_off.params.within=10m"
    assert "positions stay open longer" in finding["why"]


def test_a_shorter_emergency_within_is_a_tightening(repo, policy):
    repo.replace(EMERGENCY, "      within: 90s ", "      within: 45s ")
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [f["kind"] for f in _findings(result)] == ["tightening"]


def test_removing_an_emergency_within_compares_with_the_default(repo, policy):
    repo.replace(EMERGENCY, "    params:\n      within: 30s\n", "")  # cancel_orders: the default is 30s
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 0 and _findings(result) == [], result.stdout
    repo.replace(EMERGENCY, "      within: 90s ", "      within: 60s ")  # square_off back to its default 60s
    repo.commit("shorter")
    text = repo.read(EMERGENCY)
    repo.write(
        EMERGENCY,
        text.replace(
            "    params:\n      within: 60s               # re-read and repeat until flat or this passes\n", ""
        ),
    )
    assert repo.read(EMERGENCY) != text
    assert policy("diff", "--base", "HEAD").returncode == 0  # 60s explicit == 60s default


def test_policy_approve_refuses_a_subject_that_matches_nothing(repo, policy):
    repo.replace(PAPER, "max_daily_loss: 6%", "max_daily_loss: 8%")
    typo = policy("approve", "policy:profiles/paper.yaml:risk.max_daily_loss=10%", "--by", "A", "--note", "B")
    assert typo.returncode == 2, typo.stdout + typo.stderr
    assert "matches no loosening" in typo.stderr and "risk.max_daily_loss=8%" in typo.stderr
    missing = policy("approve", "policy:profiles/nope.yaml:risk.max_daily_loss=8%", "--by", "A", "--note", "B")
    assert missing.returncode == 2 and "no file profiles/nope.yaml" in missing.stderr
    assert not repo.path(".mci/approvals.jsonl").exists()
    ok = policy("approve", "policy:profiles/paper.yaml:risk.max_daily_loss=8%", "--by", "A", "--note", "B")
    assert ok.returncode == 0, ok.stderr
    # Committed, the loosening is in HEAD: against the branch point it is still one, with --base.
    repo.commit("loosen, approved")
    later = policy("approve", "policy:profiles/paper.yaml:risk.max_daily_loss=8%", "--by", "A", "--note", "B")
    assert later.returncode == 2 and "since HEAD" in later.stderr
    again = policy(
        "approve", "policy:profiles/paper.yaml:risk.max_daily_loss=8%", "--by", "A", "--note", "B", "--base", "HEAD~1"
    )
    assert again.returncode == 0, again.stderr


def test_validate_refuses_risk_limits_that_cannot_hold_together(run_mci, tmp_path):
    base = tmp_path / "ok.yaml"
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / PAPER).read_text(encoding="utf-8")
    cases = {
        "zero.yaml": text.replace("max_risk_per_trade: 2%", "max_risk_per_trade: 0%"),
        "over.yaml": text.replace("max_risk_per_trade: 2%", "max_risk_per_trade: 5%")
        .replace("max_daily_loss: 6%", "max_daily_loss: 4%")
        .replace("max_position_loss: 5%", "max_position_loss: 4%"),
        "reduce.yaml": text.replace("  token_warning: 30m", "  token_warning: 30m\n  reduce_at: 100%"),
    }
    base.write_text(text, encoding="utf-8")
    assert run_mci("validate", str(base)).returncode == 0
    line = next(n for n, s in enumerate(cases["over.yaml"].splitlines(), 1) if "max_risk_per_trade: 5%" in s)
    said = {
        "zero.yaml": ["risk.max_risk_per_trade is 0%"],
        "over.yaml": [f"over.yaml:{line}:", "exceeds max_daily_loss"],
        "reduce.yaml": ["watch.reduce_at"],
    }
    for name, body in cases.items():
        assert body != text, name
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        for _ in range(2):  # the second run reads the profile cache: still refused, in the same words
            result = run_mci("validate", str(path))
            assert result.returncode == 2, (name, result.stdout, result.stderr)
            assert "Traceback" not in result.stderr
            for words in said[name]:
                assert words in result.stdout + result.stderr, (name, words, result.stdout, result.stderr)
