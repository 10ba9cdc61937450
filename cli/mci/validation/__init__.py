"""`mci validate`: every YAML document under some paths, judged by config/ and by the packages built on it.

    report = validate_paths([Path("profiles"), Path("rules")])  # never raises for bad input

It sits above config/, mci.market and mci.risk: config/ loads and checks a document on its own terms
and never imports the packages that read its typed model (tests/test_architecture.py: no cycles).
"""

from mci.validation.paths import ValidationReport, validate_paths

__all__ = ["ValidationReport", "validate_paths"]
