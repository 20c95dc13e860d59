// Logs linked to a trace: the trace page's Logs tab (every log record the trace wrote, oldest
// first, each naming its span — click it to select that span in the waterfall) and the span
// detail's own logs. Records come from GET /api/v1/traces/{id}/logs[?span_id=], fetched only
// when the tab or the span detail is shown, so a 10,000-span trace opens no slower for them.
// A log body is untrusted like any span value: it reaches the page as text only.

import { missingText, signals } from "./api.js";
import { fmtDuration, fmtTime, h, serviceColor } from "./dom.js";
import { attrText } from "./tracemodel.js";

// OTLP severity numbers: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL.
const LEVELS = [[21, "fatal"], [17, "error"], [13, "warn"], [9, "info"], [5, "debug"], [1, "trace"]];

/** "warn" for severity 13..16, …; "unset" for 0 (a record that named no severity). */
export function severityLevel(number) {
  const found = LEVELS.find(([min]) => number >= min);
  return found ? found[1] : "unset";
}

/** The severity a record shows: its own text (e.g. "WARNING") or the level of its number. */
function severityText(log) {
  return log.severity_text || severityLevel(log.severity_number).toUpperCase();
}

function bodyText(body) {
  if (body === null || body === undefined) return "";
  return typeof body === "string" ? body : attrText(body);
}

/** The Logs tab of a trace: onSpan(spanIndex) selects that span in the timeline. */
export function logsTab(traceId, tree, onSpan) {
  const host = h("div", { class: "logs-tab" }, h("p", { class: "muted" }, "Loading logs…"));
  signals.traceLogs(traceId).then(
    (answer) => host.replaceChildren(...logsView(answer.logs || [], tree, onSpan).filter(Boolean)),
    (error) => host.replaceChildren(h("p", { class: "unavailable" }, missingText(error, "Logs"))));
  return host;
}

function logsView(logs, tree, onSpan) {
  if (!logs.length) {
    return [h("p", { class: "muted empty" }, "This trace wrote no log records (or they have not arrived). ",
      "Logs link to a trace when they are written inside one of its spans: docs/logs-and-metrics.md.")];
  }
  const minimum = h("select", { "aria-label": "minimum severity", class: "log-min" },
    [["", "all severities"], ["9", "info and above"], ["13", "warn and above"], ["17", "error and above"]]
      .map(([v, t]) => h("option", { value: v }, t)));
  const text = h("input", { type: "search", class: "log-filter", placeholder: "Filter log text",
    "aria-label": "Filter log text", spellcheck: "false" });
  const count = h("span", { class: "log-count muted" });
  const list = logList(logs, tree, onSpan, true);
  const rows = [...list.children];
  const bodies = logs.map((l) => `${bodyText(l.body)}\u0000${(l.attributes || []).map(attrText).join("\u0000")}`.toLowerCase());
  const apply = () => {
    const min = Number(minimum.value || 0);
    const q = text.value.trim().toLowerCase();
    let shown = 0;
    logs.forEach((l, k) => {
      const on = l.severity_number >= min && (!q || bodies[k].includes(q));
      rows[k].classList.toggle("hidden", !on);
      shown += on;
    });
    count.textContent = shown === logs.length ? `${logs.length} log record${logs.length === 1 ? "" : "s"}`
      : `${shown} of ${logs.length} log records`;
  };
  minimum.addEventListener("change", apply);
  text.addEventListener("input", apply);
  apply();
  // The API answers at most 1,000 records per request unless asked for more.
  const capped = logs.length >= 1000 ? h("p", { class: "muted" }, "Showing the first 1,000 records.") : null;
  return [h("div", { class: "log-toolbar" }, minimum, text, count,
    h("a", { class: "json-twin", href: `/api/v1/traces/${logs[0].trace_id}/logs` }, "JSON")), capped, list];
}

/** A list of log records; withSpan: each names its span (a link that calls onSpan). */
function logList(logs, tree, onSpan, withSpan) {
  return h("ol", { class: "log-list" }, logs.map((log) => {
    const level = severityLevel(log.severity_number);
    const i = log.span_id ? tree.index.get(log.span_id) : undefined;
    const sp = i !== undefined ? tree.spans[i] : null;
    const span = !withSpan ? null
      : sp ? h("a", { href: `?span=${sp.span_id}`, class: "log-span span-link", title: `span ${sp.span_id}`,
        on: { click: (e) => { e.preventDefault(); onSpan(i); } } },
      h("span", { class: "swatch", style: { background: serviceColor(sp.service) } }), `${sp.service}: ${sp.name}`)
        : h("span", { class: "log-span muted" }, log.service ? `${log.service} · ` : "",
          log.span_id ? `span ${log.span_id} (not in this trace)` : "no span");
    const attrs = log.attributes || [];
    return h("li", { class: `log-row sev-${level}`, dataset: { spanId: log.span_id || "", severity: level } },
      h("span", { class: "log-time", title: fmtTime(log.time_unix_nano) },
        `+${fmtDuration(log.time_unix_nano - tree.t0)}`),
      h("span", { class: `log-sev sev-${level}` }, severityText(log)),
      span,
      h("span", { class: "log-body" }, bodyText(log.body)),
      attrs.length ? h("span", { class: "log-attrs" }, attrs.map((a) =>
        h("span", { class: "log-attr", dataset: { key: a.key } }, `${a.key}=${attrText(a)}`))) : null);
  }));
}

/** The span detail's "Logs" block for span i: fetched when the detail is drawn. */
export function spanLogs(tree, i) {
  const sp = tree.spans[i];
  const title = h("h3", {}, "Logs");
  const host = h("div", { class: "detail-block span-logs" }, title, h("p", { class: "muted" }, "Loading…"));
  signals.traceLogs(sp.trace_id, sp.span_id).then((answer) => {
    const logs = answer.logs || [];
    title.textContent = `Logs (${logs.length})`;
    host.replaceChildren(title, logs.length ? logList(logs, tree, () => {}, false)
      : h("p", { class: "muted" }, "none written inside this span"));
  }, (error) => host.replaceChildren(title, h("p", { class: "unavailable" }, missingText(error, "This span's logs"))));
  return host;
}
