"""Which function decodes which wire format: the registry receivers and WAL replay share.

Every write-ahead log record carries a format tag (``otlp-proto``, ``zipkin-json``, ...)
naming how its payload was decoded before the ack; replay after a restart decodes it again
with the same function. :data:`DECODERS` maps each tag to exactly one
``module:function``, imported on first use so a receiver pulls in only its own format::

    decode = load_decoder("otlp-json")
    result = decode(body, limits)   # DecodeResult / ColumnarResult / SignalResult

There is no fallback: an unknown tag is a ``ValueError`` naming it and the known ones, and
a decoder that cannot be imported is a :class:`DecoderMissingError` naming the module —
a broken install must be seen, not answered by another decoder.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from spanscope.ingest.limits import Limits
from spanscope.ingest.otlp_columns import ColumnarResult
from spanscope.ingest.results import DecodeResult, SignalResult

Decoder = Callable[[bytes, Limits], DecodeResult | ColumnarResult | SignalResult]

DECODERS: dict[str, str] = {
    "otlp-proto": "spanscope.ingest.otlp_columns:decode_otlp_columns",
    "otlp-json": "spanscope.ingest.otlp_json:decode_otlp_json",
    "zipkin-json": "spanscope.ingest.zipkin:decode_zipkin_json",
    "otlp-forwarded": "spanscope.ingest.forward_wire:decode_forwarded",
    "otlp-decided": "spanscope.ingest.forward_wire:decode_decided",
    "otlp-logs-proto": "spanscope.ingest.otlp_logs:decode_otlp_logs_protobuf",
    "otlp-logs-json": "spanscope.ingest.otlp_logs:decode_otlp_logs_json",
    "otlp-metrics-proto": "spanscope.ingest.otlp_metrics:decode_otlp_metrics_protobuf",
    "otlp-metrics-json": "spanscope.ingest.otlp_metrics:decode_otlp_metrics_json",
}
"""WAL format tag -> ``"module:function"`` of its one decoder."""


class DecoderMissingError(ImportError):
    """The decoder registered for a format cannot be imported (a broken install)."""


def load_decoder(fmt: str) -> Decoder:
    """The decoder for a WAL format tag; raises ValueError for an unknown tag and
    :class:`DecoderMissingError` when its module or function is missing."""
    target = DECODERS.get(fmt)
    if target is None:
        known = ", ".join(repr(tag) for tag in DECODERS)
        raise ValueError(f"WAL format {fmt!r} has no decoder: expected one of {known}")
    module_name, _, name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DecoderMissingError(
            f"the decoder for WAL format {fmt!r} cannot be imported from {module_name} "
            f"({exc}); the installation is incomplete: reinstall spanscope"
        ) from exc
    decoder: Decoder | None = getattr(module, name, None)
    if decoder is None:
        raise DecoderMissingError(
            f"the decoder for WAL format {fmt!r}: {module_name} has no {name}; the "
            "installation is incomplete or mixed: reinstall spanscope"
        )
    return decoder
