"""Realistic OTLP export requests for tests: the benchmarks' workload (benchmarks/workload.py,
its docstring describes the shape), so a test and a benchmark send the same traffic.

    from tests.support.workload import make_request
    request = make_request(n_spans=40, seed=1)
"""

from benchmarks.workload import make_request, to_otlp_json

__all__ = ["make_request", "to_otlp_json"]
