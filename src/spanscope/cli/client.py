"""The CLI's HTTP client for the native query API (docs/api.md).

Each method makes one request and returns the API's JSON exactly as received, so
``spanscope ... --json`` can print it unchanged and the tables render the same data::

    with ApiClient("http://127.0.0.1:16686") as api:
        api.services()                       # {"services": ["checkout", "orders"]}
        api.search(SearchParams(service="checkout", min_duration="1s", order="slowest"))
        api.trace("4bf92f3577b34da6a3ce929d0e0e4736")
        api.get("/api/v1/diff", {"a": "0af7...", "b": "4bf9..."})   # any other endpoint

Every failure becomes one :class:`ApiError` whose message a person can act on: a server
that is not running names the URL and suggests ``spanscope serve``; a 4xx carries the
API's own message (which names the offending value and the fix).

A server with TLS (``spanscope serve --tls-cert``) is an ``https://`` URL; a private CA is
trusted with ``ca_file`` (``spanscope --ca-file ca.pem ...`` or ``SPANSCOPE_CA_FILE``), else
the system's store (or ``SSL_CERT_FILE``) decides. A certificate the client does not trust,
or http:// to a TLS port, gets a message saying which of the two it is.

A server with tokens (``spanscope serve --auth-file``) gets ``token`` as
``Authorization: Bearer`` (``spanscope --token`` or ``SPANSCOPE_TOKEN``); its 401 or 403
becomes a message saying to pass one, or one with the scope named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from spanscope.tls import TlsConfigError, client_verify

DEFAULT_TIMEOUT_S = 30.0
"""Generous: a search over a day of spans may take seconds on a busy machine."""


class ApiError(Exception):
    """A request to the query API failed; ``str(error)`` is the one line to show."""


@dataclass(slots=True)
class SearchParams:
    """The CLI's search flags, named as the API's query parameters (docs/api.md)."""

    service: str | None = None
    operation: str | None = None
    tags: list[str] = field(default_factory=list)
    min_duration: str | None = None
    max_duration: str | None = None
    status: str | None = None
    start: str | None = None
    end: str | None = None
    lookback: str | None = None
    limit: int | None = None
    order: str | None = None
    q: str | None = None
    """A TraceQL query, in place of the filters above (docs/traceql.md)."""

    def query(self) -> list[tuple[str, str]]:
        """Query-string pairs, ``tag`` repeated; unset flags are left to the API's defaults."""
        pairs: list[tuple[str, str]] = [("tag", tag) for tag in self.tags]
        for name in (
            "service",
            "operation",
            "min_duration",
            "max_duration",
            "status",
            "start",
            "end",
            "lookback",
            "limit",
            "order",
            "q",
        ):
            value = getattr(self, name)
            if value is not None:
                pairs.append((name, str(value)))
        return pairs


class ApiClient:
    """A synchronous client of one Spanscope server's ``/api/v1``."""

    def __init__(
        self,
        url: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        ca_file: str | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """``headers`` go with every request: ``{"X-Scope-OrgID": "acme"}`` reads tenant
        acme (``spanscope --tenant``)."""
        self.url = url.rstrip("/")
        self.token = token
        try:
            verify = client_verify(ca_file)
        except TlsConfigError as exc:
            raise ApiError(str(exc)) from None
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout_s,
            verify=verify,
            headers={**auth_headers(token), **(headers or {})},
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def services(self) -> Any:
        return self.get("/api/v1/services")

    def operations(self, service: str, span_kind: str | None = None) -> Any:
        params = {"span_kind": span_kind} if span_kind else {}
        return self.get(f"/api/v1/services/{quote(service, safe='')}/operations", params)

    def search(self, params: SearchParams) -> Any:
        return self.get("/api/v1/traces", params.query())

    def trace(self, trace_id: str) -> Any:
        return self.get(f"/api/v1/traces/{quote(trace_id.strip(), safe='')}")

    def get(self, path: str, params: Any = None) -> Any:
        """GET ``path`` (``/api/v1/...``) with ``params``; the answer's JSON, or an
        :class:`ApiError` whose message says what to do."""
        try:
            response = self._http.get(path, params=params)
        except httpx.ConnectError as exc:
            if tls_problem := _tls_problem(self.url, exc):
                raise ApiError(tls_problem) from None
            raise ApiError(
                f"cannot connect to the Spanscope API at {self.url}: is the server running? "
                "Start one with `spanscope serve`, or point --url (SPANSCOPE_URL) at it"
            ) from None
        except httpx.TimeoutException:
            raise ApiError(
                f"the Spanscope API at {self.url} did not answer {path} in time; "
                "narrow the search (--since, --service) or retry"
            ) from None
        except httpx.HTTPError as exc:
            raise ApiError(
                f"request to {self.url}{path} failed: {str(exc).rstrip('.')}"
                + _plain_to_tls_hint(self.url)
            ) from None
        if response.status_code >= 400:
            raise ApiError(error_text(response, self.token))
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"{self.url}{path} answered {response.status_code} with non-JSON content; "
                "is --url pointing at a Spanscope server?"
            ) from None


def _tls_problem(url: str, exc: httpx.ConnectError) -> str | None:
    """The sentence for a TLS handshake that failed, or None if it was not TLS."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (
            f"the Spanscope API at {url} has a certificate this client does not trust "
            f"({text}); pass the CA that signed it with --ca-file (SPANSCOPE_CA_FILE)"
        )
    if url.startswith("https://") and ("WRONG_VERSION_NUMBER" in text or "record layer" in text):
        return (
            f"the Spanscope API at {url} does not speak TLS ({text}); "
            "use http:// or start it with --tls-cert/--tls-key"
        )
    return None


def _plain_to_tls_hint(url: str) -> str:
    """A TLS listener hangs up on plain HTTP without an answer: say what that usually means."""
    if url.startswith("http://"):
        return "; if the server runs with TLS (--tls-cert), use https:// in --url"
    return ""


def auth_headers(token: str | None) -> dict[str, str]:
    """``Authorization: Bearer <token>`` for a server run with ``--auth-file``."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def error_text(response: httpx.Response, token: str | None) -> str:
    """The one line for a failed answer: the API's message, and for a 401/403 what to do
    about the token (a token is never shown)."""
    message = _error_message(response)
    if response.status_code == 401 and token is None:
        return (f"{message}\nthis server needs a token: pass it with `spanscope --token TOKEN "
                "...` or set SPANSCOPE_TOKEN (docs/security.md)")  # fmt: skip
    if response.status_code == 401:
        return (f"{message}\nthe token given (--token or SPANSCOPE_TOKEN) is not accepted "
                "by this server: check it against the server's --auth-file")  # fmt: skip
    if response.status_code == 403 and "scope" in message:
        return f"{message}\npass a token with that scope with --token or SPANSCOPE_TOKEN"
    return message


def _error_message(response: httpx.Response) -> str:
    """The API's own error message ({"error": {"message"}}), or the status and body start."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
        detail = body.get("detail")
        if isinstance(detail, list) and detail:  # FastAPI's own parameter validation
            return "; ".join(_validation_text(d) for d in detail)
        if detail:
            return str(detail)
    text = response.text.strip().replace("\n", " ")[:200]
    if text and response.request.url.path.startswith("/tempo/") and response.status_code == 400:
        return text  # Tempo's API answers its errors as plain text, which says it all
    return f"{response.request.url} answered {response.status_code} {response.reason_phrase}" + (
        f": {text}" if text else ""
    )


def _validation_text(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(p) for p in item.get("loc", [])[1:])
    return f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", ""))
