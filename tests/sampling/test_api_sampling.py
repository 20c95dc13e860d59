"""The query API says which tail-sampling policy kept a trace, and its weight.

A real ``spanscope serve`` with a ``[tail_sampling]`` config receives traces of three
classes (errors, checkouts, the rest); once decided, every trace that is stored carries
``"sampling": {"policy", "weight"}`` in its search summary and in its trace-by-id JSON,
naming the policy that matched it first and 1 / that policy's rate. A server without tail
sampling answers without the field.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.support.sampling import decided_and_stored
from tests.support.waiting import wait_until

CONFIG = """
[tail_sampling]
decision_wait = "200ms"
[[tail_sampling.policies]]
name = "errors"
type = "status_code"
status_codes = ["ERROR"]
[[tail_sampling.policies]]
name = "checkout"
type = "string_attribute"
key = "http.route"
values = ["/checkout*"]
rate = 0.5
[[tail_sampling.policies]]
name = "normal"
type = "probabilistic"
rate = 0.25
"""

ERRORS = range(1, 11)  # trace ids 1..10: an error span, else a /checkout route
CHECKOUTS = range(11, 51)
NORMAL = range(51, 131)


def _kv(key: str, value: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


def _request() -> bytes:
    now = time.time_ns() - 1_000_000_000
    spans = []
    for t in [*ERRORS, *CHECKOUTS, *NORMAL]:
        route = "/checkout" if t in CHECKOUTS or t in ERRORS else "/home"
        for i in range(2):
            spans.append(
                trace_pb2.Span(
                    trace_id=t.to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"),
                    parent_span_id=b"" if i == 0 else (1).to_bytes(8, "big"),
                    name=f"GET {route}" if i == 0 else "SELECT", kind=2 if i == 0 else 3,
                    start_time_unix_nano=now + i * 1000, end_time_unix_nano=now + 5_000_000,
                    attributes=[_kv("http.route", route)] if i == 0 else [],
                    status=trace_pb2.Status(code=2 if i == 1 and t in ERRORS else 0),
                )
            )  # fmt: skip
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(attributes=[_kv("service.name", "shop")]),
                scope_spans=[trace_pb2.ScopeSpans(spans=spans)],
            )
        ]
    ).SerializeToString()


def _send(server: Any) -> None:
    sent = httpx.post(server.otlp_http_url + "/v1/traces", content=_request(),
                      headers={"content-type": "application/x-protobuf"}, timeout=30)  # fmt: skip
    assert sent.status_code == 200, sent.text


def _search(server: Any, **params: Any) -> list[dict[str, Any]]:
    answer = httpx.get(server.api_url + "/api/v1/traces", timeout=30,
                       params={"lookback": "1h", "limit": 1000, **params})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()["traces"]  # type: ignore[no-any-return]


def _settled(server: Any) -> list[dict[str, Any]]:
    """Search results once the tail sampler has received every span sent, decided every
    trace (none buffered) and the writer has stored every span it kept."""
    sent = 2 * (len(ERRORS) + len(CHECKOUTS) + len(NORMAL))
    wait_until(
        lambda: decided_and_stored(server, sent), "every trace decided, kept ones stored", 60
    )
    found = _search(server)
    errors = sum(int(t["trace_id"], 16) in ERRORS for t in found)
    assert errors == len(ERRORS), f"only {errors} error traces stored: {found[:2]}"
    return found


def test_search_and_trace_carry_the_policy_and_weight(start_spanscope, tmp_path: Path):  # type: ignore[no-untyped-def]
    config = tmp_path / "spanscope.toml"
    config.write_text(CONFIG)
    server = start_spanscope(tmp_path / "data", env={"SPANSCOPE_CONFIG": str(config)})
    _send(server)
    found = _settled(server)

    by_class: dict[str, list[dict[str, Any]]] = {"errors": [], "checkout": [], "normal": []}
    for t in found:
        n = int(t["trace_id"], 16)
        expected = "errors" if n in ERRORS else "checkout" if n in CHECKOUTS else "normal"
        by_class[expected].append(t)
    # Errors match the first policy although their route is /checkout: first match decides.
    assert len(by_class["errors"]) == len(ERRORS)
    assert all(t["sampling"] == {"policy": "errors", "weight": 1} for t in by_class["errors"])
    # Sampled classes: some kept (fixed ids, so fixed outcome), each with weight 1 / rate.
    assert 0 < len(by_class["checkout"]) < len(CHECKOUTS)
    assert all(t["sampling"] == {"policy": "checkout", "weight": 2} for t in by_class["checkout"])
    assert 0 < len(by_class["normal"]) < len(NORMAL)
    assert all(t["sampling"] == {"policy": "normal", "weight": 4} for t in by_class["normal"])

    # The same record in the trace-by-id JSON, beside the spans.
    for t in (by_class["errors"][0], by_class["checkout"][0], by_class["normal"][0]):
        whole = httpx.get(f"{server.api_url}/api/v1/traces/{t['trace_id']}", timeout=30).json()
        assert whole["sampling"] == t["sampling"]
        assert len(whole["spans"]) == 2  # and the trace is whole
    # Filtered searches carry it too (the record is looked up for the page, not the filter).
    checkouts = _search(server, operation="GET /checkout")
    assert {t["sampling"]["policy"] for t in checkouts} == {"errors", "checkout"}
    assert len(checkouts) == len(by_class["errors"]) + len(by_class["checkout"])


def test_without_tail_sampling_there_is_no_sampling_field(start_spanscope, tmp_path: Path):  # type: ignore[no-untyped-def]
    server = start_spanscope(tmp_path / "data")
    _send(server)
    everything = len(ERRORS) + len(CHECKOUTS) + len(NORMAL)

    def all_found() -> list[dict[str, Any]] | None:
        found = _search(server)
        return found if len(found) >= everything else None

    found = wait_until(all_found, "every trace stored", 60)
    assert all("sampling" not in t for t in found)  # stored without tail sampling: weight 1
    whole = httpx.get(f"{server.api_url}/api/v1/traces/{found[0]['trace_id']}", timeout=30)
    assert whole.status_code == 200 and "sampling" not in whole.json()
