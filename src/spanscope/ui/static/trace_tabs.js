// The trace page's other tabs: Where the time went (self time and critical-path time by
// service and operation, plus smells, from /api/v1/traces/{id}/breakdown and /smells), the
// span table (every span, sortable, virtualized) and the raw JSON as the API answered it.

import { analysis, missingText } from "./api.js";
import { fmtDuration, h, serviceColor } from "./dom.js";
import { virtualList } from "./virtual.js";

const pct = (x) => `${(100 * (x || 0)).toFixed(1)} %`;

export function breakdownTab(traceId) {
  const host = h("div", { class: "breakdown-tab" }, h("p", { class: "muted" }, "Loading…"));
  Promise.allSettled([analysis.breakdown(traceId), analysis.smells(traceId)]).then(([b, sm]) => {
    const parts = [];
    if (b.status === "fulfilled") {
      const br = b.value;
      parts.push(h("p", { class: "headline" }, br.headline || ""),
        shareTable("By service", br.services, (r) => [swatched(r.service)]),
        shareTable("By operation", br.operations, (r) => [swatched(r.service), r.display_name || r.name]));
    } else {
      parts.push(h("p", { class: "unavailable" }, missingText(b.reason, "Where the time went")));
    }
    if (sm.status === "fulfilled") parts.push(smellList(sm.value));
    else if (b.status === "fulfilled") parts.push(h("p", { class: "unavailable" }, missingText(sm.reason, "Smells")));
    host.replaceChildren(...parts);
  });
  return host;
}

function swatched(service) {
  return h("span", {}, h("span", { class: "swatch", style: { background: serviceColor(service) } }), service);
}

function shareTable(title, rows, label) {
  const named = label({ service: "", name: "" }).length === 2;
  return h("div", { class: "detail-block" }, h("h3", {}, title),
    h("table", { class: "share-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "service"), named ? h("th", {}, "operation") : null,
        h("th", {}, "spans"), h("th", {}, "on critical path"), h("th", {}, "self time"),
        // own work / waiting on children / gap (a call's time outside its server): docs/analysis.md
        h("th", {}, "own work"), h("th", {}, "waiting"), h("th", {}, "gap"))),
      h("tbody", {}, (rows || []).map((r) => h("tr", {},
        label(r).map((c) => h("td", {}, c)),
        h("td", { class: "num" }, String(r.span_count)),
        h("td", { class: "num" }, shareBar(r.critical_share), ` ${pct(r.critical_share)} · ${fmtDuration(r.critical_ns)}`),
        h("td", { class: "num" }, `${pct(r.self_share)} · ${fmtDuration(r.self_ns)}`),
        ["own_ns", "waiting_ns", "gap_ns"].map((k) => h("td", { class: "num" }, fmtDuration(r[k] || 0))))))));
}

function shareBar(share) {
  return h("span", { class: "share-bar" }, h("span", { style: { width: `${Math.min(100, 100 * (share || 0))}%` } }));
}

function smellList(answer) {
  const smells = answer.smells || [];
  return h("div", { class: "detail-block smells" }, h("h3", {}, `Smells (${smells.length})`),
    smells.length ? h("ul", {}, smells.map((sm) => h("li", {},
      h("span", { class: "badge" }, sm.type), " ", sm.message,
      sm.saving_ns ? h("span", { class: "muted" }, ` — could save up to ${fmtDuration(sm.saving_ns)}`) : null)))
      : h("p", { class: "muted" }, "No N+1 calls, retries or avoidable sequential calls found."));
}

const COLUMNS = [
  ["service", "Service", (sp) => sp.service],
  ["name", "Operation", (sp) => sp.name],
  ["kind", "Kind", (sp) => sp.kind],
  ["start", "Start", (sp, t0) => sp.start_time_unix_nano - t0],
  ["duration", "Duration", (sp) => sp.duration_ns],
  ["status", "Status", (sp) => sp.status.code],
];

export function spanTableTab(tree, onOpen) {
  let order = tree.spans.map((_, i) => i);
  let sortKey = "start";
  let descending = false;
  const viewport = h("div", { class: "table-viewport" });
  const list = virtualList(viewport, 24, (r) => {
    const i = order[r];
    const sp = tree.spans[i];
    return h("div", { class: `table-row${sp.status.code === "error" ? " error" : ""}`, dataset: { spanId: sp.span_id },
      on: { click: () => onOpen(i) } },
    COLUMNS.map(([key, , get]) => {
      const v = get(sp, tree.t0);
      return h("span", { class: `cell cell-${key}` }, key === "start" || key === "duration" ? fmtDuration(v) : v);
    }));
  });
  const headers = COLUMNS.map(([key, label, get]) => h("button", { type: "button", class: `cell cell-${key}`,
    on: { click: () => {
      descending = sortKey === key ? !descending : key === "duration";
      sortKey = key;
      const values = tree.spans.map((sp) => get(sp, tree.t0));
      order = tree.spans.map((_, i) => i).sort((a, b) => {
        const c = values[a] < values[b] ? -1 : values[a] > values[b] ? 1 : 0;
        return descending ? -c : c;
      });
      list.setCount(order.length);
    } } }, label));
  const host = h("div", { class: "span-table" }, h("div", { class: "table-head" }, headers), viewport);
  requestAnimationFrame(() => list.setCount(order.length));
  return host;
}

export function jsonTab(trace, stored = true) {
  const text = JSON.stringify(trace, null, 2);
  const size = ` (${(text.length / 1024).toFixed(0)} KiB).`;
  return h("div", { class: "json-tab" },
    stored ? h("p", {}, "As answered by ", h("a", { href: `/api/v1/traces/${trace.trace_id}` }, `/api/v1/traces/${trace.trace_id}`), size)
      : h("p", {}, "The file's trace in the native model of /api/v1/traces/{id}", size),
    h("pre", { class: "raw-json" }, text));
}
