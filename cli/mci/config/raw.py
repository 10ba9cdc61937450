"""A document as written, for a glance before it is loaded: which broker it names, which ${env:...} it reads.

PyYAML's own reading, without positions, rules, interpolation or checks (mci.config.loader does those
when the document is loaded for real, and says what is wrong with it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping


def raw_document(path: Path) -> Mapping[str, Any]:
    """The document as written (references not interpolated); {} when unreadable: the loader then says why."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}
