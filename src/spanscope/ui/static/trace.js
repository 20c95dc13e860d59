// One trace, as in Jaeger's trace page: a header with the headline, then tabs — Timeline
// (the waterfall, with the span detail below it), Where the time went, Span table, Logs
// (logs.js, fetched when opened) and the raw JSON. The URL keeps the selected span, tab,
// find text and zoom (/trace/{id}?span=&tab=&find=&from=&to=) so a shared link opens the
// same view.

import { analysis, api, missingText } from "./api.js";
import { setQuery } from "./nav.js";
import { spanDetail } from "./detail.js";
import { clear, errorBox, fmtDuration, fmtTime, h, samplingBadge } from "./dom.js";
import { logsTab } from "./logs.js";
import { breakdownTab, jsonTab, spanTableTab } from "./trace_tabs.js";
import { buildTree } from "./tracemodel.js";
import { createWaterfall } from "./waterfall.js";

const TABS = [
  ["timeline", "Timeline"],
  ["breakdown", "Where the time went"],
  ["table", "Span table"],
  ["logs", "Logs"],
  ["json", "JSON"],
];

export async function render(main, params, traceId) {
  main.append(h("p", { class: "muted" }, `Loading trace ${traceId}…`));
  // Asked for at once, not after the trace: the server reads the trace once for both.
  const criticalPath = analysis.criticalPath(traceId).then((answer) => ({ answer }), (error) => ({ error }));
  let trace;
  try {
    trace = await api.trace(traceId);
  } catch (e) {
    clear(main).append(errorBox(e.status === 404 ? "Trace not found:" : "Cannot load the trace:", e));
    return;
  }
  clear(main);
  const tree = buildTree(trace);
  const state = { tab: params.get("tab") || "timeline", span: params.get("span") || "",
    find: params.get("find") || "", from: Number(params.get("from") || 0), to: Number(params.get("to") || 1) };
  const save = () => {
    const q = new URLSearchParams();
    if (state.span) q.set("span", state.span);
    if (state.tab !== "timeline") q.set("tab", state.tab);
    if (state.find) q.set("find", state.find);
    if (state.from > 0 || state.to < 1) {
      q.set("from", state.from.toFixed(4));
      q.set("to", state.to.toFixed(4));
    }
    setQuery(q);
  };

  const detail = h("div", { class: "detail-host" });
  const headline = h("p", { class: "headline" });
  const select = (i) => {
    state.span = i >= 0 ? tree.spans[i].span_id : "";
    waterfall.select(i);
    clear(detail);
    if (i >= 0) detail.append(spanDetail(tree, i, select));
    save();
  };
  const waterfall = createWaterfall(tree, {
    onSelect: select,
    onWindow: (from, to) => { Object.assign(state, { from, to }); save(); },
    onFind: (text) => { state.find = text; save(); },
  });

  const panels = {};
  const tabButtons = TABS.map(([key, label]) => h("button", { type: "button", role: "tab", class: "tab",
    dataset: { tab: key }, on: { click: () => showTab(key) } }, label));
  const body = h("div", { class: "tab-body" });
  main.append(h("div", { class: "trace-page", dataset: { traceId: trace.trace_id } },
    traceHeader(trace, tree), headline,
    h("div", { class: "tabs", role: "tablist" }, tabButtons), body));

  function showTab(key) {
    if (!TABS.some(([k]) => k === key)) key = "timeline";
    state.tab = key;
    for (const b of tabButtons) b.setAttribute("aria-selected", String(b.dataset.tab === key));
    if (!panels[key]) {
      panels[key] = key === "timeline" ? h("div", { class: "timeline-tab" }, waterfall.element, detail)
        : key === "breakdown" ? breakdownTab(trace.trace_id)
          : key === "table" ? spanTableTab(tree, (i) => { showTab("timeline"); select(i); })
            : key === "logs" ? logsTab(trace.trace_id, tree, (i) => { showTab("timeline"); select(i); })
              : jsonTab(trace);
    }
    body.replaceChildren(panels[key]);
    if (key === "timeline" && !waterfall.element.dataset.ready) {
      waterfall.start();
      if (state.from > 0 || state.to < 1) waterfall.setWindow(state.from, state.to, false);
      if (state.find) waterfall.setFind(state.find, false);
      const i = state.span ? tree.index.get(state.span) : undefined;
      if (i !== undefined) select(i);
    }
    save();
  }
  showTab(state.tab);
  loadCriticalPath(criticalPath, tree, waterfall, headline);
}

function traceHeader(trace, tree) {
  const root = tree.roots.length ? tree.spans[tree.roots[0]] : null;
  const errors = trace.spans.filter((sp) => sp.status.code === "error").length;
  const services = new Set(trace.spans.map((sp) => sp.service));
  let maxDepth = 0;
  for (const d of tree.depth) if (d > maxDepth) maxDepth = d;
  return h("header", { class: "trace-header" },
    h("h1", {}, root ? `${root.service}: ${root.name}` : "(empty trace)"),
    h("div", { class: "trace-facts" },
      h("code", { class: "trace-id" }, trace.trace_id),
      h("span", {}, fmtTime(trace.start_time_unix_nano)),
      h("span", { class: "trace-duration" }, fmtDuration(trace.duration_ns)),
      h("span", { class: "trace-span-count" }, `${trace.spans.length} spans`),
      h("span", {}, `${services.size} services`),
      h("span", {}, `depth ${maxDepth + 1}`),
      errors ? h("span", { class: "error-count" }, `${errors} errors`) : null,
      tree.roots.length > 1 ? h("span", { class: "muted" }, `${tree.roots.length - 1} orphan subtrees`) : null,
      samplingBadge(trace.sampling),
      h("a", { href: `/api/v1/traces/${trace.trace_id}`, class: "json-twin" }, "JSON"),
      h("a", { href: `/compare?a=${trace.trace_id}` }, "Compare…")),
    trace.warnings && trace.warnings.length
      ? h("ul", { class: "warnings" }, trace.warnings.map((w) => h("li", {}, w))) : null);
}

async function loadCriticalPath(pending, tree, waterfall, headline) {
  const { answer, error } = await pending;
  if (error) {
    headline.classList.add("muted");
    headline.textContent = missingText(error, "The critical path");
    return;
  }
  headline.textContent = answer.headline || "";
  const map = new Map();
  for (const seg of answer.segments || []) {
    const i = tree.index.get(seg.span_id);
    if (i === undefined) continue;
    if (!map.has(i)) map.set(i, []);
    map.get(i).push([seg.start_time_unix_nano, seg.end_time_unix_nano]);
  }
  for (const sp of answer.spans || []) {
    const i = tree.index.get(sp.span_id);
    if (i !== undefined && !map.has(i)) map.set(i, []);
  }
  waterfall.setCritical(map);
  waterfall.element.dataset.criticalPath = "1";
}
