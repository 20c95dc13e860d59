// One trace, as in Jaeger's trace page: a header with the headline, then tabs — Timeline
// (the waterfall with span filters, the span detail below it), Flame graph (flame.js, with
// an icicle of the selected subtree), Where the time went, Span table, Logs (logs.js,
// fetched when opened) and the raw JSON. One span is selected for every tab: selecting it
// in the flame graph selects it in the timeline, and the reverse. The URL keeps the
// selected span, tab, find text and zoom (/trace/{id}?span=&tab=&find=&from=&to=) so a
// shared link opens the same view. Keys: / find, j/k next/previous span, ? help.
//
// showTrace() also draws a trace opened from a file (open.js): then there is nothing
// stored to analyse, so the tabs that ask the server about the trace are left out.

import { analysis, api, missingText } from "./api.js";
import { setQuery } from "./nav.js";
import { spanDetail } from "./detail.js";
import { clear, errorBox, fmtDuration, fmtTime, h, samplingBadge } from "./dom.js";
import { createFlame } from "./flame.js";
import { logsTab } from "./logs.js";
import { breakdownTab, jsonTab, spanTableTab } from "./trace_tabs.js";
import { toJaeger, toOtlp } from "./traceformat.js";
import { buildTree, isIncomplete, spanFilter } from "./tracemodel.js";
import { parseDuration } from "./units.js";
import { createWaterfall } from "./waterfall.js";

const TABS = [
  ["timeline", "Timeline"],
  ["flame", "Flame graph"],
  ["breakdown", "Where the time went", "stored"],
  ["table", "Span table"],
  ["logs", "Logs", "stored"],
  ["json", "JSON"],
];

const SHORTCUTS = [
  ["/", "find in trace"],
  ["j", "select the next span"],
  ["k", "select the previous span"],
  ["?", "show or hide this help"],
  ["Esc", "close this help"],
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
  return showTrace(main, trace, params, { stored: true, criticalPath }); // its cleanup: the key listener
}

/** Draw `trace` (the native model) into main; stored: false for a trace read from a file. */
export function showTrace(main, trace, params, { stored, criticalPath = null, source = "" }) {
  const tree = buildTree(trace);
  const tabs = TABS.filter(([, , need]) => stored || need !== "stored");
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
  let selected = -1;
  const select = (i) => {
    selected = i;
    state.span = i >= 0 ? tree.spans[i].span_id : "";
    waterfall.select(i);
    flame.select(i);
    clear(detail);
    if (i >= 0) detail.append(spanDetail(tree, i, select, { stored }));
    save();
  };
  const waterfall = createWaterfall(tree, {
    onSelect: select,
    onWindow: (from, to) => { Object.assign(state, { from, to }); save(); },
    onFind: (text) => { state.find = text; save(); },
  });
  const flame = createFlame(tree, { onSelect: select });

  const panels = {};
  const tabButtons = tabs.map(([key, label]) => h("button", { type: "button", role: "tab", class: "tab",
    dataset: { tab: key }, on: { click: () => showTab(key) } }, label));
  const body = h("div", { class: "tab-body" });
  const help = shortcutHelp();
  const page = h("div", { class: "trace-page", dataset: { traceId: trace.trace_id } },
    traceHeader(trace, tree, stored, source), headline,
    h("div", { class: "tabs", role: "tablist" }, tabButtons,
      h("button", { type: "button", class: "tab help-button", title: "keyboard shortcuts (?)",
        on: { click: () => help.classList.toggle("hidden") } }, "?")),
    body, help);
  main.append(page);

  function showTab(key) {
    if (!tabs.some(([k]) => k === key)) key = "timeline";
    state.tab = key;
    for (const b of tabButtons) b.setAttribute("aria-selected", String(b.dataset.tab === key));
    if (!panels[key]) {
      panels[key] = key === "timeline" ? h("div", { class: "timeline-tab" }, filterBar(tree, waterfall), waterfall.element)
        : key === "flame" ? h("div", { class: "flame-tab" }, flame.element)
          : key === "breakdown" ? breakdownTab(trace.trace_id)
            : key === "table" ? spanTableTab(tree, (i) => { showTab("timeline"); select(i); })
              : key === "logs" ? logsTab(trace.trace_id, tree, (i) => { showTab("timeline"); select(i); })
                : jsonTab(trace, stored);
    }
    body.replaceChildren(panels[key]);
    // The span detail belongs to whichever of the two span views is shown.
    if (key === "timeline" || key === "flame") panels[key].append(detail);
    if (key === "timeline" && !waterfall.element.dataset.ready) {
      waterfall.start();
      if (state.from > 0 || state.to < 1) waterfall.setWindow(state.from, state.to, false);
      if (state.find) waterfall.setFind(state.find, false);
    }
    if (key === "flame" && !flame.element.dataset.ready) flame.draw();
    if (selected < 0 && state.span) {
      const i = tree.index.get(state.span);
      if (i !== undefined) select(i);
    } else if (selected >= 0) {
      waterfall.select(selected);
      flame.select(selected);
    }
    save();
  }
  showTab(state.tab);
  if (criticalPath) loadCriticalPath(criticalPath, tree, waterfall, headline);

  const onKey = (e) => {
    if (!page.isConnected) { // the view was left: this listener goes with it
      document.removeEventListener("keydown", onKey);
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const typing = e.target.closest && e.target.closest("input, textarea, select, [contenteditable]");
    if (e.key === "Escape") {
      help.classList.add("hidden");
      if (typing) e.target.blur();
      return;
    }
    if (typing) return;
    if (e.key === "?") help.classList.toggle("hidden");
    else if (e.key === "/") {
      e.preventDefault();
      if (state.tab !== "timeline") showTab("timeline");
      waterfall.focusFind();
    } else if (e.key === "j" || e.key === "k") {
      if (state.tab !== "timeline" && state.tab !== "flame") showTab("timeline");
      const i = waterfall.nextRow(e.key === "j" ? 1 : -1);
      if (i >= 0) select(i);
    } else return;
    e.preventDefault();
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}

function shortcutHelp() {
  return h("aside", { class: "shortcut-help hidden", role: "dialog", "aria-label": "Keyboard shortcuts" },
    h("h2", {}, "Keyboard shortcuts"),
    h("dl", { class: "kv" }, SHORTCUTS.map(([key, what]) => [h("dt", {}, h("kbd", {}, key)), h("dd", {}, what)])));
}

/** Span filters above the waterfall: service, status, duration bounds, attribute. */
function filterBar(tree, waterfall) {
  const services = [...new Set(tree.spans.map((sp) => sp.service))].sort();
  const service = h("select", { name: "service", "aria-label": "filter by service" },
    h("option", { value: "" }, "any service"), services.map((sv) => h("option", { value: sv }, sv)));
  const status = h("select", { name: "status", "aria-label": "filter by status" },
    [["", "any status"], ["error", "error"], ["ok", "ok"], ["unset", "unset"]].map(([v, t]) => h("option", { value: v }, t)));
  const min = h("input", { name: "min", placeholder: "min e.g. 10ms", size: 9, "aria-label": "minimum duration" });
  const max = h("input", { name: "max", placeholder: "max e.g. 2s", size: 9, "aria-label": "maximum duration" });
  const attribute = h("input", { name: "attribute", placeholder: "attribute, e.g. http.status_code=500", size: 28,
    "aria-label": "filter by attribute", spellcheck: "false" });
  const count = h("span", { class: "filter-count muted" });
  const clearBtn = h("button", { type: "button", on: { click: () => {
    service.value = status.value = min.value = max.value = attribute.value = "";
    apply();
  } } }, "Clear filters");
  const duration = (input) => {
    input.setCustomValidity("");
    if (!input.value.trim()) return null;
    try {
      return parseDuration(input.value, "ms");
    } catch (e) {
      input.setCustomValidity(e.message);
      input.reportValidity();
      return undefined;
    }
  };
  function apply() {
    const minNs = duration(min);
    const maxNs = duration(max);
    if (minNs === undefined || maxNs === undefined) return;
    const keep = spanFilter(tree, { service: service.value, status: status.value, minNs, maxNs, attribute: attribute.value });
    const shown = waterfall.setFilter(keep);
    count.textContent = keep ? `${shown} of ${tree.spans.length} spans match (their parents shown for context)` : "";
  }
  for (const el of [service, status]) el.addEventListener("change", apply);
  for (const el of [min, max, attribute]) el.addEventListener("change", apply);
  return h("form", { class: "span-filters", on: { submit: (e) => { e.preventDefault(); apply(); } } },
    h("strong", {}, "Filter spans"), service, status, min, max, attribute,
    h("button", { type: "submit" }, "Apply"), clearBtn, count);
}

function download(name, object) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(object, null, 2)], { type: "application/json" }));
  const a = document.createElement("a"); // a blob: URL we made, which h()'s safeHref would refuse
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function traceHeader(trace, tree, stored, source) {
  const root = tree.roots.length ? tree.spans[tree.roots[0]] : null;
  const incomplete = isIncomplete(tree);
  const errors = trace.spans.filter((sp) => sp.status.code === "error").length;
  const services = new Set(trace.spans.map((sp) => sp.service));
  let maxDepth = 0;
  for (const d of tree.depth) if (d > maxDepth) maxDepth = d;
  const title = !root ? "(empty trace)"
    : incomplete ? `Incomplete trace: ${root.service}: ${root.name}` : `${root.service}: ${root.name}`;
  return h("header", { class: "trace-header" },
    h("h1", {}, title),
    incomplete ? h("p", { class: "incomplete-note" }, "The root span has not arrived: the trace may still be in flight, ",
      `or its root was lost. Shown from the earliest span whose parent (${root.parent_span_id}) is not here.`) : null,
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
      stored ? h("a", { href: `/api/v1/traces/${trace.trace_id}`, class: "json-twin" }, "JSON")
        : h("span", { class: "badge from-file" }, `from ${source || "a file"}, not stored`),
      h("button", { type: "button", class: "download-jaeger", on: { click: () => download(`${trace.trace_id}.jaeger.json`, toJaeger(trace)) } },
        "Download Jaeger JSON"),
      h("button", { type: "button", class: "download-otlp", on: { click: () => download(`${trace.trace_id}.otlp.json`, toOtlp(trace)) } },
        "Download OTLP JSON"),
      stored ? h("a", { href: `/compare?a=${trace.trace_id}` }, "Compare…") : null),
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
