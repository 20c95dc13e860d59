// The trace as a flame graph, with an icicle of the selected span's subtree beside it
// (trace page, "Flame graph" tab). One box per span (tracemodel.js flameLayout): roots at
// the bottom, each span's children above it, as wide as their share of its duration, so
// the empty part of a box is that span's self time. Boxes are coloured by service, errors
// outlined red. Selecting a box selects the same span in the timeline, and the reverse:
// trace.js keeps one selected span for both. Boxes narrower than half a pixel are not
// drawn (a 10,000-span trace stays light); the caption says how many.

import { fmtDuration, h, s, serviceColor } from "./dom.js";
import { flameLayout } from "./tracemodel.js";

const ROW = 18;
const MIN_PX = 0.5;

/** createFlame(tree, {onSelect}) -> {element, draw(), select(i)}. */
export function createFlame(tree, { onSelect }) {
  const flameHost = h("div", { class: "flame-host" });
  const icicleHost = h("div", { class: "icicle-host" });
  const flameCaption = h("p", { class: "muted flame-caption" });
  const icicleTitle = h("h3", { class: "icicle-title" }, "Icicle");
  const element = h("div", { class: "flame-view" },
    h("h3", {}, "Flame graph"), flameCaption, flameHost,
    icicleTitle, icicleHost);
  let selected = -1;
  let width = 0;

  function chart(layout, orientation, cls) {
    const height = Math.max(layout.depth, 1) * ROW;
    const svg = s("svg", { class: `flame ${cls}`, width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": cls === "icicle" ? "Icicle of the selected span's subtree" : "Flame graph of the trace" });
    let hidden = 0;
    for (const b of layout.boxes) {
      const w = (b.x1 - b.x0) * width;
      if (w < MIN_PX) {
        hidden += 1;
        continue;
      }
      const sp = tree.spans[b.i];
      const y = orientation === "up" ? height - (b.depth + 1) * ROW : b.depth * ROW;
      const x = b.x0 * width;
      const label = `${sp.service}: ${sp.name}`;
      const chars = Math.floor((w - 6) / 6.5);
      const cl = ["flame-box"];
      if (sp.status.code === "error") cl.push("error");
      if (b.i === selected) cl.push("selected");
      svg.append(s("g", { class: cl.join(" "), dataset: { spanId: sp.span_id }, tabindex: w >= 6 ? 0 : -1,
        on: { click: () => onSelect(b.i), keydown: (e) => e.key === "Enter" && onSelect(b.i) } },
      s("rect", { x: x.toFixed(2), y: y + 1, width: Math.max(w - 0.5, 0.5).toFixed(2), height: ROW - 2, rx: 2,
        style: { fill: serviceColor(sp.service) } }),
      chars >= 3 ? s("text", { x: (x + 3).toFixed(2), y: y + ROW - 5 },
        label.length > chars ? `${label.slice(0, chars - 1)}…` : label) : null,
      s("title", {}, `${label} — ${fmtDuration(sp.duration_ns)}`)));
    }
    return { svg, hidden };
  }

  function drawFlame() {
    const { svg, hidden } = chart(flameLayout(tree), "up", "trace-flame");
    flameHost.replaceChildren(svg);
    flameCaption.textContent = `${tree.spans.length} spans; a box's width is its share of its parent's duration, `
      + "the empty part its self time. Click a box to select the span (and see its subtree below)."
      + (hidden ? ` ${hidden} spans too narrow to draw at this width.` : "");
  }

  function drawIcicle() {
    if (selected < 0) {
      icicleTitle.textContent = "Icicle";
      icicleHost.replaceChildren(h("p", { class: "muted" }, "Select a span to see its subtree as an icicle."));
      return;
    }
    const sp = tree.spans[selected];
    icicleTitle.textContent = `Icicle: ${sp.service}: ${sp.name} (${fmtDuration(sp.duration_ns)})`;
    icicleHost.replaceChildren(chart(flameLayout(tree, selected), "down", "icicle").svg);
  }

  return {
    element,
    draw() {
      width = Math.max(element.clientWidth || 0, 600);
      drawFlame();
      drawIcicle();
      element.dataset.ready = "1";
    },
    select(i) {
      selected = i;
      if (!width) return;
      for (const g of flameHost.querySelectorAll(".flame-box.selected")) g.classList.remove("selected");
      if (i >= 0) {
        const g = flameHost.querySelector(`.flame-box[data-span-id="${tree.spans[i].span_id}"]`);
        if (g) g.classList.add("selected");
      }
      drawIcicle();
    },
  };
}
