"""The base version from git: which files changed since a ref, and their text at that ref.

The base commit is `git merge-base REF HEAD`: for `--base origin/main` on a
branch, the point where the branch left main; for `--base HEAD`, HEAD itself.

Read-only: `git diff`, `ls-files`, `ls-tree`, `cat-file`, never anything that
writes (GIT_OPTIONAL_LOCKS=0 keeps even `git diff` from refreshing the index).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path, PurePosixPath

from mci.errors import UsageError

POLICY_DIRS = ("profiles", "rules")
YAML = (".yaml", ".yml")


def is_policy_file(rel: str) -> bool:
    """A YAML file in a profiles/ or rules/ folder (at any depth), outside hidden folders."""
    parts = PurePosixPath(rel).parts
    return (
        rel.endswith(YAML) and any(p in POLICY_DIRS for p in parts[:-1]) and not any(p.startswith(".") for p in parts)
    )


def _git(
    root: Path | None, *args: str, check: bool = True, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    command = ["git", *(["-C", str(root)] if root else []), *args]
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, env=env, timeout=60)
    except FileNotFoundError:
        raise UsageError(
            "git is not installed",
            "--base REF reads the base version from git",
            "install git, or compare two files: mci policy diff NEW.yaml --base OLD.yaml",
        ) from None
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"git {args[0]} did not answer within 60s",
            "the repository may be locked or huge",
            "retry; or compare two files with --base OLD.yaml",
        ) from None
    if check and done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(
            f"git {args[0]} failed",
            message[-1] if message else f"exit {done.returncode}",
            "check the repository and the ref",
        )
    return done


def _unborn(root: Path) -> bool:
    """No commit at all yet: HEAD names a branch that does not exist."""
    branch = _git(root, "symbolic-ref", "-q", "HEAD", check=False)
    return (
        branch.returncode == 0 and _git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).returncode != 0
    )


class GitBase:
    def __init__(self, root: Path, ref: str, commit: str):
        self.root, self.ref, self.commit = root, ref, commit

    @classmethod
    def open(cls, start: Path, ref: str) -> "GitBase":
        found = _git(start, "rev-parse", "--show-toplevel", check=False)
        if found.returncode != 0:
            raise UsageError(
                f"{start} is not in a git repository",
                f"--base {ref} names a git ref, and git answers: "
                f"{found.stderr.decode('utf-8', 'replace').strip() or 'not a repository'}",
                "run mci policy diff inside the repository that holds profiles/ and rules/, "
                "or compare two files: mci policy diff NEW.yaml --base OLD.yaml",
            )
        root = Path(found.stdout.decode().strip())
        if ref.startswith("-"):
            raise UsageError(f"{ref!r} is not a git ref", "a ref cannot start with -", "pass a branch, tag or commit")
        resolved = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
        if resolved.returncode != 0 and ref == "HEAD" and _unborn(root):
            # The first commit of a repository (a pre-commit hook's --base HEAD): everything is new.
            empty = _git(root, "hash-object", "-t", "tree", "/dev/null").stdout.decode().strip()
            return cls(root, ref, empty)
        if resolved.returncode != 0:
            raise UsageError(
                f"unknown git ref {ref!r}",
                f"{root} has no commit, branch or tag named {ref}, and no file of that name exists",
                "check the spelling; in CI fetch the base first "
                "(git fetch origin main, or actions/checkout with fetch-depth: 0)",
                ref=ref,
            )
        commit = resolved.stdout.decode().strip()
        # A branch is judged on its own changes: against where it left REF, not against what REF gained since
        # (a limit tightened on main after the branch point would otherwise read as loosened by the branch).
        fork = _git(root, "merge-base", commit, "HEAD", check=False)
        if fork.returncode == 0 and fork.stdout.strip():
            commit = fork.stdout.decode().strip()
        return cls(root, ref, commit)

    def changed(self) -> dict[str, str | None]:
        """new path -> base path (None for a file new since the ref; a deleted file maps to itself)."""
        out = _git(self.root, "diff", "--name-status", "-z", "-M", "--no-ext-diff", self.commit, "--").stdout
        fields = out.decode("utf-8", "surrogateescape").split("\0")
        pairs: dict[str, str | None] = {}
        i = 0
        while i < len(fields) and fields[i]:
            status = fields[i]
            if status[0] in "RC":
                old, new = fields[i + 1], fields[i + 2]
                pairs[new] = old if status[0] == "R" else None
                if status[0] == "R" and is_policy_file(old) and not is_policy_file(new):
                    pairs[old] = old  # moved out of profiles/ or rules/: gone from where it was
                i += 3
                continue
            path = fields[i + 1]
            pairs[path] = None if status[0] == "A" else path
            i += 2
        untracked = _git(self.root, "ls-files", "--others", "--exclude-standard", "-z").stdout
        for path in untracked.decode("utf-8", "surrogateescape").split("\0"):
            if path:
                pairs.setdefault(path, None)
        return {new: old for new, old in pairs.items() if is_policy_file(new)}

    def files(self, folder: str) -> dict[str, bytes]:
        """Every YAML file under `folder` at the ref: path relative to the repository -> content."""
        listing = _git(self.root, "ls-tree", "-r", "-z", "--name-only", self.commit, "--", folder).stdout
        names = [n for n in listing.decode("utf-8", "surrogateescape").split("\0") if n.endswith(YAML)]
        # A submodule (gitlink) named *.yaml is listed too and has no content here: it is no policy file.
        return {name: blob for name, blob in zip(names, self._cat(names)) if blob is not None}

    def read(self, rel: str) -> bytes | None:
        return self._cat([rel])[0]

    def _cat(self, names: list[str]) -> list[bytes | None]:
        if not names:
            return []
        request = "".join(f"{self.commit}:{n}\n" for n in names).encode("utf-8", "surrogateescape")
        out = _git(self.root, "cat-file", "--batch", stdin=request).stdout
        blobs: list[bytes | None] = []
        at = 0
        for _ in names:
            end = out.index(b"\n", at)
            header = out[at:end].split()
            if header[-1] == b"missing" or len(header) < 3:
                blobs.append(None)
                at = end + 1
                continue
            size = int(header[2])
            # Any object found comes with its content (a gitlink's commit, when it is in this repository, too).
            blobs.append(out[end + 1 : end + 1 + size] if header[1] == b"blob" else None)
            at = end + 1 + size + 1
        return blobs
