"""A profile resolved into the typed model, kept in `<cache_dir>/profile/` between runs.

Every command starts by loading its profile: parsing YAML (PyYAML alone costs
~10 ms to import), resolving the rules it uses, validating, building the
model. Unchanged inputs resolve to the same model, so a valid profile is kept
(load_profile and `mci validate` share the entries). An entry is

- found by a digest of the profile's bytes, the path as given and the current
  directory (positions name files relative to it), mci's version, the Python
  version, the source of the modules that load, validate and build profiles,
  and the schemas: a change to any of them looks up another entry;
- used only while what it recorded when it was built still holds: each
  `use:` finds the same rule file, each rule file has the same bytes, and
  every environment lookup the loader made (`${env:...}` in the profile or a
  rule) gets the same answer; the lookups are replayed against the current
  environment and compared by digest (the values themselves are not stored);
- never written for a profile that holds a secret (api_secret, token_key, any
  key the loader treats as secret, anywhere): such a profile is read from its
  YAML each time, so no secret reaches the disk.

An invalid profile is never cached, and anything wrong with an entry (missing,
corrupt, truncated, unreadable) is a miss: the profile is loaded as if there
were no cache. See mci.cache for the file format.
"""

from __future__ import annotations

import os
import stat
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Mapping

from mci import cache
from mci.config import model
from mci.errors import Location

KIND = "profile"
# Every class a profile entry may contain (the cache constructs no other).
CLASSES: dict[str, type] = {
    cls.__qualname__: cls
    for cls in (
        model.RetryPolicy,
        model.CheckSpec,
        model.Checklist,
        model.StepSpec,
        model.Sequence,
        model.TokenStoreConfig,
        model.BrokerConfig,
        model.MarketConfig,
        model.RiskLimits,
        model.WatchConfig,
        model.BreakerConfig,
        model.ScanConfig,
        model.Profile,
        Location,
    )
}

Documents = list[tuple[Path, str]]


class Slot:
    """The cache entry for loading the profile at `path` with `env` (None: os.environ).

    slot = Slot(path, env, cache_dir)
    hit = slot.get()                      # (profile, documents) or None
    ... on a miss, load with slot.env (it notes every lookup), then slot.put(profile, documents)
    """

    def __init__(self, path: Path, env: Mapping[str, str] | None, cache_dir: Path):
        self.path = Path(path)
        self.environ: Mapping[str, str] = os.environ if env is None else env
        self.env = _Recording(self.environ)
        self.key = _key(self.path)
        self.file = cache_dir / KIND / self.key if self.key is not None else None

    def get(self) -> tuple[model.Profile, Documents] | None:
        if self.file is None:
            return None
        entry = cache.read(self.file, CLASSES)
        try:
            if not isinstance(entry, dict) or entry["key"] != self.key:
                return None
            profile, documents, uses, queries = entry["profile"], entry["documents"], entry["uses"], entry["env"]
            if not isinstance(profile, model.Profile):
                return None
            if _check(self.path, uses, queries, self.environ) != entry["check"]:
                return None
            return profile, [(Path(p), kind) for p, kind in documents]
        except Exception:  # noqa: BLE001 — an entry of another shape, a rule file gone unreadable: a miss
            return None

    def put(self, profile: model.Profile, documents: Documents) -> bool:
        """Keep a profile loaded through slot.env, unless it holds a secret or its inputs moved meanwhile."""
        if self.file is None or self.env.iterated or holds_secret(profile):
            return False
        uses = _uses(profile.raw)
        queries = self.env.queries()
        try:
            check = _check(self.path, uses, queries, self.environ)
        except OSError:
            return False
        if _key(self.path) != self.key:  # the profile changed while it was being loaded
            return False
        return cache.write(
            self.file,
            {
                "key": self.key,
                "uses": uses,
                "env": queries,
                "check": check,
                "documents": [[str(p), kind] for p, kind in documents],
                "profile": profile,
            },
            CLASSES,
        )


def _key(path: Path) -> str | None:
    """What the entry is looked up by, or None when the profile cannot be read (the loader reports why)."""
    try:
        # Only a regular file: reading a pipe (/dev/stdin) here would consume what the loader must read,
        # and a device (/dev/zero) never ends. Those are loaded without the cache.
        if not stat.S_ISREG(path.stat().st_mode):
            return None
        text = path.read_bytes()
        cwd = os.getcwd()
    except OSError:
        return None
    from mci import __version__

    return cache.digest(cache.FORMAT, KIND, __version__, sys.version, _code(), cwd, str(path), text)


@lru_cache(maxsize=1)
def _code() -> str:
    """The loader, resolver, validator and model sources, mci's error types, resources, the cache, the units, the schemas."""
    from mci.resources import schemas_dir

    package = Path(__file__).resolve().parent
    files = sorted(package.glob("*.py"))
    files += [
        package.parent / "errors.py",
        package.parent / "resources.py",
        package.parent / "cache.py",
        package.parent / "units.py",
    ]
    files += sorted(schemas_dir().glob("*.json"))
    return cache.files_digest(files)


def _check(path: Path, uses: list[str], queries: list[list[Any]], environ: Mapping[str, str]) -> str:
    """A digest of what a load read besides the profile: the rule file each `use` finds and its bytes,
    and the answer to each environment lookup."""
    from mci.config.rules import find_rule, rule_dirs

    parts: list[bytes | str] = []
    dirs = rule_dirs(path)
    for use in uses:
        found = find_rule(use, dirs)
        parts += [use, "\0none" if found is None else str(found), b"" if found is None else found.read_bytes()]
    for op, name, default in queries:
        parts += [op, name, _answer(environ, op, name, default)]
    return cache.digest(*parts)


def _answer(environ: Mapping[str, str], op: str, name: str, default: str | None) -> str:
    if op == "get":
        value = environ.get(name, default)
    elif op == "in":
        return "\0yes" if name in environ else "\0no"
    else:
        try:
            value = environ[name]
        except KeyError:
            value = None
    return "\0none" if value is None else "=" + value


def _uses(raw: Any) -> list[str]:
    """Every `use:` text in the profile (a superset of the references resolved is harmless: each is re-checked)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "use" and isinstance(v, str) and v not in found:
                    found.append(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(raw)
    return found


def holds_secret(value: Any) -> bool:
    """True if a secret could be anywhere in `value`: a secret-named key, or a field that holds one."""
    from mci.config.loader import SECRET_KEYS

    def walk(node: Any) -> bool:
        if isinstance(node, model.BrokerConfig) and node.api_secret is not None:
            return True
        if isinstance(node, model.TokenStoreConfig) and node.key is not None:
            return True
        if isinstance(node, dict):
            return any(k in SECRET_KEYS or walk(v) for k, v in node.items())
        if isinstance(node, (list, tuple, frozenset)):
            return any(walk(v) for v in node)
        if hasattr(node, "__dataclass_fields__") and not isinstance(node, type):
            return any(walk(getattr(node, name)) for name in node.__dataclass_fields__)
        return False

    return walk(value)


class _Recording(Mapping[str, str]):
    """The environment, noting each lookup the loader makes, to replay it when the entry is read."""

    def __init__(self, env: Mapping[str, str]):
        self._env = env
        self._queries: dict[tuple[str, str, str | None], None] = {}
        self.iterated = False  # a load that listed the environment depends on all of it: not cached

    def queries(self) -> list[list[Any]]:
        return [list(q) for q in self._queries]

    def __getitem__(self, name: str) -> str:
        self._queries[("item", name, None)] = None
        return self._env[name]

    def get(self, name: str, default: Any = None) -> Any:
        if default is not None and not isinstance(default, str):
            self.iterated = True  # not a lookup the loader makes; do not try to replay it
        self._queries[("get", name, default)] = None
        return self._env.get(name, default)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        self._queries[("in", name, None)] = None
        return name in self._env

    def __iter__(self) -> Iterator[str]:
        self.iterated = True
        return iter(self._env)

    def __len__(self) -> int:
        self.iterated = True
        return len(self._env)
