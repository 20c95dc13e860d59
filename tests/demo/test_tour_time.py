"""The tour's "where its time went" line ranks as ``spanscope explain`` does (issue #14):
own work on the critical path first; time a span spent waiting — for a blocked event loop,
on the wire, or for async work after the request — is not its doing."""

from __future__ import annotations

from typing import Any

from spanscope.demo.tour import self_times, time_went_line, where_time_went

MS = 1_000_000
A, B = "a" * 32, "b" * 32


def span(
    trace_id: str, span_id: str, parent: str | None, start_ms: float, end_ms: float,
    name: str, service: str, kind: str = "internal", **attrs: str,
) -> dict[str, Any]:  # fmt: skip
    """A span as ``GET /api/v1/traces/{id}`` answers it (only the fields the tour reads)."""
    return {
        "trace_id": trace_id, "span_id": span_id, "parent_span_id": parent, "name": name,
        "kind": kind, "service": service, "start_time_unix_nano": int(start_ms * MS),
        "end_time_unix_nano": int(end_ms * MS), "duration_ns": int((end_ms - start_ms) * MS),
        "status": {"code": "unset", "message": ""},
        "attributes": [{"key": k.replace("_", "."), "type": "string", "value": v}
                       for k, v in attrs.items()],
        "resource": [{"key": "service.instance.id", "type": "string", "value": f"{service}-1"}],
        "links": [],
    }  # fmt: skip


def checkout(select_ms: float, blocked_ms: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """A checkout (trace A) whose orders handler sat 20 ms in its own code, then
    ``blocked_ms`` while another request (trace B, in the same orders process) held the
    event loop, then ran a SELECT of ``select_ms``."""
    wait_from, select_from = 26.0, 26.0 + blocked_ms
    end = select_from + select_ms
    a = [
        span(A, "01", None, 0, end + 4, "POST /checkout", "gateway", "server"),
        span(A, "02", "01", 5, end + 1, "POST", "gateway", "client"),
        span(A, "03", "02", 6, end, "POST /orders", "orders", "server", http_route="/orders"),
        span(A, "04", "03", select_from, end, "SELECT", "orders", "client",
             db_statement="SELECT id FROM orders WHERE order_ref = ?"),
    ]  # fmt: skip
    b = [span(B, "11", None, wait_from, select_from, "POST /reports", "orders", "server")]
    return {"trace_id": A, "spans": a}, {"trace_id": B, "spans": b}


def test_a_span_that_waited_for_a_blocked_loop_is_not_where_the_time_went() -> None:
    # orders · POST /orders has the largest raw self time (20 ms own + 30 ms blocked = 50
    # ms) but only 20 ms of it was its work: the SELECT's 40 ms are the largest own work,
    # and the 30 ms went to the request that held the loop.
    slow, other = checkout(select_ms=40, blocked_ms=30)
    raw = self_times(slow["spans"])
    assert max(raw, key=lambda k: raw[k]) == "03" and raw["03"] == 50 * MS > raw["04"]

    found = where_time_went(slow, [other])
    assert found is not None
    assert (found.service, found.name, found.kind) == ("orders", "SELECT", "work")
    assert found.critical_ns == 40 * MS and found.calls == 1
    assert found.span is not None and found.span["span_id"] == "04"
    line = time_went_line(found)
    assert line.startswith("where its time went: orders · SELECT — 40ms own work"), line
    assert found.total_ns == 100 * MS
    assert line.endswith(", 40 % of the trace"), line


def test_without_the_other_trace_the_loop_block_is_unseen() -> None:
    # The blocked stretch is found only with the other requests of the window at hand:
    # alone, the handler's 50 ms read as its own work, as explain reads them too.
    slow, _ = checkout(select_ms=40, blocked_ms=30)
    found = where_time_went(slow)
    assert found is not None and (found.service, found.name) == ("orders", "POST /orders")


def test_the_request_that_held_the_loop_is_named_when_it_is_the_cause() -> None:
    slow, other = checkout(select_ms=20, blocked_ms=45)
    found = where_time_went(slow, [other])
    assert found is not None
    assert (found.service, found.name, found.kind) == ("orders", "POST /reports", "blocking")
    assert found.critical_ns == 45 * MS
    assert found.span is None  # it ran in another trace
    line = time_went_line(found)
    assert line.startswith("where its time went: orders · POST /reports — 45ms"), line
    assert "another request holding orders's event loop" in line, line


def test_async_work_after_the_request_is_not_where_its_time_went() -> None:
    # A consumer that ran 300 ms after the request answered has the largest self time of
    # the trace; the request's own 8 ms of handler code are what it waited for.
    spans = [
        span(A, "01", None, 0, 10, "POST /orders", "orders", "server"),
        span(A, "02", "01", 1, 3, "orders publish", "orders", "producer"),
        span(A, "03", "02", 20, 320, "orders process", "mailer", "consumer"),
    ]
    assert max(self_times(spans).values()) == 300 * MS
    found = where_time_went({"trace_id": A, "spans": spans})
    assert found is not None and (found.service, found.name) == ("orders", "POST /orders")
    assert found.critical_ns == 8 * MS and found.total_ns == 10 * MS


def test_a_calls_gap_is_named_as_waiting_not_as_work() -> None:
    # 60 of the call's 80 ms were on the wire or in the callee's queue: explain ranks a gap
    # at half its size (30 > the root's 20 ms of work) and says it was waiting.
    spans = [
        span(A, "01", None, 0, 100, "GET /home", "gateway", "server"),
        span(A, "02", "01", 10, 90, "GET", "gateway", "client"),
        span(A, "03", "02", 40, 60, "GET /recs", "recs", "server", http_route="/recs"),
    ]
    found = where_time_went({"trace_id": A, "spans": spans})
    assert found is not None
    assert (found.name, found.kind, found.critical_ns) == ("GET → recs /recs", "gap", 60 * MS)
    line = time_went_line(found)
    assert line.startswith("where its time went: gateway · GET → recs /recs — 60ms"), line
    assert "waiting on the wire or in the callee's queue" in line, line


def test_an_empty_trace_has_no_answer() -> None:
    assert where_time_went({"trace_id": A, "spans": []}) is None
