"""`order_path`: proves, before ignition and without trading, that the broker accepts order writes from here.

Since 2026-04-01 Kite refuses place/modify/cancel from an IP not registered for the app, while every read
(profile, order book, positions, quotes) still works from anywhere: a scan of reads alone passes on a host
whose kill switch could not cancel a single order. Source:
https://kite.trade/forum/discussion/15912/preparing-to-comply-with-sebis-retail-algo-rules-static-ip-ratelimits-order-types

The probe is a harmless write: cancelling an order id that cannot exist. "No such order" (the write reached
the order system) passes; "not allowed from this IP" fails, naming the address the broker saw and where to
register it. `broker.static_ips`, when declared, is compared with this machine's addresses (the socket module
only): a host behind NAT has its public address elsewhere, so a mismatch warns unless
`static_ip_mismatch: fail`.

The paper broker has no static-IP rule: it passes trivially. Kite profiles add this check to their scan
(`scan: {add: [...]}`), so the shipped 12-point checklist stays twelve for paper profiles.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Mapping
from urllib.parse import urlsplit

from mci.brokers.kite_rules import IP_REGISTER_HOW
from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.errors import ConfigError, ExitCode, MciError

_IP_IN_TEXT = re.compile(r"\bIP ([0-9A-Fa-f:.]+[0-9A-Fa-f])")
KITE_API_HOST = "api.kite.trade"


def host_addresses(broker_host: str | None) -> set[str]:
    """This machine's addresses: those its name resolves to, and the source address it would use to reach the
    broker (a UDP connect() picks the route and sends nothing)."""
    import socket  # here: every scan imports this module (the checks load in order), few run this check

    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]).split("%")[0])
    except OSError:
        pass
    if broker_host:
        try:
            targets = {(info[0], info[4][0]) for info in socket.getaddrinfo(broker_host, 443, proto=socket.IPPROTO_UDP)}
        except OSError:
            targets = set()
        for family, address in targets:
            try:
                with socket.socket(family, socket.SOCK_DGRAM) as probe:
                    probe.connect((address, 443))
                    found.add(str(probe.getsockname()[0]).split("%")[0])
            except OSError:
                continue
    return found


def _normal(text: str) -> str:
    return str(ipaddress.ip_address(text))


@register
class OrderPath(Check):
    kind = "order_path"
    uses_broker = True

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        mismatch = str(params.get("static_ip_mismatch", "warn"))
        if mismatch not in ("warn", "fail"):
            raise ConfigError(
                f"check parameter static_ip_mismatch is {mismatch!r}",
                "it says what a host without the declared static IP does to the scan",
                "set static_ip_mismatch: warn (default) or fail",
            )
        broker_cfg = ctx.profile.broker
        probe = getattr(ctx.broker, "probe_order_path", None)
        if probe is None:
            return CheckOutcome.failed(
                MciError(
                    f"the {broker_cfg.kind} broker cannot prove its order path",
                    "its adapter has no harmless write to probe with, so nothing shows that orders can be cancelled",
                    "report it: every broker adapter must implement probe_order_path",
                )
            )
        refusal = probe()
        facts: dict[str, Any] = {"broker": broker_cfg.kind}
        if refusal is None:  # paper: the write path is this process
            return CheckOutcome.passed("paper broker: no static-IP rule, order writes stay in this process", **facts)
        facts["probe_answer"] = refusal.why
        if refusal.details.get("refusal") == "ip":
            seen = _IP_IN_TEXT.search(refusal.why or "")
            address = seen.group(1) if seen else None
            facts["ip_seen_by_broker"] = address
            return CheckOutcome.failed(
                MciError(
                    "Kite refuses order writes from this machine"
                    + (f": it sees the request coming from {address}" if address else ""),
                    f"a harmless cancel was refused as not allowed from this IP ({refusal.why}); since 2026-04-01 Kite "
                    "accepts place, modify and cancel only from the static IPs registered for the app, so the kill "
                    "switch could not cancel or square off anything from here",
                    (f"register {address}: " if address else "") + IP_REGISTER_HOW,
                    ExitCode.FAILED,
                ),
                **facts,
            )
        if refusal.details.get("error_type") not in ("InputException", "OrderException"):
            # A refused token, or anything else: the write path is not proven.
            return CheckOutcome.failed(
                MciError(
                    "the order path could not be proven",
                    f"a harmless cancel was refused: {refusal.why}",
                    refusal.how,
                    ExitCode.FAILED,
                ),
                **facts,
            )
        summary = "order writes reach the order system (a cancel of a non-existent order was refused as unknown)"
        return self._static_ips(ctx, summary, mismatch, facts)

    def _static_ips(self, ctx: CheckContext, summary: str, mismatch: str, facts: dict[str, Any]) -> CheckOutcome:
        declared = ctx.profile.broker.static_ips
        if not declared:
            return CheckOutcome.passed(summary, **facts)
        try:
            wanted = {_normal(ip) for ip in declared}
        except ValueError as exc:
            return CheckOutcome.failed(
                ConfigError(
                    f"broker.static_ips has an address that is not one: {exc}",
                    "static_ips lists the IPs registered on the Kite developer console",
                    "write each like 203.0.113.7 or 2001:db8::7",
                ),
                **facts,
            )
        root = ctx.profile.broker.root
        have = set()
        for address in host_addresses(urlsplit(root).hostname if root else KITE_API_HOST):
            try:
                have.add(_normal(address))
            except ValueError:
                continue
        facts.update(static_ips=sorted(wanted), host_addresses=sorted(have))
        if wanted & have:
            return CheckOutcome.passed(
                f"{summary}; this machine has the static IP {', '.join(sorted(wanted & have))}", **facts
            )
        error = MciError(
            f"this machine has none of the static IPs in broker.static_ips ({', '.join(sorted(wanted))})",
            f"its addresses are {', '.join(sorted(have)) or 'unknown'}; behind NAT the public address is not one of "
            "them, but on a host that should own the registered IP, orders would come from another address",
            f"run from the machine that owns the registered IP, or correct broker.static_ips; {IP_REGISTER_HOW}",
            ExitCode.FAILED,
        )
        if mismatch == "fail":
            return CheckOutcome.failed(error, **facts)
        return CheckOutcome.warned(f"{summary}; but {error.what}", error, **facts)
