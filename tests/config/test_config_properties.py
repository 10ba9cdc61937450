"""Property tests: whatever the text, validate_paths returns errors with positions and never raises."""

from __future__ import annotations

import time

from testing.config import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mci.validation import validate_paths
from mci.errors import ConfigError
from testing.hypothesis_profiles import examples

PAPER = (REPO / "profiles" / "paper.yaml").read_text(encoding="utf-8")
LINES = PAPER.splitlines(keepends=True)
FIXTURE_OK = [HealthCheck.function_scoped_fixture]


def check(repo, text: str | bytes) -> None:
    path = repo.root / "profiles" / "fuzz.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    started = time.monotonic()
    report = validate_paths([path], env={"KITE_API_KEY": "k", "KITE_API_SECRET": "s"})
    assert time.monotonic() - started < 5
    for error in report.errors:
        assert isinstance(error, ConfigError)
        assert error.location is not None and error.location.line >= 1 and error.location.column >= 1
        assert error.what and error.why and error.how


def mutate(data: st.DataObject, source: list[str] = LINES) -> str:
    lines = list(source)
    for _ in range(data.draw(st.integers(1, 4))):
        if not lines:
            break
        index = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["delete", "duplicate", "char", "indent", "dedent", "swap"]))
        line = lines[index]
        if op == "delete":
            del lines[index]
        elif op == "duplicate":
            lines.insert(index, line)
        elif op == "char" and line.strip():
            at = data.draw(st.integers(0, max(0, len(line) - 2)))
            char = data.draw(st.sampled_from(list(":-[]{}#&*!|>'\"%@`,? \t0a\u20b9$")))
            lines[index] = line[:at] + char + line[at + 1 :]
        elif op == "indent":
            lines[index] = "  " + line
        elif op == "dedent":
            lines[index] = line[2:] if line.startswith("  ") else line
        elif op == "swap" and index + 1 < len(lines):
            lines[index], lines[index + 1] = lines[index + 1], lines[index]
    return "".join(lines)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_mutated_paper_profile(repo, data):
    check(repo, mutate(data))


@settings(max_examples=examples(200), deadline=None, suppress_health_check=FIXTURE_OK)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_random_text(repo, text):
    check(repo, text)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=FIXTURE_OK)
@given(raw=st.binary(max_size=200))
def test_random_bytes(repo, raw):
    check(repo, raw)


YAMLISH = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=12),
        st.sampled_from(["2%", "₹5,000", "15m", "${env:X}", "09:15"]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "version",
                    "kind",
                    "name",
                    "broker",
                    "risk",
                    "scan",
                    "use",
                    "override",
                    "checks",
                    "id",
                    "needs",
                    "params",
                    "api_secret",
                    "engine",
                    "start",
                    "breakers",
                    "max_age",
                    "capital",
                ]
            ),
            children,
            max_size=5,
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    doc=st.dictionaries(
        st.sampled_from(["version", "kind", "name", "broker", "risk", "scan", "checks", "steps", "engine"]),
        YAMLISH,
        max_size=6,
    )
)
def test_random_structures(repo, doc):
    import json

    check(repo, json.dumps(doc))  # JSON is YAML: structure-level fuzzing past the parser


TWELVE = REPO / "rules" / "scanner" / "twelve-point.yaml"


@settings(max_examples=examples(200), deadline=None, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_mutated_checklist_through_a_profile(repo, data):
    """Mutations of the scanner rule, reached through a profile (overrides, breakers, needs)."""
    source = TWELVE if TWELVE.exists() else repo.root / "rules" / "scanner" / "twelve-point.yaml"
    repo.rule("scanner/twelve-point", mutate(data, source.read_text(encoding="utf-8").splitlines(keepends=True)))
    check(repo, PAPER)
