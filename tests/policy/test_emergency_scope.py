"""An emergency sequence that declares a scope (issue 16) closes less of the account: `mci policy diff` says so."""

from __future__ import annotations

import json

EMERGENCY = "rules/shutdown/emergency.yaml"


def test_declaring_an_emergency_scope_is_a_loosening_and_removing_it_a_tightening(repo, policy):
    repo.replace(EMERGENCY, "name: emergency\n", "name: emergency\nscope: {products: [MIS]}\n")
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    [finding] = json.loads(result.stdout)["findings"]
    assert finding["kind"] == "loosening"
    assert finding["subject"] == "policy:rules/shutdown/emergency.yaml:steps.scope=product_MIS"
    assert finding["line"] == repo.line_of(EMERGENCY, "scope: {products: [MIS]}")
    assert "leaves the rest open" in finding["why"]

    repo.commit("scope the emergency")
    repo.replace(EMERGENCY, "scope: {products: [MIS]}\n", "")
    result = policy("diff", "--base", "HEAD", "-o", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [f["kind"] for f in json.loads(result.stdout)["findings"]] == ["tightening"]
