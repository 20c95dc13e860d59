"""The service map: which service calls which, how often, how often it fails, how fast.

Nodes are services; an edge ``parent -> child`` is a parent span in one service with a
child span in another (an RPC, an HTTP call), or a CONSUMER span linked to a PRODUCER
span of another service (messaging). It is computed on demand from the stored spans for
any window — there is no batch job to run, and no empty map for lack of one::

    stats = store.dependency_stats(start_ns, end_ns)
    graph = service_map(stats)
    graph.headline   # "payments -> bank: 12.5 % errors of 400 calls, p99 1.2s"

Latencies are the callee's span durations (what the caller waited for, minus the network).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spanscope.analysis.tree import format_ns
from spanscope.model.aggregates import DependencyStats


@dataclass(slots=True)
class ServiceNode:
    service: str
    calls_in: int = 0
    calls_out: int = 0
    errors_in: int = 0


@dataclass(slots=True)
class ServiceMap:
    nodes: list[ServiceNode]
    edges: list[DependencyStats]
    headline: str


def error_rate(edge: DependencyStats) -> float:
    return edge.error_count / edge.call_count if edge.call_count else 0.0


def service_map(edges: Sequence[DependencyStats], service: str | None = None) -> ServiceMap:
    nodes: dict[str, ServiceNode] = {}
    if service:
        nodes[service] = ServiceNode(service)
    for e in edges:
        parent = nodes.setdefault(e.parent, ServiceNode(e.parent))
        child = nodes.setdefault(e.child, ServiceNode(e.child))
        parent.calls_out += e.call_count
        child.calls_in += e.call_count
        child.errors_in += e.error_count
    ordered = sorted(nodes.values(), key=lambda n: n.service)
    return ServiceMap(ordered, sorted(edges, key=lambda e: (e.parent, e.child)), _headline(edges))


def _headline(edges: Sequence[DependencyStats]) -> str:
    if not edges:
        return "no calls between services in the window"
    services = {e.parent for e in edges} | {e.child for e in edges}
    lead = f"{len(services)} services, {len(edges)} caller -> callee edges"
    failing = [e for e in edges if e.error_count]
    if failing:
        worst = max(failing, key=lambda e: (error_rate(e), e.call_count))
        return (
            f"{lead}; most errors: {worst.parent} -> {worst.child}, "
            f"{error_rate(worst) * 100:.1f} % of {worst.call_count} calls"
        )
    own = own_p99(edges)
    slowest = max(edges, key=lambda e: (own[(e.parent, e.child)], _p99(e)))
    return (
        f"{lead}; no errors; slowest on its own: {slowest.parent} -> {slowest.child}, "
        f"p99 {format_ns(_p99(slowest))} ({format_ns(own[(slowest.parent, slowest.child)])} "
        "more than its own slowest call's)"
    )


def _p99(e: DependencyStats) -> int:
    return e.quantiles_ns[-1] if e.quantiles_ns else 0


def own_p99(edges: Sequence[DependencyStats]) -> dict[tuple[str, str], int]:
    """(parent, child) -> the edge's p99 minus the largest p99 of the callee's own calls:
    the top of a chain is slow because everything under it is; the edge whose latency is
    its callee's own is the one to look at."""
    below: dict[str, int] = {}
    for e in edges:
        if e.parent != e.child:
            below[e.parent] = max(below.get(e.parent, 0), _p99(e))
    return {(e.parent, e.child): max(0, _p99(e) - below.get(e.child, 0)) for e in edges}
