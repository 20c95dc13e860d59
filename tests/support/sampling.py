"""Tail-sampling configs for tests that run ``spanscope serve`` with ``[tail_sampling]``
(docs/sampling.md): the shape most of them want keeps every trace with an error and a
fraction ``rate`` of the rest, decided ``decision_wait`` after a trace's first span.

    config = write_config(tmp_path, keep_errors_and_sample(rate=0.0, decision_wait="1s"))
    server = start_spanscope(tmp_path / "data", {"SPANSCOPE_CONFIG": str(config)})
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def keep_errors_and_sample(rate: float | str, decision_wait: str = "200ms") -> str:
    """TOML: policy ``errors`` keeps traces with an ERROR span, ``rest`` keeps ``rate``
    of the others (a string passes through as written, for configs the server refuses)."""
    return f"""
[tail_sampling]
decision_wait = "{decision_wait}"
[[tail_sampling.policies]]
name = "errors"
type = "status_code"
status_codes = ["ERROR"]
[[tail_sampling.policies]]
name = "rest"
type = "probabilistic"
rate = {rate}
"""


def write_config(folder: Path, text: str) -> Path:
    """``text`` as ``folder/spanscope.toml``; its path (for SPANSCOPE_CONFIG)."""
    path = folder / "spanscope.toml"
    path.write_text(text)
    return path


def decided_and_stored(server: Any, sent_spans: int) -> bool:
    """The tail sampler of ``server`` (a RunningServer) received ``sent_spans`` spans,
    holds none undecided, and every span it kept is written (nothing pending): what a test
    waits for before it reads what was kept, instead of waiting for the traffic to go quiet."""
    return (
        server.metric("spanscope_tail_sampling_received_spans_total") == sent_spans
        and server.metric("spanscope_tail_sampling_buffered_spans") == 0
        and server.metric("spanscope_pipeline_pending_spans") == 0
        and server.metric("spanscope_stored_spans_total")
        == server.metric("spanscope_tail_sampling_kept_spans_total")
    )
