// The services index, /services?lookback=&span_kind=: every service the server has seen,
// with its request rate, error ratio and p99 latency over the window as sparklines and
// totals, from one GET /api/v1/red asking for all of them (span_kind=any by default, so a
// service that only makes client calls or consumes messages still shows). Each service
// links to its overview (/services/{name}) and to a search of its traces.

import { analysis, api, missingText } from "./api.js";
import { sparkline } from "./charts.js";
import { navigate, setQuery } from "./nav.js";
import { clear, errorBox, fmtDuration, h, serviceColor } from "./dom.js";

const LOOKBACKS = ["15m", "1h", "6h", "1d", "2d", "7d"];

export async function render(main, params) {
  const lookback = params.get("lookback") || "1h";
  const kind = params.get("span_kind") || "any";
  const go = (changes) => {
    const q = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) q.set(k, v);
    navigate(`/services?${q}`);
  };
  const host = h("div", { class: "services-body" }, h("p", { class: "muted" }, "Loading…"));
  main.append(h("div", { class: "services-page" },
    h("div", { class: "page-head" }, h("h1", {}, "Services"),
      h("select", { "aria-label": "time range", on: { change: (e) => go({ lookback: e.target.value }) } },
        LOOKBACKS.map((l) => h("option", { value: l, selected: l === lookback }, `last ${l}`))),
      h("select", { "aria-label": "span kind", on: { change: (e) => go({ span_kind: e.target.value }) } },
        [["any", "all spans"], ["server", "server spans"], ["consumer", "consumer spans"], ["client", "client spans"]]
          .map(([v, t]) => h("option", { value: v, selected: v === kind }, t)))),
    host));
  setQuery(new URLSearchParams(Object.entries({ lookback: lookback === "1h" ? "" : lookback, span_kind: kind === "any" ? "" : kind })
    .filter(([, v]) => v)));

  let services;
  try {
    ({ services } = await api.services());
  } catch (e) {
    clear(host).append(errorBox("Cannot list services:", e));
    return;
  }
  if (!services.length) {
    clear(host).append(h("p", { class: "muted empty" }, "No services yet: send some spans (docs/sending-data.md)."));
    return;
  }
  const query = { service: services, lookback, span_kind: kind };
  let red = null;
  let note = null;
  try {
    red = await analysis.red(query);
  } catch (e) {
    note = e.missingEndpoint ? missingText(e, "RED metrics") : `RED metrics failed: ${e.message}`;
  }
  const bySvc = new Map(((red && red.series) || []).map((sr) => [sr.service, sr]));
  const window = red ? [red.start_time_unix_nano, red.end_time_unix_nano] : [undefined, undefined];
  clear(host).append(...[
    note ? h("p", { class: "unavailable" }, note) : null,
    h("p", { class: "muted" }, `${services.length} services · rate, errors and p99 per ${red ? fmtDuration(red.step_ns) : "step"} over the last ${lookback} `,
      h("a", { class: "json-twin", href: `/api/v1/red?${new URLSearchParams([...services.map((sv) => ["service", sv]), ["lookback", lookback], ["span_kind", kind]])}` }, "JSON")),
    h("table", { class: "services-table" },
      h("thead", {}, h("tr", {}, ["service", "requests/s", "", "errors", "", "p99", "", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, services.map((name) => serviceRow(name, bySvc.get(name), window, red ? red.step_ns : 0, lookback)))),
  ].filter(Boolean));
}

/** A rate as people read it: "12.5", "0.03", "0" (at most 3 significant digits). */
const rateText = (r) => (!r ? "0" : r >= 100 ? r.toFixed(0) : String(+r.toPrecision(r >= 1 ? 3 : 2)));

/** The series' points on every step of the window, zero where nothing happened. */
function everyStep(points, key, t0, t1, step) {
  if (!step || t0 === undefined) return points.map((p) => [p.time_unix_nano, p[key] ?? 0]);
  const at = new Map(points.map((p) => [p.time_unix_nano, p[key] ?? 0]));
  const first = points.length ? points[0].time_unix_nano : t0;
  const start = first - Math.ceil((first - t0) / step) * step; // on the series' own bucket grid
  const out = [];
  for (let t = start; t < t1 && out.length < 10_000; t += step) out.push([t, at.get(t) ?? 0]);
  return out;
}

function serviceRow(name, sr, [t0, t1], step, lookback) {
  const enc = encodeURIComponent(name);
  const tot = (sr && sr.totals) || null;
  // Rates and errors are 0 in a quiet step; a latency is not, so p99 keeps only real steps.
  const pts = (key, fill = true) => everyStep((sr && sr.points) || [], key, t0, t1, fill ? step : 0);
  const cells = tot
    ? [
      h("td", { class: "num rate" }, rateText(tot.rate_per_s ?? 0)),
      h("td", {}, sparkline(pts("rate_per_s"), { label: `${name} requests per second`, t0, t1 })),
      h("td", { class: `num errors${tot.error_ratio > 0 ? " error-count" : ""}` }, `${(100 * (tot.error_ratio ?? 0)).toFixed(1)} %`),
      h("td", {}, sparkline(pts("error_ratio"), { cls: "err", label: `${name} error ratio`, t0, t1 })),
      h("td", { class: "num p99" }, fmtDuration(tot.p99_ns)),
      h("td", {}, sparkline(pts("p99_ns", false), { cls: "p99", label: `${name} p99 latency`, t0, t1 })),
    ]
    : [h("td", { class: "muted no-requests", colspan: 6 }, "no spans of this kind in the window")];
  return h("tr", { class: "service-row", dataset: { service: name } },
    h("td", {}, h("span", { class: "swatch", style: { background: serviceColor(name) } }),
      h("a", { class: "service-link", href: `/services/${enc}?lookback=${lookback}` }, name)),
    cells,
    h("td", {}, h("a", { href: `/search?service=${enc}&lookback=${lookback}` }, "traces"), " · ",
      h("a", { href: `/logs?service=${enc}&lookback=${lookback}` }, "logs")));
}
