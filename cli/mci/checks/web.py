"""http: an endpoint answers as expected — status, JSON values, body text — `repeat` times in a row.

One green answer proves little about a service that flaps, so a smoke gate asks
for N consecutive green probes, `interval` apart, within `within`; any bad
probe resets the streak. Headers may carry credentials (from ${env:...}): they
are sent, never shown. The URL is shown without its user info and query.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

from mci.checks import jsonpath
from mci.checks import params as P
from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.errors import ConfigError, MciError
from mci.observability.redact import redact

DEFAULT_WITHIN = timedelta(seconds=9)  # a gate sizes it from the check's timeout (mci.gates.resolve)
DEFAULT_REQUEST_TIMEOUT = timedelta(seconds=5)
MAX_BODY = 1024 * 1024
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def public_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "…" if parts.query else "", ""))


def checked_url(params: Mapping[str, Any]) -> str:
    url = P.text(params, "url", example="http://127.0.0.1:8787/health")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"check parameter url is not an http(s) URL: {public_url(url)!r}",
            "the http and metric checks speak HTTP only",
            "write it like http://127.0.0.1:8787/health",
        )
    return url


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer at all
    body: bytes = b""
    problem: str = ""  # why there was no answer


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: str | None = None,
    timeout: timedelta,
) -> Answer:
    # urllib.request (with http.client, email and ssl) costs ~10 ms: loaded only when a check calls out,
    # not by every scan that loads the check modules.
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        # A health endpoint that redirects (to a login page, say) is not green; judge the answer it gave.
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    request = urllib.request.Request(
        url, method=method, headers=dict(headers or {}), data=body.encode("utf-8") if body is not None else None
    )
    handlers: list[Any] = [NoRedirect]
    if urlsplit(url).hostname in LOOPBACK:
        handlers.append(urllib.request.ProxyHandler({}))  # this machine is never behind the CI's HTTP proxy
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=max(timeout.total_seconds(), 0.05)) as reply:
            return Answer(reply.status, reply.read(MAX_BODY))
    except urllib.error.HTTPError as exc:  # 4xx/5xx (and unfollowed 3xx) are answers, judged by the caller
        try:
            data = exc.read(MAX_BODY)
        except Exception:  # noqa: BLE001
            data = b""
        return Answer(exc.code, data)
    except urllib.error.URLError as exc:
        return Answer(None, problem=f"no answer: {exc.reason}")
    except (TimeoutError, OSError) as exc:
        return Answer(None, problem=f"no answer: {exc.__class__.__name__} {exc}".strip())
    except ValueError as exc:  # http.client refusing a malformed reply
        return Answer(None, problem=f"a malformed answer: {exc}")


def decode_json(body: bytes) -> Any:
    return json.loads(body.decode("utf-8"), parse_float=Decimal)


@register
class Http(Check):
    kind = "http"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        url = checked_url(params)
        method = P.text(params, "method", "GET").upper()
        statuses = P.whole_set(params, "status", 200)
        headers = {k: str(v) for k, v in P.mapping(params, "headers").items()}
        body = params.get("body")
        if body is not None and not isinstance(body, str):
            raise ConfigError("check parameter body must be text", "it is sent as the request body", "quote it")
        expect_json = P.mapping(params, "json")
        for path in expect_json:
            try:
                jsonpath.parse(path)
            except jsonpath.PathError as exc:
                raise ConfigError(
                    f"json: {exc}",
                    "json maps JSON paths to the values expected there",
                    "write keys like status or checks.db.ok",
                ) from None
        body_match = params.get("body_match")
        try:
            body_re = re.compile(P.text(params, "body_match")) if body_match is not None else None
        except re.error as exc:
            raise ConfigError(
                f"check parameter body_match is not a regular expression: {exc}",
                "it is searched in the body",
                "fix `body_match`",
            ) from None
        repeat = P.whole(params, "repeat", 1, minimum=1)
        interval = P.duration(params, "interval", timedelta(seconds=1)) or timedelta(0)
        within = P.duration(params, "within", DEFAULT_WITHIN) or DEFAULT_WITHIN
        request_timeout = P.duration(params, "timeout", DEFAULT_REQUEST_TIMEOUT) or DEFAULT_REQUEST_TIMEOUT
        hidden = P.secrets(ctx, headers.values())
        shown = public_url(url)

        clock = ctx.clock
        deadline = clock.monotonic() + within.total_seconds()
        streak = best = probes = 0
        history: list[str] = []
        last_problem = ""
        while True:
            remaining = deadline - clock.monotonic()
            answer = fetch(
                url,
                method=method,
                headers=headers,
                body=body,
                timeout=min(request_timeout, timedelta(seconds=max(remaining, 0.05))),
            )
            probes += 1
            problem = self._judge(answer, statuses, expect_json, body_re)
            history.append(str(answer.status) if answer.status is not None else "none")
            if problem is None:
                streak += 1
                best = max(best, streak)
                if streak >= repeat:
                    break
            else:
                streak = 0  # a flap: the next green starts a new streak
                last_problem = redact(problem, hidden)
            if clock.monotonic() + interval.total_seconds() >= deadline:
                break
            clock.sleep(interval.total_seconds())

        facts = {
            "url": shown,
            "method": method,
            "probes": probes,
            "streak": streak,
            "best_streak": best,
            "required": repeat,
            "statuses": history[-20:],
        }
        if streak >= repeat:
            in_a_row = f", {repeat} in a row" if repeat > 1 else ""
            flaps = f" after {probes - repeat} bad probe(s)" if probes > repeat else ""
            return CheckOutcome.passed(f"{method} {shown} green{in_a_row}{flaps}", **facts)
        if repeat == 1:
            what = f"{method} {shown}: {last_problem}"
        else:
            what = f"{method} {shown} was not green {repeat} times in a row within {within.total_seconds():g}s"
        return CheckOutcome.failed(
            MciError(
                what,
                f"{probes} probe(s), best streak {best} of {repeat}; last bad probe: {last_problem}",
                "bring the service up and healthy, then run the gate again; "
                "if it needs longer to settle, raise `within` (and the check's timeout:)",
            ),
            **facts,
        )

    @staticmethod
    def _judge(
        answer: Answer, statuses: set[int], expect_json: Mapping[str, Any], body_re: re.Pattern[str] | None
    ) -> str | None:
        """None when the answer is green, else why not."""
        if answer.status is None:
            return answer.problem
        if answer.status not in statuses:
            return f"status {answer.status}, expected {' or '.join(map(str, sorted(statuses)))}"
        if expect_json:
            try:
                document = decode_json(answer.body)
            except ValueError:
                return f"status {answer.status} but the body is not JSON"
            for path, expected in expect_json.items():
                try:
                    actual = jsonpath.lookup(document, path)
                except jsonpath.PathError as exc:
                    return f"status {answer.status} but {exc}"
                if not jsonpath.same(actual, expected):
                    return (
                        f"status {answer.status} but {path} is {json.dumps(actual, default=str)[:60]}, "
                        f"expected {json.dumps(expected, default=str)[:60]}"
                    )
        if body_re is not None and not body_re.search(answer.body.decode("utf-8", "replace")):
            return f"status {answer.status} but the body does not match /{body_re.pattern}/"
        return None
