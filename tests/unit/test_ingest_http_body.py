"""The OTLP/Zipkin receivers' body and path rules: one gzip stream, one spelling per path."""

from __future__ import annotations

import gzip

import pytest

from spanscope.ingest.http import HttpError, canonical_path, gunzip


def test_gunzip_inflates_one_stream() -> None:
    assert gunzip(gzip.compress(b"spans" * 100), 10_000) == b"spans" * 100


@pytest.mark.parametrize(
    ("tail", "count"), [(b"x", 1), (b"trailing junk", 13), (gzip.compress(b"more"), 24)]
)
def test_bytes_after_the_gzip_stream_are_refused_naming_them(tail: bytes, count: int) -> None:
    with pytest.raises(HttpError) as info:
        gunzip(gzip.compress(b"spans") + tail, 10_000)
    assert info.value.status == 400
    assert f"{count} bytes after the end of the gzip stream" in info.value.message


def test_a_truncated_gzip_stream_is_refused() -> None:
    with pytest.raises(HttpError, match="truncated"):
        gunzip(gzip.compress(b"spans" * 100)[:-6], 10_000)


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("/v1/traces", "/v1/traces"),
        ("/v1/traces/", "/v1/traces"),
        ("/v1/traces//", "/v1/traces"),
        ("//v1//traces", "/v1/traces"),
        ("/", "/"),
    ],
)
def test_canonical_path(path: str, canonical: str) -> None:
    assert canonical_path(path) == canonical
