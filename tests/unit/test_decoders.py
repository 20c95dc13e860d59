"""The decoder registry: one module per WAL format tag, and a clear error, never a silent
switch, when a format is unknown or its decoder cannot be imported."""

from __future__ import annotations

import pytest

from spanscope.ingest.decoders import DECODERS, DecoderMissingError, load_decoder
from spanscope.ingest.limits import DEFAULT_LIMITS
from spanscope.ingest.results import DecodeError


@pytest.mark.parametrize("fmt", sorted(DECODERS))
def test_every_format_tag_has_one_decoder_that_refuses_an_empty_body(fmt: str) -> None:
    decoder = load_decoder(fmt)
    module, _, name = DECODERS[fmt].partition(":")
    assert (decoder.__module__, decoder.__name__) == (module, name)
    with pytest.raises(DecodeError):
        decoder(b"", DEFAULT_LIMITS)


def test_an_unknown_format_tag_names_itself_and_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"WAL format 'otlp-yaml' has no decoder.*'otlp-json'"):
        load_decoder("otlp-yaml")


def test_a_decoder_module_that_does_not_import_is_an_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(DECODERS, "otlp-json", "spanscope.ingest.no_such_decoder:decode_otlp_json")
    with pytest.raises(DecoderMissingError) as info:
        load_decoder("otlp-json")
    message = str(info.value)
    assert "'otlp-json'" in message and "spanscope.ingest.no_such_decoder" in message
    assert isinstance(info.value.__cause__, ImportError)


def test_a_decoder_function_missing_from_its_module_is_an_error_not_a_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(DECODERS, "otlp-json", "spanscope.ingest.otlp:decode_otlp_json")
    with pytest.raises(
        DecoderMissingError, match=r"spanscope\.ingest\.otlp has no decode_otlp_json"
    ):
        load_decoder("otlp-json")
