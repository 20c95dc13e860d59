// Traces in the two file formats people pass around, and back: Jaeger JSON (what Jaeger's
// UI downloads and `/api/traces/{id}` answers) and OTLP JSON (what an OpenTelemetry SDK's
// file exporter writes). The views work on the native model of /api/v1/traces/{id}
// (docs/api.md), so:
//
//   parseTraceFile(text)   -> {format: "jaeger", traces: [native...]} or {format: "otlp", otlp}
//                             (OTLP is converted by the server's POST /api/transform, which
//                             stores nothing, then read back with fromJaeger)
//   fromJaeger(jaegerTrace) -> native trace (the tags Jaeger uses for OTLP-only facts —
//                             span.kind, otel.status_code, otel.scope.name, w3c.tracestate —
//                             become the native fields again, as serialize.py wrote them)
//   toJaeger(native)       -> {data: [jaegerTrace]}, the shape Jaeger's UI opens
//   toOtlp(native)         -> {resourceSpans: [...]}, which POST /v1/traces or /api/transform take
//
// Jaeger times are microseconds, so a Jaeger file loses the nanoseconds. Pure: no DOM.

const KINDS = ["unspecified", "internal", "server", "client", "producer", "consumer"];
const STATUS = ["unset", "ok", "error"];
const SYNTHETIC = new Set(["span.kind", "otel.status_code", "otel.status_description", "error",
  "otel.scope.name", "otel.scope.version", "w3c.tracestate"]);
const JAEGER_TYPES = { string: "string", bool: "bool", int64: "int", float64: "double", binary: "bytes" };

export class TraceFileError extends Error {}

/** What a dropped file holds; throws TraceFileError saying what was expected. */
export function parseTraceFile(text, name = "the file") {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new TraceFileError(`${name} is not JSON (${e.message}): expected a Jaeger JSON trace `
      + "({\"data\": [{\"traceID\": …}]}) or OTLP JSON ({\"resourceSpans\": […]})");
  }
  if (doc && Array.isArray(doc.resourceSpans)) return { format: "otlp", otlp: doc };
  const list = Array.isArray(doc) ? doc : doc && Array.isArray(doc.data) ? doc.data : doc ? [doc] : [];
  const traces = list.filter((t) => t && Array.isArray(t.spans) && (t.traceID || t.spans.length));
  if (!traces.length) {
    throw new TraceFileError(`${name} holds no trace: expected Jaeger JSON ({"data": [{"traceID", "spans", `
      + "\"processes\"}]}) or OTLP JSON ({\"resourceSpans\": […]}); found keys "
      + `${doc && typeof doc === "object" ? Object.keys(doc).slice(0, 5).join(", ") || "none" : typeof doc}`);
  }
  return { format: "jaeger", traces: traces.map(fromJaeger) };
}

function fromJaegerTag(tag) {
  const type = JAEGER_TYPES[tag.type] || "string";
  let value = tag.value;
  if (type === "int" && typeof value === "string" && Math.abs(Number(value)) <= Number.MAX_SAFE_INTEGER) value = Number(value);
  if (type === "string" && typeof value !== "string") value = String(value);
  return { key: tag.key, type, value };
}

function tagMap(tags) {
  const map = new Map();
  for (const t of tags || []) if (!map.has(t.key)) map.set(t.key, t.value);
  return map;
}

const hexId = (id, width) => String(id || "").toLowerCase().padStart(width, "0");

/** One Jaeger trace (traceID, spans, processes) as the native model. */
export function fromJaeger(jt) {
  const processes = jt.processes || {};
  const traceId = hexId(jt.traceID || (jt.spans[0] && jt.spans[0].traceID), 32);
  const spans = jt.spans.map((js) => {
    const process = js.process || processes[js.processID] || {};
    const tags = tagMap(js.tags);
    const refs = js.references || [];
    const parentRef = refs.find((r) => r.refType === "CHILD_OF") || (js.parentSpanID ? { spanID: js.parentSpanID } : null);
    const start = Number(js.startTime) * 1000;
    const duration = Number(js.duration) * 1000;
    const statusText = String(tags.get("otel.status_code") || "").toLowerCase();
    const error = tags.get("error") === true || tags.get("error") === "true" || statusText === "error";
    const kind = String(tags.get("span.kind") || "").toLowerCase();
    return {
      trace_id: hexId(js.traceID || traceId, 32),
      span_id: hexId(js.spanID, 16),
      parent_span_id: parentRef && parentRef.spanID && Number.parseInt(parentRef.spanID, 16) !== 0 ? hexId(parentRef.spanID, 16) : null,
      name: js.operationName || "",
      kind: KINDS.includes(kind) ? kind : "unspecified",
      service: process.serviceName || "unknown_service",
      start_time_unix_nano: start,
      end_time_unix_nano: start + duration,
      duration_ns: duration,
      status: { code: error ? "error" : statusText === "ok" ? "ok" : "unset",
        message: String(tags.get("otel.status_description") || "") },
      attributes: (js.tags || []).filter((t) => !SYNTHETIC.has(t.key)).map(fromJaegerTag),
      resource: [{ key: "service.name", type: "string", value: process.serviceName || "unknown_service" },
        ...(process.tags || []).filter((t) => t.key !== "service.name").map(fromJaegerTag)],
      scope: { name: String(tags.get("otel.scope.name") || ""), version: String(tags.get("otel.scope.version") || "") },
      trace_state: String(tags.get("w3c.tracestate") || ""),
      flags: Number(js.flags || 0),
      events: (js.logs || []).map((log) => {
        const fields = log.fields || [];
        const named = fields.find((f) => f.key === "event");
        return { time_unix_nano: Number(log.timestamp) * 1000, name: named ? String(named.value) : "",
          attributes: fields.filter((f) => f !== named).map(fromJaegerTag) };
      }),
      links: refs.filter((r) => r.refType === "FOLLOWS_FROM").map((r) => ({
        trace_id: hexId(r.traceID, 32), span_id: hexId(r.spanID, 16), trace_state: "", attributes: [] })),
      dropped_attributes_count: 0, dropped_events_count: 0, dropped_links_count: 0,
      warnings: js.warnings || [],
    };
  });
  spans.sort((a, b) => a.start_time_unix_nano - b.start_time_unix_nano);
  const t0 = spans.length ? Math.min(...spans.map((sp) => sp.start_time_unix_nano)) : 0;
  const t1 = spans.length ? Math.max(...spans.map((sp) => sp.end_time_unix_nano)) : 0;
  return { trace_id: traceId, start_time_unix_nano: t0, duration_ns: t1 - t0, warnings: jt.warnings || [], spans };
}

// ---- native -> Jaeger ----

function plain(type, value) {
  if (type === "array") return value.map((v) => plain(v.type, v.value));
  if (type === "map") return Object.fromEntries(value.map((a) => [a.key, plain(a.type, a.value)]));
  return value;
}

function jaegerTag(a) {
  switch (a.type) {
    case "bool": return { key: a.key, type: "bool", value: a.value };
    case "int": return { key: a.key, type: "int64", value: a.value };
    case "double": return { key: a.key, type: "float64", value: a.value };
    case "bytes": return { key: a.key, type: "binary", value: a.value };
    case "array": case "map": return { key: a.key, type: "string", value: JSON.stringify(plain(a.type, a.value)) };
    default: return { key: a.key, type: "string", value: String(a.value) };
  }
}

const us = (ns) => Math.round(ns / 1000); // ns beyond 2^53 are inexact in JS: round, never floor
const str = (key, value) => ({ key, type: "string", value });

/** A native trace as Jaeger JSON ({"data": [trace]}), one process per service + resource. */
export function toJaeger(trace) {
  const processes = {};
  const ids = new Map();
  const spans = trace.spans.map((sp) => {
    const resource = (sp.resource || []).filter((a) => a.key !== "service.name");
    const key = `${sp.service}\u0000${JSON.stringify(resource)}`;
    if (!ids.has(key)) {
      const pid = `p${ids.size + 1}`;
      ids.set(key, pid);
      processes[pid] = { serviceName: sp.service, tags: resource.map(jaegerTag) };
    }
    const tags = (sp.attributes || []).map(jaegerTag);
    if (sp.scope && sp.scope.name) tags.push(str("otel.scope.name", sp.scope.name));
    if (sp.scope && sp.scope.version) tags.push(str("otel.scope.version", sp.scope.version));
    if (sp.kind && sp.kind !== "unspecified") tags.push(str("span.kind", sp.kind));
    if (sp.status.code === "ok" || sp.status.code === "error") tags.push(str("otel.status_code", sp.status.code.toUpperCase()));
    if (sp.status.code === "error") tags.push({ key: "error", type: "bool", value: true });
    if (sp.status.message) tags.push(str("otel.status_description", sp.status.message));
    if (sp.trace_state) tags.push(str("w3c.tracestate", sp.trace_state));
    const references = [];
    if (sp.parent_span_id) references.push({ refType: "CHILD_OF", traceID: sp.trace_id, spanID: sp.parent_span_id });
    for (const l of sp.links || []) references.push({ refType: "FOLLOWS_FROM", traceID: l.trace_id, spanID: l.span_id });
    return {
      traceID: sp.trace_id, spanID: sp.span_id, flags: (sp.flags || 0) & 0xff, operationName: sp.name,
      references, startTime: us(sp.start_time_unix_nano), duration: us(sp.duration_ns),
      tags,
      logs: (sp.events || []).map((e) => ({ timestamp: us(e.time_unix_nano),
        fields: [...(e.name ? [str("event", e.name)] : []), ...(e.attributes || []).map(jaegerTag)] })),
      processID: ids.get(key),
      warnings: sp.warnings && sp.warnings.length ? sp.warnings : null,
    };
  });
  return { data: [{ traceID: trace.trace_id, spans, processes, warnings: trace.warnings && trace.warnings.length ? trace.warnings : null }] };
}

// ---- native -> OTLP JSON ----

function otlpValue(type, value) {
  switch (type) {
    case "bool": return { boolValue: value };
    case "int": return { intValue: String(value) };
    case "double": return { doubleValue: value };
    case "bytes": return { bytesValue: value };
    case "array": return { arrayValue: { values: value.map((v) => otlpValue(v.type, v.value)) } };
    case "map": return { kvlistValue: { values: otlpAttributes(value) } };
    default: return { stringValue: String(value) };
  }
}

const otlpAttributes = (attrs) => (attrs || []).map((a) => ({ key: a.key, value: otlpValue(a.type, a.value) }));
const nsText = (ns) => BigInt(Math.round(ns)).toString();

/** A native trace as OTLP JSON: one resourceSpans per resource, one scopeSpans per scope. */
export function toOtlp(trace) {
  const resources = new Map();
  for (const sp of trace.spans) {
    const rkey = JSON.stringify(sp.resource || []);
    if (!resources.has(rkey)) resources.set(rkey, { resource: { attributes: otlpAttributes(sp.resource) }, scopes: new Map() });
    const scopes = resources.get(rkey).scopes;
    const scope = sp.scope || { name: "", version: "" };
    const skey = `${scope.name}\u0000${scope.version || ""}`;
    if (!scopes.has(skey)) scopes.set(skey, { scope: { name: scope.name || "", version: scope.version || "" }, spans: [] });
    const out = {
      traceId: sp.trace_id, spanId: sp.span_id, name: sp.name, kind: Math.max(KINDS.indexOf(sp.kind), 0),
      startTimeUnixNano: nsText(sp.start_time_unix_nano), endTimeUnixNano: nsText(sp.end_time_unix_nano),
      attributes: otlpAttributes(sp.attributes),
      status: { code: Math.max(STATUS.indexOf(sp.status.code), 0), ...(sp.status.message ? { message: sp.status.message } : {}) },
      events: (sp.events || []).map((e) => ({ timeUnixNano: nsText(e.time_unix_nano), name: e.name, attributes: otlpAttributes(e.attributes) })),
      links: (sp.links || []).map((l) => ({ traceId: l.trace_id, spanId: l.span_id, attributes: otlpAttributes(l.attributes),
        ...(l.trace_state ? { traceState: l.trace_state } : {}) })),
    };
    if (sp.parent_span_id) out.parentSpanId = sp.parent_span_id;
    if (sp.trace_state) out.traceState = sp.trace_state;
    if (sp.flags) out.flags = sp.flags;
    scopes.get(skey).spans.push(out);
  }
  return { resourceSpans: [...resources.values()].map((r) => ({ resource: r.resource, scopeSpans: [...r.scopes.values()] })) };
}
