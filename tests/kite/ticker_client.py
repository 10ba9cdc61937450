"""The real kiteconnect.KiteTicker as a process: one JSON line per event on stdout (a test reads them).

    python ticker_client.py ROOT API_KEY ACCESS_TOKEN MODE TOKEN[,TOKEN...] [UNSUBSCRIBE_AFTER_TICKS]

Events: {"event": "connect"} | {"event": "ticks", "ticks": [...]} | {"event": "order", "data": {...}} |
{"event": "close" | "error", "code", "reason"} | {"event": "reconnect", "attempt"} | {"event": "heartbeat"}.
A line "unsubscribe TOKEN" or "mode MODE TOKEN" on stdin is sent to the server; "quit" ends it.
The twisted reactor runs in its own thread (it cannot run twice in a process: hence a process per client).
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from kiteconnect import KiteTicker

out_lock = threading.Lock()


def say(**event: Any) -> None:
    with out_lock:
        sys.stdout.write(json.dumps(event, default=str) + "\n")
        sys.stdout.flush()


def main() -> int:
    root, api_key, access_token, mode, tokens = sys.argv[1:6]
    subscribed = [int(t) for t in tokens.split(",") if t]
    kws = KiteTicker(api_key, access_token, root=root, reconnect_max_delay=5, reconnect_max_tries=5, connect_timeout=5)

    def on_connect(ws: KiteTicker, response: Any) -> None:
        say(event="connect")
        ws.subscribe(subscribed)
        if mode != "quote":
            ws.set_mode(mode, subscribed)

    kws.on_connect = on_connect
    kws.on_ticks = lambda ws, ticks: say(event="ticks", ticks=ticks)
    kws.on_order_update = lambda ws, data: say(event="order", data=data)
    kws.on_close = lambda ws, code, reason: say(event="close", code=code, reason=str(reason))
    kws.on_error = lambda ws, code, reason: say(event="error", code=code, reason=str(reason))
    kws.on_reconnect = lambda ws, attempt: say(event="reconnect", attempt=attempt)
    kws.on_noreconnect = lambda ws: say(event="noreconnect")
    kws.on_message = lambda ws, payload, is_binary: say(event="heartbeat") if is_binary and len(payload) == 1 else None
    kws.connect(threaded=True)
    from twisted.internet import reactor

    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "unsubscribe":
            reactor.callFromThread(kws.unsubscribe, [int(words[1])])
        elif words[0] == "mode":
            reactor.callFromThread(kws.set_mode, words[1], [int(words[2])])
        elif words[0] == "raw":
            reactor.callFromThread(kws.ws.sendMessage, " ".join(words[1:]).encode())
    reactor.callFromThread(kws.close)
    return 0


if __name__ == "__main__":
    sys.exit(main())
