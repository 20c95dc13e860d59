"""A decode worker process hands back exactly the table the server would build itself,
and refuses a bad body with the in-process decoder's message."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from spanscope.batch import columns_table
from spanscope.ingest.decode_worker import DecodePool
from spanscope.ingest.limits import DEFAULT_LIMITS
from spanscope.ingest.otlp_columns import decode_otlp_columns
from spanscope.ingest.results import DecodeError
from tests.support.workload import make_request


@pytest.fixture(scope="module")
def pool() -> Iterator[DecodePool]:
    pool = DecodePool(1)
    yield pool
    pool.close()


def test_a_worker_returns_the_table_the_server_would_build(pool: DecodePool) -> None:
    body = make_request(n_spans=300, seed=11).SerializeToString()
    got = asyncio.run(pool.decode_otlp(body, DEFAULT_LIMITS))
    expected = columns_table(decode_otlp_columns(body).spans)
    assert (got.rejected, got.first_error) == (0, None)
    assert got.spans.table.equals(expected.table)
    assert got.spans.resources == expected.resources
    assert got.spans.operations == expected.operations


def test_a_bad_body_is_refused_with_the_decoders_reason(pool: DecodePool) -> None:
    body = b"\x0a\xff\xff"
    with pytest.raises(DecodeError) as in_process:
        decode_otlp_columns(body)
    with pytest.raises(DecodeError) as in_worker:
        pool.decode_otlp_blocking(body, DEFAULT_LIMITS)
    assert str(in_worker.value) == str(in_process.value)
