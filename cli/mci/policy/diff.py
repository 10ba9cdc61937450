"""`mci policy diff`: which files to compare, both sides of each, the findings and their approvals."""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Iterable

from mci.config.loader import display_name
from mci.errors import ConfigErrors, Location, MciError, UsageError
from mci.policy import locate, sides
from mci.policy.findings import LOOSENING, NEUTRAL, Change, Finding, Report, finding

if TYPE_CHECKING:
    from mci.config.model import Profile
    from mci.policy.gitbase import GitBase


@dataclass
class Pair:
    """One file to compare: its name in the report, the new file on disk, the base text (None: new file)."""

    rel: str
    new: Path
    base: bytes | None
    rules_rel: str  # the rules/ folder a profile here resolves against, relative to the root
    base_rules: dict[str, bytes] | None = None  # that folder at the base; read only for a profile
    # A new file: the YAML files of its folder at the base, the profiles a new profile is judged against.
    siblings: dict[str, bytes] | None = None


def diff(
    paths: list[Path],
    base: str,
    *,
    cwd: Path,
    state_dir: Path,
    extra_approvals: Iterable[Path] = (),
    cache_dir: Path | None,
    now: datetime,
) -> Report:
    from mci.approvals import ApprovalBook

    candidate = Path(base) if Path(base).is_absolute() else cwd / base
    if candidate.is_file():
        root, pairs = _file_pairs(paths, candidate, cwd)
        label = str(base)
    else:
        from mci.policy.gitbase import GitBase

        start = _start(paths, cwd)
        git = GitBase.open(start, base)
        root, pairs = git.root, _git_pairs(git, paths, cwd)
        label = f"{base} ({git.commit[:12]})"
    report = Report(label)
    errors: list[MciError] = []
    with tempfile.TemporaryDirectory(prefix="mci-policy-") as tmp:
        for number, pair in enumerate(pairs):
            report.files.append(pair.rel)
            report.findings += _compare(pair, Path(tmp) / str(number), cache_dir, errors)
    if errors:
        raise ConfigErrors(errors)
    book = ApprovalBook.default(state_dir, extra_approvals, cwd=root)
    for item in report.findings:
        item.base = base
        if item.kind == LOOSENING:
            item.approval = book.find(item.subject, now)
    report.findings.sort(key=lambda f: (f.location.file, f.location.line, f.location.column))
    return report


def _start(paths: list[Path], cwd: Path) -> Path:
    if not paths:
        return cwd
    first = paths[0] if paths[0].is_absolute() else cwd / paths[0]
    while not first.is_dir() and first != first.parent:
        first = first.parent
    return first


def _rel(path: Path, root: Path, cwd: Path) -> str:
    absolute = (path if path.is_absolute() else cwd / path).resolve()
    try:
        return absolute.relative_to(root.resolve()).as_posix()
    except ValueError:
        raise UsageError(
            f"{path} is outside the repository {root}",
            "--base REF compares files of one repository",
            "name files inside it, or compare two files: mci policy diff NEW.yaml --base OLD.yaml",
        ) from None


def _rules_rel(rel: str) -> str:
    parent = PurePosixPath(rel).parent.parent
    return (parent / "rules").as_posix() if str(parent) != "." else "rules"


def _git_pairs(git: GitBase, paths: list[Path], cwd: Path) -> list[Pair]:
    from mci.config.validate import yaml_files

    changed = git.changed()
    if paths:
        wanted: dict[str, str | None] = {}
        for given in paths:
            absolute = given if given.is_absolute() else cwd / given
            if absolute.is_dir():
                for file in yaml_files(absolute):
                    rel = _rel(file, git.root, cwd)
                    wanted[rel] = changed[rel] if rel in changed else rel
            else:
                rel = _rel(absolute, git.root, cwd)
                if not absolute.exists() and git.read(rel) is None:
                    raise UsageError(
                        f"{given} does not exist",
                        f"there is no such file, now or at {git.ref}",
                        "check the path and the current folder",
                    )
                wanted[rel] = changed[rel] if rel in changed else rel
    else:
        wanted = changed
    pairs = []
    for rel, base_rel in sorted(wanted.items()):
        text = git.read(base_rel) if base_rel else None
        rules_rel = _rules_rel(rel)
        pairs.append(Pair(rel, git.root / rel, text, rules_rel))
    folders = {p.rules_rel for p in pairs}
    base_rules = {folder: {k[len(folder) + 1 :]: v for k, v in git.files(folder).items()} for folder in folders}
    for pair in pairs:
        pair.base_rules = base_rules.get(pair.rules_rel, {})
        if pair.base is None:
            folder = PurePosixPath(pair.rel).parent
            pair.siblings = {
                k: v
                for k, v in git.files(folder.as_posix()).items()
                if PurePosixPath(k).parent == folder and k != pair.rel
            }
    return pairs


def _repo_root(start: Path) -> Path | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(start), "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(done.stdout.strip()) if done.returncode == 0 else None


def _file_pairs(paths: list[Path], old: Path, cwd: Path) -> tuple[Path, list[Pair]]:
    if len(paths) != 1:
        raise UsageError(
            f"--base {old.name} is a file, so name exactly one new file to compare it with",
            f"{len(paths)} path(s) were given",
            "run mci policy diff NEW.yaml --base OLD.yaml",
        )
    new = paths[0] if paths[0].is_absolute() else cwd / paths[0]
    if not new.is_file():
        raise UsageError(
            f"{paths[0]} is not a file",
            "--base FILE compares one file with another",
            "name the new version of the file: mci policy diff NEW.yaml --base OLD.yaml",
        )
    root = _repo_root(new.resolve().parent) or cwd
    try:
        rel = new.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = display_name(new)
    old_rules = old.resolve().parent.parent / "rules"
    pair = Pair(rel, new, old.read_bytes(), "", sides.yaml_under(old_rules))
    return root, [pair]


def _compare(pair: Pair, work: Path, cache_dir: Path | None, errors: list[MciError]) -> list[Finding]:
    notes: list[Finding] = []
    if not pair.new.exists():
        shipped = _shipped_fallback(pair.rel)
        why = (
            "profiles that use it now use mci's shipped rule of that name, compared below"
            if shipped
            else "profiles that still use it fail `mci validate`"
        )
        notes.append(
            finding(
                Change(NEUTRAL, "file", "deleted", f"{pair.rel} deleted", why, "", ()),
                pair.rel,
                Location(pair.rel, 1, 1),
            )
        )
        if shipped is None or pair.base is None:
            return notes
        pair = Pair(pair.rel, shipped, pair.base, pair.rules_rel, pair.base_rules)
    new, new_errors = sides.load(pair.new, cache_dir)
    if new is None:
        errors.extend(new_errors or [UsageError(f"{pair.rel} cannot be read", "see above", "fix it")])
        return []
    if pair.base is None:
        noun = f"profile {new.doc.data.get('name', pair.rel)}" if new.kind == "profile" else new.kind
        if new.kind == "profile":
            return _new_profile(pair, new, noun, work, cache_dir)
        return [
            finding(
                Change(
                    NEUTRAL,
                    "file",
                    "new",
                    f"new {noun}: {pair.rel}",
                    "a new file has no base to compare with; review it as a whole",
                    "",
                    (),
                ),
                pair.rel,
                locate.path(new.doc, ("name",)),
            )
        ]
    name = PurePosixPath(pair.rel).name
    if new.kind == "profile":
        new_rules = pair.new.resolve().parent.parent / "rules"
        old, old_errors = sides.base_profile(work, name, pair.base, pair.base_rules or {}, new_rules, cache_dir)
    else:
        old, old_errors = sides.base_file(work, name, pair.base, cache_dir)
    if old is None or old.kind != new.kind:
        digest = hashlib.sha256(pair.new.read_bytes()).hexdigest()[:12]
        why = (
            f"the base is a {old.kind}, the new version a {new.kind}"
            if old is not None
            else f"the base version does not validate with this mci ({sides.first_problem(old_errors)})"
        )
        return [
            finding(
                Change(
                    LOOSENING,
                    "unverifiable",
                    digest,
                    f"{pair.rel} cannot be compared with its base",
                    why,
                    "make the base valid, or review the whole file",
                    (),
                ),
                pair.rel,
                new.doc.at(()),
            )
        ]
    return notes + [finding(change, pair.rel, _where(new, change)) for change in _changes(old, new, cache_dir)]


def _new_profile(pair: Pair, new: sides.Side, noun: str, work: Path, cache_dir: Path | None) -> list[Finding]:
    """A new profile is held to the profiles beside it at the base: a limit looser than the loosest of them is a
    loosening (a copy of paper.yaml with 20% daily loss must not pass as 'new file'). The schema's ceilings bind it
    like any profile (a profile over one does not validate)."""
    from mci.policy.compare_profile import compare_new_profile

    new_rules = pair.new.resolve().parent.parent / "rules"
    bases = []
    for number, (rel, text) in enumerate(sorted((pair.siblings or {}).items())):
        old, _ = sides.base_profile(
            work / f"sibling{number}", PurePosixPath(rel).name, text, pair.base_rules or {}, new_rules, cache_dir
        )
        if old is not None and old.kind == "profile":  # a base file that no longer validates judges nothing
            bases.append((rel, old.model))
    against = (
        f"judged against the loosest of the {len(bases)} profile(s) beside it at the base "
        f"({', '.join(rel for rel, _ in bases)}): any limit looser than all of them is reported"
        if bases
        else "there is no profile beside it at the base to judge it against; the schema's "
        "ceilings bind it; review it as a whole"
    )
    notes = [
        finding(
            Change(NEUTRAL, "file", "new", f"new {noun}: {pair.rel}", against, "", ()),
            pair.rel,
            locate.path(new.doc, ("name",)),
        )
    ]
    changes = compare_new_profile([model for _, model in bases], new.model) if bases else []
    return notes + [finding(change, pair.rel, _where(new, change)) for change in changes]


def _shipped_fallback(rel: str) -> Path | None:
    """The rule a profile falls back to when the repository's own rule file is gone (mci.config.rules)."""
    from mci.config.rules import find_rule
    from mci.resources import rules_dir

    parts = PurePosixPath(rel).parts
    if "rules" not in parts[:-1]:
        return None
    index = len(parts) - 1 - parts[::-1].index("rules")
    use = str(PurePosixPath(*parts[index + 1 :]).with_suffix(""))
    return find_rule(use, [rules_dir()])


def _changes(old: sides.Side, new: sides.Side, cache_dir: Path | None) -> list[Change]:
    if new.kind == "profile":
        from mci.policy.compare_profile import compare_profiles

        changes = compare_profiles(old.model, new.model, lambda p: sides.sequences(p, cache_dir))
        return [c for c in changes if not _inherited_max_open(c, old.model, new.model)]
    if new.kind == "checklist":
        from mci.policy.compare_items import compare_checklists

        return compare_checklists(old.model, new.model, f"checklist {new.model.name}", "checks")
    if new.kind == "sequence":
        from mci.policy.compare_steps import compare_sequences

        emergency = any(
            "emergency" in (s.model.name, s.doc.path.stem)
            or any(step.kind == "lifecycle.halt" for step in s.model.steps)
            for s in (old, new)
        )
        return compare_sequences(old.model, new.model, f"sequence {new.model.name}", "steps", emergency=emergency)
    from mci.policy.compare_calendar import compare_calendars

    return compare_calendars(old.model, new.model)


def _inherited_max_open(change: Change, old: Profile, new: Profile) -> bool:
    """The positions check's max_open follows risk.max_open_positions unless set: reported once, as the risk change."""
    parts = change.key.split(".")
    if parts[:2] != ["scan", "checks"] or parts[-2:] != ["params", "max_open"]:
        return False
    check = new.scan.checklist.by_id().get(parts[2])
    before = old.scan.checklist.by_id().get(parts[2])
    return (
        check is not None
        and before is not None
        and check.kind == "account.positions"
        and check.params.get("max_open") == new.risk.max_open_positions
        and before.params.get("max_open") == old.risk.max_open_positions
    )


def _where(side: sides.Side, change: Change) -> Location:
    if side.kind == "profile":
        return locate.in_profile(side.doc, change.anchor)
    return locate.in_rule(side.doc, side.kind, change.anchor)
