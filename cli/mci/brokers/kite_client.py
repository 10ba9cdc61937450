"""The official `kiteconnect` client without its WebSocket ticker.

`import kiteconnect` runs the package's __init__, which imports `kiteconnect.ticker` and with it twisted and
autobahn (~180 ms): every Kite-profile command paid that although only `mci watch`'s stream uses the ticker.
Here the package is registered without running its __init__, as a lazy package whose KiteConnect, KiteTicker
and exceptions attributes load on first use, so `from kiteconnect import KiteTicker` still works for whoever
needs it and the REST paths load only `kiteconnect.connect` (requests, dateutil).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

_LAZY = {
    "KiteConnect": "kiteconnect.connect",
    "KiteTicker": "kiteconnect.ticker",
    "exceptions": "kiteconnect.exceptions",
}


def _register_lazy_package() -> None:
    if "kiteconnect" in sys.modules:  # already imported (for real or lazily): nothing to save
        return
    spec = importlib.util.find_spec("kiteconnect")
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError("No module named 'kiteconnect'", name="kiteconnect")
    package = importlib.util.module_from_spec(spec)  # a package with its __path__, its __init__ not run

    def __getattr__(name: str) -> Any:
        target = _LAZY.get(name)
        if target is None:
            raise AttributeError(f"module 'kiteconnect' has no attribute {name!r}")
        module = importlib.import_module(target)
        value = module if name == "exceptions" else getattr(module, name)
        setattr(package, name, value)
        return value

    # Into the module's namespace, where PEP 562 looks (typeshed declares ModuleType.__getattr__ a method).
    vars(package).update(__getattr__=__getattr__, __all__=list(_LAZY))
    sys.modules["kiteconnect"] = package


def kite_connect() -> type:
    """The KiteConnect class, loaded without the ticker."""
    _register_lazy_package()
    from kiteconnect.connect import KiteConnect

    cls: type = KiteConnect  # kiteconnect ships no types
    return cls


def kite_ticker() -> type:
    """The KiteTicker class (twisted and autobahn come with it): `mci watch`'s stream alone asks for it."""
    _register_lazy_package()
    from kiteconnect.ticker import KiteTicker

    cls: type = KiteTicker  # kiteconnect ships no types
    return cls
