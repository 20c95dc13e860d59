"""The SDK's RemoteSampler follows rules set on a real server, without a restart."""

from __future__ import annotations

from pathlib import Path

import httpx

from spanscope.sdk.remote import RemoteSampler

CHECKOUT = 0x0123456789ABCDEF_0123456789ABCDEF


def test_remote_rules_change_the_sdk_decision_without_redeploy(start_spanscope, tmp_path: Path):  # type: ignore[no-untyped-def]
    server = start_spanscope(tmp_path / "data")
    sampler = RemoteSampler("checkout", server.api_url, start=False)
    assert sampler.refresh()
    assert sampler.should_sample(None, CHECKOUT, "POST /pay").decision.is_sampled()

    rules = {"default_rate": 1.0, "rules": [{"name": "POST /pay", "rate": 0.0}]}
    r = httpx.put(
        server.api_url + "/api/v1/sampling/rules", params={"service": "checkout"}, json=rules
    )
    assert r.status_code == 200
    assert sampler.refresh()
    assert not sampler.should_sample(None, CHECKOUT, "POST /pay").decision.is_sampled()
    assert sampler.should_sample(None, CHECKOUT, "GET /cart").decision.is_sampled()


def test_unreachable_server_keeps_the_last_rules() -> None:
    sampler = RemoteSampler("checkout", "http://127.0.0.1:9", start=False)
    assert not sampler.refresh()
    assert sampler.last_error and "127.0.0.1:9" in sampler.last_error
    assert sampler.should_sample(None, CHECKOUT, "POST /pay").decision.is_sampled()
