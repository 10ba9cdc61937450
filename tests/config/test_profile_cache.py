"""The resolved-profile cache: a hit equals a fresh load, every input invalidates it, no secret reaches the disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from testing.config import MINI, PROFILE, REPO

import mci
import mci.config
from mci import cache
from mci.config import load_profile, profile_cache
from mci.validation import validate_paths
from mci.config.profile_cache import Slot, holds_secret
from mci.errors import ConfigErrors

PROFILE_ENV = (
    PROFILE
    + """\
engine:
  health: {http: "http://127.0.0.1:${env:MCI_TEST_PORT:-8787}/health", within: 30s}
"""
)

SECRET = "s3cr3t-value-never-on-disk"
LIVE = PROFILE.replace(
    "  kind: paper\n  capital: 1000000\n",
    """\
  kind: kite
  api_key: ${env:MCI_TEST_API_KEY}
  api_secret: ${env:MCI_TEST_API_SECRET}
""",
)


@pytest.fixture
def builds(monkeypatch):
    """How many times load_profile really loaded (parsed, resolved, built) a profile."""
    calls = []
    real = mci.config._load_profile

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(mci.config, "_load_profile", counting)
    return calls


def entries(cache_dir: Path) -> list[Path]:
    folder = cache_dir / "profile"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def fresh(path: Path, env: dict[str, str]):
    return load_profile(path, env=env)  # no cache_dir: straight from the YAML


def test_a_hit_is_the_profile_a_fresh_load_gives(repo, tmp_path, builds):
    cache_dir = tmp_path / "cache"
    profile = repo.profile(PROFILE_ENV)
    first = load_profile(profile, env={}, cache_dir=cache_dir)
    second = load_profile(profile, env={}, cache_dir=cache_dir)
    assert len(builds) == 1 and len(entries(cache_dir)) == 1
    assert second == first == fresh(profile, {})
    assert second.raw == first.raw and list(second.raw) == list(first.raw)  # same keys, same order
    assert second.scan.checklist.checks[1].location == first.scan.checklist.checks[1].location
    assert type(second.scan.checklist.checks) is tuple and second.scan.checklist.checks[0].needs == ()


def test_the_shipped_profiles_round_trip(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    for name in ("paper.yaml",):
        path = REPO / "profiles" / name
        cache_dir = tmp_path / name
        first = load_profile(path, env={}, cache_dir=cache_dir)
        assert load_profile(path, env={}, cache_dir=cache_dir) == first == fresh(path, {})
        assert entries(cache_dir)


def test_a_warm_load_reads_no_yaml(repo, tmp_path):
    cache_dir = tmp_path / "cache"
    profile = repo.profile()
    load_profile(profile, env={}, cache_dir=cache_dir)
    code = (
        "import sys; from pathlib import Path; from mci.config import load_profile; "
        "p = load_profile(Path(sys.argv[1]), env={}, cache_dir=Path(sys.argv[2])); "
        "print(p.name, 'yaml' in sys.modules, 'mci.config.loader' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(profile), str(cache_dir)],
        capture_output=True,
        text=True,
        cwd=repo.root,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["t", "False", "False"]


# ---------------------------------------------------------------- invalidation, one input at a time


def test_a_changed_profile_misses(repo, tmp_path, builds):
    cache_dir = tmp_path / "cache"
    profile = repo.profile()
    load_profile(profile, env={}, cache_dir=cache_dir)
    repo.profile(PROFILE.replace("max_daily_loss: 6%", "max_daily_loss: 7%"))
    changed = load_profile(profile, env={}, cache_dir=cache_dir)
    assert len(builds) == 2 and str(changed.risk.max_daily_loss) == "0.07"
    repo.profile(PROFILE)  # back to the first text: its entry is still good
    assert str(load_profile(profile, env={}, cache_dir=cache_dir).risk.max_daily_loss) == "0.06"
    assert len(builds) == 2


def test_a_changed_rule_file_misses(repo, tmp_path, builds):
    cache_dir = tmp_path / "cache"
    profile = repo.profile()
    load_profile(profile, env={}, cache_dir=cache_dir)
    repo.rule("scanner/mini", MINI.replace("min_available: 50000", "min_available: 60000"))
    loaded = load_profile(profile, env={}, cache_dir=cache_dir)
    assert len(builds) == 2
    assert str(loaded.scan.checklist.by_id()["balance"].params["min_available"]) == "60000"


def test_a_rule_that_now_shadows_another_misses(repo, tmp_path, builds):
    """The profile's folder gains a rules/ of its own: `use:` now finds a different file."""
    cache_dir = tmp_path / "cache"
    nested = repo.root / "team" / "profiles"
    nested.mkdir(parents=True)
    profile = nested / "p.yaml"
    profile.write_text(PROFILE.replace("scanner/mini", "scanner/twelve-point"), encoding="utf-8")
    shipped = load_profile(profile, env={}, cache_dir=cache_dir)
    assert len(shipped.scan.checklist.checks) == 12
    own = repo.root / "team" / "rules" / "scanner" / "twelve-point.yaml"
    own.parent.mkdir(parents=True)
    own.write_text(MINI.replace("name: mini", "name: twelve-point"), encoding="utf-8")
    shadowed = load_profile(profile, env={}, cache_dir=cache_dir)
    assert len(builds) == 2 and len(shadowed.scan.checklist.checks) == 3
    assert shadowed == fresh(profile, {})


def test_an_interpolated_variable_changed_set_or_unset_misses(repo, tmp_path, builds):
    cache_dir = tmp_path / "cache"
    profile = repo.profile(PROFILE_ENV)

    def url(env):
        return load_profile(profile, env=env, cache_dir=cache_dir).engine["health"]["http"]

    assert url({}) == "http://127.0.0.1:8787/health"
    assert url({"MCI_TEST_PORT": "9000"}) == "http://127.0.0.1:9000/health"
    assert url({"MCI_TEST_PORT": "9001"}) == "http://127.0.0.1:9001/health"
    assert url({}) == "http://127.0.0.1:8787/health"
    assert len(builds) == 4
    assert url({"MCI_TEST_PORT": "9001", "UNRELATED": "x"}) == "http://127.0.0.1:9001/health"
    assert len(builds) == 5  # the entry holds the last load (9001 was overwritten by the unset load)
    assert url({"MCI_TEST_PORT": "9001", "UNRELATED": "y"}) == "http://127.0.0.1:9001/health"
    assert len(builds) == 5  # a variable the profile does not read changes nothing


def test_a_variable_a_rule_reads_is_checked_too(repo, tmp_path, builds):
    cache_dir = tmp_path / "cache"
    repo.rule("scanner/mini", MINI.replace("min_available: 50000", 'min_available: "${env:MCI_TEST_MIN:-50000}"'))
    profile = repo.profile()

    def minimum(env):
        return str(
            load_profile(profile, env=env, cache_dir=cache_dir)
            .scan.checklist.by_id()["balance"]
            .params["min_available"]
        )

    assert minimum({}) == "50000"
    assert minimum({"MCI_TEST_MIN": "70000"}) == "70000"
    assert minimum({"MCI_TEST_MIN": "70000"}) == "70000"
    assert len(builds) == 2


def test_a_variable_becoming_unset_is_an_error_not_a_stale_hit(repo, tmp_path):
    cache_dir = tmp_path / "cache"
    profile = repo.profile(PROFILE + "description: ${env:MCI_TEST_DESC}\n")
    assert load_profile(profile, env={"MCI_TEST_DESC": "desk"}, cache_dir=cache_dir).raw["description"] == "desk"
    with pytest.raises(ConfigErrors) as failed:
        load_profile(profile, env={}, cache_dir=cache_dir)
    assert "MCI_TEST_DESC is not set" in failed.value.errors[0].what


def test_the_mci_version_the_schemas_and_the_directory_are_part_of_the_key(repo, tmp_path, builds, monkeypatch):
    cache_dir = tmp_path / "cache"
    profile = repo.profile()
    load_profile(profile, env={}, cache_dir=cache_dir)

    original = mci.__version__
    monkeypatch.setattr(mci, "__version__", "99.0.0")
    load_profile(profile, env={}, cache_dir=cache_dir)
    assert len(builds) == 2
    monkeypatch.setattr(mci, "__version__", original)

    schemas = tmp_path / "schemas"
    schemas.mkdir()
    for source in (REPO / "schemas").glob("*.json"):
        (schemas / source.name).write_bytes(source.read_bytes())
    monkeypatch.setattr("mci.resources.schemas_dir", lambda: schemas)
    profile_cache._code.cache_clear()
    try:
        load_profile(profile, env={}, cache_dir=cache_dir)  # same bytes, same code: a hit
        assert len(builds) == 2
        target = schemas / "checklist.schema.json"
        target.write_text(target.read_text(encoding="utf-8") + "\n", encoding="utf-8")
        profile_cache._code.cache_clear()
        load_profile(profile, env={}, cache_dir=cache_dir)
        assert len(builds) == 3
    finally:
        profile_cache._code.cache_clear()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # positions are shown relative to the current folder
    moved = load_profile(profile, env={}, cache_dir=cache_dir)
    assert len(builds) == 4 and moved == fresh(profile, {})


def test_an_invalid_profile_is_never_cached(repo, tmp_path):
    cache_dir = tmp_path / "cache"
    bad = repo.profile(PROFILE.replace("max_daily_loss: 6%", "max_daily_loss: 60%"))
    for _ in range(2):
        with pytest.raises(ConfigErrors):
            load_profile(bad, env={}, cache_dir=cache_dir)
    assert entries(cache_dir) == []


# ---------------------------------------------------------------- secrets


def test_a_profile_with_a_secret_is_never_written(repo, tmp_path, builds):
    cache_dir = tmp_path / "cache"
    profile = repo.profile(LIVE)
    env = {"MCI_TEST_API_KEY": "key", "MCI_TEST_API_SECRET": SECRET}
    for _ in range(2):
        loaded = load_profile(profile, env=env, cache_dir=cache_dir)
        assert loaded.broker.api_secret == SECRET
    assert len(builds) == 2 and entries(cache_dir) == []
    assert not validate_paths([profile], env=env, cache_dir=cache_dir).errors
    assert entries(cache_dir) == []
    for file in cache_dir.rglob("*"):
        if file.is_file():
            assert SECRET.encode() not in file.read_bytes(), file


def test_holds_secret_finds_secrets_anywhere(repo):
    profile = load_profile(repo.profile(), env={})
    assert not holds_secret(profile)
    from dataclasses import replace

    assert holds_secret(replace(profile, broker=replace(profile.broker, api_secret="x")))
    assert holds_secret(replace(profile, raw={"engine": [{"password": "x"}]}))
    checks = list(profile.scan.checklist.checks)
    checks[0] = replace(checks[0], params={"nested": {"access_token": "x"}})
    scan = replace(profile.scan, checklist=replace(profile.scan.checklist, checks=tuple(checks)))
    assert holds_secret(replace(profile, scan=scan))


# ---------------------------------------------------------------- damaged entries


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "bad checksum", "other shape", "unknown class"])
def test_a_damaged_entry_is_ignored_and_replaced(repo, tmp_path, builds, damage):
    cache_dir = tmp_path / "cache"
    profile = repo.profile()
    expected = load_profile(profile, env={}, cache_dir=cache_dir)
    [entry] = entries(cache_dir)
    raw = entry.read_bytes()
    header, _, body = raw.partition(b"\n")

    def sealed(text: bytes) -> bytes:
        import hashlib

        return f"{cache.FORMAT} {hashlib.sha256(text).hexdigest()}\n".encode() + text

    entry.write_bytes(
        {
            "garbage": b"\x00\xffnot an entry",
            "truncated": raw[: len(raw) // 2],
            "empty": b"",
            "bad checksum": header + b"\n" + body.replace(b'"name":"t"', b'"name":"u"'),
            "other shape": sealed(json.dumps({"key": entry.name, "profile": None}).encode()),
            "unknown class": sealed(body.replace(b'"$dc":"Profile"', b'"$dc":"Popen"')),
        }[damage]
    )
    assert load_profile(profile, env={}, cache_dir=cache_dir) == expected
    assert len(builds) == 2
    assert cache.read(entry, profile_cache.CLASSES)["profile"] == expected  # rewritten whole
    assert load_profile(profile, env={}, cache_dir=cache_dir) == expected and len(builds) == 2


def test_writes_are_atomic_and_private(repo, tmp_path):
    cache_dir = tmp_path / "cache"
    profile = repo.profile()
    load_profile(profile, env={}, cache_dir=cache_dir)
    repo.profile(PROFILE.replace("6%", "5%"))
    load_profile(profile, env={}, cache_dir=cache_dir)
    files = list((cache_dir / "profile").iterdir())
    assert len(files) == 2 and not [f for f in files if f.name.endswith(".tmp")]
    assert all(f.stat().st_mode & 0o077 == 0 for f in files)


def test_an_unwritable_cache_is_skipped(repo, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    profile = repo.profile()
    assert load_profile(profile, env={}, cache_dir=blocker / "cache") == fresh(profile, {})


# ---------------------------------------------------------------- mci validate shares the entries


def test_validate_reports_the_same_from_the_cache(repo, tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    profile = repo.profile()
    cold = validate_paths([profile], env={}, cache_dir=cache_dir)
    assert cold.ok and entries(cache_dir)
    monkeypatch.setattr("mci.config.resolve.resolve_profile", _fail)
    warm = validate_paths([profile], env={}, cache_dir=cache_dir)
    assert warm.documents == cold.documents and warm.errors == []
    assert [kind for _, kind in warm.documents] == ["profile", "checklist"]


def _fail(*args, **kwargs):
    raise AssertionError("resolved again: the cache missed")


def test_validate_with_placeholders_never_reuses_a_real_environment_entry(repo, tmp_path):
    from mci.config.placeholder_env import PlaceholderEnv

    cache_dir = tmp_path / "cache"
    profile = repo.profile(PROFILE + "description: ${env:MCI_TEST_DESC}\n")

    def description(env):
        return load_profile(profile, env=env, cache_dir=cache_dir).raw["description"]

    assert description({"MCI_TEST_DESC": "desk"}) == "desk"
    assert validate_paths([profile], env=PlaceholderEnv({}), cache_dir=cache_dir).ok
    assert description(PlaceholderEnv({})) == "placeholder-for-MCI_TEST_DESC"
    assert description({"MCI_TEST_DESC": "desk"}) == "desk"
    assert description(PlaceholderEnv({"MCI_TEST_DESC": "real"})) == "real"
    with pytest.raises(ConfigErrors):
        load_profile(profile, env={}, cache_dir=cache_dir)


def test_slot_without_a_readable_profile_is_a_miss(tmp_path):
    slot = Slot(tmp_path / "missing.yaml", {}, tmp_path / "cache")
    assert slot.key is None and slot.get() is None
