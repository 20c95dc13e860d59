"""Tokens with scopes: who may send spans, read traces, and change settings.

Without ``--auth-file`` anyone who can reach a port may use it, so ``spanscope serve``
then binds loopback only (:func:`listen_refusal`). With it, every listener asks for a
token, and each token may do what its ``scopes`` say::

    # auth.toml  (chmod 600: it holds secrets)
    [[tokens]]
    name = "checkout-service"          # a label for logs and metrics, never the token
    token = "ingest-5f0c2a8e9b1d4c7a"  # make one: openssl rand -hex 32
    scopes = ["ingest"]                # OTLP/gRPC, OTLP/HTTP, Zipkin

    [[tokens]]
    name = "oncall"
    token = "query-a7e3c9d1f4b2e6a8"
    scopes = ["query", "admin"]        # read the API and UI; change sampling, retention
    tenant = "shop"                    # optional: confines the token (spanscope.principal)

    spanscope serve --auth-file auth.toml
    curl -s localhost:16686/api/v1/services -H 'Authorization: Bearer query-a7e3c9d1f4b2e6a8'
    OTEL_EXPORTER_OTLP_HEADERS='authorization=Bearer ingest-5f0c2a8e9b1d4c7a' ./my-service
    kill -HUP <pid>                    # re-read the file: add, remove, rotate tokens

=====================================================  ==========================================
what                                                   needs
=====================================================  ==========================================
OTLP/HTTP, Zipkin (``Authorization: Bearer``),         ``ingest``
OTLP/gRPC (``authorization`` metadata)
``GET``/``HEAD`` on the query API: ``/api/...``,       ``query``
``/metrics``, ``/docs``, ``/openapi.json``, any
unknown path
``GET /api/v1/sampling/rules``, ``GET /api/sampling``  ``query`` or ``ingest`` (SDKs' remote
                                                       samplers read them)
``POST /api/transform`` (OTLP JSON to Jaeger's        ``query``
model: it converts, stores nothing)
any other method on the query API (``PUT``/``DELETE``  ``admin``
sampling rules, ``POST /api/v1/retention``)
``/healthz``, ``/readyz``; the UI's shell and ``/ui/``  nothing (probes; the page that asks
assets                                                 for a token)
=====================================================  ==========================================

Answers: no token (or not ``Bearer``) or a token not in the file is ``401`` with
``WWW-Authenticate: Bearer realm="spanscope"`` (gRPC ``UNAUTHENTICATED``); a known token
without the scope is ``403`` naming the scope (gRPC ``PERMISSION_DENIED``). Every refusal
is counted in ``spanscope_auth_refusals_total{reason="missing"|"unknown"|"scope"}`` on
``/metrics``.

Tokens are kept only as SHA-256 digests and compared with :func:`hmac.compare_digest`
against *every* entry, so the time an answer takes says nothing about how much of a token
was right; logs name a token by its ``name`` or a fingerprint (:func:`fingerprint`).

An HTTP request that passes gets its :class:`~spanscope.principal.Principal` in the ASGI
scope (:data:`~spanscope.principal.PRINCIPAL_KEY`) before any app code runs
(:func:`http_check`); a gRPC servicer calls :func:`authorize_grpc` first and gets it back.
A bad file stops the start naming the file, the ``[[tokens]]`` entry and the key; a bad
file on SIGHUP is logged the same way and the tokens already loaded stay in force.
OIDC/SSO is not built in: docs/security.md shows an authenticating proxy in front.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import stat
import threading
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from spanscope.principal import PRINCIPAL_KEY, SCOPES, Principal
from spanscope.request_policy import Check, Headers, Refusal
from spanscope.tenancy import tenant_id_problem

log = logging.getLogger(__name__)

REALM = 'Bearer realm="spanscope"'
CHALLENGE = ((b"www-authenticate", REALM.encode()),)
MIN_TOKEN_CHARS = 16
ENTRY_KEYS = ("token", "scopes", "tenant", "name")
REASONS = ("missing", "unknown", "scope")
"""Labels of ``spanscope_auth_refusals_total``."""

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
UI_SHELL_PREFIXES = ("/search", "/trace/", "/compare", "/map", "/services/", "/ui/")
UI_SHELL_PATHS = frozenset({"/services", "/logs", "/quality", "/open"})
"""The UI's shell routes and assets (spanscope.ui): loadable without a token, so the page
can ask for one. Everything they show comes from ``/api/...``, which needs ``query``.
The newer pages are whole paths, not prefixes: "/open" must not open "/openapi.json"."""
RULE_READS = frozenset({"/api/v1/sampling/rules", "/api/sampling"})
QUERY_POSTS = frozenset({"/api/transform", "/jaeger/api/transform"})
"""POSTs that read only their body (the Jaeger UI's OTLP upload): a reader may send them."""


class AuthFileError(ValueError):
    """The auth file cannot be used; ``str()`` names the file, the entry and the key."""


def fingerprint(token: str) -> str:
    """A short, non-reversible label for a token, for logs: ``sha256:1f2e3d4c5b6a``."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class TokenEntry:
    digest: bytes
    """SHA-256 of the token: the token itself is not kept."""
    principal: Principal


# -- the file ----------------------------------------------------------------------------


def load_auth_file(path: Path) -> tuple[TokenEntry, ...]:
    """Read and check ``path``; raise :class:`AuthFileError` naming what is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise AuthFileError(f"auth file {path}: cannot read it ({reason})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AuthFileError(f"auth file {path}: not valid TOML ({exc})") from None
    unknown = sorted(set(document) - {"tokens"})
    if unknown:
        raise AuthFileError(
            f"auth file {path}: unknown key {unknown[0]!r}; the file holds [[tokens]] "
            "tables only (docs/security.md)"
        )
    tables = document.get("tokens")
    if not isinstance(tables, list) or not tables:
        raise AuthFileError(
            f"auth file {path}: no [[tokens]] tables; add at least one with token = "
            '"...", scopes = ["ingest"] (docs/security.md)'
        )
    entries: list[TokenEntry] = []
    seen: dict[bytes, int] = {}
    for number, table in enumerate(tables, start=1):
        entry = _entry(path, number, table)
        if entry.digest in seen:
            _fail(path, number, "token", f"the same token as entry {seen[entry.digest]}; "
                  "give each client its own")  # fmt: skip
        seen[entry.digest] = number
        entries.append(entry)
    return tuple(entries)


def _fail(path: Path, number: int, key: str, problem: str) -> NoReturn:
    raise AuthFileError(f"auth file {path}: [[tokens]] entry {number}, key {key!r}: {problem}")


def _entry(path: Path, number: int, table: Any) -> TokenEntry:
    if not isinstance(table, dict):
        _fail(path, number, "tokens", "expected a table; write [[tokens]] sections")
    for key in table:
        if key not in ENTRY_KEYS:
            _fail(path, number, key, f"unknown key; an entry has {', '.join(ENTRY_KEYS)}")
    token = table.get("token")
    if not isinstance(token, str):
        _fail(path, number, "token", "missing or not a string; add token = \"...\" "
              "(make one with: openssl rand -hex 32)")  # fmt: skip
    # ASCII: an HTTP header carries bytes, and other characters reach us in more than one way.
    if len(token) < MIN_TOKEN_CHARS or not all(c.isascii() and c.isprintable() and c != " "
                                               for c in token):  # fmt: skip
        _fail(path, number, "token", f"expected at least {MIN_TOKEN_CHARS} printable ASCII "
              "characters without spaces (make one with: openssl rand -hex 32)")  # fmt: skip
    scopes = table.get("scopes")
    if not isinstance(scopes, list) or not scopes:
        _fail(path, number, "scopes", f"expected a non-empty list of {', '.join(SCOPES)}")
    for scope in scopes:
        if scope not in SCOPES:
            _fail(path, number, "scopes", f"{scope!r} is not a scope; use any of "
                  f"{', '.join(SCOPES)}")  # fmt: skip
    tenant = table.get("tenant")
    if tenant is not None:
        problem = tenant_id_problem(tenant) if isinstance(tenant, str) else "is not a string"
        if problem is not None:  # the X-Scope-OrgID rules: it names a directory
            _fail(path, number, "tenant", f"{tenant!r} {problem} (docs/security.md#tenant-ids)")
    name = table.get("name", fingerprint(token))
    if not isinstance(name, str) or not _is_label(name):
        _fail(path, number, "name", "expected a non-empty string without spaces")
    digest = hashlib.sha256(token.encode()).digest()
    return TokenEntry(digest, Principal(name, frozenset(scopes), tenant))


def _is_label(text: str) -> bool:
    return 0 < len(text) <= 200 and all(c.isprintable() and not c.isspace() for c in text)


# -- the authenticator ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a token was refused: ``reason`` is a metric label, ``status`` 401 or 403."""

    reason: str
    status: int
    message: str


class Authenticator:
    """The tokens of one auth file: :meth:`authorize` a request, :meth:`reload` on SIGHUP."""

    def __init__(self, path: Path, entries: Iterable[TokenEntry]) -> None:
        self.path = Path(path)
        self._entries = tuple(entries)
        self._lock = threading.Lock()
        self.refusals: Counter[str] = Counter({reason: 0 for reason in REASONS})

    @classmethod
    def from_file(cls, path: Path) -> Authenticator:
        """Load ``path`` (raising :class:`AuthFileError`); warn if others may read it."""
        authenticator = cls(path, load_auth_file(path))
        authenticator._warn_if_readable()
        return authenticator

    @property
    def names(self) -> list[str]:
        return [entry.principal.name for entry in self._entries]

    def reload(self) -> bool:
        """Re-read the file; on any problem log it and keep the tokens in force. True if
        the new tokens took effect."""
        try:
            entries = load_auth_file(self.path)
        except AuthFileError as exc:
            log.error("%s; still using the %d tokens loaded before", exc, len(self._entries))
            return False
        self._entries = entries  # one reference swap: requests in flight see old or new
        log.info("auth file %s reloaded: %d tokens (%s)", self.path, len(entries),
                 ", ".join(e.principal.name for e in entries))  # fmt: skip
        self._warn_if_readable()
        return True

    def identify(self, token: str) -> Principal | None:
        """The principal of ``token``, or None; compares against every entry, in constant
        time, whatever matches."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found: Principal | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.digest, digest):
                found = entry.principal
        return found

    def authorize(self, credential: str | None, needs: Iterable[str], what: str,
                  hint: str) -> Principal | Denial:  # fmt: skip
        """Check ``credential`` (the token, None when none was sent) for any of the scopes
        ``needs``; a :class:`Denial` is counted and says what to send (``hint``)."""
        needed = tuple(needs)
        shown = " or ".join(repr(s) for s in needed)
        if credential is None:
            return self._deny("missing", 401, f"{what} needs a token of scope {shown}: {hint}")
        principal = self.identify(credential)
        if principal is None:
            return self._deny("unknown", 401, f"{what}: the token sent is not one this server "
                              f"knows (it is not in the auth file); {hint}")  # fmt: skip
        if not principal.scopes.intersection(needed):
            scopes = ", ".join(sorted(principal.scopes))
            return self._deny("scope", 403, f"{what} needs scope {shown}; token "
                              f"{principal.name!r} has {scopes}. Use a token with {shown} "
                              "(or add it to this token's scopes in the auth file)")  # fmt: skip
        return principal

    def _deny(self, reason: str, status: int, message: str) -> Denial:
        with self._lock:
            self.refusals[reason] += 1
        return Denial(reason, status, message)

    def _warn_if_readable(self) -> None:
        try:
            mode = self.path.stat().st_mode
        except OSError:
            return
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("auth file %s can be read by other users; it holds tokens: chmod 600 %s",
                        self.path, self.path)  # fmt: skip


# -- HTTP ----------------------------------------------------------------------------------


def bearer_token(value: str | None) -> str | None:
    """``Bearer abc`` -> ``abc`` (the scheme in any case); None for no or another scheme."""
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


HTTP_HINT = (
    "send Authorization: Bearer <token> (CLI: --token or SPANSCOPE_TOKEN; OpenTelemetry "
    "SDKs: OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<token>); see docs/security.md"
)
NOT_BEARER = "the Authorization header sent is not of the form 'Bearer <token>'; "
GRPC_HINT = (
    "send authorization: Bearer <token> metadata (OpenTelemetry SDKs: "
    "OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<token>); see docs/security.md"
)

ScopeRule = Callable[[str, str], tuple[str, ...]]
"""(method, path) -> the scopes any one of which lets the request in; () = open."""


def receiver_scopes(method: str, path: str) -> tuple[str, ...]:
    """Every request to OTLP/HTTP or Zipkin needs ``ingest``."""
    return ("ingest",)


def api_scopes(method: str, path: str) -> tuple[str, ...]:
    """The query API's table (module docstring)."""
    if method == "POST" and path in QUERY_POSTS:
        return ("query",)
    if method not in READ_METHODS:
        return ("admin",)
    if path in OPEN_PATHS or path == "/" or path in UI_SHELL_PATHS:
        return ()
    if path.startswith(UI_SHELL_PREFIXES):
        return ()
    if path in RULE_READS:
        return ("query", "ingest")
    return ("query",)


def http_check(authenticator: Authenticator, rule: ScopeRule) -> Check:
    """A :class:`~spanscope.request_policy.RequestPolicy` check: refuse 401/403, or put the
    request's :class:`Principal` in its scope under ``PRINCIPAL_KEY``."""

    def check(scope: Any, headers: Headers) -> Refusal | None:
        method = scope.get("method", "GET")
        path = scope.get("path", "/")
        needs = rule(method, path)
        if not needs:
            return None
        given = headers.get("authorization")
        token = bearer_token(given)
        hint = HTTP_HINT if token or given is None else NOT_BEARER + HTTP_HINT
        answer = authenticator.authorize(token, needs, f"{method} {path}", hint)
        if isinstance(answer, Denial):
            challenge = CHALLENGE if answer.status == 401 else ()
            return Refusal(answer.status, answer.message, challenge)
        scope[PRINCIPAL_KEY] = answer
        return None

    return check


# -- gRPC ----------------------------------------------------------------------------------


def authorize_grpc(authenticator: Authenticator | None, context: Any,
                   scope: str) -> Principal | None:  # fmt: skip
    """Call first in a servicer: the caller's :class:`Principal` (None when auth is off),
    or abort the call UNAUTHENTICATED / PERMISSION_DENIED."""
    if authenticator is None:
        return None
    import grpc

    metadata: Mapping[str, Any] = {k.lower(): v for k, v in context.invocation_metadata() or ()}
    value = metadata.get("authorization")
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    method = "OTLP/gRPC Export"
    answer = authenticator.authorize(bearer_token(value), (scope,), method, GRPC_HINT)
    if isinstance(answer, Denial):
        code = grpc.StatusCode.UNAUTHENTICATED if answer.status == 401 else (
            grpc.StatusCode.PERMISSION_DENIED)  # fmt: skip
        context.abort(code, answer.message)
        raise AssertionError("context.abort returns only by raising")  # pragma: no cover
    return answer


# -- listening without tokens ----------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``; a wildcard, a LAN address or another name is not."""
    bare = host.strip().strip("[]").lower()
    if bare in ("localhost", "localhost.") or bare.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def listen_refusal(host: str, auth_on: bool, insecure_listen: bool) -> str | None:
    """Why ``spanscope serve`` must not bind ``host`` (None: it may)."""
    if auth_on or insecure_listen or is_loopback(host):
        return None
    return (
        f"refusing to listen on {host}: without --auth-file anyone who can reach this "
        "address could write spans, read every trace and change sampling and retention. "
        "Either start with --auth-file PATH (SPANSCOPE_AUTH_FILE) so every request needs a "
        "token, or, on a network you trust, add --insecure-listen (SPANSCOPE_INSECURE_LISTEN"
        "=1); see docs/security.md#tokens-and-scopes"
    )
