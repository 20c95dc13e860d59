"""Root-cause benchmark: does compare (and explain) name the injected cause first?

    PYTHONPATH=src .venv/bin/python benchmarks/rca.py               # 2 seeds, 200 traces each
    PYTHONPATH=src .venv/bin/python benchmarks/rca.py --seeds 5 --traces 300
    PYTHONPATH=src .venv/bin/python benchmarks/rca.py --cases      # one line per case too

The incidents come from :mod:`spanscope.analysis.synthetic` (seeded: the same command
prints the same figures): every fault type on every topology it applies to, with decoys
and noise, 3-20 % of the traces broken. For each case it runs, directly on the analysis
functions (no server, no store):

- ``compare``: the slow/normal split of the case's requests (the slowest 10 %), or
  erroring vs healthy requests for an error-only incident, ranked as ``/api/v1/compare``
  ranks them;
- ``explain``: the slowest request (the slowest erroring one for an error-only incident),
  ranked as ``spanscope explain`` headlines it;
- ``self-time`` and ``breakdown``: the rankings before issue #14, for the record — compare
  by mean self time per trace (``analysis.compare.rank_operations`` over the store's
  ``operation_stats``), explain by the breakdown's critical time per span name;
- ``baseline``: the operation whose mean span duration grew most between the groups (its
  error rate, for an error-only incident) — what a person does with a dashboard.

It prints top-1 and top-3 accuracy per fault type: a hit is the case's ``truth``
(service · operation, CLIENT calls named by their target) at rank 1, or within the
first three. Target (issue #14): top-1 >= 95 % for compare and explain, 30 points above
the baseline.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable

from spanscope.analysis import compare as cmp
from spanscope.analysis import rca
from spanscope.analysis.breakdown import breakdown, self_times
from spanscope.analysis.skew import adjust_clock_skew
from spanscope.analysis.synthetic import FAULTS, Case, cases
from spanscope.model.aggregates import OperationStat
from spanscope.model.spans import Trace

Ranker = Callable[[Case], list[str]]


def truth_label(case: Case) -> str:
    return f"{case.truth[0]} · {case.truth[1]}"


_REQUESTS: dict[str, list[tuple[Trace, rca.Request]]] = {}


def requests(case: Case) -> list[tuple[Trace, rca.Request]]:
    """Each trace's request (its root, or the slowest span of the case's subject)."""
    if case.name not in _REQUESTS:
        _REQUESTS.clear()
        reqs = [(t, r) for t in case.traces for r in rca.requests_in(t, case.subject)[:1]]
        # The case's other traces are the window's context: a request that blocked an
        # event loop is in its own trace, not among the compared ones.
        rca.account_loop_blocking(reqs, case.traces)
        _REQUESTS[case.name] = reqs
    return _REQUESTS[case.name]


def compare_ranking(case: Case) -> list[str]:
    reqs = requests(case)
    if case.errors:
        result = rca.compare_errors(reqs)
    else:
        result = rca.compare_slow(reqs)
    return [c.label for c in result.causes]


def explain_ranking(case: Case) -> list[str]:
    reqs = requests(case)
    if case.errors:
        erroring = [(t, r) for t, r in reqs if r.span.is_error]
        trace, req = max(erroring or reqs, key=lambda tr: tr[1].span.duration_ns)
    else:
        trace, req = max(reqs, key=lambda tr: tr[1].span.duration_ns)
    return [c.label for c in rca.explain(trace, req).causes]


def self_time_ranking(case: Case) -> list[str]:
    """Compare as it was: mean self time per trace, span names as stored."""
    reqs = requests(case)
    split = cmp.split_requests([(t.trace_id, r.span.duration_ns) for t, r in reqs])
    by_id = {t.trace_id: t for t, _ in reqs}
    stats = []
    for group, ids in split.groups().items():
        acc: dict[tuple[str, str], list[int]] = {}
        for tid in ids:
            own = self_times(by_id[tid], stored_children_only=True)
            for s in by_id[tid].spans:
                a = acc.setdefault((s.service, s.name), [0, 0, 0, 0])
                a[0], a[1] = a[0] + 1, a[1] + 1
                a[2], a[3] = a[2] + s.duration_ns, a[3] + own[s.span_id]
        stats += [OperationStat(group, k[0], k[1], *v) for k, v in acc.items()]
    return [f"{o.service} · {o.name}" for o in cmp.rank_operations(stats, split)]


def breakdown_ranking(case: Case) -> list[str]:
    """Explain as it was: the breakdown's operations by critical time."""
    reqs = requests(case)
    if case.errors:
        reqs = [tr for tr in reqs if tr[1].span.is_error] or reqs
    trace, _ = max(reqs, key=lambda tr: tr[1].span.duration_ns)
    return [f"{o.service} · {o.name}" for o in breakdown(adjust_clock_skew(trace)).operations]


def baseline_ranking(case: Case) -> list[str]:
    return rca.baseline(requests(case), errors=case.errors)


METHODS: dict[str, Ranker] = {
    "compare": compare_ranking,
    "explain": explain_ranking,
    "self-time": self_time_ranking,
    "breakdown": breakdown_ranking,
    "baseline": baseline_ranking,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2, help="seeds per (fault, topology)")
    ap.add_argument("--traces", type=int, default=200, help="traces per case")
    ap.add_argument("--cases", action="store_true", help="print every case's top answers")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    all_cases = cases(range(args.seeds), args.traces)
    built = time.perf_counter() - t0
    hits: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    elapsed = defaultdict(float)
    for case in all_cases:
        want = truth_label(case)
        line = []
        for method, rank in METHODS.items():
            t = time.perf_counter()
            ranked = rank(case)
            elapsed[method] += time.perf_counter() - t
            h = hits[case.fault][method]
            h[0] += ranked[:1] == [want]
            h[1] += want in ranked[:3]
            h[2] += 1
            line.append(f"{method}: {ranked[0] if ranked else '-'}")
        if args.cases:
            ok = "ok " if hits and line[0].endswith(want) else "MISS"
            print(f"{ok} {case.name:32} rate {case.fault_rate:4.0%}  want {want}\n      "
                  + "\n      ".join(line))  # fmt: skip
    print(f"{len(all_cases)} cases ({args.seeds} seeds x fault x topology, {args.traces} "
          f"traces each), built in {built:.1f}s; analysis " + ", ".join(
              f"{m} {s:.1f}s" for m, s in elapsed.items()))  # fmt: skip
    header = f"{'fault':16} {'n':>3}" + "".join(f" {m + ' top1/top3':>21}" for m in METHODS)
    print(header)
    totals = {m: [0, 0, 0] for m in METHODS}
    for fault in FAULTS:
        row = f"{fault:16} {hits[fault]['compare'][2]:>3}"
        for m in METHODS:
            h = hits[fault][m]
            totals[m] = [a + b for a, b in zip(totals[m], h, strict=True)]
            row += f" {h[0] / h[2]:>11.0%} / {h[1] / h[2]:>7.0%}"
        print(row)
    row = f"{'all':16} {totals['compare'][2]:>3}"
    for m in METHODS:
        h = totals[m]
        row += f" {h[0] / h[2]:>11.0%} / {h[1] / h[2]:>7.0%}"
    print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
