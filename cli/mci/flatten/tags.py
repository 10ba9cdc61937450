"""Deterministic square-off tags: the idempotency key of every order the flatten places.

A tag is 20 lowercase letters and digits (Kite accepts alphanumeric tags of at
most 20 characters; the simulator a superset):

    f  RRRRRR  NNN  S  HHHHHHHHH
    |  |       |    |  instrument hash: blake2b(run_id, round, slice, EXCHANGE:SYMBOL:PRODUCT), base 36
    |  |       |    slice of the order (freeze-quantity split), base 36: 0-35
    |  |       round, base 36: 0-46655
    |  run prefix: blake2b(run_id), base 36
    flatten

So the same (run_id, round, slice, instrument) always gives the same tag (a
retry or a rerun re-derives it instead of remembering it), two runs share no
prefix, and an order in the book is recognised as this run's own square-off
only when its whole tag is the one derived for its own exchange, symbol and
product (a look-alike tag from someone else is never mistaken for ours).
Comparisons ignore case, in case a broker reports tags upper-cased.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

TAG_LENGTH = 20
MARK = "f"
RUN_WIDTH = 6
ROUND_WIDTH = 3
SLICE_WIDTH = 1
HASH_WIDTH = TAG_LENGTH - len(MARK) - RUN_WIDTH - ROUND_WIDTH - SLICE_WIDTH  # 9
MAX_ROUND = 36**ROUND_WIDTH - 1
MAX_SLICES = 36**SLICE_WIDTH
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class Key(NamedTuple):
    """What one net position is keyed by at the broker."""

    exchange: str
    symbol: str
    product: str

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}:{self.product}"


def _b36(n: int, width: int) -> str:
    if n < 0 or n >= 36**width:
        raise ValueError(f"{n} does not fit in {width} base-36 digits")
    out = []
    for _ in range(width):
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def _digest(text: str, width: int) -> str:
    n = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest(), "big")
    return _b36(n % 36**width, width)


def run_prefix(run_id: str) -> str:
    if not run_id:
        raise ValueError("a flatten needs a run_id (the same one on a rerun)")
    return MARK + _digest("run|" + run_id, RUN_WIDTH)


def square_off_tag(run_id: str, round_no: int, key: Key, slice_no: int = 0) -> str:
    """The tag of the square-off order for `key` in round `round_no` (slice `slice_no`) of run `run_id`."""
    if not 0 <= round_no <= MAX_ROUND:
        raise ValueError(f"round {round_no} is out of range 0..{MAX_ROUND}")
    if not 0 <= slice_no < MAX_SLICES:
        raise ValueError(f"slice {slice_no} is out of range 0..{MAX_SLICES - 1}")
    body = f"{run_id}|{round_no}|{slice_no}|{key.exchange}:{key.symbol}:{key.product}"
    tag = run_prefix(run_id) + _b36(round_no, ROUND_WIDTH) + _b36(slice_no, SLICE_WIDTH) + _digest(body, HASH_WIDTH)
    assert len(tag) == TAG_LENGTH and tag.isalnum()
    return tag


class OwnTag(NamedTuple):
    round_no: int
    slice_no: int


def parse_own_tag(tag: str | None, run_id: str, key: Key) -> OwnTag | None:
    """(round, slice) when `tag` is this run's square-off tag for `key`; None for anything else."""
    if not tag or len(tag) != TAG_LENGTH:
        return None
    tag = tag.lower()
    prefix = run_prefix(run_id)
    if not tag.startswith(prefix):
        return None
    rest = tag[len(prefix) :]
    try:
        round_no = int(rest[:ROUND_WIDTH], 36)
        slice_no = int(rest[ROUND_WIDTH : ROUND_WIDTH + SLICE_WIDTH], 36)
    except ValueError:
        return None
    if square_off_tag(run_id, round_no, key, slice_no) != tag:
        return None
    return OwnTag(round_no, slice_no)
