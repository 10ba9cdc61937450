"""Helpers shared by the test suite, importable by a unique package path (``testing.<area>``).

A plain package beside tests/ (pytest puts the repository root on sys.path: see
[tool.pytest.ini_options] pythonpath) so two directories' conftest.py never shadow each other,
and no test imports a helper by a bare module name that depends on which directory ran first.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
