// traceformat.js: Jaeger JSON in, Jaeger and OTLP JSON out, without losing what they carry.
import assert from "node:assert/strict";
import { test } from "node:test";

import { fromJaeger, parseTraceFile, toJaeger, toOtlp, TraceFileError } from "../../src/spanscope/ui/static/traceformat.js";

const TID = "4bf92f3577b34da6a3ce929d0e0e4736";

// A Jaeger trace as Spanscope's /api/traces/{id} (serialize.py) and Jaeger's UI write it.
const JAEGER = {
  traceID: TID,
  processes: { p1: { serviceName: "frontend", tags: [{ key: "host.name", type: "string", value: "h1" }] },
    p2: { serviceName: "payments", tags: [] } },
  spans: [
    { traceID: TID, spanID: "0000000000000002", operationName: "charge", flags: 1, processID: "p2",
      references: [{ refType: "CHILD_OF", traceID: TID, spanID: "0000000000000001" },
        { refType: "FOLLOWS_FROM", traceID: "0af7651916cd43dd8448eb211c80319c", spanID: "0000000000000009" }],
      startTime: 1_700_000_000_010_000, duration: 1_250_000,
      tags: [{ key: "card.brand", type: "string", value: "visa" }, { key: "retries", type: "int64", value: 2 },
        { key: "span.kind", type: "string", value: "server" }, { key: "otel.status_code", type: "string", value: "ERROR" },
        { key: "error", type: "bool", value: true }, { key: "otel.status_description", type: "string", value: "declined" }],
      logs: [{ timestamp: 1_700_000_000_020_000, fields: [{ key: "event", type: "string", value: "retry" },
        { key: "attempt", type: "int64", value: 2 }] }] },
    { traceID: TID, spanID: "0000000000000001", operationName: "GET /checkout", flags: 1, processID: "p1",
      references: [], startTime: 1_700_000_000_000_000, duration: 1_500_000,
      tags: [{ key: "http.status_code", type: "int64", value: 500 }, { key: "otel.scope.name", type: "string", value: "flask" },
        { key: "w3c.tracestate", type: "string", value: "k=v" }, { key: "ratio", type: "float64", value: 0.5 }],
      logs: [] },
  ],
};

test("a Jaeger file becomes the native model: parent, kind, status, events, links, scope", () => {
  const { format, traces } = parseTraceFile(JSON.stringify({ data: [JAEGER] }), "trace.json");
  assert.equal(format, "jaeger");
  const [t] = traces;
  assert.equal(t.trace_id, TID);
  assert.equal(t.duration_ns, 1_500_000_000);
  assert.deepEqual(t.spans.map((s) => s.name), ["GET /checkout", "charge"], "sorted by start");
  const [root, charge] = t.spans;
  assert.equal(root.parent_span_id, null);
  assert.equal(root.scope.name, "flask");
  assert.equal(root.trace_state, "k=v");
  assert.deepEqual(root.attributes, [{ key: "http.status_code", type: "int", value: 500 }, { key: "ratio", type: "double", value: 0.5 }]);
  assert.deepEqual(root.resource, [{ key: "service.name", type: "string", value: "frontend" }, { key: "host.name", type: "string", value: "h1" }]);
  assert.equal(charge.parent_span_id, "0000000000000001");
  assert.equal(charge.service, "payments");
  assert.equal(charge.kind, "server");
  assert.deepEqual(charge.status, { code: "error", message: "declined" });
  assert.deepEqual(charge.attributes.map((a) => a.key), ["card.brand", "retries"]);
  assert.deepEqual(charge.events, [{ time_unix_nano: 1_700_000_000_020_000_000, name: "retry", attributes: [{ key: "attempt", type: "int", value: 2 }] }]);
  assert.equal(charge.links[0].trace_id, "0af7651916cd43dd8448eb211c80319c");
  assert.equal(charge.duration_ns, 1_250_000_000);
});

test("Jaeger -> native -> Jaeger keeps every span, tag, reference and process", () => {
  const native = fromJaeger(JAEGER);
  const back = toJaeger(native).data[0];
  const again = fromJaeger(back);
  assert.deepEqual(again, native);
  assert.equal(Object.keys(back.processes).length, 2);
  const charge = back.spans.find((s) => s.operationName === "charge");
  assert.deepEqual(charge.references.map((r) => r.refType), ["CHILD_OF", "FOLLOWS_FROM"]);
  assert.ok(charge.tags.some((t) => t.key === "error" && t.value === true));
});

test("native -> OTLP JSON groups by resource and scope, ints and times as strings", () => {
  const otlp = toOtlp(fromJaeger(JAEGER));
  assert.equal(otlp.resourceSpans.length, 2);
  const frontend = otlp.resourceSpans.find((r) => r.resource.attributes.some((a) => a.value.stringValue === "frontend"));
  const [root] = frontend.scopeSpans[0].spans;
  assert.equal(frontend.scopeSpans[0].scope.name, "flask");
  assert.equal(root.startTimeUnixNano, "1700000000000000000");
  assert.deepEqual(root.attributes[0], { key: "http.status_code", value: { intValue: "500" } });
  assert.equal(root.parentSpanId, undefined);
  const charge = otlp.resourceSpans.find((r) => r !== frontend).scopeSpans[0].spans[0];
  assert.equal(charge.kind, 2);
  assert.deepEqual(charge.status, { code: 2, message: "declined" });
  assert.equal(charge.parentSpanId, "0000000000000001");
  assert.equal(charge.events[0].name, "retry");
});

test("nested attribute values survive OTLP and become JSON text in Jaeger, as Jaeger does", () => {
  const native = fromJaeger(JAEGER);
  native.spans[0].attributes.push({ key: "skus", type: "array", value: [{ type: "string", value: "a1" }, { type: "int", value: 2 }] });
  const otlp = toOtlp(native).resourceSpans[0].scopeSpans[0].spans[0];
  assert.deepEqual(otlp.attributes.at(-1).value, { arrayValue: { values: [{ stringValue: "a1" }, { intValue: "2" }] } });
  const jaeger = toJaeger(native).data[0].spans[0];
  assert.deepEqual(jaeger.tags.find((t) => t.key === "skus"), { key: "skus", type: "string", value: '["a1",2]' });
});

test("OTLP files are recognised (the server converts them); others are refused by name", () => {
  assert.equal(parseTraceFile('{"resourceSpans": []}').format, "otlp");
  assert.throws(() => parseTraceFile("not json", "x.json"), (e) => e instanceof TraceFileError && /x\.json is not JSON/.test(e.message));
  assert.throws(() => parseTraceFile('{"foo": 1}', "y.json"), /y\.json holds no trace: .*found keys foo/);
});
