"""What every decoder returns: the records kept, those refused one by one, and why.

A body that cannot be decoded as a whole raises :class:`DecodeError` (HTTP 400, gRPC
INVALID_ARGUMENT). Otherwise the decoder returns a result: the spans (or log records and
metric points) it kept, and how many it refused individually with the first reason,
which goes back to the client as OTLP's ``partial_success``::

    result = decode_otlp_json(body, limits)
    if result.rejected:
        print(result.rejected, "spans refused, the first because:", result.first_error)

The OTLP protobuf decoder's columnar twin of :class:`DecodeResult` is
:class:`spanscope.ingest.otlp_columns.ColumnarResult`; the decode workers' is
:class:`spanscope.ingest.decode_worker.TableResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spanscope.model.signals import SignalBatch
from spanscope.model.spans import Span


class DecodeError(ValueError):
    """The body as a whole cannot be decoded (-> HTTP 400 / gRPC INVALID_ARGUMENT)."""


@dataclass(slots=True)
class DecodeResult:
    spans: list[Span] = field(default_factory=list)
    rejected: int = 0
    """Spans refused individually (they go back as OTLP partial_success.rejected_spans)."""
    first_error: str | None = None
    """The first reason a span was refused, naming the span."""
    payload: bytes | None = None
    """The request re-encoded after redaction: what the WAL logs instead of the body."""

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if self.first_error is None:
            self.first_error = reason


@dataclass(slots=True)
class SignalResult:
    """What the OTLP logs and metrics decoders return: the records kept (a
    :class:`~spanscope.model.SignalBatch`, what the pipeline queues) and those refused one
    by one (OTLP ``partial_success.rejected_log_records`` / ``rejected_data_points``)."""

    signals: SignalBatch = field(default_factory=SignalBatch)
    rejected: int = 0
    first_error: str | None = None
    payload: bytes | None = None
    """The request re-encoded after redaction: what the WAL logs instead of the body."""

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if self.first_error is None:
            self.first_error = reason
