"""Every way a profile can be wrong: one positioned ConfigError, never another exception."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from testing.config import PROFILE

from mci.config import load_profile
from mci.validation import validate_paths
from mci.errors import ConfigError, ConfigErrors


def errors_of(*paths: Path, env: dict[str, str] | None = None) -> list[ConfigError]:
    report = validate_paths(list(paths), env=env or {})
    assert all(isinstance(e, ConfigError) and e.location is not None for e in report.errors)
    return report.errors


def only(errors: list[ConfigError]) -> ConfigError:
    assert len(errors) == 1, [e.render() for e in errors]
    return errors[0]


def test_the_test_profile_is_valid(repo):
    assert errors_of(repo.profile()) == []


def test_wrong_type_points_at_the_value(repo):
    path = repo.profile(PROFILE.replace("max_open_positions: 5", "max_open_positions: five"))
    error = only(errors_of(path))
    assert str(error.location) == "profiles/p.yaml:11:23"
    assert "risk.max_open_positions must be a whole number, not text" in error.what


def test_unknown_key_points_at_the_key_and_suggests(repo):
    path = repo.profile(PROFILE.replace("  price_band: 10%\n", "  price_band: 10%\n  max_risk_per_trad: 1%\n"))
    error = only(errors_of(path))
    assert str(error.location) == "profiles/p.yaml:14:3"
    assert "unknown key 'max_risk_per_trad' in risk" in error.what
    assert "max_risk_per_trade" in error.how


def test_duplicate_key_points_at_the_second_and_names_the_first(repo):
    path = repo.profile(PROFILE.replace("  price_band: 10%\n", "  price_band: 10%\n  max_daily_loss: 25%\n"))
    error = only(errors_of(path))
    assert str(error.location) == "profiles/p.yaml:14:3"
    assert "duplicate key 'max_daily_loss' (first at line 8, column 3)" in error.what


def test_value_over_a_safety_ceiling_points_at_the_value(repo):
    path = repo.profile(PROFILE.replace("max_risk_per_trade: 2%", "max_risk_per_trade: 50%"))
    error = only(errors_of(path))
    assert str(error.location) == "profiles/p.yaml:7:23"
    assert "'50%' is over the safety ceiling of 5%" in error.what


def test_ceiling_also_holds_for_a_fraction(repo):
    path = repo.profile(PROFILE.replace("max_daily_loss: 6%", "max_daily_loss: 0.25"))
    assert "over the safety ceiling of 20%" in only(errors_of(path)).what


@pytest.mark.parametrize(
    ("line", "replacement", "column"),
    [
        ("  max_open_positions: 5", "  max_open_positions: 101", 23),
        ("  min_risk_reward: 2.0", "  min_risk_reward: 0.5", 20),
        ("  price_band: 10%", "  price_band: 21%", 15),
        ("  max_drawdown: 15%", "  max_drawdown: 31%", 17),
        ("  max_position_loss: 5%", "  max_position_loss: 11%", 22),
    ],
)
def test_other_ceilings(repo, line, replacement, column):
    path = repo.profile(PROFILE.replace(line, replacement))
    assert only(errors_of(path)).location.column == column


def test_breaker_fail_max_ceiling(repo):
    path = repo.profile(PROFILE.replace("fail_max: 5", "fail_max: 500"))
    error = only(errors_of(path))
    assert str(error.location) == "profiles/p.yaml:15:22"


def kite(api_secret: str = "${env:KITE_API_SECRET}") -> str:
    return PROFILE.replace(
        "  kind: paper\n  capital: 1000000\n",
        f"  kind: kite\n  api_key: ${{env:KITE_API_KEY}}\n  api_secret: {api_secret}\n  root: http://${{env:SIM_HOST:-127.0.0.1}}:8765\n",
    )


def test_missing_env_variable_is_named_with_its_position(repo):
    path = repo.profile(kite())
    error = only(errors_of(path, env={"KITE_API_KEY": "k"}))
    assert str(error.location) == "profiles/p.yaml:6:15"
    assert "environment variable KITE_API_SECRET is not set" in error.what


def test_empty_env_variable_is_an_error_not_an_empty_value(repo):
    path = repo.profile(kite())
    error = only(errors_of(path, env={"KITE_API_KEY": "k", "KITE_API_SECRET": ""}))
    assert "KITE_API_SECRET is set but empty" in error.what


def test_env_interpolation_embedded_and_default(repo):
    path = repo.profile(kite())
    profile = load_profile(path, env={"KITE_API_KEY": "k", "KITE_API_SECRET": "s3cr3t"})
    assert profile.broker.root == "http://127.0.0.1:8765"
    assert profile.broker.api_secret == "s3cr3t"
    profile = load_profile(path, env={"KITE_API_KEY": "k", "KITE_API_SECRET": "s", "SIM_HOST": "sim"})
    assert profile.broker.root == "http://sim:8765"


def test_placeholder_env_keeps_a_declared_default(repo):
    # `mci validate --placeholder-env` in CI: a default satisfies the field, a placeholder for it would not.
    from mci.config.placeholder_env import PlaceholderEnv

    path = repo.profile(kite())
    profile = load_profile(path, env=PlaceholderEnv({}))
    assert profile.broker.root == "http://127.0.0.1:8765"
    assert profile.broker.api_secret == "placeholder-for-KITE_API_SECRET"


def test_literal_secret_is_refused_without_repeating_it(repo):
    path = repo.profile(kite(api_secret="hunter2-very-secret"))
    errors = errors_of(path, env={"KITE_API_KEY": "k"})
    error = only(errors)
    assert str(error.location) == "profiles/p.yaml:6:15"
    assert "secrets are never literal" in error.why
    assert "${env:KITE_API_SECRET}" in error.how
    with pytest.raises(ConfigErrors) as caught:
        load_profile(path, env={"KITE_API_KEY": "k"})
    for text in (caught.value.render(), json.dumps(caught.value.as_dict()), str(caught.value), repr(caught.value)):
        assert "hunter2" not in text


def test_secret_with_a_default_is_refused(repo):
    path = repo.profile(kite(api_secret="${env:KITE_API_SECRET:-fallback-secret}"))
    error = only(errors_of(path, env={"KITE_API_KEY": "k"}))
    assert "literal" in error.what and "fallback-secret" not in error.render()


def test_secret_anywhere_is_refused(repo):
    path = repo.profile(PROFILE + "notify:\n  password: swordfish\n")
    errors = errors_of(path)
    assert any("password is written as a literal value" in e.what for e in errors)
    assert all("swordfish" not in e.render() for e in errors)


def test_dangling_use_lists_what_exists(repo):
    path = repo.profile(PROFILE.replace("use: scanner/mini", "use: scanner/twelve-pint"))
    error = only(errors_of(path))
    assert str(error.location) == "profiles/p.yaml:17:8"
    assert "scanner/twelve-point" in error.why and "scanner/mini" in error.why


def test_override_of_an_unknown_check_points_at_the_override_key(repo):
    path = repo.profile(PROFILE + "  override:\n    balanse: {min_available: 1}\n")
    error = only(errors_of(path))
    assert str(error.location) == "profiles/p.yaml:20:5"
    assert "'balanse'" in error.what and "balance" in error.why


def test_override_value_is_validated_where_it_was_written(repo):
    path = repo.profile(PROFILE + "  override:\n    balance:\n      min_available: lots\n")
    error = only(errors_of(path))
    assert str(error.location) == "profiles/p.yaml:21:22"


def test_override_unknown_param_points_into_the_profile(repo):
    path = repo.profile(PROFILE + "  override:\n    balance: {min_availble: 1}\n")
    error = only(errors_of(path))
    assert str(error.location) == "profiles/p.yaml:20:15"
    assert "min_available" in error.how


def test_money_with_commas_in_a_flow_mapping_gets_a_hint(repo):
    path = repo.profile(PROFILE + "  override:\n    balance: {min_available: ₹50,000}\n")
    error = only(errors_of(path))
    assert "comma separates entries" in error.how


def test_needs_cycle_points_into_the_rule(repo):
    repo.rule(
        "scanner/mini",
        "version: 1\nkind: checklist\nname: mini\nchecks:\n"
        "  - {id: a, kind: token.validity, needs: [b]}\n"
        "  - {id: b, kind: token.expiry, needs: [a]}\n",
    )
    errors = errors_of(repo.profile())
    error = only(errors)
    assert str(error.location) == "rules/scanner/mini.yaml:6:41"
    assert "needs cycle: a -> b -> a" in error.what


def test_needs_unknown_and_duplicate_ids(repo):
    path = repo.rule(
        "scanner/bad",
        "version: 1\nkind: checklist\nname: bad\nchecks:\n"
        "  - {id: a, kind: token.validity, needs: [zz]}\n"
        "  - {id: a, kind: token.expiry}\n",
    )
    errors = errors_of(path)
    assert sorted(str(e.location) for e in errors) == ["rules/scanner/bad.yaml:5:43", "rules/scanner/bad.yaml:6:10"]


def test_undeclared_breaker(repo):
    path = repo.profile(PROFILE.replace("  broker: {fail_max", "  brokr: {fail_max"))
    error = only(errors_of(path))
    assert str(error.location) == "rules/scanner/mini.yaml:11:14"
    assert "breaker 'broker' is not declared in the profile" in error.what


def test_params_of_the_wrong_kind(repo):
    path = repo.rule(
        "scanner/bad",
        "version: 1\nkind: checklist\nname: bad\nchecks:\n"
        "  - id: a\n    kind: token.validity\n    params: {warn_within: 5m}\n",
    )
    error = only(errors_of(path))
    assert str(error.location) == "rules/scanner/bad.yaml:7:14"


def test_malformed_yaml_reports_the_parser_position(repo):
    path = repo.profile("version: 1\nrisk:\n  max_daily_loss: [6%\nname: x\n")
    error = only(errors_of(path))
    assert error.location.file == "profiles/p.yaml"
    assert (error.location.line, error.location.column) == (4, 5)
    assert "cannot parse" in error.what


def test_tab_indentation(repo):
    error = only(errors_of(repo.profile("version: 1\nrisk:\n\tmax_daily_loss: 6%\n")))
    assert error.location.line == 3


def test_alias_bomb_fails_fast(repo):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = repo.profile("\n".join(lines) + "\n")
    started = time.monotonic()
    error = only(errors_of(path))
    assert time.monotonic() - started < 5
    assert "alias bomb" in error.what


def test_recursive_alias(repo):
    error = only(errors_of(repo.profile("a: &x [*x]\n")))
    assert "nested more than" in error.what


def test_deep_nesting_does_not_crash(repo):
    n = 100_000
    error = only(errors_of(repo.profile("a: " + "[" * n + "]" * n + "\n")))
    assert "nested" in error.what


def test_ten_megabyte_file(repo):
    path = repo.root / "profiles" / "huge.yaml"
    path.write_bytes(b"a: 1\n" * 2_000_000)
    started = time.monotonic()
    error = only(errors_of(path))
    assert time.monotonic() - started < 2
    assert "a profile is never this large" in error.why


def test_binary_file(repo):
    path = repo.root / "profiles" / "bin.yaml"
    path.write_bytes(b"version: 1\n\x00\x01\x02\xff")
    error = only(errors_of(path))
    assert "binary" in error.what and str(error.location) == "profiles/bin.yaml:2:1"


def test_invalid_utf8(repo):
    path = repo.root / "profiles" / "latin1.yaml"
    path.write_bytes("version: 1\nname: caf\u00e9\n".encode("latin-1"))
    error = only(errors_of(path))
    assert "not UTF-8" in error.what and str(error.location) == "profiles/latin1.yaml:2:10"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n# another\n", "---\n"])
def test_empty_file(repo, text):
    error = only(errors_of(repo.profile(text)))
    assert "is empty" in error.what or "not a mapping" in error.what


def test_two_documents(repo):
    error = only(errors_of(repo.profile(PROFILE + "---\nversion: 1\n")))
    assert "more than one YAML document" in error.what and error.location.line == 19


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_top_level_not_a_mapping(repo, text):
    assert "not a mapping" in only(errors_of(repo.profile(text))).what


@pytest.mark.parametrize(
    "value", ["!!python/object/apply:os.system [echo hi]", "!custom x", "!!binary aGVsbG8=", "!!set {a, b}"]
)
def test_non_core_tags_are_refused(repo, value):
    path = repo.profile(PROFILE.replace("name: t", f"name: {value}"))
    error = only(errors_of(path))
    assert str(error.location) == "profiles/p.yaml:2:7" and "tag" in error.what


def test_merge_keys_are_refused(repo):
    path = repo.profile(PROFILE.replace("  max_open_positions: 5\n", "  <<: {max_open_positions: 5}\n"))
    errors = errors_of(path)
    assert any("merge keys" in e.what and str(e.location) == "profiles/p.yaml:11:3" for e in errors)


def test_leading_zero_number(repo):
    error = only(errors_of(repo.profile(PROFILE.replace("max_open_positions: 5", "max_open_positions: 010"))))
    assert "leading zero" in error.what


def test_unknown_kind(repo):
    error = only(errors_of(repo.profile("version: 1\nkind: playbook\n")))
    assert str(error.location) == "profiles/p.yaml:2:7"


def test_folder_without_yaml(repo):
    empty = repo.root / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("hi")
    assert "holds no YAML files" in only(errors_of(empty)).what


def test_missing_path(repo):
    assert "does not exist" in only(errors_of(repo.root / "nope.yaml")).what


def test_load_profile_reports_all_errors(repo):
    text = PROFILE.replace("max_risk_per_trade: 2%", "max_risk_per_trade: 9%").replace(
        "max_open_positions: 5", "max_open_positions: x"
    )
    with pytest.raises(ConfigErrors) as caught:
        load_profile(repo.profile(text), env={})
    assert [e.location.line for e in caught.value.errors] == [7, 11]


def test_load_profile_of_a_checklist(repo):
    with pytest.raises(ConfigErrors, match="not a profile"):
        load_profile(repo.root / "rules" / "scanner" / "mini.yaml", env={})


def test_missing_required_keys(repo):
    errors = errors_of(repo.profile("version: 1\nname: t\n"))
    assert {e.what for e in errors} == {
        "the document is missing 'broker'",
        "the document is missing 'risk'",
        "the document is missing 'scan'",
    }


def test_engine_needs_exactly_one_way_to_start(repo):
    path = repo.profile(PROFILE + "engine:\n  start: {command: [x], systemd: y.service}\n")
    error = only(errors_of(path))
    assert str(error.location) == "profiles/p.yaml:20:10" and "exactly one of" in error.what
