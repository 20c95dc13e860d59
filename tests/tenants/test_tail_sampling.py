"""Each tenant has its own tail sampler: the sampler buffers spans by trace id, and one
shared between tenants would decide a trace id known to two of them as one trace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tenant_traffic import PROTOBUF, SHARED, api_get, make, post, trace_request, wait_for

from tests.support.sampling import keep_errors_and_sample, write_config

if TYPE_CHECKING:
    from tests.support.server import RunningServer


def test_a_trace_id_in_two_tenants_is_decided_per_tenant(
    start_spanscope: Callable[..., RunningServer], tmp_path: Path
) -> None:
    config = write_config(tmp_path, keep_errors_and_sample(0.0, decision_wait="1s"))
    server = start_spanscope(tmp_path / "data", env={"SPANSCOPE_CONFIG": str(config)})
    failing, fine = make("team-a"), make("team-b")
    for data, error in ((failing, True), (fine, False)):
        answer = post(server.otlp_http_url + "/v1/traces", trace_request(data, error=error),
                      {**PROTOBUF, **data.headers})  # fmt: skip
        assert answer.status_code == 200, answer.text

    def decided(tenant: str, policy: str, kind: str) -> bool:
        text = httpx.get(server.api_url + "/metrics", timeout=10).text
        name = f"spanscope_tail_sampling_{kind}_traces_total"
        return any(
            sample.name == name and sample.labels == {"tenant": tenant, "policy": policy}
            and sample.value == 1
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        )  # fmt: skip

    wait_for(lambda: decided("team-a", "errors", "kept"), "team-a's trace kept for its error")
    wait_for(lambda: decided("team-b", "rest", "dropped"), "team-b's trace dropped")
    kept = api_get(server, f"/api/v1/traces/{SHARED.hex()}", failing.headers)
    assert kept.status_code == 200
    assert fine.marker not in kept.text and len(kept.json()["spans"]) == 7
    assert kept.json()["sampling"]["policy"] == "errors"
    assert api_get(server, f"/api/v1/traces/{SHARED.hex()}", fine.headers).status_code == 404
