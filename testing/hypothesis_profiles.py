"""The suite's two hypothesis profiles, chosen by MCI_HYPOTHESIS (tests/conftest.py loads one before any test).

- ``ci`` (the default): derandomized, so every run draws the same examples and a red build is reproducible
  on any machine, and without deadlines or the too-slow health check, which only measure how loaded the
  2 shared cores are. A property that needs many examples asks for them with ``examples(n)``.
- ``nightly``: random seeds and ``NIGHTLY_FACTOR`` times the examples, to find what the fixed ones cannot.
  A failure prints the ``@reproduce_failure`` blob to paste above the test.

    MCI_HYPOTHESIS=nightly python3 dev.py test tests/risk tests/config tests/flatten tests/hostile
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

ENV = "MCI_HYPOTHESIS"
CI_EXAMPLES = 100  # hypothesis's own default, for a property that does not name its budget
NIGHTLY_FACTOR = 10
PROFILES = ("ci", "nightly")


def selected() -> str:
    """The profile MCI_HYPOTHESIS names (``ci`` when unset); an unknown name is a ValueError in WHAT/WHY/HOW."""
    name = os.environ.get(ENV, "").strip() or "ci"
    if name not in PROFILES:
        raise ValueError(
            f"WHAT: unknown hypothesis profile {ENV}={name!r}\n"
            f"WHY: the suite registers only {', '.join(PROFILES)} (testing/hypothesis_profiles.py)\n"
            f"HOW: unset {ENV} for the seeded CI run, or set {ENV}=nightly for the random one"
        )
    return name


def examples(ci: int) -> int:
    """A property's example budget: ``ci`` as written in the seeded profile, NIGHTLY_FACTOR times it at night.

    An explicit ``@settings(max_examples=...)`` wins over the loaded profile, so a test that names its budget
    passes it through here to be scaled with the rest."""
    return ci * NIGHTLY_FACTOR if selected() == "nightly" else ci


def load() -> str:
    """Register both profiles and load the selected one; returns its name."""
    slow_machine = [HealthCheck.too_slow]
    settings.register_profile(
        "ci",
        derandomize=True,
        max_examples=CI_EXAMPLES,
        deadline=None,
        suppress_health_check=slow_machine,
        print_blob=True,
    )
    settings.register_profile(
        "nightly",
        derandomize=False,
        max_examples=CI_EXAMPLES * NIGHTLY_FACTOR,
        deadline=None,
        suppress_health_check=slow_machine,
        print_blob=True,
    )
    name = selected()
    settings.load_profile(name)
    return name
