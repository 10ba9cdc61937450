"""broker.market_protection (Kite refuses none and 0 since 2026-04-01), broker.static_ips, and scan.add."""

from __future__ import annotations

from decimal import Decimal

import pytest
from testing.config import PROFILE

from mci.config import load_profile
from mci.validation import validate_paths


def errors_of(path):
    return validate_paths([path], env={}).errors


def test_market_protection_defaults_to_automatic(repo):
    assert load_profile(repo.profile()).broker.market_protection == Decimal(-1)


@pytest.mark.parametrize("value, expected", [("-1", Decimal(-1)), ("2.5", Decimal("2.5")), ("100", Decimal(100))])
def test_market_protection_accepts_what_kite_accepts(repo, value, expected):
    path = repo.profile(PROFILE.replace("  capital: 1000000\n", f"  capital: 1000000\n  market_protection: {value}\n"))
    assert errors_of(path) == []
    assert load_profile(path).broker.market_protection == expected


@pytest.mark.parametrize("value", ["0", "-2", "100.5", "auto"])
def test_zero_and_other_values_kite_refuses_fail_validate_clearly(repo, value):
    path = repo.profile(PROFILE.replace("  capital: 1000000\n", f"  capital: 1000000\n  market_protection: {value}\n"))
    (error,) = errors_of(path)
    assert str(error.location) == "profiles/p.yaml:6:22"
    assert f"broker.market_protection is {value if value != 'auto' else repr(value)}" in error.what.replace('"', "'")
    assert "0 too" in error.why and error.how == "write it like -1 or 2"


def test_scan_add_appends_a_check_and_a_repeated_id_is_refused(repo):
    added = PROFILE + "  add:\n    - id: extra_hours\n      kind: market.hours\n"
    profile = load_profile(repo.profile(added))
    assert [c.id for c in profile.scan.checklist.checks][-1] == "extra_hours"
    repeated = PROFILE + "  add:\n    - id: balance\n      kind: market.hours\n"
    errors = errors_of(repo.profile(repeated))
    assert errors and any("balance" in e.what for e in errors), [e.render() for e in errors]
