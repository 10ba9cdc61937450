"""The validation cache: a warm run never imports jsonschema; any change misses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from testing.config import PROFILE

from mci.config import default_cache_dir
from mci.validation import validate_paths
from mci.config.schema import canonical_json
from decimal import Decimal

WARM_RUN = """
import sys
from pathlib import Path
from mci.validation import validate_paths
report = validate_paths([Path(sys.argv[1])], env={}, cache_dir=Path(sys.argv[2]))
assert report.ok, [e.render() for e in report.errors]
assert 'jsonschema' not in sys.modules, 'cache missed'
print('hit')
"""


def markers(cache: Path) -> set[str]:
    folder = cache / "schema"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def test_second_run_hits_the_cache_without_importing_jsonschema(repo, tmp_path):
    cache = default_cache_dir(tmp_path / "state")
    profile = repo.profile()
    assert validate_paths([profile], env={}, cache_dir=cache).ok
    assert len(markers(cache)) == 2  # the profile and its merged checklist
    result = subprocess.run(
        [sys.executable, "-c", WARM_RUN, str(profile), str(cache)], capture_output=True, text=True, cwd=repo.root
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hit"


def test_a_changed_document_misses(repo, tmp_path):
    cache = tmp_path / "cache"
    profile = repo.profile()
    validate_paths([profile], env={}, cache_dir=cache)
    before = markers(cache)
    repo.profile(PROFILE.replace("max_daily_loss: 6%", "max_daily_loss: 7%"))
    assert validate_paths([profile], env={}, cache_dir=cache).ok
    after = markers(cache)
    assert len(after - before) == 1  # the profile changed; its checklist did not


def test_failures_are_not_cached(repo, tmp_path):
    cache = tmp_path / "cache"
    bad = repo.profile(PROFILE.replace("max_daily_loss: 6%", "max_daily_loss: 60%"))
    for _ in range(2):
        assert len(validate_paths([bad], env={}, cache_dir=cache).errors) == 1
    assert len(markers(cache)) == 1  # only the (valid) checklist


def test_unwritable_cache_is_skipped(repo, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert validate_paths([repo.profile()], env={}, cache_dir=blocker / "cache").ok


def test_canonical_json_keeps_numbers_and_text_apart():
    assert canonical_json({"b": Decimal("2.0"), "a": [1, True, None]}) == '{"a":[1,true,null],"b":2.0}'
    assert canonical_json({"x": Decimal("2.0")}) != canonical_json({"x": "2.0"})
