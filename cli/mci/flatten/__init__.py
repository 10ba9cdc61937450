"""The emergency flatten as a library: cancel every open order, square off every position.

    from mci.flatten import flatten, cancel_open_orders, FlattenReport

See `mci.flatten.core` for the algorithm and its idempotency guarantees, and
`mci.flatten.tags` for the deterministic square-off tags.
"""

from mci.flatten.core import EventSink, cancel_open_orders, flatten
from mci.flatten.report import FlattenReport
from mci.flatten.tags import Key, parse_own_tag, run_prefix, square_off_tag

__all__ = [
    "EventSink",
    "FlattenReport",
    "Key",
    "cancel_open_orders",
    "flatten",
    "parse_own_tag",
    "run_prefix",
    "square_off_tag",
]
