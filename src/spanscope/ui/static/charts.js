// Small SVG charts for the service overview: time-series lines (RED, and metric quantiles
// with exemplar dots) and a latency histogram whose exemplar dots open the traces they stand
// for. No charting library: these two shapes are all the UI draws.

import { navigate } from "./nav.js";
import { fmtDuration, fmtTime, h, s, ticks } from "./dom.js";

const PAD = { l: 58, r: 12, t: 12, b: 24 };

/**
 * lineChart({title, series: [{name, cls, points: [[t_ns, value], ...]}], format, width,
 *   dots: [{t, value, traceId, href, label}]}) — dots are exemplars: click opens href.
 */
export function lineChart({ title, series, format, width = 460, height = 170, dots = [] }) {
  const all = [...series.flatMap((sr) => sr.points), ...dots.map((d) => [d.t, d.value])];
  const svg = s("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  if (all.length) {
    const t0 = Math.min(...all.map((p) => p[0]));
    const t1 = Math.max(...all.map((p) => p[0]));
    const top = Math.max(...all.map((p) => p[1]), 0) || 1;
    const x = (t) => PAD.l + ((t - t0) / Math.max(t1 - t0, 1)) * (width - PAD.l - PAD.r);
    const y = (v) => height - PAD.b - (v / top) * (height - PAD.t - PAD.b);
    for (const v of ticks(top, 3)) {
      svg.append(s("line", { x1: PAD.l, x2: width - PAD.r, y1: y(v), y2: y(v), class: "grid" }),
        s("text", { x: PAD.l - 6, y: y(v) + 4, "text-anchor": "end", class: "axis-label" }, format(v)));
    }
    svg.append(s("text", { x: PAD.l, y: height - 6, class: "axis-label" }, fmtTime(t0, false)),
      s("text", { x: width - PAD.r, y: height - 6, "text-anchor": "end", class: "axis-label" }, fmtTime(t1, false)));
    for (const sr of series) {
      const pts = sr.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`);
      svg.append(s("polyline", { points: pts.join(" "), class: `line ${sr.cls || ""}` }));
      if (sr.points.length === 1) svg.append(s("circle", { cx: x(sr.points[0][0]), cy: y(sr.points[0][1]), r: 3, class: `line ${sr.cls || ""}` }));
    }
    for (const d of dots) {
      const open = () => navigate(d.href);
      svg.append(s("circle", { cx: x(d.t).toFixed(1), cy: y(d.value).toFixed(1), r: 4, class: "exemplar",
        dataset: { traceId: d.traceId }, tabindex: 0, role: "link", "aria-label": d.label,
        on: { click: open, keydown: (e) => e.key === "Enter" && open() } }, s("title", {}, d.label)));
    }
  }
  return h("figure", { class: `chart-box${width > 600 ? " wide" : ""}` }, h("figcaption", {}, title,
    series.length > 1 ? h("span", { class: "legend" }, series.map((sr) => h("span", { class: `key ${sr.cls || ""}` }, sr.name))) : null),
  all.length ? svg : h("p", { class: "muted" }, "no data"));
}

/** histogram(buckets [{le_ns, count, exemplar_trace_ids}]) with clickable exemplar dots. */
export function histogram(buckets, width = 940, height = 190) {
  const svg = s("svg", { class: "chart histogram", width, height, viewBox: `0 0 ${width} ${height}`,
    role: "img", "aria-label": "Latency histogram" });
  const top = Math.max(...buckets.map((b) => b.count), 1);
  const bw = (width - PAD.l - PAD.r) / Math.max(buckets.length, 1);
  const y = (v) => height - PAD.b - (v / top) * (height - PAD.t - PAD.b);
  for (const v of ticks(top, 3).filter(Number.isInteger)) { // counts: whole-number ticks only
    svg.append(s("line", { x1: PAD.l, x2: width - PAD.r, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: PAD.l - 6, y: y(v) + 4, "text-anchor": "end", class: "axis-label" }, String(v)));
  }
  buckets.forEach((b, k) => {
    const x = PAD.l + k * bw;
    const label = b.le_ns === null ? "+Inf" : `≤${fmtDuration(b.le_ns)}`;
    svg.append(s("rect", { x: x + 2, y: y(b.count), width: Math.max(bw - 4, 1), height: height - PAD.b - y(b.count), class: "bar" },
      s("title", {}, `${label}: ${b.count}`)),
    s("text", { x: x + bw / 2, y: height - 8, "text-anchor": "middle", class: "axis-label" }, label));
    (b.exemplar_trace_ids || []).forEach((id, j) => {
      svg.append(s("circle", { cx: x + bw / 2 + (j - 1) * 9, cy: Math.max(y(b.count) - 8, PAD.t), r: 4, class: "exemplar",
        dataset: { traceId: id }, tabindex: 0, on: { click: () => navigate(`/trace/${id}`) } },
      s("title", {}, `exemplar trace ${id} (${label})`)));
    });
  });
  return h("figure", { class: "chart-box wide" }, h("figcaption", {}, "Latency histogram · dots are exemplar traces"), svg);
}

/** A small line without axes (the services index): points [[t, v], ...]; title says the range. */
export function sparkline(points, { cls = "", label = "", width = 140, height = 28, t0, t1 } = {}) {
  const svg = s("svg", { class: `sparkline ${cls}`, width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  if (!points.length) return svg;
  const a = t0 ?? Math.min(...points.map((p) => p[0]));
  const b = t1 ?? Math.max(...points.map((p) => p[0]));
  const top = Math.max(...points.map((p) => p[1]), 0) || 1;
  const x = (t) => 1 + ((t - a) / Math.max(b - a, 1)) * (width - 2);
  const y = (v) => height - 2 - (v / top) * (height - 4);
  svg.append(s("polyline", { class: "spark-line", points: points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ") }),
    s("title", {}, label));
  if (points.length === 1) svg.append(s("circle", { class: "spark-line", cx: x(points[0][0]), cy: y(points[0][1]), r: 2 }));
  return svg;
}
