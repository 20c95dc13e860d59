// Log search, /logs?service=&severity=&q=&trace_id=&lookback=&limit=: the form's fields are
// GET /api/v1/logs's own parameters (docs/logs-and-metrics.md), so the page's URL is its
// JSON twin's query. Each record shows its time, severity, service and body; a record
// written inside a span links to that span in its trace (/trace/{id}?span={span_id}).
// A body is untrusted like any span value: it reaches the page as text only.

import { api } from "./api.js";
import { severityLevel } from "./logs.js";
import { navigate } from "./nav.js";
import { clear, errorBox, fmtTime, h, serviceColor } from "./dom.js";
import { attrText } from "./tracemodel.js";

const LOOKBACKS = ["15m", "1h", "6h", "1d", "2d", "7d"];
const FIELDS = ["service", "severity", "q", "trace_id", "lookback", "limit"];

export async function render(main, params) {
  const get = (k) => params.get(k) || "";
  const service = h("select", { name: "service", "aria-label": "service" }, h("option", { value: "" }, "any service"));
  const form = h("form", { class: "log-search-form" },
    service,
    h("select", { name: "severity", "aria-label": "minimum severity" },
      [["", "any severity"], ["debug", "debug and above"], ["info", "info and above"], ["warn", "warn and above"],
        ["error", "error and above"], ["fatal", "fatal"]].map(([v, t]) => h("option", { value: v, selected: v === get("severity") }, t))),
    h("input", { type: "search", name: "q", value: get("q"), placeholder: "text in the body", "aria-label": "text in the body", spellcheck: "false" }),
    h("input", { name: "trace_id", value: get("trace_id"), placeholder: "trace id", "aria-label": "trace id", size: 34, spellcheck: "false" }),
    h("select", { name: "lookback", "aria-label": "time range" },
      LOOKBACKS.map((l) => h("option", { value: l, selected: l === (get("lookback") || "1h") }, `last ${l}`))),
    h("input", { type: "number", name: "limit", min: 1, max: 1000, value: get("limit") || "100", "aria-label": "limit", size: 5 }),
    h("button", { type: "submit", class: "primary" }, "Search logs"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const name of FIELDS) {
      const v = (form.elements[name].value || "").trim();
      if (v && !(name === "lookback" && v === "1h") && !(name === "limit" && v === "100")) q.set(name, v);
    }
    navigate(`/logs${q.toString() ? `?${q}` : ""}`);
  });
  const results = h("section", { class: "log-results", "aria-label": "Log records" }, h("p", { class: "muted" }, "Searching…"));
  main.append(h("div", { class: "logs-page" }, h("div", { class: "page-head" }, h("h1", {}, "Logs")), form, results));
  api.services().then(({ services }) => {
    service.append(...services.map((sv) => h("option", { value: sv, selected: sv === get("service") }, sv)));
  }, (e) => console.warn("services", e));

  const query = {};
  for (const name of FIELDS) if (get(name)) query[name] = get(name);
  let logs;
  try {
    ({ logs } = await api.logs(query));
  } catch (e) {
    clear(results).append(errorBox("Log search failed:", e));
    return;
  }
  clear(results).append(
    h("div", { class: "results-head" }, h("strong", { class: "log-count" }, `${logs.length} log record${logs.length === 1 ? "" : "s"}`),
      h("a", { class: "json-twin", href: `/api/v1/logs?${new URLSearchParams(query)}` }, "JSON")),
    logs.length ? h("ol", { class: "log-list" }, logs.map(logLine))
      : h("p", { class: "muted empty" }, "No log records match. Widen the time range, or drop a filter."));
}

function logLine(log) {
  const level = severityLevel(log.severity_number);
  const body = log.body === null || log.body === undefined ? "" : typeof log.body === "string" ? log.body : attrText(log.body);
  const where = log.trace_id
    ? h("a", { class: "log-span span-link", href: log.span_id ? `/trace/${log.trace_id}?span=${log.span_id}` : `/trace/${log.trace_id}`,
      title: log.span_id ? `span ${log.span_id} of trace ${log.trace_id}` : `trace ${log.trace_id}` },
    log.span_id ? `span ${log.span_id.slice(0, 8)}` : `trace ${log.trace_id.slice(0, 8)}`)
    : h("span", { class: "log-span muted" }, "no trace");
  return h("li", { class: `log-row sev-${level}`, dataset: { traceId: log.trace_id || "", spanId: log.span_id || "", severity: level } },
    h("span", { class: "log-time log-clock" }, fmtTime(log.time_unix_nano)),
    h("span", { class: `log-sev sev-${level}` }, log.severity_text || level.toUpperCase()),
    h("span", { class: "log-service" }, h("span", { class: "swatch", style: { background: serviceColor(log.service || "") } }), log.service || "?"),
    where,
    h("span", { class: "log-body" }, body),
    (log.attributes || []).length ? h("span", { class: "log-attrs" }, log.attributes.map((a) =>
      h("span", { class: "log-attr", dataset: { key: a.key } }, `${a.key}=${attrText(a)}`))) : null);
}
