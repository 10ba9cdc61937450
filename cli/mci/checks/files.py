"""file and metric: evidence that sits in a file (or behind a URL).

file: a document exists (a runbook, a signed report), is recent enough, is not
empty, and optionally has an exact sha256. metric: one number in a JSON
document — a load test's orders per minute, a reconciliation's mismatches —
compared exactly (Decimal) with a bound.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any, Mapping

from mci.checks import jsonpath
from mci.checks import params as P
from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.errors import ConfigError, MciError


def sha256_of(path: Any) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@register
class FileCheck(Check):
    kind = "file"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        path = P.file_path(ctx, params, "path", example="docs/runbook.md")
        max_age = P.duration(params, "max_age", None)
        min_size = P.whole(params, "min_size", 0)
        expected = params.get("sha256")
        if expected is not None:
            expected = P.text(params, "sha256").strip().lower()
            if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
                raise ConfigError(
                    "check parameter sha256 is not a SHA-256 digest",
                    "it must be 64 hex digits",
                    "take it from `sha256sum FILE`",
                )
        where = P.shown(path, ctx)
        if not path.exists():
            return CheckOutcome.failed(
                MciError(
                    f"{where} does not exist",
                    "the gate requires this file as evidence",
                    "write or copy it there, or fix `path` in the check's params",
                ),
                path=where,
            )
        if not path.is_file():
            return CheckOutcome.failed(
                MciError(
                    f"{where} is not a file",
                    "the gate requires a file at this path",
                    "fix `path` in the check's params",
                ),
                path=where,
            )
        size = path.stat().st_size
        facts: dict[str, Any] = {"path": where, "size": size, "age": P.age_of(path, ctx.clock.now())}
        problems = []
        if size < min_size:
            problems.append(f"it has {size} bytes, fewer than min_size {min_size}")
        reason = P.staleness(ctx, path, max_age)
        if reason:
            problems.append(reason)
        if expected is not None:
            actual = sha256_of(path)
            facts["sha256"] = actual
            if actual != expected:
                problems.append(f"its sha256 is {actual[:12]}…, expected {expected[:12]}…")
        if problems:
            return CheckOutcome.failed(
                MciError(
                    f"{where}: {problems[0]}",
                    "; ".join(problems),
                    "replace the file with the current, approved version",
                ),
                **facts,
            )
        return CheckOutcome.passed(f"{where} present ({size} bytes, written {P.human(facts['age'])} ago)", **facts)


@register
class MetricCheck(Check):
    kind = "metric"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        path_expr = P.text(params, "json_path", example="orders_per_minute")
        try:
            jsonpath.parse(path_expr)
        except jsonpath.PathError as exc:
            raise ConfigError(
                f"check parameter json_path: {exc}",
                "it names one value in the JSON document",
                "write it like orders_per_minute or results[0].p95_ms",
            ) from None
        op = P.text(params, "op", example="'>='")
        if op not in jsonpath.OPS:
            raise ConfigError(
                f"check parameter op is {op!r}",
                f"a metric is compared with one of {' '.join(jsonpath.OPS)}",
                "quote it in YAML: op: '>='",
            )
        bound = P.number(params, "value")
        has_file, has_url = params.get("file") is not None, params.get("url") is not None
        if has_file == has_url:
            raise ConfigError(
                "a metric check needs exactly one of file and url",
                f"it has {'both' if has_file else 'neither'}",
                "set `file: report.json` or `url: http://...`",
            )
        document, source, facts = self._document(ctx, params) if has_file else self._fetched(ctx, params)
        if isinstance(document, CheckOutcome):
            return document
        try:
            actual = jsonpath.as_number(jsonpath.lookup(document, path_expr))
        except jsonpath.PathError as exc:
            return CheckOutcome.failed(
                MciError(
                    f"{source}: no number at {path_expr}", str(exc), "check the report's format, or fix `json_path`"
                ),
                **facts,
            )
        facts.update(json_path=path_expr, value=actual, op=op, bound=bound)
        text = f"{path_expr} = {actual} {op} {bound}"
        if not jsonpath.compare(actual, op, bound):
            return CheckOutcome.failed(
                MciError(
                    f"{path_expr} is {actual}, which is not {op} {bound}",
                    f"read from {source}",
                    "fix what the metric measures and produce a new report; do not lower the bound to pass",
                ),
                **facts,
            )
        return CheckOutcome.passed(f"{text} ({source})", **facts)

    @staticmethod
    def _document(ctx: CheckContext, params: Mapping[str, Any]) -> tuple[Any, str, dict[str, Any]]:
        path = P.file_path(ctx, params, "file")
        where = P.shown(path, ctx)
        facts: dict[str, Any] = {"file": where}
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return (
                CheckOutcome.failed(
                    MciError(
                        f"{where} does not exist",
                        "the metric is read from that report",
                        "produce the report (the job that measures it), or fix `file`",
                    ),
                    **facts,
                ),
                where,
                facts,
            )
        except OSError as exc:
            return (
                CheckOutcome.failed(
                    MciError(f"{where} cannot be read", exc.strerror or str(exc), "fix its permissions, or fix `file`"),
                    **facts,
                ),
                where,
                facts,
            )
        reason = P.staleness(ctx, path, P.duration(params, "max_age", None))
        if reason:
            return (
                CheckOutcome.failed(
                    MciError(
                        f"the metric report is stale: {reason}",
                        "an old measurement describes an old system",
                        "measure again and write a fresh report",
                    ),
                    **facts,
                ),
                where,
                facts,
            )
        try:
            return json.loads(raw.decode("utf-8"), parse_float=Decimal), where, facts
        except ValueError as exc:
            return (
                CheckOutcome.failed(
                    MciError(f"{where} is not JSON", str(exc)[:200], "the metric check reads a JSON document"), **facts
                ),
                where,
                facts,
            )

    @staticmethod
    def _fetched(ctx: CheckContext, params: Mapping[str, Any]) -> tuple[Any, str, dict[str, Any]]:
        from mci.checks.web import checked_url, decode_json, fetch, public_url

        url = checked_url(params)
        headers = {k: str(v) for k, v in P.mapping(params, "headers").items()}
        timeout = P.duration(params, "timeout", None)
        answer = fetch(url, headers=headers, timeout=timeout or timedelta(seconds=5))
        source = public_url(url)
        facts: dict[str, Any] = {"url": source, "status": answer.status}
        if answer.status != 200:
            why = answer.problem if answer.status is None else f"status {answer.status}"
            return (
                CheckOutcome.failed(
                    MciError(f"GET {source} gave no metric", why, "bring the metrics endpoint up, or fix `url`"),
                    **facts,
                ),
                source,
                facts,
            )
        try:
            return decode_json(answer.body), source, facts
        except ValueError as exc:
            return (
                CheckOutcome.failed(
                    MciError(
                        f"GET {source} did not answer JSON",
                        str(exc)[:200],
                        "point `url` at an endpoint that serves JSON",
                    ),
                    **facts,
                ),
                source,
                facts,
            )
