// Service map: services as nodes, caller -> callee edges labelled with calls, error rate and
// p99, computed on demand by /api/v1/service-map (no batch job). Clicking a node or an edge
// searches its traces. The table below lists the same edges.
//
// Layout: a layered (Sugiyama) drawing by dagre (vendor/dagre, MIT): services in ranks so
// requests read left to right, crossings reduced, each edge routed between the nodes of the
// ranks it spans (never through one), with room reserved for its label; edges are drawn as
// the straight segments dagre returns. Each label is then put where its box touches no edge
// and no node: searched up and down from dagre's spot (placeLabel). A call from a service to
// itself is a small loop above its node. Colours: one per service, never the error red
// (palette.js); red edges are edges with errors.

import { analysis, api, missingText } from "./api.js";
import { navigate, setQuery } from "./nav.js";
import { clear, errorBox, fmtDuration, h, s, serviceColor } from "./dom.js";
import { useServiceNames } from "./palette.js";
import dagre from "./vendor/dagre/dagre.esm.js";

const LOOKBACKS = ["15m", "1h", "6h", "1d", "2d", "7d"];
const NODE_W = 150;
const NODE_H = 34;
const CHAR_W = 6.2; // px per character of a 10px edge label (system-ui), a safe overestimate
const LABEL_H = 13;

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

function edgeLabel(e) {
  const parts = [`${e.call_count} call${e.call_count === 1 ? "" : "s"}`];
  const rate = e.error_rate !== undefined ? e.error_rate : e.call_count ? (e.error_count || 0) / e.call_count : 0;
  if (e.error_count !== undefined) parts.push(`${(100 * rate).toFixed(1)} % err`);
  if (e.p99_ns !== undefined) parts.push(`p99 ${fmtDuration(e.p99_ns)}`);
  return parts.join(" · ");
}

/** dagre's layout of the services and their calls (self-calls left out: drawn as loops). */
function layout(edges) {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: 36, ranksep: 70, edgesep: 22, marginx: 24, marginy: 30 });
  g.setDefaultEdgeLabel(() => ({}));
  const names = [...new Set(edges.flatMap((e) => [e.parent, e.child]))].sort();
  for (const n of names) g.setNode(n, { width: NODE_W, height: NODE_H });
  edges.forEach((e, k) => {
    if (e.parent === e.child) return;
    g.setEdge(e.parent, e.child, { width: edgeLabel(e).length * CHAR_W, height: LABEL_H, labelpos: "c" }, String(k));
  });
  dagre.layout(g);
  const nodes = new Map(names.map((n) => [n, g.node(n)]));
  const routes = new Map();
  for (const ref of g.edges()) routes.set(Number(ref.name), g.edge(ref));
  return { nodes, routes, width: g.graph().width, height: g.graph().height };
}

const boxOf = (n) => ({ x0: n.x - n.width / 2, y0: n.y - n.height / 2, x1: n.x + n.width / 2, y1: n.y + n.height / 2 });

/** Whether segment a-b crosses (or lies in) the box, by clipping (Liang–Barsky). */
export function segmentHitsBox(a, b, box) {
  let t0 = 0;
  let t1 = 1;
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  for (const [p, q] of [[-dx, a.x - box.x0], [dx, box.x1 - a.x], [-dy, a.y - box.y0], [dy, box.y1 - a.y]]) {
    if (p === 0) {
      if (q < 0) return false;
    } else {
      const t = q / p;
      if (p < 0) t0 = Math.max(t0, t);
      else t1 = Math.min(t1, t);
      if (t0 > t1) return false;
    }
  }
  return true;
}

/** The label box centre nearest dagre's spot whose box touches no segment and no node. */
export function placeLabel(at, width, height, segments, boxes) {
  const pad = 2;
  for (let step = 0; step <= 40; step++) {
    for (const dy of step ? [-step * 3, step * 3] : [0]) {
      const box = { x0: at.x - width / 2 - pad, x1: at.x + width / 2 + pad, y0: at.y + dy - height / 2 - pad, y1: at.y + dy + height / 2 + pad };
      if (!segments.some(([a, b]) => segmentHitsBox(a, b, box)) && !boxes.some((n) => overlaps(n, box))) {
        return { x: at.x, y: at.y + dy };
      }
    }
  }
  return at; // nowhere free within ±120px: dagre's own spot, on a halo (style.css)
}

const overlaps = (a, b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

function graph(edges, lookback) {
  const names = [...new Set(edges.flatMap((e) => [e.parent, e.child]))].sort();
  useServiceNames(names); // distinct colours on the map, the same ones in every other view
  const { nodes, routes, width, height } = layout(edges);
  const nodeBoxes = [...nodes.values()].map(boxOf);
  const segments = [];
  for (const r of routes.values()) for (let k = 1; k < r.points.length; k++) segments.push([r.points[k - 1], r.points[k]]);
  const svg = s("svg", { class: "service-map", width, height, viewBox: `0 0 ${width} ${height}`,
    role: "img", "aria-label": "Service dependency graph" },
  s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7,
    markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }))));
  const labels = [];
  edges.forEach((e, k) => {
    const errorRate = e.error_rate !== undefined ? e.error_rate : (e.error_count || 0) / Math.max(e.call_count, 1);
    const text = edgeLabel(e);
    let d;
    let at;
    let points = [];
    if (e.parent === e.child) {
      const n = nodes.get(e.parent);
      const x = n.x + n.width / 2 - 24;
      const y = n.y - n.height / 2;
      d = `M ${x} ${y} C ${x - 4} ${y - 26}, ${x + 30} ${y - 26}, ${x + 16} ${y}`;
      at = { x: x + 8, y: y - 30 };
    } else {
      const r = routes.get(k);
      points = r.points;
      d = points.map((p, i) => `${i ? "L" : "M"} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(" ");
      at = placeLabel({ x: r.x, y: r.y }, text.length * CHAR_W, LABEL_H, segments, nodeBoxes);
    }
    labels.push(s("text", { x: at.x.toFixed(1), y: (at.y + 4).toFixed(1), "text-anchor": "middle", class: "edge-label",
      dataset: { parent: e.parent, child: e.child } }, text));
    svg.append(s("g", { class: `edge${errorRate > 0 ? " has-errors" : ""}`, dataset: { parent: e.parent, child: e.child,
      points: JSON.stringify(points.map((p) => [+p.x.toFixed(1), +p.y.toFixed(1)])) },
    tabindex: 0, on: { click: () => navigate(`/search?service=${encodeURIComponent(e.child)}&lookback=${lookback}`) } },
    s("path", { d, "marker-end": "url(#arrow)" }),
    s("title", {}, `${e.parent} → ${e.child}: ${text}`)));
  });
  for (const [name, n] of nodes) {
    const b = boxOf(n);
    svg.append(s("g", { class: "node", dataset: { service: name }, tabindex: 0,
      on: { click: () => navigate(`/search?service=${encodeURIComponent(name)}&lookback=${lookback}`) } },
    s("rect", { x: b.x0, y: b.y0, width: n.width, height: n.height, rx: 6, style: { stroke: serviceColor(name) } }),
    s("rect", { x: b.x0, y: b.y0, width: 6, height: n.height, rx: 2, class: "node-band", style: { fill: serviceColor(name) } }),
    s("text", { x: n.x + 3, y: n.y + 5, "text-anchor": "middle" }, name.length > 20 ? `${name.slice(0, 19)}…` : name),
    s("title", {}, name)));
  }
  svg.append(s("g", { class: "edge-labels" }, labels)); // on top of every line
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
