"""The guided tour: what an incident looks like in Spanscope, computed from live data.

Everything printed comes from Spanscope's query API (docs/api.md), the way a person would
find it — never from the lab's own knowledge of what it broke::

    incident missing-index, 20 s in — what Spanscope shows:
      POST /orders  p50 31 ms -> 52 ms   p99 64 ms -> 118 ms   errors 1 % -> 0 %   (41 -> 38 traces)
      slowest trace: http://127.0.0.1:16686/trace/4bf9...   (131 ms, 19 spans, 7 services)
      where its time went: orders · SELECT — 58 ms own work in 17 spans, 44 % of the trace
      its logs: 6 lines carry trace_id=4bf9...:  grep 4bf9... spanscope-demo/logs/*.log
      compare with a typical trace from before: http://127.0.0.1:16686/compare?a=...&b=...
      all of them, slowest first: http://127.0.0.1:16686/search?service=gateway&...

- percentiles: ``GET /api/v1/traces?service=gateway&operation=<route>&start&end&limit=1000``
  in the windows before and after the switch (nearest-rank p50/p99 of trace durations);
- the slowest trace: the same search with ``order=slowest&limit=1``;
- where its time went: the top of ``spanscope explain``'s ranking
  (:func:`spanscope.analysis.rca.causes_of`) — time on the critical path, own work first;
  a call's gap (the wire, the callee's queue) counts half, async work is out, and time a
  span waited for a blocked event loop goes to the request that held it (looked for among
  the window's traces fetched for "what changed") — computed here from
  ``GET /api/v1/traces/{id}``, so the tour works even on a server without the analysis
  endpoints;
- its logs: the lab's JSON log lines whose ``trace_id`` is that trace's;
- then the same story from the services' metrics and logs (:mod:`.tour_signals`).
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

from spanscope.analysis import rca
from spanscope.analysis.names import operation_names
from spanscope.demo.incidents import INCIDENTS
from spanscope.demo.supervisor import DEFAULT_DATA_DIR
from spanscope.demo.tour_signals import print_signals
from spanscope.model.spans import UNKNOWN_SERVICE, Link, Span, SpanKind, StatusCode, Trace
from spanscope.units import format_duration as duration

if TYPE_CHECKING:
    from spanscope.demo.supervisor import Lab

WARMUP_S = 5.0
MAX_COMPARED = 40  # traces fetched per window for "what changed"


def percentile(values: list[int], q: float) -> int:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least 1
    return ordered[int(rank) - 1]


def self_times(spans: list[dict[str, Any]]) -> dict[str, int]:
    """Each span's duration not covered by its children (children clipped to the span,
    overlapping children counted once), keyed by span id."""
    children: dict[str, list[tuple[int, int]]] = {}
    for s in spans:
        if s.get("parent_span_id"):
            children.setdefault(s["parent_span_id"], []).append(
                (s["start_time_unix_nano"], s["end_time_unix_nano"])
            )
    out = {}
    for s in spans:
        start, end = s["start_time_unix_nano"], s["end_time_unix_nano"]
        covered, cursor = 0, start
        for c_start, c_end in sorted(children.get(s["span_id"], ())):
            c_start, c_end = max(c_start, cursor), min(c_end, end)
            if c_end > c_start:
                covered += c_end - c_start
                cursor = c_end
        out[s["span_id"]] = max(0, end - start - covered)
    return out


@dataclass(slots=True)
class TimeWent:
    """Where one request's time went, as ``spanscope explain`` ranks it."""

    service: str
    name: str
    """explain's operation name (a CLIENT call named by its target)."""
    kind: str
    """``work``, ``gap`` (the wire or the callee's queue) or ``blocking`` (another request
    held the process's event loop while this one waited)."""
    critical_ns: int
    """Its time on the request's critical path."""
    total_ns: int
    """The request's critical path: its duration, async work left out."""
    calls: int
    """Its spans in this request (0: the request that held the loop ran in another trace)."""
    span: dict[str, Any] | None
    """Its longest span of the statement that took most of that time (None: not in this
    trace)."""


def where_time_went(
    trace: dict[str, Any], context: Iterable[dict[str, Any]] = ()
) -> TimeWent | None:
    """The top of explain's ranking (:func:`spanscope.analysis.rca.causes_of`) for the
    trace's request: time on the critical path, own work first — a call's gap counts half,
    async work (consumers, linked followers) is out, and time a span waited for a blocked
    event loop goes to the request that held it, found among ``context`` (other traces of
    the window, as the server's explain reads them from its store)."""
    if not trace.get("spans"):
        return None
    model = trace_model(trace)
    found = rca.requests_in(model)
    if not found:
        return None
    req = found[0]
    others = [trace_model(t) for t in context if t.get("spans") and t is not trace]
    rca.account_loop_blocking([req], [t for t in others if t.trace_id != model.trace_id])
    causes = rca.causes_of(req)
    if not causes:
        return None
    top = causes[0]
    mine = [t for t in req.spans if (t.span.service, t.name) == (top.service, top.name)]
    by_id = {_id(s["span_id"]): s for s in trace["spans"]}
    span = None
    if mine:
        # the statement that took most of its critical time; its longest span shows it
        time_of: dict[str | None, int] = {}
        for t in mine:
            key = _statement(by_id[t.span.span_id])
            time_of[key] = time_of.get(key, 0) + t.critical_own_ns + t.critical_gap_ns
        best = max(time_of, key=lambda k: time_of[k])
        longest = max(
            (t for t in mine if _statement(by_id[t.span.span_id]) == best),
            key=lambda t: t.span.duration_ns,
        )
        span = by_id[longest.span.span_id]
    return TimeWent(
        top.service, top.name, top.kind, round(top.critical_ns), req.path.duration_ns,
        len(mine), span,
    )  # fmt: skip


def time_went_line(found: TimeWent) -> str:
    """``where its time went: orders · SELECT — 4.1s own work in 17 spans, 73 % of the
    trace`` (its time on the critical path, and its share of that path)."""
    share = 100 * found.critical_ns / found.total_ns if found.total_ns else 0
    spans = f" in {found.calls} spans" if found.calls > 1 else ""
    loop = f"{found.service}'s event loop"
    what = {
        "gap": f" waiting on the wire or in the callee's queue{spans}",
        "blocking": f": another request holding {loop} while this one waited",
    }.get(found.kind, f" own work{spans}")
    return (
        f"where its time went: {found.service} · {found.name} — "
        f"{duration(found.critical_ns)}{what}, {share:.0f} % of the trace"
    )


def trace_model(trace: dict[str, Any]) -> Trace:
    """A trace of ``GET /api/v1/traces/{id}`` (docs/api.md) as the analysis reads traces.
    Ids stay opaque (their text's bytes): the analysis only compares them."""
    status = {c.label: c for c in StatusCode}
    spans = []
    for s in trace.get("spans") or []:
        code = (s.get("status") or {}).get("code") or "unset"
        spans.append(
            Span(
                trace_id=_id(s.get("trace_id") or trace.get("trace_id") or ""),
                span_id=_id(s["span_id"]),
                parent_span_id=_id(s["parent_span_id"]) if s.get("parent_span_id") else None,
                name=s["name"],
                start_ns=s["start_time_unix_nano"],
                end_ns=s["end_time_unix_nano"],
                service=s.get("service") or UNKNOWN_SERVICE,
                kind=SpanKind.from_label(s.get("kind") or "unspecified"),
                status_code=status.get(code, StatusCode.UNSET),
                attributes=_attributes(s.get("attributes")),
                resource=_attributes(s.get("resource")),
                links=[Link(_id(x["trace_id"]), _id(x["span_id"])) for x in s.get("links") or []],
            )
        )
    spans.sort(key=lambda s: s.start_ns)
    return Trace(_id(trace.get("trace_id") or ""), spans)


def _id(text: str) -> bytes:
    return text.encode()


def _attributes(attrs: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The native API's typed attributes as plain values (an int past 2**53 comes as text)."""
    out = {}
    for a in attrs or []:
        value = a.get("value")
        if a.get("type") == "int" and isinstance(value, str):
            value = int(value)
        out[a["key"]] = value
    return out


def log_lines(log_dir: Path, trace_id: str) -> list[dict[str, Any]]:
    """The lab's JSON log lines that carry ``trace_id``, oldest first."""
    found = []
    for path in sorted(log_dir.glob("*.log")):
        with open(path, errors="replace") as f:
            for line in f:
                if trace_id in line:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if record.get("trace_id") == trace_id:
                        found.append(record)
    return sorted(found, key=lambda r: r.get("timestamp", ""))


def _error_share(traces: Iterable[dict[str, Any]]) -> str:
    traces = list(traces)
    if not traces:
        return "-"
    return f"{100 * sum(1 for t in traces if t['error_count']) / len(traces):.0f} %"


def _median_spans(traces: list[dict[str, Any]]) -> str:
    counts = [t["span_count"] for t in traces]
    return str(percentile(counts, 50)) if counts else "-"


class Tour:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.api = lab.config.spanscope_url.rstrip("/")

    def search(self, **params: Any) -> list[dict[str, Any]]:
        try:
            response = httpx.get(self.api + "/api/v1/traces", params=params, timeout=30.0)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            self.lab.say(f"  (could not ask Spanscope: {exc})")
            return []
        traces: list[dict[str, Any]] = response.json().get("traces", [])
        return traces

    def window(self, route: str, start_ns: int, end_ns: int) -> list[dict[str, Any]]:
        return self.search(
            service="gateway", operation=route, start=start_ns, end=end_ns, limit=1000
        )

    def print_baseline(self) -> None:
        """Normal traffic as Spanscope saw it: latency per gateway route, the slowest trace."""
        lab, say = self.lab, self.lab.say
        if not lab.config.tracing:
            return
        now = time.time_ns()
        start = min(now, lab.traffic_started_ns + int(WARMUP_S * 1e9))
        traces = self.search(service="gateway", start=start, end=now, limit=1000)
        if not traces:
            return
        seconds = (now - start) / 1e9
        say(f"normal traffic, as Spanscope saw it ({seconds:.0f} s, {len(traces)} traces):")
        by_route: dict[str, list[int]] = {}
        for t in traces:
            by_route.setdefault(t["root_operation"], []).append(t["duration_ns"])
        for route, durations in sorted(by_route.items(), key=lambda kv: -len(kv[1])):
            say(
                f"  {route or '(root not in yet)':<28} p50 {duration(percentile(durations, 50)):>8}"
                f"   p99 {duration(percentile(durations, 99)):>8}   ({len(durations)} traces)"
            )
        slowest = max(traces, key=lambda t: t["duration_ns"])
        say(
            f"  slowest: {self.api}/trace/{slowest['trace_id']}  "
            f"({slowest['root_operation']}, {duration(slowest['duration_ns'])})"
        )
        say("")

    def data_dir_option(self) -> str:
        """`` --data-dir DIR`` unless the lab's is the default: ``spanscope demo incident``
        reads the control token from that directory's lab.json."""
        lab_dir = self.lab.dir
        return "" if lab_dir == DEFAULT_DATA_DIR else f" --data-dir {shlex.quote(str(lab_dir))}"

    def print_welcome(self) -> None:
        lab, say = self.lab, self.lab.say
        say("")
        say(f"the shop is open: {lab.urls['gateway']} (8 services, {lab.config.rate:g} requests/s)")
        say(f"Spanscope UI:      {self.api}/")
        say(f"lab control:       {lab.control_url}/incidents")
        say(f"control token:     {lab.control_token}  (new each start; also in {lab.dir}/lab.json)")
        say(f"service logs:      {lab.dir}/logs/<service>.log (JSON lines with trace_id)")
        say("switch an incident on or off while it runs, e.g.:")
        say(f"  spanscope demo incident missing-index --on{self.data_dir_option()}")
        say(
            f"  curl -X POST -H 'Authorization: Bearer {lab.control_token}' "
            f"{lab.control_url}/incidents/missing-index"
        )
        if not lab.config.incidents:
            say(f"incidents: {', '.join(INCIDENTS)}")
        else:
            names = ", ".join(lab.config.incidents)
            say(
                f"{names} goes on in {lab.config.baseline_s:g} s (normal traffic first, to compare)"
            )
        say("")

    def print_incident(self, name: str, on_ns: int) -> None:
        incident = INCIDENTS[name]
        lab, say = self.lab, self.lab.say
        if not lab.config.tracing:
            say(f"incident {name} is on; tracing is off (--no-tracing), so there is nothing to see")
            return
        now = time.time_ns()
        # the first seconds of traffic are warm-up (connections, lazy imports): not "normal"
        warmed_up = lab.traffic_started_ns + int(WARMUP_S * 1e9)
        # "before" is normal traffic: after warm-up and after the previous switch
        previous = max((at for _, _, at in list(lab.events) if at < on_ns), default=0)
        before_start = min(on_ns, max(warmed_up, previous, on_ns - (now - on_ns)))
        before = self.window(incident.route, before_start, on_ns)
        after = self.window(incident.route, on_ns, now)
        b_ns = [t["duration_ns"] for t in before]
        a_ns = [t["duration_ns"] for t in after]

        def change(q: float) -> str:
            return f"{duration(percentile(b_ns, q))} -> {duration(percentile(a_ns, q))}"

        say(f"incident {name}, {(now - on_ns) / 1e9:.0f} s in — what Spanscope shows:")
        say(
            f"  {incident.route}  p50 {change(50)}   p99 {change(99)}"
            f"   errors {_error_share(before)} -> {_error_share(after)}"
            f"   spans/trace {_median_spans(before)} -> {_median_spans(after)}"
            f"   ({len(before)} -> {len(after)} traces)"
        )
        errors = {"status": "error"} if incident.errors else {}
        slowest = self.search(
            service="gateway", operation=incident.route, start=on_ns, end=now,
            order="slowest", limit=1, **errors,
        )  # fmt: skip
        if not slowest:
            say("  no traces yet for that route; give it a few more seconds")
            return
        summary = slowest[0]
        trace_id = summary["trace_id"]
        say(
            f"  slowest trace: {self.api}/trace/{trace_id}   ({duration(summary['duration_ns'])}, "
            f"{summary['span_count']} spans, {len(summary['services'])} services)"
        )
        typical = (
            sorted(before, key=lambda t: t["duration_ns"])[len(before) // 2] if before else None
        )
        context: list[dict[str, Any]] = []
        if not incident.errors:
            context = self._what_changed(before, after)
        self._where_the_time_went(trace_id, typical, context)
        if incident.errors:
            self._first_error(trace_id)
        lines = log_lines(lab.dir / "logs", trace_id)
        say(
            f"  its logs: {len(lines)} lines carry trace_id={trace_id}:  "
            f"grep {trace_id} {lab.dir}/logs/*.log"
        )
        own = [r for r in lines if r.get("logger") != "httpx"]  # the services' own words first
        for record in (own or lines)[:3]:
            service = record.get("service.name", "?")
            say(f"    {service}: {record.get('level')} {record.get('message')}")
        print_signals(self.api, incident.service, before_start, on_ns, time.time_ns(), say)
        if typical is not None:
            query = urlencode({"a": typical["trace_id"], "b": trace_id})
            say(f"  compare with a typical trace from before: {self.api}/compare?{query}")
        query = urlencode(
            {
                "service": "gateway",
                "operation": incident.route,
                "lookback": "15m",
                "order": "slowest",
            }
        )
        say(f"  all of them, slowest first: {self.api}/search?{query}")
        say(f"  look for: {incident.look_for}")
        say(f"  switch it off: spanscope demo incident {name} --off{self.data_dir_option()}")
        say("")

    def _fetch(self, trace_id: str) -> dict[str, Any] | None:
        try:
            response = httpx.get(f"{self.api}/api/v1/traces/{trace_id}", timeout=30.0)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            self.lab.say(f"  (could not fetch trace {trace_id}: {exc})")
            return None
        trace: dict[str, Any] = response.json()
        return trace

    def _what_changed(
        self, before: list[dict[str, Any]], after: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Compare self time per operation over whole windows: one trace can be dominated by
        a scheduling stall on a busy machine, dozens of them cannot. Returns the traces of
        the window after the switch that it fetched."""
        fetched = []
        for window in (before, after):
            newest = sorted(window, key=lambda t: -t["start_time_unix_nano"])[:MAX_COMPARED]
            fetched.append([t for t in (self._fetch(x["trace_id"]) for x in newest) if t])
        grown = most_grown(self_time_per_operation(fetched[0]), self_time_per_operation(fetched[1]))
        if grown is None:
            return fetched[1]
        (service, operation), was, now = grown
        self.lab.say(
            f"  what changed most: {service} · {' '.join(operation.split())[:90]}"
            f"  {duration(was)} -> {duration(now)} self time per trace"
        )
        return fetched[1]

    def _first_error(self, trace_id: str) -> None:
        trace = self._fetch(trace_id)
        origin = _error_origin(trace["spans"]) if trace else None
        if origin is not None:
            message = (origin.get("status") or {}).get("message") or "(no message)"
            self.lab.say(
                f"  where the error started: {origin['service']} · {origin['name']}: {message}"
            )

    def _where_the_time_went(
        self, trace_id: str, typical: dict[str, Any] | None, context: list[dict[str, Any]]
    ) -> None:
        """explain's top cause for the slowest trace (:func:`where_time_went`), the other
        traces fetched from the window as the context a blocked event loop is found in."""
        trace = self._fetch(trace_id)
        found = where_time_went(trace, context) if trace else None
        if found is None:
            return
        self.lab.say(f"  {time_went_line(found)}")
        span = found.span
        if span is None:
            return
        statement = _statement(span)
        if statement:
            self.lab.say(f"    {' '.join(statement.split())[:110]}")
        before = self._fetch(typical["trace_id"]) if typical else None
        if not before or not before.get("spans"):
            return
        names = operation_names(trace_model(before))
        key = (found.service, found.name, statement)
        same = [
            s for s in before["spans"]
            if (s["service"], names.get(_id(s["span_id"])), _statement(s)) == key
        ]  # fmt: skip
        if same:
            took = max(s["duration_ns"] for s in same)
            self.lab.say(
                f"    the same span in a typical trace from before: {duration(took)} "
                f"(now up to {duration(span['duration_ns'])})"
            )


def self_time_per_operation(traces: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """Mean self time per trace of each (service, statement or span name), in ns."""
    total: dict[tuple[str, str], float] = {}
    for trace in traces:
        spans = trace.get("spans") or []
        selfs = self_times(spans)
        for span in spans:
            key = (span["service"], _statement(span) or span["name"])
            total[key] = total.get(key, 0.0) + selfs[span["span_id"]]
    return {key: ns / max(1, len(traces)) for key, ns in total.items()}


def most_grown(
    before: dict[tuple[str, str], float], after: dict[tuple[str, str], float]
) -> tuple[tuple[str, str], float, float] | None:
    """The operation whose self time per trace grew the most: (key, before ns, after ns)."""
    if not after:
        return None
    key = max(after, key=lambda k: after[k] - before.get(k, 0.0))
    return key, before.get(key, 0.0), after[key]


def _error_origin(spans: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The error span none of whose children failed: where the error started."""
    failed = [s for s in spans if (s.get("status") or {}).get("code") == "error"]
    parents = {s["parent_span_id"] for s in failed}
    origins = [s for s in failed if s["span_id"] not in parents]
    return min(origins, key=lambda s: s["start_time_unix_nano"]) if origins else None


def _statement(span: dict[str, Any]) -> str | None:
    keys = ("db.statement", "db.query.text")
    return next((str(a["value"]) for a in span.get("attributes", []) if a["key"] in keys), None)
