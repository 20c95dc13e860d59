"""Head-sampling rules fetched from the Spanscope server, refreshed without a redeploy.

::

    from spanscope.sdk import configure
    configure("checkout", remote_sampling=True)              # http://127.0.0.1:16686
    configure("checkout", remote_sampling="http://spanscope:16686")

:class:`RemoteSampler` is an OpenTelemetry ``Sampler`` that delegates to a
:class:`~spanscope.sdk.sampling.PrioritySampler` built from
``GET /api/v1/sampling/rules?service=<name>`` and swaps in a new one every
``refresh_s`` seconds (60 by default) from a daemon thread. Until the first answer, and
whenever the server cannot be reached, the last rules stay in force (at first: the
``initial`` sampler, by default keep everything), so a down server never stops tracing.
Rules are managed with ``spanscope sampling set/list`` (docs/sampling.md).

A server run with ``--auth-file`` needs a token of scope ``ingest`` or ``query`` for the
rules: ``token``, else the ``authorization`` header of ``OTEL_EXPORTER_OTLP_HEADERS`` (the
one the app's exporter already sends), goes out as ``Authorization`` (docs/security.md).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.parse
import urllib.request
from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from spanscope.sdk.sampling import PrioritySampler

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:16686"
DEFAULT_REFRESH_S = 60.0


def authorization_from_env() -> str | None:
    """The ``authorization`` value of ``OTEL_EXPORTER_OTLP_HEADERS``, parsed as the OTel
    exporters parse it (URL-decoded; ``authorization=Bearer%20abc`` -> ``Bearer abc``)."""
    from opentelemetry.util.re import parse_env_headers

    headers = parse_env_headers(os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", ""), liberal=True)
    return headers.get("authorization")


class RemoteSampler(Sampler):
    """A PrioritySampler whose rules come from the server (see the module docs)."""

    def __init__(
        self,
        service: str,
        url: str = DEFAULT_URL,
        refresh_s: float = DEFAULT_REFRESH_S,
        initial: Sampler | None = None,
        start: bool = True,
        token: str | None = None,
    ) -> None:
        if refresh_s <= 0:
            raise ValueError(f"refresh_s={refresh_s!r}: must be a positive number of seconds")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"remote sampling url {url!r}: expected the Spanscope API's URL, "
                             f"e.g. {DEFAULT_URL}")  # fmt: skip
        self.service = service
        self.url = url.rstrip("/")
        self.authorization = f"Bearer {token}" if token else authorization_from_env()
        self.refresh_s = refresh_s
        self.delegate: Sampler = initial or PrioritySampler([], 1.0)
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._loop, name="spanscope-rules",
                                            daemon=True)  # fmt: skip
            self._thread.start()

    @property
    def rules_url(self) -> str:
        query = urllib.parse.urlencode({"service": self.service})
        return f"{self.url}/api/v1/sampling/rules?{query}"

    def refresh(self) -> bool:
        """Fetch the rules once; True if they were applied (errors keep the last rules)."""
        try:
            request = urllib.request.Request(self.rules_url)
            if self.authorization:
                request.add_header("Authorization", self.authorization)
            with urllib.request.urlopen(request, timeout=5) as response:
                payload = json.loads(response.read())
            sampler = PrioritySampler.from_mapping(
                {k: payload[k] for k in ("default_rate", "rules") if k in payload},
                where=f"rules from {self.rules_url}",
            )
        except (OSError, ValueError) as exc:
            self.last_error = f"{self.rules_url}: {exc}"
            log.debug("sampling rules not refreshed: %s", self.last_error)
            return False
        self.delegate = sampler  # one reference swap: samplers in flight finish on the old one
        self.last_error = None
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            if self._stop.wait(self.refresh_s):
                return

    def close(self) -> None:
        self._stop.set()

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        return self.delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"RemoteSampler{{{self.rules_url},{self.delegate.get_description()}}}"
