"""``spanscope serve`` applies its query time limit (SPANSCOPE_QUERY_TIMEOUT_S, the env twin
of ``--query-timeout``): a search that reads past it is answered 503 naming the limit, and
the server goes on answering what reads nothing."""

from __future__ import annotations

import httpx

TINY_S = "0.000001"  # a microsecond: the watchdog has fired before any read is done


def test_a_real_server_cancels_reads_past_its_query_timeout(start_spanscope, tmp_path) -> None:
    server = start_spanscope(tmp_path / "data", env={"SPANSCOPE_QUERY_TIMEOUT_S": TINY_S})
    with httpx.Client(base_url=server.api_url, timeout=30) as http:
        # Bounded retries, not timing: a read that (implausibly) finishes before the
        # watchdog fires is answered 200; every other answer must be the limit's 503.
        answers = [http.get("/api/v1/traces", params={"lookback": "1h"}) for _ in range(20)]
        assert {a.status_code for a in answers} <= {200, 503}
        limited = [a for a in answers if a.status_code == 503]
        assert limited, "no search was cancelled at a 1 µs limit"
        message = limited[0].json()["error"]["message"]
        assert "1e-06 s limit (--query-timeout)" in message
        assert limited[0].headers["x-request-id"] in message
        # Jaeger's shape for the same
        jaeger = http.get("/api/traces", params={"service": "x"})
        assert jaeger.status_code in (200, 503)
        if jaeger.status_code == 503:
            assert "--query-timeout" in jaeger.json()["errors"][0]["msg"]
        # nothing else is affected: health and the cached service listing read nothing
        assert http.get("/healthz").status_code == 200
        assert http.get("/api/v1/services").json() == {"services": []}
    assert server.stop() == 0, server.log()
