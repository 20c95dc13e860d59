// Service map: services as nodes, caller -> callee edges labelled with calls, error rate and
// p99, computed on demand by /api/v1/service-map (no batch job). Clicking a node or an edge
// searches its traces. Layout: each service in the column of its longest call chain from an
// entry service, so requests read left to right. The table below lists the same edges.

import { analysis, api, missingText } from "./api.js";
import { navigate, setQuery } from "./nav.js";
import { clear, errorBox, fmtDuration, h, s, serviceColor } from "./dom.js";

const LOOKBACKS = ["15m", "1h", "6h", "1d", "2d", "7d"];
const NODE_W = 150;
const NODE_H = 34;
const COL_GAP = 210; // room for an edge label: "120 calls · 1.7 % err · p99 900ms"
const ROW_GAP = 26;

export async function render(main, params) {
  const lookback = params.get("lookback") || "1h";
  const picker = h("select", { name: "lookback", "aria-label": "time range",
    on: { change: (e) => navigate(`/map?lookback=${e.target.value}`) } },
  LOOKBACKS.map((l) => h("option", { value: l, selected: l === lookback }, `last ${l}`)));
  const host = h("div", { class: "map-body" }, h("p", { class: "muted" }, "Loading…"));
  main.append(h("div", { class: "map-page" },
    h("div", { class: "page-head" }, h("h1", {}, "Service map"), picker,
      h("a", { class: "json-twin", href: `/api/v1/service-map?lookback=${lookback}` }, "JSON")),
    host));
  setQuery(new URLSearchParams(lookback === "1h" ? "" : `lookback=${lookback}`));

  let edges;
  let note = null;
  try {
    ({ edges } = await analysis.serviceMap({ lookback }));
  } catch (e) {
    if (!e.missingEndpoint) {
      clear(host).append(errorBox("Cannot load the service map:", e));
      return;
    }
    // The dependency list is public API too; it lacks latencies, and the page says so.
    note = missingText(e, "Latency on edges");
    try {
      ({ dependencies: edges } = await api.dependencies({ lookback }));
    } catch (e2) {
      clear(host).append(errorBox("Cannot load dependencies:", e2));
      return;
    }
  }
  clear(host);
  if (note) host.append(h("p", { class: "unavailable" }, note));
  if (!edges.length) {
    host.append(h("p", { class: "muted empty" }, `No calls between services in the last ${lookback}.`));
    return;
  }
  host.append(graph(edges, lookback), edgeTable(edges, lookback));
}

function layers(edges) {
  const names = [...new Set(edges.flatMap((e) => [e.parent, e.child]))].sort();
  const level = new Map(names.map((n) => [n, 0]));
  // Longest-path layering, bounded so a call cycle cannot loop forever.
  for (let round = 0; round < names.length; round++) {
    let changed = false;
    for (const e of edges) {
      if (e.parent === e.child) continue;
      const want = level.get(e.parent) + 1;
      if (want > level.get(e.child) && want < names.length) {
        level.set(e.child, want);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const columns = [];
  for (const n of names) (columns[level.get(n)] ||= []).push(n);
  return columns.filter(Boolean);
}

function edgeLabel(e) {
  const parts = [`${e.call_count} calls`];
  const rate = e.error_rate !== undefined ? e.error_rate : e.call_count ? (e.error_count || 0) / e.call_count : 0;
  if (e.error_count !== undefined) parts.push(`${(100 * rate).toFixed(1)} % err`);
  if (e.p99_ns !== undefined) parts.push(`p99 ${fmtDuration(e.p99_ns)}`);
  return parts.join(" · ");
}

function graph(edges, lookback) {
  const columns = layers(edges);
  const pos = new Map();
  const rows = Math.max(...columns.map((c) => c.length));
  columns.forEach((col, ci) => col.forEach((name, ri) => {
    const offset = ((rows - col.length) * (NODE_H + ROW_GAP)) / 2;
    pos.set(name, { x: 20 + ci * (NODE_W + COL_GAP), y: 20 + offset + ri * (NODE_H + ROW_GAP) });
  }));
  const width = 40 + columns.length * (NODE_W + COL_GAP) - COL_GAP;
  const height = 40 + rows * (NODE_H + ROW_GAP) - ROW_GAP;
  const svg = s("svg", { class: "service-map", width, height, viewBox: `0 0 ${width} ${height}`,
    role: "img", "aria-label": "Service dependency graph" },
  s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7,
    markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }))));
  for (const e of edges) {
    const a = pos.get(e.parent);
    const b = pos.get(e.child);
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2;
    const back = x2 <= x1;
    const d = back
      ? `M ${a.x + NODE_W / 2} ${a.y + NODE_H} C ${a.x + NODE_W / 2} ${a.y + NODE_H + 50}, ${b.x + NODE_W / 2} ${b.y + NODE_H + 50}, ${b.x + NODE_W / 2} ${b.y + NODE_H}`
      : `M ${x1} ${y1} C ${x1 + COL_GAP / 2} ${y1}, ${x2 - COL_GAP / 2} ${y2}, ${x2} ${y2}`;
    const errorRate = e.error_rate !== undefined ? e.error_rate : (e.error_count || 0) / Math.max(e.call_count, 1);
    svg.append(s("g", { class: `edge${errorRate > 0 ? " has-errors" : ""}`, dataset: { parent: e.parent, child: e.child },
      tabindex: 0, on: { click: () => navigate(`/search?service=${encodeURIComponent(e.child)}&lookback=${lookback}`) } },
    s("path", { d, "marker-end": "url(#arrow)" }),
    s("text", { x: back ? (a.x + b.x + NODE_W) / 2 : (x1 + x2) / 2, y: back ? Math.max(a.y, b.y) + NODE_H + 48 : (y1 + y2) / 2 - 5,
      "text-anchor": "middle", class: "edge-label" }, edgeLabel(e)),
    s("title", {}, `${e.parent} → ${e.child}: ${edgeLabel(e)}`)));
  }
  for (const [name, p] of pos) {
    svg.append(s("g", { class: "node", dataset: { service: name }, tabindex: 0,
      on: { click: () => navigate(`/search?service=${encodeURIComponent(name)}&lookback=${lookback}`) } },
    s("rect", { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: 6, style: { stroke: serviceColor(name) } }),
    s("text", { x: p.x + NODE_W / 2, y: p.y + NODE_H / 2 + 5, "text-anchor": "middle" },
      name.length > 20 ? `${name.slice(0, 19)}…` : name),
    s("title", {}, name)));
  }
  return h("div", { class: "map-scroll" }, svg);
}

function edgeTable(edges, lookback) {
  const hasLatency = edges.some((e) => e.p99_ns !== undefined);
  const sorted = [...edges].sort((a, b) => b.call_count - a.call_count);
  return h("table", { class: "edge-table" },
    h("thead", {}, h("tr", {}, ["caller", "callee", "calls", "errors", "error rate",
      ...(hasLatency ? ["p50", "p95", "p99"] : [])].map((c) => h("th", {}, c)))),
    h("tbody", {}, sorted.map((e) => h("tr", { dataset: { parent: e.parent, child: e.child } },
      h("td", {}, h("a", { href: `/services/${encodeURIComponent(e.parent)}` }, e.parent)),
      h("td", {}, h("a", { href: `/services/${encodeURIComponent(e.child)}` }, e.child)),
      h("td", { class: "num" }, h("a", { href: `/search?service=${encodeURIComponent(e.child)}&lookback=${lookback}` },
        String(e.call_count))),
      h("td", { class: "num" }, String(e.error_count ?? "–")),
      h("td", { class: "num" }, `${(100 * (e.error_rate ?? (e.error_count || 0) / Math.max(e.call_count, 1))).toFixed(1)} %`),
      hasLatency ? [e.p50_ns, e.p95_ns, e.p99_ns].map((v) => h("td", { class: "num" }, fmtDuration(v))) : null))));
}
