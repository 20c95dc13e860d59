"""UI benchmark: how long until a person can use the page, in headless Chromium.

    .venv/bin/python benchmarks/ui.py            # 5 runs each, medians printed
    .venv/bin/python benchmarks/ui.py --runs 10

It starts a real `spanscope serve` on a fresh data dir, sends over OTLP/HTTP one trace of
100, 1,000 and 10,000 spans (a fan-out tree over 5 services, a few errors) and 100 small
traces, then opens each page in Debian's Chromium (/usr/bin/chromium) through Playwright
and times, from navigation to:

- /trace/{id}: the waterfall drawn (`.waterfall[data-ready]`)  target ≤ 1.5 s at 10,000 spans
- the same trace scrolled to its last row and that row drawn (no freeze while scrolling)
- /search?limit=100: the 100 result rows listed                target ≤ 500 ms

Each timing includes fetching the API's JSON and the browser's work; each run opens a new
page on a trace of its own that the server has not served yet, so neither the browser nor
the server's cache of recently read traces (spanscope.api.trace_cache) helps: what a user
gets following a link to a fresh trace. The same trace opened again ("again") shows what
the server's cache saves when someone reloads or comes back.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import start_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-quic"]  # fmt: skip
SERVICES = ["frontend", "orders", "inventory", "payments", "postgres"]
MS = 1_000_000


def trace_request(trace_id: bytes, n: int, t0: int) -> bytes:
    """One trace of n spans: a root, ~sqrt(n) children, the rest under them."""
    by_service: dict[str, ResourceSpans] = {}
    fan = max(int(n**0.5), 1)
    for i in range(1, n + 1):
        service = SERVICES[i % len(SERVICES)] if i > 1 else "frontend"
        rs = by_service.get(service)
        if rs is None:
            rs = by_service[service] = ResourceSpans()
            rs.resource.attributes.append(
                KeyValue(key="service.name", value=AnyValue(string_value=service))
            )
            rs.scope_spans.add()
        parent = 0 if i == 1 else 1 if i <= fan + 1 else 2 + (i % fan)
        start = t0 + (i % 997) * MS
        rs.scope_spans[0].spans.append(
            Span(
                trace_id=trace_id,
                span_id=i.to_bytes(8, "big"),
                parent_span_id=parent.to_bytes(8, "big") if parent else b"",
                name=f"op {i % 40}",
                kind=Span.SPAN_KIND_SERVER if i == 1 else Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=start if i > 1 else t0,
                end_time_unix_nano=(start + 3 * MS) if i > 1 else t0 + 1200 * MS,
                status=Status(code=Status.STATUS_CODE_ERROR) if i % 97 == 0 else None,
                attributes=[
                    KeyValue(key="http.status_code", value=AnyValue(int_value=200)),
                    KeyValue(key="db.statement", value=AnyValue(string_value=f"SELECT {i}")),
                ],
            )
        )
    request = ExportTraceServiceRequest(resource_spans=list(by_service.values()))
    return request.SerializeToString()


def send(otlp_url: str, body: bytes) -> None:
    answer = httpx.post(
        otlp_url, content=body, headers={"Content-Type": "application/x-protobuf"}, timeout=60
    )
    answer.raise_for_status()


def wait_for(api: str, trace_id: str, spans: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = httpx.get(f"{api}/api/v1/traces/{trace_id}", timeout=30)
        if got.status_code == 200 and len(got.json()["spans"]) == spans:
            return
        time.sleep(0.2)
    raise SystemExit(f"trace {trace_id} not queryable with {spans} spans after 120 s")


def timed(browser: object, url: str, ready: str, then: str | None = None) -> tuple[float, float]:
    page = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    start = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_selector(ready, timeout=30_000)
    first = time.perf_counter() - start
    second = 0.0
    if then:
        start = time.perf_counter()
        page.evaluate(then)
        page.wait_for_function(
            "() => { const v = document.querySelector('.wf-viewport');"
            " const last = v.scrollHeight - 24;"
            " const rows = [...v.querySelectorAll('.wf-row')];"
            " return rows.some(r => parseInt(r.style.top) >= last); }",
            timeout=30_000,
        )
        second = time.perf_counter() - start
    page.close()
    return first, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="spanscope-ui-bench-"))
    proc, ports = start_server(work / "data")
    api = f"http://127.0.0.1:{ports['api']}"
    otlp = f"http://127.0.0.1:{ports['otlp_http']}/v1/traces"
    try:
        t0 = time.time_ns() - 5 * 60 * 10**9
        sizes: dict[int, list[str]] = {100: [], 1_000: [], 10_000: []}
        for k, n in enumerate(sizes):
            for run in range(args.runs):
                trace_id = bytes([0x30 + k, run + 1]) * 8
                sizes[n].append(trace_id.hex())
                send(otlp, trace_request(trace_id, n, t0 + k * 10**9))
            # Only the last one is read here: the others stay unread until their run.
            wait_for(api, trace_id.hex(), n)
        for k in range(100):
            send(otlp, trace_request((k + 1).to_bytes(16, "big"), 8, t0 + k * 10**8))
        wait_for(api, (100).to_bytes(16, "big").hex(), 8)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            timed(browser, f"{api}/search", ".results-head")  # warm the asset cache
            print(f"median of {args.runs} runs, from navigation, headless Chromium:")
            scroll_js = "document.querySelector('.wf-viewport').scrollTop = 1e9"
            for n, trace_ids in sizes.items():
                runs = [
                    timed(browser, f"{api}/trace/{t}", ".waterfall[data-ready]", scroll_js)
                    for t in trace_ids[:-1] + trace_ids[-1:]  # the pre-read one last
                ]
                again = [
                    timed(browser, f"{api}/trace/{trace_ids[0]}", ".waterfall[data-ready]")
                    for _ in range(args.runs)
                ]
                ready = statistics.median(r[0] for r in runs) * 1000
                scroll = statistics.median(r[1] for r in runs) * 1000
                warm = statistics.median(r[0] for r in again) * 1000
                target = "  (target ≤ 1500 ms)" if n == 10_000 else ""
                print(f"  trace of {n:>6,} spans: usable in {ready:7.0f} ms{target};"
                      f" scrolled to the end in {scroll:5.0f} ms;"
                      f" again {warm:4.0f} ms")  # fmt: skip
            runs = [
                timed(
                    browser,
                    f"{api}/search?limit=100&lookback=1h",
                    ".result-list > .result:nth-child(100)",
                )  # fmt: skip
                for _ in range(args.runs)
            ]
            search = statistics.median(r[0] for r in runs) * 1000
            print(f"  search page, 100 results: {search:7.0f} ms  (target ≤ 500 ms)")
            browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
