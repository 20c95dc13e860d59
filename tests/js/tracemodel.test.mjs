// tracemodel.js: the span tree the waterfall and flame graph draw, filters, flags.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ancestors, buildTree, filteredRows, flagsText, flameLayout, isIncomplete, searchText,
  spanFilter, visibleRows,
} from "../../src/spanscope/ui/static/tracemodel.js";

const MS = 1_000_000;

/** span(id, parent, startMs, durMs, extra): a native span as /api/v1/traces answers it. */
function span(id, parent, start, dur, extra = {}) {
  return {
    trace_id: "ab".repeat(16), span_id: id.padStart(16, "0"), parent_span_id: parent ? parent.padStart(16, "0") : null,
    name: `op ${id}`, service: extra.service || "svc", kind: "internal",
    start_time_unix_nano: start * MS, end_time_unix_nano: (start + dur) * MS, duration_ns: dur * MS,
    status: { code: extra.status || "unset", message: "" }, attributes: extra.attributes || [], resource: [],
    events: [], links: [], flags: 1,
  };
}

const trace = (...spans) => ({ trace_id: "ab".repeat(16), spans });

test("tree order puts children under parents by start; depth and subtree ends", () => {
  const t = buildTree(trace(span("1", null, 0, 100), span("2", "1", 10, 20), span("3", "1", 40, 50), span("4", "2", 12, 5)));
  assert.deepEqual([...t.order], [0, 1, 3, 2]);
  assert.deepEqual([...t.depth], [0, 1, 1, 2]);
  assert.deepEqual(visibleRows(t, new Set([1])), [0, 1, 2]);
  assert.deepEqual(ancestors(t, 3), [1, 0]);
  assert.equal(t.duration, 100 * MS);
});

test("orphans and parent cycles become roots; every span shown once", () => {
  const t = buildTree(trace(span("1", null, 0, 10), span("2", "9", 1, 2), span("3", "4", 2, 2), span("4", "3", 3, 2)));
  assert.equal(t.order.length, 4);
  assert.deepEqual(new Set(t.order), new Set([0, 1, 2, 3]));
  assert.ok(t.roots.includes(1));
  const layout = flameLayout(t);
  assert.equal(layout.boxes.length, 4, "the flame graph also draws each span once");
});

test("a 10,000-deep chain builds without overflowing the stack", () => {
  const spans = [span("1", null, 0, 10_000)];
  for (let i = 2; i <= 10_000; i++) spans.push(span(String(i), String(i - 1), i, 10_000 - i));
  const t = buildTree(trace(...spans));
  assert.equal(t.depth[9_999], 9_999);
  assert.equal(flameLayout(t).depth, 10_000);
});

test("flame layout: children share the parent's width by duration, never spill out", () => {
  const t = buildTree(trace(span("1", null, 0, 100), span("2", "1", 0, 50), span("3", "1", 50, 25)));
  const { boxes, depth } = flameLayout(t);
  assert.equal(depth, 2);
  const at = (i) => boxes.find((b) => b.i === i);
  assert.deepEqual([at(0).x0, at(0).x1], [0, 1]);
  assert.deepEqual([at(1).x0, at(1).x1], [0, 0.5]);
  assert.deepEqual([at(2).x0, at(2).x1], [0.5, 0.75]); // 0.75..1 is the root's self time
  // Parallel children adding up to 200 % of the parent are scaled into it.
  const p = buildTree(trace(span("1", null, 0, 100), span("2", "1", 0, 100), span("3", "1", 0, 100)));
  const pb = flameLayout(p).boxes;
  assert.ok(pb.every((b) => b.x0 >= 0 && b.x1 <= 1 + 1e-12));
  assert.equal(pb.find((b) => b.i === 2).x1, 1);
});

test("icicle: the layout of one subtree starts at that span, depth 0", () => {
  const t = buildTree(trace(span("1", null, 0, 100), span("2", "1", 0, 40), span("3", "2", 0, 10)));
  const { boxes, depth } = flameLayout(t, 1);
  assert.deepEqual(boxes.map((b) => [b.i, b.depth, b.x0, b.x1]), [[1, 0, 0, 1], [2, 1, 0, 0.25]]);
  assert.equal(depth, 2);
});

test("flags say what they mean", () => {
  assert.equal(flagsText(256), "not sampled · parent in this process (local)");
  assert.equal(flagsText(257), "sampled · parent in this process (local)");
  assert.equal(flagsText(769), "sampled · parent in another process (remote)");
  assert.equal(flagsText(3), "sampled · random trace id (W3C level 2)");
  assert.equal(flagsText(0), "not sampled");
  assert.match(flagsText(0x1001), /unknown bits 0x1000/);
});

test("span filters: service, status, duration, attribute; ancestors kept for context", () => {
  const t = buildTree(trace(
    span("1", null, 0, 100, { service: "web" }),
    span("2", "1", 0, 50, { service: "db", status: "error", attributes: [{ key: "db.system", type: "string", value: "postgresql" }] }),
    span("3", "1", 50, 5, { service: "db", attributes: [{ key: "http.status_code", type: "int", value: 500 }] })));
  assert.equal(spanFilter(t, {}), null);
  const rows = (f) => filteredRows(t, spanFilter(t, f));
  assert.deepEqual(rows({ service: "db" }), [0, 1, 2]);
  assert.deepEqual(rows({ status: "error" }), [0, 1]);
  assert.deepEqual(rows({ minNs: 10 * MS, service: "db" }), [0, 1]);
  assert.deepEqual(rows({ maxNs: 10 * MS }), [0, 2]);
  assert.deepEqual(rows({ attribute: "db.system" }), [0, 1]);
  assert.deepEqual(rows({ attribute: "http.status_code=500" }), [0, 2]);
  assert.deepEqual(rows({ attribute: 'db.system="mysql"' }), []);
});

test("a trace whose first root names a missing parent is incomplete", () => {
  assert.equal(isIncomplete(buildTree(trace(span("1", null, 0, 10), span("2", "1", 1, 2)))), false);
  assert.equal(isIncomplete(buildTree(trace(span("2", "1", 1, 2), span("3", "2", 1, 1)))), true);
});

test("find text covers names, services, attribute keys and values", () => {
  const text = searchText(span("1", null, 0, 1, { service: "Checkout", attributes: [{ key: "user.id", type: "int", value: 42 }] }));
  for (const part of ["checkout", "op 1", "user.id", "42"]) assert.ok(text.includes(part), part);
});

test("service colours: never the error red, distinct within a set", async () => {
  const { PALETTE, assignColors, serviceColor } = await import("../../src/spanscope/ui/static/palette.js");
  for (const colour of PALETTE) {
    const hue = Number(/hsl\((\d+)/.exec(colour)[1]);
    assert.ok(hue >= 25 && hue <= 320, `${colour} is too close to red`);
  }
  const names = Array.from({ length: PALETTE.length }, (_, k) => `service-${k}`);
  const colours = assignColors(names);
  assert.equal(new Set(colours.values()).size, names.length);
  assert.equal(serviceColor("checkout"), serviceColor("checkout"));
});
