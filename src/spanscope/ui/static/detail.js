// Span detail: everything one span carries — name, service, kind, timing, status, typed
// attributes, resource, scope, events with their times, links (clickable), warnings such
// as a clock-skew adjustment, and the log records written inside the span (logs.js).
// Values are shown as text, whatever they contain.

import { fmtDuration, fmtTime, h, serviceColor } from "./dom.js";
import { spanLogs } from "./logs.js";
import { attrText, flagsText } from "./tracemodel.js";

/**
 * The detail panel for span index i of `tree`; onSpan(index) selects another span. stored:
 * false for a trace read from a file (open.js): the server has no logs to ask for.
 */
export function spanDetail(tree, i, onSpan, { stored = true } = {}) {
  const sp = tree.spans[i];
  const offset = sp.start_time_unix_nano - tree.t0;
  const parentIndex = tree.parent[i];
  const parent = parentIndex >= 0 ? tree.spans[parentIndex] : null;
  const spanLink = (index, text) => h("a", { href: `?span=${tree.spans[index].span_id}`, class: "span-link",
    on: { click: (e) => { e.preventDefault(); onSpan(index); } } }, text);
  return h("section", { class: "span-detail", "aria-label": "Span detail", dataset: { spanId: sp.span_id } },
    h("header", {},
      h("span", { class: "swatch", style: { background: serviceColor(sp.service) } }),
      h("h2", { class: "detail-name" }, sp.name),
      h("span", { class: "detail-service" }, sp.service),
      sp.status.code === "error" ? h("span", { class: "badge error" }, "error") : null),
    sp.warnings && sp.warnings.length
      ? h("ul", { class: "warnings" }, sp.warnings.map((w) => h("li", {}, w))) : null,
    kv("Span", [
      ["span id", h("code", {}, sp.span_id)],
      ["parent", parent ? spanLink(parentIndex, `${parent.service}: ${parent.name}`)
        : sp.parent_span_id ? `${sp.parent_span_id} (not in this trace)` : "none (root)"],
      ["kind", sp.kind],
      ["start", `${fmtDuration(offset)} after trace start · ${fmtTime(sp.start_time_unix_nano)}`],
      ["duration", fmtDuration(sp.duration_ns)],
      ["status", sp.status.message ? `${sp.status.code}: ${sp.status.message}` : sp.status.code],
      sp.scope && sp.scope.name ? ["scope", `${sp.scope.name} ${sp.scope.version || ""}`.trim()] : null,
      sp.trace_state ? ["trace state", sp.trace_state] : null,
      ["flags", h("span", { class: "flags", title: `raw value ${sp.flags} (OTLP span flags)` },
        flagsText(sp.flags), h("span", { class: "muted" }, ` (${sp.flags})`))],
      dropped(sp) ? ["dropped", dropped(sp)] : null,
    ]),
    attrTable("Attributes", sp.attributes, "attributes"),
    attrTable("Resource", sp.resource, "resource"),
    events(sp, tree),
    links(sp, tree, onSpan),
    stored ? spanLogs(tree, i) : null);
}

function dropped(sp) {
  const parts = [];
  if (sp.dropped_attributes_count) parts.push(`${sp.dropped_attributes_count} attributes`);
  if (sp.dropped_events_count) parts.push(`${sp.dropped_events_count} events`);
  if (sp.dropped_links_count) parts.push(`${sp.dropped_links_count} links`);
  return parts.join(", ");
}

function kv(title, pairs) {
  return h("div", { class: "detail-block" }, h("h3", {}, title),
    h("dl", { class: "kv" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
}

/** A typed attribute table: key, type, value (value as text, never markup). */
export function attrTable(title, attrs, cls) {
  if (!attrs || !attrs.length) return h("div", { class: `detail-block ${cls}` }, h("h3", {}, title), h("p", { class: "muted" }, "none"));
  return h("div", { class: `detail-block ${cls}` }, h("h3", {}, `${title} (${attrs.length})`),
    h("table", { class: "attrs" }, h("tbody", {}, attrs.map((a) => h("tr", { dataset: { key: a.key } },
      h("th", { scope: "row" }, a.key),
      h("td", { class: "attr-type" }, a.type),
      h("td", { class: `attr-value type-${a.type}` }, attrText(a)))))));
}

function events(sp, tree) {
  const list = sp.events || [];
  if (!list.length) return null;
  return h("div", { class: "detail-block events" }, h("h3", {}, `Events (${list.length})`),
    h("ol", {}, list.map((e) => h("li", {},
      h("span", { class: "event-time" }, `+${fmtDuration(e.time_unix_nano - tree.t0)}`),
      " ", h("strong", {}, e.name),
      e.attributes && e.attributes.length ? attrTable("", e.attributes, "event-attrs") : null))));
}

function links(sp, tree, onSpan) {
  const list = sp.links || [];
  if (!list.length) return null;
  const here = tree.spans[0] ? tree.spans[0].trace_id : "";
  return h("div", { class: "detail-block links" }, h("h3", {}, `Links (${list.length})`),
    h("ul", {}, list.map((l) => {
      const local = l.trace_id === here ? tree.index.get(l.span_id) : undefined;
      const link = local !== undefined
        ? h("a", { href: `?span=${l.span_id}`, class: "span-link",
          on: { click: (e) => { e.preventDefault(); onSpan(local); } } },
        `${tree.spans[local].service}: ${tree.spans[local].name} (this trace)`)
        : h("a", { href: `/trace/${l.trace_id}?span=${l.span_id}`, class: "trace-link" },
          `trace ${l.trace_id} · span ${l.span_id}`);
      return h("li", {}, link, l.attributes && l.attributes.length ? attrTable("", l.attributes, "link-attrs") : null);
    })));
}
