// The trace waterfall: one row per span in tree order, a bar per span on a shared time axis,
// bars coloured by service, errors marked, the critical path drawn darker inside the bars.
// Only visible rows are in the DOM (virtual.js). The minimap above draws every span on a
// canvas; dragging across it zooms the axis to that time range, double-click resets.

import { fmtDuration, h, serviceColor, ticks } from "./dom.js";
import { ancestors, filteredRows, searchText, visibleRows } from "./tracemodel.js";
import { virtualList } from "./virtual.js";

const ROW_H = 24;
const INDENT = 14;
const MAX_INDENT_DEPTH = 30; // deeper rows write their depth instead of indenting further
const MINIMAP_ROW_MAX = 6; // px: a 2-span trace draws two thin bars, not two half-height bands

/**
 * createWaterfall(tree, {onSelect, onWindow, onFind}) -> controller with .element and
 * select(i), setWindow(from, to), setFind(text), setCritical(Map<spanIndex, [[s,e],...]>).
 */
export function createWaterfall(tree, { onSelect, onWindow, onFind }) {
  const collapsed = new Set();
  const state = { from: 0, to: 1, selected: -1, matches: new Set(), matchList: [], cursor: -1,
    critical: null, rows: [], filter: null };
  let texts = null; // lazily built search text per span

  const findInput = h("input", { type: "search", class: "find-input", placeholder: "Find in trace",
    "aria-label": "Find in trace", spellcheck: "false" });
  const findCount = h("span", { class: "find-count muted" });
  const axis = h("div", { class: "wf-axis" });
  const viewport = h("div", { class: "wf-viewport", tabindex: 0 });
  const canvas = h("canvas", { class: "minimap-canvas", height: 56 });
  const brush = h("div", { class: "minimap-brush" });
  const minimap = h("div", { class: "minimap", title: "Drag to zoom into a time range; double-click to reset" },
    canvas, brush);
  const element = h("div", { class: "waterfall" },
    h("div", { class: "wf-toolbar" },
      findInput, findCount,
      h("button", { type: "button", title: "previous match", on: { click: () => step(-1) } }, "↑"),
      h("button", { type: "button", title: "next match", on: { click: () => step(1) } }, "↓"),
      h("button", { type: "button", on: { click: () => collapseAll(false) } }, "Expand all"),
      h("button", { type: "button", on: { click: () => collapseAll(true) } }, "Collapse all"),
      h("button", { type: "button", class: "reset-zoom", on: { click: () => setWindow(0, 1, true) } },
        "Reset zoom")),
    minimap,
    h("div", { class: "wf-header" }, h("div", { class: "wf-label-col" }, "Service · operation"), axis),
    viewport);
  const list = virtualList(viewport, ROW_H, renderRow);

  function renderRow(r) {
    const i = state.rows[r];
    const sp = tree.spans[i];
    const d = tree.depth[i];
    const kids = tree.children[i].length;
    const isError = sp.status.code === "error";
    const cls = ["wf-row"];
    if (isError) cls.push("error");
    if (state.critical && state.critical.has(i)) cls.push("critical");
    if (state.matches.has(i)) cls.push("match");
    if (i === state.selected) cls.push("selected");
    const toggle = kids
      ? h("button", { type: "button", class: "toggle", "aria-label": collapsed.has(i) ? "expand" : "collapse",
        on: { click: (e) => { e.stopPropagation(); toggleRow(i); } } }, collapsed.has(i) ? "▸" : "▾")
      : h("span", { class: "toggle-space" });
    const indent = Math.min(d, MAX_INDENT_DEPTH) * INDENT;
    const label = h("div", { class: "wf-label", style: { paddingLeft: `${indent + 4}px` } },
      toggle,
      d > MAX_INDENT_DEPTH ? h("span", { class: "depth-mark" }, `${d}›`) : null,
      h("span", { class: "swatch", style: { background: serviceColor(sp.service) } }),
      h("span", { class: "wf-service" }, sp.service),
      h("span", { class: "wf-name" }, sp.name),
      isError ? h("span", { class: "error-mark", title: "error" }, "!") : null,
      collapsed.has(i) && kids ? h("span", { class: "muted" }, ` (${kids})`) : null);
    return h("div", { class: cls.join(" "), dataset: { spanId: sp.span_id }, on: { click: () => onSelect(i) } },
      label, h("div", { class: "wf-timeline" }, bar(i, sp)));
  }

  function bar(i, sp) {
    const span = (state.to - state.from) * tree.duration;
    const origin = tree.t0 + state.from * tree.duration;
    const left = ((sp.start_time_unix_nano - origin) / span) * 100;
    const width = Math.max(((sp.end_time_unix_nano - sp.start_time_unix_nano) / span) * 100, 0.15);
    const segs = state.critical && state.critical.get(i);
    const inner = segs
      ? segs.map(([a, b]) => h("span", { class: "cp-seg", style: {
        left: `${((a - sp.start_time_unix_nano) / Math.max(sp.duration_ns, 1)) * 100}%`,
        width: `${Math.max(((b - a) / Math.max(sp.duration_ns, 1)) * 100, 0.5)}%` } }))
      : null;
    const label = h("span", { class: "wf-dur", style: left + width > 85
      ? { right: `${Math.max(100 - left, 0)}%`, paddingRight: "4px" }
      : { left: `${left + width}%`, paddingLeft: "4px" } }, fmtDuration(sp.duration_ns));
    return [h("div", { class: "wf-bar", style: { left: `${left}%`, width: `${width}%`,
      background: serviceColor(sp.service) } }, inner), label];
  }

  function rowsNow() {
    // A span filter shows the matching spans with their ancestors, whatever is collapsed.
    return state.filter ? filteredRows(tree, state.filter) : visibleRows(tree, collapsed);
  }

  function relayout(keepIndex) {
    state.rows = rowsNow();
    list.setCount(state.rows.length);
    if (keepIndex !== undefined) {
      const r = state.rows.indexOf(keepIndex);
      if (r >= 0) list.scrollToIndex(r);
    }
  }

  function toggleRow(i) {
    if (collapsed.has(i)) collapsed.delete(i);
    else collapsed.add(i);
    relayout();
  }

  function collapseAll(on) {
    collapsed.clear();
    if (on) for (const r of tree.roots) for (const c of tree.children[r]) if (tree.children[c].length) collapsed.add(c);
    relayout();
  }

  function drawAxis() {
    const span = (state.to - state.from) * tree.duration;
    const offset = state.from * tree.duration;
    axis.replaceChildren(...ticks(span, 5).map((v) => h("span", { class: "tick", style: { left: `${(v / span) * 100}%` } },
      fmtDuration(offset + v))));
  }

  function drawMinimap() {
    const width = Math.max(minimap.clientWidth, 300);
    canvas.width = width;
    const ctx = canvas.getContext("2d");
    const n = tree.order.length;
    const rowH = Math.min(canvas.height / Math.max(n, 1), MINIMAP_ROW_MAX);
    canvas.dataset.rowHeight = rowH.toFixed(2);
    ctx.clearRect(0, 0, width, canvas.height);
    const css = getComputedStyle(element); // the theme's colours: dark mode has a light "critical"
    const colours = { error: css.getPropertyValue("--error").trim() || "#d33",
      critical: css.getPropertyValue("--critical").trim() || "#222" };
    for (let k = 0; k < n; k++) {
      const i = tree.order[k];
      const sp = tree.spans[i];
      const x = ((sp.start_time_unix_nano - tree.t0) / tree.duration) * width;
      const w = Math.max((sp.duration_ns / tree.duration) * width, 1);
      ctx.fillStyle = sp.status.code === "error" ? colours.error : state.critical && state.critical.has(i) ? colours.critical : serviceColor(sp.service);
      ctx.fillRect(x, k * rowH, w, Math.max(rowH > 2 ? rowH - 1 : rowH, 1));
    }
    drawBrush();
  }

  function drawBrush() {
    brush.style.left = `${state.from * 100}%`;
    brush.style.width = `${(state.to - state.from) * 100}%`;
    brush.classList.toggle("hidden", state.from === 0 && state.to === 1);
  }

  function setWindow(from, to, notify) {
    state.from = Math.max(0, Math.min(from, 1));
    state.to = Math.max(state.from + 1e-6, Math.min(to, 1));
    drawAxis();
    drawBrush();
    list.refresh();
    if (notify) onWindow(state.from, state.to);
  }

  minimap.addEventListener("mousedown", (down) => {
    const box = minimap.getBoundingClientRect();
    const at = (e) => Math.max(0, Math.min((e.clientX - box.left) / box.width, 1));
    const a = at(down);
    const move = (e) => {
      const b = at(e);
      brush.classList.remove("hidden");
      brush.style.left = `${Math.min(a, b) * 100}%`;
      brush.style.width = `${Math.abs(b - a) * 100}%`;
    };
    const up = (e) => {
      window.removeEventListener("mousemove", move);
      window.removeEventListener("mouseup", up);
      const b = at(e);
      if (Math.abs(b - a) * box.width > 3) setWindow(Math.min(a, b), Math.max(a, b), true);
      else drawBrush();
    };
    window.addEventListener("mousemove", move);
    window.addEventListener("mouseup", up);
  });
  minimap.addEventListener("dblclick", () => setWindow(0, 1, true));

  function setFind(text, notify) {
    const q = text.trim().toLowerCase();
    findInput.value = text;
    state.matches = new Set();
    state.matchList = [];
    state.cursor = -1;
    if (q) {
      if (!texts) texts = tree.spans.map(searchText);
      for (let k = 0; k < tree.order.length; k++) {
        const i = tree.order[k];
        if (texts[i].includes(q)) {
          state.matches.add(i);
          state.matchList.push(i);
        }
      }
    }
    findCount.textContent = q ? `${state.matchList.length} match${state.matchList.length === 1 ? "" : "es"}` : "";
    list.refresh();
    if (notify) onFind(text);
  }

  function step(dir) {
    if (!state.matchList.length) return;
    state.cursor = (state.cursor + dir + state.matchList.length) % state.matchList.length;
    findCount.textContent = `${state.cursor + 1} of ${state.matchList.length}`;
    onSelect(state.matchList[state.cursor]);
  }

  findInput.addEventListener("input", () => setFind(findInput.value, true));
  findInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      step(e.shiftKey ? -1 : 1);
    }
  });

  function select(i) {
    state.selected = i;
    if (i < 0) return list.refresh();
    let opened = false;
    for (const a of ancestors(tree, i)) if (collapsed.delete(a)) opened = true;
    if (opened) state.rows = rowsNow();
    list.setCount(state.rows.length);
    const r = state.rows.indexOf(i);
    if (r >= 0) list.scrollToIndex(r);
  }

  return {
    element,
    start() {
      relayout();
      drawAxis();
      drawMinimap();
      element.dataset.ready = "1";
    },
    select,
    setWindow,
    setFind,
    /** Show only spans passing predicate(i) (and their ancestors); null shows all again. */
    setFilter(predicate) {
      state.filter = predicate;
      relayout(state.selected >= 0 ? state.selected : undefined);
      return predicate ? state.rows.filter((i) => predicate(i)).length : tree.spans.length;
    },
    /** j/k: the span dir rows below (above) the selected one, in the rows shown now. */
    nextRow(dir) {
      const rows = state.rows.length ? state.rows : rowsNow(); // not drawn yet (the flame tab)
      if (!rows.length) return -1;
      const r = rows.indexOf(state.selected);
      const next = r < 0 ? (dir > 0 ? 0 : rows.length - 1) : Math.max(0, Math.min(r + dir, rows.length - 1));
      return rows[next];
    },
    focusFind() {
      findInput.focus();
      findInput.select();
    },
    setCritical(map) {
      state.critical = map;
      drawMinimap();
      list.refresh();
    },
  };
}
