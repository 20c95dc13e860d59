// Search: the form, a scatter plot of trace duration against start time, and the result
// list. The scatter covers the whole chosen time range: it asks for up to SCATTER_LIMIT
// traces of the same query (not only the `limit` listed), on an axis from the window's
// start to its end. The page's query string IS the API query (/api/v1/traces takes the same names), so
// the "JSON" link beside the results is this page's twin and a shared URL re-runs the search.

import { api, searchApiUrl } from "./api.js";
import { navigate } from "./nav.js";
import { clear, errorBox, fmtDuration, fmtTime, h, s, samplingBadge, serviceColor, ticks } from "./dom.js";
import { parseDuration } from "./units.js";
import { formToTraceQL } from "./traceql.js";
import { traceqlBox } from "./traceql_box.js";

const LOOKBACKS = ["15m", "1h", "6h", "1d", "2d", "7d"];
const SCATTER_LIMIT = 1000; // the API's most per request
const FIELDS = ["service", "operation", "min_duration", "max_duration", "status", "lookback",
  "start", "end", "limit", "order", "q"];
const WINDOW = ["lookback", "start", "end", "limit"];

export async function render(main, params) {
  const form = searchForm(params);
  // The TraceQL box searches in the form's time range and limit (q= replaces its filters).
  const windowParams = () => {
    const all = formParams(form);
    return Object.fromEntries(WINDOW.filter((k) => all.has(k)).map((k) => [k, all.get(k)]));
  };
  const box = traceqlBox(params, windowParams);
  form.querySelector(".use-traceql").addEventListener("click", () => {
    box.input.value = form.querySelector("#form-traceql").textContent;
    box.input.focus();
  });
  const results = h("section", { class: "results", "aria-label": "Search results" });
  main.append(h("div", { class: "search-page" }, h("div", { class: "search-side" }, box.form, form), results));
  fillServices(form, params);
  await runSearch(results, params);
}

// ---- the form ----

function field(label, input) {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

function select(name, options, value) {
  return h("select", { name },
    options.map(([v, text]) => h("option", { value: v, selected: v === (value || "") }, text)));
}

function searchForm(params) {
  const get = (k) => params.get(k) || "";
  const custom = !!(params.get("start") || params.get("end"));
  const lookback = custom ? "custom" : get("lookback") || "1h";
  const form = h("form", { class: "search-form", id: "search-form" },
    field("Service", select("service", [["", "any service"]], get("service"))),
    field("Operation", h("input", { name: "operation", value: get("operation"), list: "operations",
      placeholder: "any operation", autocomplete: "off" })),
    h("datalist", { id: "operations" }),
    field("Attributes (one per line)", h("textarea", { name: "tag", rows: 2,
      placeholder: "http.status_code>=500\nuser.id=\"42\"", spellcheck: "false",
      value: params.getAll("tag").join("\n") })),
    h("div", { class: "row" },
      field("Min duration", h("input", { name: "min_duration", value: get("min_duration"),
        placeholder: "250ms", size: 7 })),
      field("Max duration", h("input", { name: "max_duration", value: get("max_duration"),
        placeholder: "2s", size: 7 }))),
    field("Status", select("status",
      [["", "any"], ["error", "error"], ["ok", "ok"], ["unset", "unset"]], get("status"))),
    field("Time range", select("lookback",
      [...LOOKBACKS.map((l) => [l, `last ${l}`]), ["custom", "custom…"]], lookback)),
    h("div", { class: `row custom-range${custom ? "" : " hidden"}` },
      field("From", h("input", { type: "datetime-local", name: "start", step: 1,
        value: toLocalInput(get("start")) })),
      field("To", h("input", { type: "datetime-local", name: "end", step: 1,
        value: toLocalInput(get("end")) }))),
    h("div", { class: "row" },
      field("Limit", h("input", { type: "number", name: "limit", min: 1, max: 1000,
        value: get("limit") || "20" })),
      field("Order", select("order", [["newest", "newest"], ["slowest", "slowest"]],
        get("order") || "newest"))),
    h("button", { type: "submit", class: "primary" }, "Find traces"),
    h("div", { class: "form-traceql" }, h("span", { class: "muted" }, "As TraceQL: "),
      h("code", { id: "form-traceql" }),
      h("button", { type: "button", class: "use-traceql" }, "Edit as TraceQL")));
  const showTraceQL = () => {
    const code = form.querySelector("#form-traceql");
    try {
      code.textContent = formToTraceQL(formValues(form));
      code.classList.remove("error");
    } catch (e) {
      code.textContent = e.message;
      code.classList.add("error");
    }
  };
  form.addEventListener("input", showTraceQL);
  form.addEventListener("change", showTraceQL);
  showTraceQL();
  form.elements.lookback.addEventListener("change", (e) => {
    form.querySelector(".custom-range").classList.toggle("hidden", e.target.value !== "custom");
  });
  form.elements.service.addEventListener("change", () => fillOperations(form));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    navigate(`/search?${formParams(form).toString()}`);
  });
  return form;
}

async function fillServices(form, params) {
  try {
    const { services } = await api.services();
    const sel = form.elements.service;
    for (const name of services) sel.append(h("option", { value: name }, name));
    sel.value = params.get("service") || "";
    form.dispatchEvent(new Event("change")); // the TraceQL shown names the service now set
    if (sel.value) fillOperations(form);
  } catch (e) {
    console.warn("services", e);
  }
}

async function fillOperations(form) {
  const list = form.querySelector("#operations");
  clear(list);
  const service = form.elements.service.value;
  if (!service) return;
  try {
    const { operations } = await api.operations(service);
    const names = [...new Set(operations.map((o) => o.name))].sort();
    list.append(...names.map((n) => h("option", { value: n })));
  } catch (e) {
    console.warn("operations", e);
  }
}

function formValues(form) {
  const els = form.elements;
  const v = (name) => els[name].value;
  return { service: v("service"), operation: v("operation"), status: v("status"),
    min_duration: v("min_duration"), max_duration: v("max_duration"), tags: v("tag").split("\n") };
}

function formParams(form) {
  const q = new URLSearchParams();
  const els = form.elements;
  for (const name of FIELDS) {
    if (name === "start" || name === "end" || name === "lookback" || name === "q") continue;
    const v = (els[name].value || "").trim();
    if (v && !(name === "order" && v === "newest") && !(name === "limit" && v === "20")) q.set(name, v);
  }
  for (const line of els.tag.value.split("\n")) if (line.trim()) q.append("tag", line.trim());
  if (els.lookback.value === "custom") {
    if (els.start.value) q.set("start", new Date(els.start.value).toISOString());
    if (els.end.value) q.set("end", new Date(els.end.value).toISOString());
  } else if (els.lookback.value !== "1h") q.set("lookback", els.lookback.value);
  return q;
}

function toLocalInput(value) {
  if (!value) return "";
  const d = new Date(/^\d+$/.test(value) ? Number(value) * 1000 : value);
  if (Number.isNaN(d.getTime())) return "";
  const local = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 19);
}

// ---- results ----

async function runSearch(results, params) {
  const query = new URLSearchParams();
  for (const [k, v] of params) if (FIELDS.includes(k) || k === "tag") query.append(k, v);
  results.append(h("p", { class: "muted" }, "Searching…"));
  let traces;
  try {
    ({ traces } = await api.search(query));
  } catch (e) {
    clear(results).append(errorBox("Search failed:", e));
    return;
  }
  clear(results);
  const selected = new Set();
  const compareBtn = h("button", { type: "button", disabled: true, class: "compare-selected",
    on: { click: () => navigate(`/compare?a=${[...selected][0]}&b=${[...selected][1]}`) } },
    "Compare 2 selected");
  results.append(h("div", { class: "results-head" },
    h("strong", { class: "result-count" }, `${traces.length} trace${traces.length === 1 ? "" : "s"}`),
    " ", compareBtn, " ",
    h("a", { href: searchApiUrl(query), class: "json-twin" }, "JSON")));
  if (!traces.length) {
    results.append(h("p", { class: "muted empty" },
      "No traces match. Widen the time range, or drop a filter."));
    return;
  }
  const figure = h("figure", { class: "scatter-wrap" });
  results.append(figure);
  drawScatter(figure, query, traces, results.clientWidth || 900);
  const maxDuration = Math.max(...traces.map((t) => t.duration_ns), 1);
  const onSelect = (id, on) => {
    if (on) selected.add(id);
    else selected.delete(id);
    compareBtn.disabled = selected.size !== 2;
  };
  results.append(h("ol", { class: "result-list" },
    traces.map((t) => resultItem(t, maxDuration, onSelect))));
}

function resultItem(t, maxDuration, onSelect) {
  // No root yet: the trace is still arriving (or lost its root). Named by its first service.
  const first = t.services && t.services[0] ? t.services[0].name : "";
  const title = t.root_service ? `${t.root_service}: ${t.root_operation}` : `${first ? `${first} · ` : ""}root span not received yet`;
  const pct = Math.max(0.5, (100 * t.duration_ns) / maxDuration);
  return h("li", { class: `result${t.error_count ? " has-error" : ""}`, dataset: { traceId: t.trace_id } },
    h("div", { class: "result-top" },
      h("input", { type: "checkbox", title: "select to compare", "aria-label": "select to compare",
        on: { change: (e) => onSelect(t.trace_id, e.target.checked) } }),
      t.root_service ? null : h("span", { class: "badge incomplete", title: "the root span has not arrived: "
        + "the trace may still be in flight, or its root was lost" }, "incomplete"),
      h("a", { class: "result-title", href: `/trace/${t.trace_id}` }, title),
      h("span", { class: "result-duration" }, fmtDuration(t.duration_ns))),
    h("div", { class: "duration-bar" }, h("span", { style: { width: `${pct}%` } })),
    h("div", { class: "result-meta" },
      h("span", { class: "span-count" }, `${t.span_count} span${t.span_count === 1 ? "" : "s"}`),
      t.error_count ? h("span", { class: "error-count" }, `${t.error_count} error${t.error_count === 1 ? "" : "s"}`) : null,
      h("span", { class: "muted" }, fmtTime(t.start_time_unix_nano)),
      h("code", { class: "muted trace-id" }, t.trace_id.slice(0, 12)),
      samplingBadge(t.sampling)),
    h("div", { class: "pills" }, t.services.map(servicePill)));
}

function servicePill(svc) {
  return h("span", { class: "pill", dataset: { service: svc.name },
    style: { borderLeftColor: serviceColor(svc.name) } },
  `${svc.name} ${svc.span_count}`,
  svc.error_count ? h("b", { class: "pill-errors", title: "error spans" }, `!${svc.error_count}`) : null);
}

/** The search's window in unix ns, as the API reads start/end/lookback (default: last hour). */
export function searchWindow(params, now = Date.now()) {
  const time = (v) => {
    if (!v) return null;
    if (/^\d+$/.test(v)) { // unix time; its size tells the unit, as the API reads it
      const n = Number(v);
      return n < 1e11 ? n * 1e9 : n < 1e14 ? n * 1e6 : n < 1e17 ? n * 1e3 : n;
    }
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? null : ms * 1e6;
  };
  const end = time(params.get("end")) ?? now * 1e6;
  let start = time(params.get("start"));
  if (start === null) {
    try {
      start = end - parseDuration(params.get("lookback") || "1h");
    } catch {
      start = end - 3600e9;
    }
  }
  return [start, end];
}

async function drawScatter(figure, query, listed, width) {
  const wide = new URLSearchParams(query);
  wide.set("limit", String(SCATTER_LIMIT));
  wide.delete("order"); // the newest SCATTER_LIMIT of the window, whatever the list's order
  let traces = listed;
  try {
    if (listed.length >= Number(query.get("limit") || 20)) ({ traces } = await api.search(wide));
  } catch (e) {
    console.warn("scatter", e);
  }
  const ids = new Set(traces.map((t) => t.trace_id));
  traces = traces.concat(listed.filter((t) => !ids.has(t.trace_id)));
  const [t0, t1] = searchWindow(query);
  figure.replaceChildren(scatterPlot(traces, width, t0, t1));
  figure.dataset.count = String(traces.length);
  figure.append(h("figcaption", { class: "muted scatter-caption" }, `${traces.length} trace${traces.length === 1 ? "" : "s"} in the window`
    + (traces.length >= SCATTER_LIMIT ? ` (the newest ${SCATTER_LIMIT})` : "") + `; the list shows ${listed.length}.`));
}

function scatterPlot(traces, width, from, to) {
  const height = 180;
  const pad = { l: 56, r: 12, t: 10, b: 24 };
  const starts = traces.map((t) => t.start_time_unix_nano);
  const t0 = Math.min(from ?? Infinity, ...starts);
  const t1 = Math.max(to ?? -Infinity, ...starts);
  const maxD = Math.max(...traces.map((t) => t.duration_ns), 1);
  const spanT = Math.max(t1 - t0, 1e9);
  const x = (ns) => pad.l + ((ns - t0) / spanT) * (width - pad.l - pad.r);
  const y = (d) => height - pad.b - (d / maxD) * (height - pad.t - pad.b);
  const svg = s("svg", { class: "scatter", width, height, viewBox: `0 0 ${width} ${height}`,
    role: "img", "aria-label": "Trace duration against start time" });
  for (const v of ticks(maxD, 4)) {
    svg.append(s("line", { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: pad.l - 6, y: y(v) + 4, class: "axis-label", "text-anchor": "end" }, fmtDuration(v)));
  }
  svg.append(s("text", { x: pad.l, y: height - 6, class: "axis-label" }, fmtTime(t0, spanT > 20 * 3600e9)),
    s("text", { x: width - pad.r, y: height - 6, class: "axis-label", "text-anchor": "end" },
      fmtTime(t0 + spanT, spanT > 20 * 3600e9)));
  for (const t of traces) {
    const r = 3 + Math.min(6, Math.sqrt(t.span_count) / 2);
    svg.append(s("circle", {
      cx: x(t.start_time_unix_nano).toFixed(1), cy: y(t.duration_ns).toFixed(1), r: r.toFixed(1),
      class: `dot${t.error_count ? " error" : ""}`, dataset: { traceId: t.trace_id }, tabindex: 0,
      on: { click: () => navigate(`/trace/${t.trace_id}`),
        keydown: (e) => e.key === "Enter" && navigate(`/trace/${t.trace_id}`) },
    }, s("title", {}, `${t.root_service || "?"}: ${t.root_operation || "?"} — ${fmtDuration(t.duration_ns)}`)));
  }
  return svg;
}
