"""The API's cache of recently read traces: one store read per trace view, never stale."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from spanscope.api.app import create_app
from spanscope.api.trace_cache import TraceCache, gc_paused
from spanscope.model.spans import Span, SpanKind, Trace
from spanscope.query.model import now_ns
from spanscope.store.duckdb import DuckDBStore

TRACE = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
T0 = now_ns() - 60 * 1_000_000_000
MS = 1_000_000


def span(i: int, parent: int | None, service: str = "orders", **kw: object) -> Span:
    return Span(
        trace_id=TRACE,
        span_id=i.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else None,
        name=f"op {i}",
        start_ns=T0 + i * MS,
        end_ns=T0 + i * MS + 100 * MS,
        service=service,
        kind=SpanKind.SERVER,
        resource={"service.name": service, "host.name": service},
        **kw,  # type: ignore[arg-type]
    )


class CountingStore(DuckDBStore):
    """A DuckDBStore that counts whole-trace reads."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.reads = 0

    def trace_read(self, trace_id: bytes, stamp: tuple[int, int, int]) -> Trace | None:
        self.reads += 1  # trace() reads through here too
        return super().trace_read(trace_id, stamp)


@pytest.fixture
def store() -> Iterator[CountingStore]:
    s = CountingStore()
    s.write([span(1, None, "frontend"), span(2, 1)])
    yield s
    s.close()


def test_a_trace_view_reads_the_store_once(store: CountingStore) -> None:
    client = TestClient(create_app(store))
    tid = TRACE.hex()
    whole = client.get(f"/api/v1/traces/{tid}")
    path = client.get(f"/api/v1/traces/{tid}/critical-path")
    parts = client.get(f"/api/v1/traces/{tid}/breakdown")
    assert whole.status_code == path.status_code == parts.status_code == 200
    assert [s["span_id"] for s in whole.json()["spans"]] == [
        "0000000000000001",
        "0000000000000002",
    ]
    assert path.json()["root_span_id"] == "0000000000000001"
    assert store.reads == 1


def test_a_span_arriving_later_is_served_at_once(store: CountingStore) -> None:
    client = TestClient(create_app(store))
    tid = TRACE.hex()
    assert len(client.get(f"/api/v1/traces/{tid}").json()["spans"]) == 2
    store.write([span(3, 2, "inventory")])
    spans = client.get(f"/api/v1/traces/{tid}").json()["spans"]
    assert [s["span_id"][-1] for s in spans] == ["1", "2", "3"]
    path = client.get(f"/api/v1/traces/{tid}/critical-path").json()
    assert "0000000000000003" in [s["span_id"] for s in path["spans"]]
    # A span sent again (a retrying client) is stored once: the cached copy stays valid.
    store.write([span(3, 2, "inventory")])
    assert len(client.get(f"/api/v1/traces/{tid}").json()["spans"]) == 3
    assert store.reads == 2


def test_raw_and_adjusted_are_kept_apart(store: CountingStore) -> None:
    # A child on another host that starts before its parent: the adjuster moves it.
    early = span(4, 1, "payments")
    early.start_ns, early.end_ns = T0 - 50 * MS, T0 - 40 * MS
    store.write([early])
    client = TestClient(create_app(store))
    tid = TRACE.hex()
    adjusted = client.get(f"/api/v1/traces/{tid}").json()["spans"]
    raw = client.get(f"/api/v1/traces/{tid}?raw=true").json()["spans"]
    moved = next(s for s in adjusted if s["span_id"].endswith("4"))
    as_stored = next(s for s in raw if s["span_id"].endswith("4"))
    assert as_stored["start_time_unix_nano"] == T0 - 50 * MS and not as_stored["warnings"]
    assert moved["start_time_unix_nano"] >= T0 + MS
    assert moved["warnings"][0].startswith("clock skew adjusted")


def test_concurrent_requests_for_one_trace_share_one_read(store: CountingStore) -> None:
    cache = TraceCache()
    start = threading.Barrier(4)
    got: list[int] = []

    def ask() -> None:
        start.wait()
        entry = cache.entry(store, TRACE)
        assert entry is not None
        got.append(len(entry.trace().spans))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert got == [2, 2, 2, 2]
    assert store.reads == 1


def test_unknown_trace_and_eviction(store: CountingStore) -> None:
    cache = TraceCache(max_spans=2)
    assert cache.entry(store, b"\x09" * 16) is None
    assert cache.entry(store, TRACE) is not None
    store.write([span(5, 1)])  # now 3 spans: over the cache's bound, read every time
    for _ in range(2):
        entry = cache.entry(store, TRACE)
        assert entry is not None and len(entry.stored.spans) == 3
    assert store.reads == 3
    with pytest.raises(ValueError, match="max_spans -1"):
        TraceCache(max_spans=-1)


def test_gc_paused_restores_the_collector_across_threads() -> None:
    import gc

    assert gc.isenabled()
    inside = threading.Event()
    leave = threading.Event()

    def hold() -> None:
        with gc_paused():
            inside.set()
            leave.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    inside.wait(10)
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread still builds
    leave.set()
    t.join(10)
    assert gc.isenabled()


def test_cache_size_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from spanscope.api.trace_cache import DEFAULT_MAX_SPANS, max_spans_from_env

    monkeypatch.delenv("SPANSCOPE_TRACE_CACHE_SPANS", raising=False)
    assert max_spans_from_env() == DEFAULT_MAX_SPANS
    monkeypatch.setenv("SPANSCOPE_TRACE_CACHE_SPANS", "0")
    assert max_spans_from_env() == 0
    monkeypatch.setenv("SPANSCOPE_TRACE_CACHE_SPANS", "lots")
    with pytest.raises(ValueError, match="SPANSCOPE_TRACE_CACHE_SPANS='lots'"):
        max_spans_from_env()


def test_two_tenants_with_one_trace_id_and_equal_stamps_get_their_own_trace() -> None:
    # Same ids, same times, one write each: the stamps are equal, only the tenant differs.
    a, b = DuckDBStore(":memory:"), DuckDBStore(":memory:")
    a.write([span(1, None, "tenant-a-frontend")])
    b.write([span(1, None, "tenant-b-frontend")])
    assert a.trace_stamp(TRACE) == b.trace_stamp(TRACE)
    cache = TraceCache(max_spans=1000)
    first = cache.entry(a, TRACE, "a")
    second = cache.entry(b, TRACE, "b")
    assert first is not None and second is not None
    assert first.stored.spans[0].service == "tenant-a-frontend"
    assert second.stored.spans[0].service == "tenant-b-frontend"
    again = cache.entry(a, TRACE, "a")
    assert again is first  # and each is still cached
    a.close()
    b.close()


class BatchCountingStore(DuckDBStore):
    """A DuckDBStore that counts its many-trace reads and how many traces each asked for."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.asked: list[int] = []

    def traces_read(self, stamps):  # type: ignore[no-untyped-def]
        self.asked.append(len(stamps))
        return super().traces_read(stamps)


def test_many_traces_are_read_in_one_call_and_cached_until_they_grow() -> None:
    store = BatchCountingStore()
    ids = [(0xAB00 + n).to_bytes(16, "big") for n in range(5)]
    store.write([replace(span(1, None), trace_id=t) for t in ids])
    cache = TraceCache(max_spans=100)
    first = cache.entries(store, [*ids, bytes(16)])
    assert list(first) == ids and store.asked == [5]  # one read, the unknown id left out
    assert all(first[t].stored == store.trace(t) for t in ids)
    assert list(cache.entries(store, ids[::-1])) == ids[::-1] and store.asked == [5]
    store.write([replace(span(2, 1), trace_id=ids[3])])  # that trace grew: read again alone
    again = cache.entries(store, ids)
    assert store.asked == [5, 1] and len(again[ids[3]].stored.spans) == 2
    assert TraceCache(max_spans=0).entries(store, ids)[ids[3]].stored == again[ids[3]].stored
    # one tenant's cached trace is not another's
    assert cache.entries(store, ids[:1], tenant="other") and store.asked[-1] == 1
    store.close()


def test_tempo_traceql_search_reads_its_candidates_through_the_cache() -> None:
    store = BatchCountingStore()
    ids = [(0xCD00 + n).to_bytes(16, "big") for n in range(4)]
    store.write([replace(span(1, None), trace_id=t) for t in ids])
    client = TestClient(create_app(store))
    params = {"q": '{ resource.service.name = "orders" }', "start": T0 // 10**9 - 60,
              "end": T0 // 10**9 + 60}  # fmt: skip
    found = client.get("/tempo/api/search", params=params)
    assert found.status_code == 200, found.text
    assert {t["traceID"] for t in found.json()["traces"]} == {t.hex() for t in ids}
    assert store.asked == [4]
    assert client.get("/tempo/api/search", params=params).json() == found.json()
    assert store.asked == [4]  # the second search read nothing again
    store.close()
