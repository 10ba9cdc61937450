"""Objects derived from files, kept in `<state_dir>/cache/` so a later run need not rebuild them.

An entry is found by a digest of everything it was built from (file bytes, the
code that built it, mci's version), so a change to any input looks up another
entry: nothing is invalidated in place and a stale entry is never read. What
is only known after building (which rule files, which environment variables)
is stored in the entry and checked before it is used (see mci.config.profile_cache).

Entries are JSON with tagged values (Decimal, timedelta, Path, the model's
dataclasses by an allow-list), never pickle: reading one constructs plain data
and nothing else. They are written atomically (a temporary file renamed into
place) and carry a checksum; an entry that is missing, truncated, corrupt or
from another format is a miss, never an error. The cache only saves time:
every failure to read or write it is ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from datetime import date, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

FORMAT = "mci-cache-1"


def digest(*parts: bytes | str) -> str:
    """sha256 over the parts, each length-prefixed (no two different part lists collide by concatenation)."""
    h = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else part.encode("utf-8", "surrogateescape")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def files_digest(files: Iterable[Path]) -> str:
    """A digest of the files' contents: the code an entry depends on (a checkout keeps its version number)."""
    out = []
    for file in files:
        try:
            out.append(file.read_bytes())
        except OSError:
            out.append(b"\0missing\0" + str(file).encode("utf-8", "surrogateescape"))
    return digest(*out)


class Unencodable(Exception):
    """A value the codec does not know: the object is not cached (it is still used, only rebuilt next time)."""


def encode(value: Any, classes: Mapping[str, type]) -> Any:
    """`value` as JSON-able data; dataclasses only of the `classes` allow-list (name -> class)."""
    kind = type(value)
    if value is None or kind in (bool, int, str, float):
        return value
    if kind is Decimal:
        return {"$dec": str(value)}
    if kind is timedelta:
        return {"$td": [value.days, value.seconds, value.microseconds]}
    if kind is date:
        return {"$date": value.isoformat()}
    if kind is time:
        if value.tzinfo is not None:
            raise Unencodable("an aware time")
        return {"$time": value.isoformat()}
    if kind is type(Path()):  # PosixPath (WindowsPath on Windows)
        return {"$path": str(value)}
    if kind is list:
        return [encode(v, classes) for v in value]
    if kind is tuple:
        return {"$tuple": [encode(v, classes) for v in value]}
    if kind is frozenset:
        return {"$fset": [encode(v, classes) for v in value]}
    if kind is dict:
        if all(type(k) is str and not k.startswith("$") for k in value):
            return {k: encode(v, classes) for k, v in value.items()}
        return {"$map": [[encode(k, classes), encode(v, classes)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = kind.__qualname__
        if classes.get(name) is not kind:
            raise Unencodable(f"class {name}")
        fields = dataclasses.fields(value)
        if any(not f.init for f in fields):
            raise Unencodable(f"class {name} has a field its constructor does not take")
        return {"$dc": name, "f": {f.name: encode(getattr(value, f.name), classes) for f in fields}}
    raise Unencodable(type(value).__name__)


def decoder(classes: Mapping[str, type]) -> Callable[[dict[str, Any]], Any]:
    """The json object_hook undoing encode()."""

    def hook(obj: dict[str, Any]) -> Any:
        if len(obj) == 1:
            ((tag, value),) = obj.items()
            if tag == "$dec":
                return Decimal(value)
            if tag == "$td":
                return timedelta(days=value[0], seconds=value[1], microseconds=value[2])
            if tag == "$date":
                return date.fromisoformat(value)
            if tag == "$time":
                return time.fromisoformat(value)
            if tag == "$path":
                return Path(value)
            if tag == "$tuple":
                return tuple(value)
            if tag == "$fset":
                return frozenset(value)
            if tag == "$map":
                return {k: v for k, v in value}
        elif len(obj) == 2 and "$dc" in obj and "f" in obj:
            return classes[obj["$dc"]](**obj["f"])  # an unknown class is a KeyError: a miss
        if any(k.startswith("$") for k in obj):
            raise ValueError("unknown tag in a cache entry")
        return obj

    return hook


def read(path: Path, classes: Mapping[str, type]) -> Any:
    """The entry's value, or None when there is none usable (missing, truncated, corrupt, unknown class)."""
    try:
        raw = path.read_bytes()
        header, _, body = raw.partition(b"\n")
        fmt, _, checksum = header.decode("ascii").partition(" ")
        if fmt != FORMAT or checksum != hashlib.sha256(body).hexdigest():
            return None
        return json.loads(body.decode("utf-8"), object_hook=decoder(classes))
    except Exception:  # noqa: BLE001 — anything wrong with an entry makes it a miss
        return None


def write(path: Path, value: Any, classes: Mapping[str, type]) -> bool:
    """Store `value` at `path` atomically (0600, like the rest of the state directory); False if it was not."""
    try:
        body = json.dumps(encode(value, classes), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except (Unencodable, ValueError, RecursionError):
        return False
    data = f"{FORMAT} {hashlib.sha256(body).hexdigest()}\n".encode("ascii") + body
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")  # unique: threads and processes may race
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)  # readers see the old entry or the whole new one, never a part
        return True
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
        return False
