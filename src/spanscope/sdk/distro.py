"""Zero-code setup: ``opentelemetry-instrument`` with Spanscope's defaults.

With ``spanscope[sdk]`` installed, this works without touching the application::

    OTEL_SERVICE_NAME=orders \\
    OTEL_TRACES_SAMPLER=spanscope_priority OTEL_TRACES_SAMPLER_ARG=/etc/shop/sampling.toml \\
    opentelemetry-instrument python app.py

``opentelemetry-instrument`` finds, through entry points in Spanscope's package metadata:

- ``opentelemetry_distro`` → :class:`SpanscopeDistro`: defaults OTLP over HTTP/protobuf to
  ``http://127.0.0.1:4318`` unless ``OTEL_EXPORTER_OTLP_*`` says otherwise;
- ``opentelemetry_configurator`` → :class:`SpanscopeConfigurator`: runs
  :func:`spanscope.sdk.configure` (resource, exporter, sampler from ``OTEL_TRACES_SAMPLER``,
  propagators, log correlation, exemplars) — the instrumentation itself is left to
  ``opentelemetry-instrument``, which does it right after;
- ``opentelemetry_traces_sampler`` → ``spanscope_priority``
  (:func:`spanscope.sdk.sampling.sampler_from_arg`), usable by any OTel Python SDK setup.

Pick another distro or configurator with ``OTEL_PYTHON_DISTRO`` / ``OTEL_PYTHON_CONFIGURATOR``.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]


class SpanscopeDistro(BaseDistro):  # type: ignore[misc]
    """Environment defaults for ``opentelemetry-instrument`` (never overrides what is set)."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_TRACES_EXPORTER", "otlp")
        os.environ.setdefault("OTEL_METRICS_EXPORTER", "otlp")
        os.environ.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        os.environ.setdefault("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")


class SpanscopeConfigurator:
    """The ``opentelemetry_configurator`` entry point: ``configure()`` from the environment."""

    def configure(self, **kwargs: Any) -> None:
        from spanscope.sdk.config import configure

        configure(
            os.environ.get("OTEL_SERVICE_NAME") or "unknown_service",
            instrument=False,  # opentelemetry-instrument loads the instrumentors itself
        )
