"""`.pre-commit-hooks.yaml` as pre-commit runs it: the entry's argv plus the staged files its pattern matches."""

from __future__ import annotations

import re
import shlex

import yaml

from testing import ROOT

HOOKS = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}


def run_hook(run_mci, repo, hook_id: str):
    """Like pre-commit: the staged files the hook's `files` pattern matches, appended to its entry."""
    hook = HOOKS[hook_id]
    staged = repo.git("diff", "--cached", "--name-only").split()
    files = [f for f in staged if re.search(hook["files"], f)]
    argv = shlex.split(hook["entry"])
    assert argv[0] == "mci" and hook["language"] == "python"
    return run_mci(*argv[1:], *(files if hook.get("pass_filenames", True) else []), cwd=repo.root)


def test_the_hooks_are_the_two_the_readme_names():
    assert set(HOOKS) == {"mci-validate", "mci-policy-diff"}
    pattern = re.compile(HOOKS["mci-validate"]["files"])
    assert pattern.search("profiles/paper.yaml") and pattern.search("rules/shutdown/graceful.yaml")
    assert not pattern.search("README.md") and not pattern.search("cli/mci/app.py")


def test_a_staged_loosening_fails_both_ways_a_staged_tightening_passes(run_mci, repo):
    repo.replace("profiles/paper.yaml", "max_daily_loss: 6%", "max_daily_loss: 8%")
    repo.git("add", "-A")
    assert run_hook(run_mci, repo, "mci-validate").returncode == 0
    loosened = run_hook(run_mci, repo, "mci-policy-diff")
    assert loosened.returncode == 1, loosened.stdout + loosened.stderr
    assert "profiles/paper.yaml:" in loosened.stdout and "max_daily_loss raised from 6% to 8%" in loosened.stdout

    repo.replace("profiles/paper.yaml", "max_daily_loss: 8%", "max_daily_loss: 5%")
    repo.git("add", "-A")
    tightened = run_hook(run_mci, repo, "mci-policy-diff")
    assert tightened.returncode == 0, tightened.stdout + tightened.stderr


def test_an_invalid_staged_profile_fails_validate(run_mci, repo):
    repo.replace("profiles/paper.yaml", "max_daily_loss: 6%", "max_daily_loss: 60%")
    repo.git("add", "-A")
    invalid = run_hook(run_mci, repo, "mci-validate")
    assert invalid.returncode == 2 and "profiles/paper.yaml:" in invalid.stdout + invalid.stderr
    assert "Traceback" not in invalid.stderr
