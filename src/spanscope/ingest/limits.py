"""What a receiver accepts: the caps on one request and one span, and their env vars.

Every input is untrusted. Limits cap what one request or one span may cost; a span over a
cap is kept with the excess dropped and a warning on the span (``Span.warnings``) and the
OTLP ``dropped_*_count`` raised, as the OpenTelemetry SDK itself does. A span that cannot
be made valid (bad ids, end before start, a time centuries away) is rejected and counted,
and the first reason goes back to the client in OTLP's ``partial_success``
(:mod:`spanscope.ingest.results` holds what decoders return).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spanscope.ingest.redaction import Redactor


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest request body as sent (compressed or not): 413 above it."""
    max_decompressed_bytes: int = 64 * 1024 * 1024
    """Largest body after gunzip (a gzip bomb stops here): 413 above it."""
    max_attributes: int = 128
    """Attributes kept per span, event, link or resource (OTel SDK default: 128)."""
    max_attribute_value_bytes: int = 64 * 1024
    """A longer string/bytes value is cut to this many bytes (UTF-8 safe)."""
    max_events: int = 128
    max_links: int = 128
    max_name_bytes: int = 1024
    """Span, event and service names longer than this are cut."""
    min_time_ns: int = 946_684_800 * 1_000_000_000
    """Spans starting before 2000-01-01 are rejected (a clock or unit bug)."""
    max_future_ns: int = 24 * 3600 * 1_000_000_000
    """Spans starting more than a day after receipt are rejected."""
    redaction: Redactor | None = None
    """The serve config's redaction rules (``ingest/redaction.py``), applied by every
    decoder before anything reaches the WAL; None: nothing is redacted."""


def without_redaction(limits: Limits) -> Limits:
    """``limits`` for decoding a body that is already redacted."""
    return replace(limits, redaction=None) if limits.redaction is not None else limits


DEFAULT_LIMITS = Limits()


LIMIT_ENV_VARS = {
    "SPANSCOPE_MAX_BODY_BYTES": "max_body_bytes",
    "SPANSCOPE_MAX_DECOMPRESSED_BYTES": "max_decompressed_bytes",
    "SPANSCOPE_MAX_ATTRIBUTES": "max_attributes",
    "SPANSCOPE_MAX_ATTRIBUTE_VALUE_BYTES": "max_attribute_value_bytes",
    "SPANSCOPE_MAX_EVENTS": "max_events",
    "SPANSCOPE_MAX_LINKS": "max_links",
    "SPANSCOPE_MAX_NAME_BYTES": "max_name_bytes",
}
"""Environment variables that override a limit (positive whole numbers)."""


def limits_from_env(limits: Limits, environ: Mapping[str, str]) -> Limits:
    """Apply ``SPANSCOPE_MAX_*`` overrides; raise ValueError naming a bad value."""
    changes: dict[str, Any] = {}
    for name, field_name in LIMIT_ENV_VARS.items():
        text = environ.get(name)
        if text is None:
            continue
        if not text.strip().isdigit() or int(text) <= 0:
            raise ValueError(f"{name}={text!r}: expected a positive whole number")
        changes[field_name] = int(text)
    return replace(limits, **changes) if changes else limits
