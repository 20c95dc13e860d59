"""What every query API request passes through: bounds, a time limit, a request id, and
no engine text or 500 in any answer.

:class:`RequestGuard` is a plain ASGI middleware (no per-request task or body copy) that:

1. names the request: ``X-Request-Id`` from the client when it is short and plain, else a
   new one; it is sent back on every answer and is in every log line about the request;
2. refuses, with a 400 naming the parameter, a query string or path over the bounds
   below, before any handler parses it (a handler still bounds each value's meaning:
   durations and times at 64 characters and int64, see :mod:`spanscope.query.durations`);
3. runs the request under ``--query-timeout`` (:mod:`spanscope.store.deadline`): a read
   still running at the limit is interrupted and the answer is 503 naming the limit;
4. answers anything unexpected (a DuckDB error, a bug) with 503 and a generic message
   carrying the request id, in the API's own error shape (:mod:`spanscope.api.errors`);
   the exception, with the engine's text, goes to the log under that id.

Bounds (each a 400 naming what broke it):

==========================  =====  =====================================================
``MAX_VALUE_CHARS``         4096   characters in one parameter's value (names, tag filters,
                                   JSON ``tags``/``query.attributes``)
``MAX_REPEATS``             64     times one parameter may be given (``tag=``, ``service=``,
                                   ``traceID=``, ``quantile=``...)
``MAX_PARAMS``              256    parameters in one query string
``MAX_PATH_CHARS``          2048   characters in the path (ids, service and metric names)
==========================  =====  =====================================================
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spanscope.api.errors import OrjsonResponse, error_body
from spanscope.query.durations import shown
from spanscope.store.deadline import QueryTimeout, deadline

log = logging.getLogger("spanscope.api")

MAX_VALUE_CHARS = 4096
MAX_REPEATS = 64
MAX_PARAMS = 256
MAX_PATH_CHARS = 2048
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


def bounds_problem(path: str, query_string: bytes) -> str | None:
    """Why this path and query string are over the bounds, or None."""
    if len(path) > MAX_PATH_CHARS:
        return f"path {shown(path)}: longer than {MAX_PATH_CHARS} characters"
    # Fast path, nearly every request: a string this short cannot hold a value over the
    # bound, and too few '&' cannot repeat a parameter too often.
    if len(query_string) <= MAX_VALUE_CHARS and query_string.count(b"&") < MAX_REPEATS:
        return None
    # As Starlette reads it: percent-escapes decoded as UTF-8 (bad bytes replaced).
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    counts = Counter(name for name, _ in pairs)
    for name, n in counts.items():
        if n > MAX_REPEATS:
            return f"parameter {shown(name)}: given {n} times; at most {MAX_REPEATS} per request"
    if len(pairs) > MAX_PARAMS:
        return f"{len(pairs)} query parameters: at most {MAX_PARAMS} per request"
    for name, value in pairs:
        if len(value) > MAX_VALUE_CHARS:
            return f"parameter {name}={shown(value)}: longer than {MAX_VALUE_CHARS} characters"
    return None


class RequestGuard:
    """ASGI middleware: bounds, ``--query-timeout``, request ids, 503 instead of 500."""

    def __init__(self, app: ASGIApp, query_timeout_s: float | None = None) -> None:
        self.app = app
        self.query_timeout_s = query_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        header = (b"x-request-id", request_id.encode())
        path: str = scope.get("path", "")
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            problem = bounds_problem(path, scope.get("query_string", b""))
            if problem is not None:
                await _answer(send_with_id, path, 400, problem)
                return
            with deadline(self.query_timeout_s):
                await self.app(scope, receive, send_with_id)
        except QueryTimeout as exc:
            log.warning(
                "query API: %s %s%s [request %s]: %s",
                scope.get("method"), path, _query(scope), request_id, exc,
            )  # fmt: skip
            if started:
                raise
            message = (
                f"the query ran past the {exc.seconds:g} s limit (--query-timeout) and was "
                f"cancelled (request id {request_id}): narrow the time range or the filters, "
                "or raise the limit"
            )
            await _answer(send_with_id, path, 503, message)
        except Exception:
            log.exception(
                "query API: %s %s%s failed [request %s]",
                scope.get("method"), path, _query(scope), request_id,
            )  # fmt: skip
            if started:
                raise
            message = (
                f"the store could not answer this request (request id {request_id}; the "
                "server log has the details): retry, or narrow the query"
            )
            await _answer(send_with_id, path, 503, message)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and _REQUEST_ID.fullmatch(value):
            return str(value.decode())
    return uuid.uuid4().hex[:16]


def _query(scope: Scope) -> str:
    text = unquote(scope.get("query_string", b"").decode("latin-1"))
    return f"?{text[:200]}..." if len(text) > 200 else f"?{text}" if text else ""


async def _answer(send: Any, path: str, status: int, message: str) -> None:
    body = OrjsonResponse(error_body(path, status, message)).body
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
