"""``spanscope trace --file``'s reader and the terminal rendering of ``diff`` and ``logs``.

A trace written by the server's own serializers (OTLP JSON, Jaeger JSON) reads back as
the spans it was made of; the ways a file can be wrong each get a message naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console

from spanscope.api.serialize import trace_to_jaeger, traces_to_otlp
from spanscope.cli import analysis
from spanscope.cli.signals import render_logs
from spanscope.cli.trace_file import read_trace_file
from spanscope.model.spans import Event, Link, Span, SpanKind, StatusCode, Trace

T0 = 1_764_061_200_000_000_000
MS = 1_000_000
TRACE = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")


def sample() -> Trace:
    resource = {"service.name": "orders", "host.name": "api-1"}
    root = Span(
        TRACE, bytes.fromhex("00f067aa0ba902b7"), "POST /orders", T0, T0 + 120 * MS,
        service="orders", kind=SpanKind.SERVER, status_code=StatusCode.ERROR,
        status_message="payment declined", resource=resource, scope_name="shop",
        attributes={"http.status_code": 500, "ratio": 0.5, "retry": True, "route": "/orders"},
        events=[Event(T0 + 5 * MS, "exception", {"exception.type": "Declined"})],
    )  # fmt: skip
    child = Span(
        TRACE, bytes.fromhex("00000000000000a1"), "SELECT stock", T0 + 10 * MS, T0 + 40 * MS,
        service="inventory", parent_span_id=root.span_id, kind=SpanKind.CLIENT,
        resource={"service.name": "inventory"},
        links=[Link(bytes.fromhex("0af7651916cd43dd8448eb211c80319c"), b"\x01" * 8)],
    )  # fmt: skip
    return Trace(TRACE, [root, child])


def write(tmp_path: Path, document: Any, name: str = "t.json") -> Path:
    path = tmp_path / name
    path.write_bytes(document if isinstance(document, bytes) else orjson.dumps(document))
    return path


def essentials(s: Span) -> tuple[Any, ...]:
    return (s.trace_id, s.span_id, s.parent_span_id, s.name, s.service, s.kind, s.start_ns,
            s.end_ns, s.status_code, s.status_message, s.attributes, s.scope_name,
            [(e.time_ns, e.name, e.attributes) for e in s.events],
            [(link.trace_id, link.span_id) for link in s.links])  # fmt: skip


def test_jaeger_json_reads_back_as_the_spans_it_was_made_of(tmp_path: Path) -> None:
    trace = sample()
    path = write(tmp_path, {"data": [trace_to_jaeger(trace)]})
    (read,), problems = read_trace_file(path)
    assert problems == []
    assert [essentials(s) for s in read.spans] == [essentials(s) for s in trace.spans]
    assert read.spans[0].resource == {"service.name": "orders", "host.name": "api-1"}


def test_otlp_json_goes_through_the_receivers_decoder(tmp_path: Path) -> None:
    trace = sample()
    (read,), problems = read_trace_file(write(tmp_path, traces_to_otlp([trace])))
    assert problems == []
    assert [essentials(s) for s in read.spans] == [essentials(s) for s in trace.spans]


def test_otlp_json_lines_and_the_jaeger_v3_answer(tmp_path: Path) -> None:
    trace = sample()
    one = orjson.dumps(traces_to_otlp([Trace(TRACE, trace.spans[:1])]))
    two = orjson.dumps(traces_to_otlp([Trace(TRACE, trace.spans[1:])]))
    (read,), _ = read_trace_file(write(tmp_path, one + b"\n\n" + two + b"\n"))
    assert [s.name for s in read.spans] == ["POST /orders", "SELECT stock"]
    (v3,), _ = read_trace_file(write(tmp_path, {"result": traces_to_otlp([trace])}))
    assert len(v3.spans) == 2


def test_short_jaeger_ids_are_padded_and_a_single_trace_object_is_read(tmp_path: Path) -> None:
    kind = {"key": "span.kind", "value": "server"}
    doc = {"traceID": "a1", "processes": {"p1": {"serviceName": "etl", "tags": []}},
           "spans": [{"traceID": "a1", "spanID": "b2", "operationName": "batch",
                      "startTime": T0 // 1000, "duration": 1500, "processID": "p1",
                      "references": [], "tags": [kind]}]}  # fmt: skip
    (read,), problems = read_trace_file(write(tmp_path, doc))
    assert problems == []
    assert read.trace_id == bytes(15) + b"\xa1" and read.spans[0].span_id == bytes(7) + b"\xb2"
    assert read.spans[0].kind == SpanKind.SERVER and read.spans[0].duration_ns == 1500 * 1000


def test_a_bad_span_is_left_out_and_named(tmp_path: Path) -> None:
    jaeger = trace_to_jaeger(sample())
    jaeger["spans"][1]["spanID"] = "not-hex"
    del jaeger["spans"][0]["startTime"]
    traces, problems = read_trace_file(write(tmp_path, {"data": [jaeger]}))
    assert traces == []
    assert len(problems) == 2
    assert "spans[0]" in problems[0] and "startTime" in problems[0]
    assert "spans[1]" in problems[1] and "'not-hex'" in problems[1]


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"", "is empty"),
        (b"{not json", "is not JSON"),
        (b'{"hello": 1}', "found an object with keys ['hello']"),
        (b"[1, 2]", "found a JSON list"),
        (b'{"resourceSpans": 7}', "resourceSpans"),
    ],
)
def test_a_file_of_neither_format_says_what_it_found(
    tmp_path: Path, content: bytes, found: str
) -> None:
    with pytest.raises(ValueError) as info:
        read_trace_file(write(tmp_path, content, "upload.json"))
    assert "upload.json" in str(info.value) and found in str(info.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nope.json"):
        read_trace_file(tmp_path / "nope.json")


def text(parts: list[Any]) -> str:
    console = Console(width=160, record=True, highlight=False)
    for part in parts:
        console.print(part)
    return console.export_text()


def test_diff_renders_the_headline_sides_and_paths_largest_first() -> None:
    payload = {
        "headline": "b is 300ms slower; inventory · SELECT stock ran 12 times in b, 1 in a",
        "a": {"trace_id": "a" * 32, "duration_ns": 70 * MS},
        "b": {"trace_id": "b" * 32, "duration_ns": 999_600_000},
        "paths": [
            {"path": ["frontend · POST", "inventory · SELECT stock"], "status": "changed",
             "a_count": 1, "b_count": 12, "a_total_ns": 25 * MS, "b_total_ns": 300 * MS,
             "self_delta_ns": 275 * MS},
            {"path": ["frontend · POST"], "status": "same", "a_count": 1, "b_count": 1,
             "a_total_ns": 70 * MS, "b_total_ns": 999_600_000, "self_delta_ns": -5 * MS},
            {"path": ["frontend · POST", "cache · GET"], "status": "only_a", "a_count": 1,
             "b_count": 0, "a_total_ns": 1 * MS, "b_total_ns": 0, "self_delta_ns": -1 * MS},
        ],
    }  # fmt: skip
    out = text(analysis.diff(payload, limit=2)).splitlines()
    assert out[0] == payload["headline"]
    assert out[1] == f"a: {'a' * 32}  70ms" and out[2] == f"b: {'b' * 32}  999.6ms"
    rows = [re.split(r"\s{2,}", line.strip()) for line in out[4:] if line.strip()]
    assert rows[0] == ["path", "change", "a count", "b count", "a time", "b time", "self Δ time"]
    assert rows[1] == ["inventory · SELECT stock", "ran more/less", "1", "12", "25ms", "300ms",
                       "+275ms"]  # fmt: skip
    assert rows[2] == ["frontend · POST", "1", "1", "70ms", "999.6ms", "-5ms"]
    assert rows[3] == ["… 1 more paths (--limit, or --json)"]


def test_logs_table_has_the_trace_id_unless_it_is_one_traces_logs() -> None:
    payload = {"logs": [
        {"time_unix_nano": T0, "service": "orders", "severity_text": "ERROR",
         "severity_number": 17, "body": "declined", "trace_id": TRACE.hex(),
         "span_id": "00f067aa0ba902b7"},
        {"time_unix_nano": T0, "service": "orders", "severity_text": "", "severity_number": 9,
         "body": {"type": "map", "value": []}, "trace_id": None, "span_id": None},
    ]}  # fmt: skip
    searched = text([render_logs(payload)]).splitlines()
    assert searched[0].split() == ["time", "(UTC)", "service", "level", "trace", "span", "message"]
    assert TRACE.hex() in searched[1].split() and "00f067aa0ba902b7" in searched[1]
    assert searched[2].split()[-2:] == ["9", '{"type":"map","value":[]}']
    one_trace = text([render_logs(payload, trace_column=False)]).splitlines()
    assert "trace" not in one_trace[0].split() and TRACE.hex() not in one_trace[1]


def test_logs_on_a_narrow_terminal_put_the_span_under_the_trace() -> None:
    payload = {"logs": [{"time_unix_nano": T0, "service": "orders", "severity_text": "WARN",
                         "severity_number": 13, "body": "slow", "trace_id": TRACE.hex(),
                         "span_id": "00f067aa0ba902b7"}]}  # fmt: skip
    console = Console(width=100, record=True, highlight=False)
    console.print(render_logs(payload, width=100))
    lines = console.export_text().splitlines()
    assert lines[0].split() == ["trace"] and lines[1].split()[-2:] == ["span", "message"]
    assert TRACE.hex() in lines[2].split() and lines[3].split() == ["00f067aa0ba902b7"]


def test_diff_shows_the_own_work_change_when_the_api_ranks_by_it() -> None:
    path = {"path": ["a · GET"], "status": "same", "a_count": 1, "b_count": 1,
            "a_total_ns": MS, "b_total_ns": 3 * MS, "self_delta_ns": 2 * MS,
            "own_delta_ns": 1_500_000}  # fmt: skip
    payload = {"headline": "h", "a": {"trace_id": "a", "duration_ns": MS},
               "b": {"trace_id": "b", "duration_ns": 3 * MS}, "paths": [path]}  # fmt: skip
    out = text(analysis.diff(payload)).splitlines()
    assert re.split(r"\s{2,}", out[4].strip())[-1] == "own work Δ time"
    assert re.split(r"\s{2,}", out[5].strip())[-1] == "+1.5ms"
