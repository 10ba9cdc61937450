"""Which checklist `mci gate run NAME` means, made ready to run.

NAME is looked up, in order:
  1. the profile's `gates:` block (`go-live: {use: gates/go-no-go, override: ...}`), overrides applied;
  2. rules/gates/NAME.yaml — beside the profile's folder first, then the rules shipped with mci — so
     `mci gate run ci-quality` works without a profile entry;
  3. a checklist file, when NAME ends in .yaml or .yml.
The name found is the gate's name in results and in approval subjects (gate:NAME/CHECK): approve a gate
by the same name you run it by.

`prepare` sizes each command's and probe's own deadline from the check's timeout, so the child process is
killed and reported before the runner stops waiting, and gives each approval check its subject.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mci.errors import ConfigError, ConfigErrors, MciError, UsageError

if TYPE_CHECKING:
    from mci.config.model import Checklist, CheckSpec, Profile

GATES = "gates"


@dataclass(frozen=True)
class Gate:
    name: str
    checklist: "Checklist"
    source: str  # where it came from, for people: "profile paper-demo gates.go-live", a file path


@dataclass(frozen=True)
class GateInfo:
    name: str
    origin: str  # profile | rules
    source: str
    checks: int | None  # None when it does not load
    description: str = ""
    error: str | None = None


def _rule_dirs(profile: "Profile") -> list[Path]:
    from mci.config.rules import rule_dirs

    return rule_dirs(profile.path)


def resolve_gate(name: str, profile: "Profile", *, cache_dir: Path | None = None) -> Gate:
    from mci.config import load_checklist
    from mci.config.rules import USE_RE, find_rule

    if name in profile.gates:
        use = (profile.raw.get("gates") or {}).get(name, {}).get("use", "?")
        return Gate(name, prepare(profile.gates[name], name), f"profile {profile.name}: gates.{name} ({use})")
    if name.endswith((".yaml", ".yml")):
        file = Path(name)
        if not file.is_file():
            raise UsageError(
                f"gate file {name} does not exist",
                "a NAME ending in .yaml is read as a checklist file",
                "fix the path, or name a gate (mci gate list)",
            )
        checklist = load_checklist(file, cache_dir=cache_dir)
        return Gate(checklist.name, prepare(checklist, checklist.name), str(file))
    path = find_rule(f"{GATES}/{name}", _rule_dirs(profile)) if USE_RE.match(f"{GATES}/{name}") else None
    if path is None:
        known = sorted({*profile.gates, *(i.name for i in rule_gates(profile, cache_dir, load=False))})
        raise UsageError(
            f"no gate named {name!r}",
            f"it is not in the gates: of profile {profile.name} nor a file rules/{GATES}/{name}.yaml; "
            f"gates: {', '.join(known) or 'none'}",
            "run `mci gate list`, or add the gate to the profile's gates: block",
        )
    return Gate(name, prepare(load_checklist(path, cache_dir=cache_dir), name), str(path))


def _margin(timeout: timedelta) -> timedelta:
    return min(timeout / 10, timedelta(seconds=2))


def prepare(checklist: "Checklist", gate: str) -> "Checklist":
    from mci.approvals import gate_subject

    errors: list[MciError] = []
    checks = []
    for spec in checklist.checks:
        params = dict(spec.params)
        if spec.kind == "approval":
            params.setdefault("subject", gate_subject(gate, spec.id))
        elif spec.kind in ("command", "http"):
            key = "timeout" if spec.kind == "command" else "within"
            own = _duration(params.get(key))
            room = spec.timeout - _margin(spec.timeout)
            if own is None:
                params[key] = room
            elif own > room:
                errors.append(_too_long(spec, key, own))
        checks.append(replace(spec, params=params))
    if errors:
        raise ConfigErrors(errors)
    return replace(checklist, checks=tuple(checks))


def _duration(value: Any) -> timedelta | None:
    from mci.units import parse_duration

    if value is None or isinstance(value, timedelta):
        return value
    try:
        return parse_duration(value)
    except ValueError:
        return None  # the check itself reports the unusable value


def _too_long(spec: "CheckSpec", key: str, own: timedelta) -> ConfigError:
    from mci.units import format_duration

    return ConfigError(
        f"check {spec.id}: params.{key} {format_duration(own)} does not fit in its timeout {format_duration(spec.timeout)}",
        "the runner stops waiting at the check's timeout; the command or probes must end (and be reported) before it",
        f"raise the check's `timeout:` above {format_duration(own)} (by 10%, at least), or lower params.{key}",
        spec.location,
    )


def rule_gates(profile: "Profile", cache_dir: Path | None, *, load: bool = True) -> list[GateInfo]:
    """The gate files in rules/gates/ (beside the profile first); a name found twice is the first one."""
    from mci.config import load_checklist

    found: dict[str, GateInfo] = {}
    for folder in _rule_dirs(profile):
        base = folder / GATES
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            if path.suffix not in (".yaml", ".yml") or not path.is_file() or path.stem in found:
                continue
            if not load:
                found[path.stem] = GateInfo(path.stem, "rules", str(path), None)
                continue
            try:
                checklist = load_checklist(path, cache_dir=cache_dir)
            except MciError as exc:
                found[path.stem] = GateInfo(path.stem, "rules", str(path), None, error=exc.what)
            else:
                found[path.stem] = GateInfo(
                    path.stem, "rules", str(path), len(checklist.checks), _first_line(checklist.description)
                )
    return list(found.values())


def profile_gates(profile: "Profile") -> list[GateInfo]:
    out = []
    for name, checklist in profile.gates.items():
        use = (profile.raw.get("gates") or {}).get(name, {}).get("use", "?")
        out.append(
            GateInfo(
                name,
                "profile",
                f"{profile.path} gates.{name}: {use}",
                len(checklist.checks),
                _first_line(checklist.description),
            )
        )
    return out


def _first_line(text: str) -> str:
    line = (text or "").strip().split(". ")[0].splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= 100 else line[:97] + "..."
