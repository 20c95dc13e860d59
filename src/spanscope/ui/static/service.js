// Service overview: RED charts over time (request rate, error ratio, p50/p95/p99 latency)
// from /api/v1/red, a latency histogram whose exemplar dots open traces, the service's own
// HTTP server duration metric (OTLP metrics: p50/p95/p99 with exemplar dots, each opening
// the trace it was recorded in), and the service's operations with links to search them.
// /services/{service}?lookback=&step=&span_kind=

import { analysis, api, missingText, signals } from "./api.js";
import { navigate, setQuery } from "./nav.js";
import { clear, errorBox, fmtDuration, fmtTime, h, serviceColor } from "./dom.js";
import { histogram, lineChart } from "./charts.js";

const LOOKBACKS = ["15m", "1h", "6h", "1d", "2d", "7d"];
// OTel's HTTP server duration histogram: the stable name (seconds) first, then the older
// one (milliseconds); RPC servers as a last resort. The same order as /api/v1/incident.
const LATENCY_METRICS = ["http.server.request.duration", "http.server.duration", "rpc.server.duration"];
const UNIT_NS = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9 };

export async function render(main, params, service) {
  const lookback = params.get("lookback") || "1h";
  const step = params.get("step") || "";
  const kind = params.get("span_kind") || "";
  const go = (changes) => {
    const q = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) if (v) q.set(k, v); else q.delete(k);
    navigate(`/services/${encodeURIComponent(service)}?${q}`);
  };
  const query = { service, lookback, step, span_kind: kind };
  const body = h("div", { class: "service-body" }, h("p", { class: "muted" }, "Loading…"));
  main.append(h("div", { class: "service-page" },
    h("div", { class: "page-head" },
      h("h1", {}, h("span", { class: "swatch", style: { background: serviceColor(service) } }), service),
      h("select", { "aria-label": "time range", on: { change: (e) => go({ lookback: e.target.value }) } },
        LOOKBACKS.map((l) => h("option", { value: l, selected: l === lookback }, `last ${l}`))),
      h("select", { "aria-label": "span kind", on: { change: (e) => go({ span_kind: e.target.value }) } },
        [["", "server spans"], ["any", "all spans"], ["consumer", "consumer spans"], ["client", "client spans"]]
          .map(([v, t]) => h("option", { value: v, selected: v === kind }, t))),
      h("a", { href: `/search?service=${encodeURIComponent(service)}&lookback=${lookback}` }, "Search traces"),
      h("a", { class: "json-twin", href: `/api/v1/red?${new URLSearchParams(Object.entries(query).filter(([, v]) => v))}` }, "JSON")),
    body));
  setQuery(new URLSearchParams(Object.entries({ lookback: lookback === "1h" ? "" : lookback, step, span_kind: kind })
    .filter(([, v]) => v)));

  const metrics = h("div", { class: "detail-block metrics-block" },
    h("h3", {}, "HTTP server duration (OTLP metrics)"), h("p", { class: "muted" }, "Loading…"));
  latencyMetrics(metrics, service, lookback, step);
  const [red, ops] = await Promise.allSettled([
    analysis.red(Object.fromEntries(Object.entries(query).filter(([, v]) => v))),
    api.operations(service),
  ]);
  clear(body);
  if (red.status === "fulfilled") body.append(...redCharts(red.value));
  else if (red.reason.missingEndpoint) body.append(h("p", { class: "unavailable" }, missingText(red.reason, "RED metrics")));
  else body.append(errorBox("Cannot load RED metrics:", red.reason));
  body.append(metrics);
  if (ops.status === "fulfilled") body.append(operationList(service, ops.value.operations, lookback));
}

function redCharts(answer) {
  const series = answer.series || [];
  if (!series.length || !series[0].points.length) return [h("p", { class: "muted empty" }, "No requests in this window.")];
  const sr = series[0];
  const pts = (key) => sr.points.map((p) => [p.time_unix_nano, p[key] ?? 0]);
  const tot = sr.totals || {};
  return [
    h("p", { class: "red-totals" },
      `${(tot.rate_per_s ?? 0).toFixed(2)} req/s · ${(100 * (tot.error_ratio ?? 0)).toFixed(2)} % errors · `,
      `p50 ${fmtDuration(tot.p50_ns)} · p95 ${fmtDuration(tot.p95_ns)} · p99 ${fmtDuration(tot.p99_ns)}`),
    h("div", { class: "charts" },
      lineChart({ title: "Requests per second", series: [{ name: "rate", points: pts("rate_per_s") }], format: (v) => v.toPrecision(3) }),
      lineChart({ title: "Error ratio", series: [{ name: "errors", cls: "err", points: pts("error_ratio") }],
        format: (v) => `${(100 * v).toFixed(1)}%` }),
      lineChart({ title: "Latency", format: fmtDuration, series: [
        { name: "p50", cls: "p50", points: pts("p50_ns") },
        { name: "p95", cls: "p95", points: pts("p95_ns") },
        { name: "p99", cls: "p99", points: pts("p99_ns") }] })),
    sr.histogram ? histogram(sr.histogram) : null,
  ];
}

/** The service's HTTP server duration metric, p50/p95/p99 per step, exemplars as dots. */
async function latencyMetrics(host, service, lookback, step) {
  const title = host.firstChild;
  const say = (...parts) => host.replaceChildren(title, h("p", { class: "muted empty no-metrics" }, ...parts));
  let answer;
  try {
    const { metrics } = await signals.metrics(service);
    const name = LATENCY_METRICS.find((m) => metrics.includes(m));
    if (!name) {
      say(`${service} has sent no HTTP server duration metric (${LATENCY_METRICS.join(", ")}), so there is no `
        + "metrics chart. Export OTLP metrics from the service (spanscope.sdk.configure() does) to see it here, "
        + "with exemplars that open traces: docs/logs-and-metrics.md.");
      return;
    }
    answer = await signals.series(name, { service, lookback, step });
  } catch (e) {
    host.replaceChildren(title, h("p", { class: "unavailable" }, missingText(e, "The metrics chart")));
    return;
  }
  const scale = UNIT_NS[answer.unit] ?? 1;
  const format = UNIT_NS[answer.unit] ? fmtDuration : (v) => `${+v.toPrecision(3)} ${answer.unit || ""}`.trim();
  const points = (answer.series[0] || { points: [] }).points;
  // A step's value is drawn mid-step: its exemplars were recorded anywhere inside it.
  const quantile = (q) => points.filter((p) => p.quantiles && p.quantiles[q] != null)
    .map((p) => [p.time_unix_nano + answer.step_ns / 2, p.quantiles[q] * scale]);
  const dots = (answer.exemplars || []).filter((e) => e.trace_id).map((e) => ({
    t: e.time_unix_nano, value: e.value * scale, traceId: e.trace_id, href: (e.links && e.links.trace) || `/trace/${e.trace_id}`,
    label: `exemplar: ${format(e.value * scale)} at ${fmtTime(e.time_unix_nano, false)} — open trace ${e.trace_id}` }));
  const twin = `/api/v1/metrics/${encodeURIComponent(answer.metric)}/series?${new URLSearchParams(
    Object.entries({ service, lookback, step }).filter(([, v]) => v))}`;
  host.replaceChildren(h("h3", {}, `${answer.metric} (${answer.unit || "no unit"}) `,
    h("a", { class: "json-twin", href: twin }, "JSON")),
  !points.length && !dots.length ? h("p", { class: "muted empty" }, `No ${answer.metric} data points in the last ${lookback}.`)
    : lineChart({ title: `${answer.metric} p50 / p95 / p99 · ${dots.length} exemplar${dots.length === 1 ? "" : "s"} (click a dot to open its trace)`,
      format, width: 940, height: 220, dots, series: [
        { name: "p50", cls: "p50", points: quantile("p50") },
        { name: "p95", cls: "p95", points: quantile("p95") },
        { name: "p99", cls: "p99", points: quantile("p99") }] }));
}

function operationList(service, operations, lookback) {
  return h("div", { class: "detail-block" }, h("h3", {}, `Operations (${operations.length})`),
    h("ul", { class: "op-list" }, operations.map((o) => h("li", {},
      h("a", { href: `/search?service=${encodeURIComponent(service)}&operation=${encodeURIComponent(o.name)}&lookback=${lookback}` }, o.name),
      " ", h("span", { class: "muted" }, o.span_kind)))));
}

