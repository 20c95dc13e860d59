// traceql.js: the search form as TraceQL, and the TraceQL box's autocomplete (what is
// being typed at the cursor, the suggestions from the tags endpoints, inserting one).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  applySuggestion, completionAt, formToTraceQL, literal, tagNames, valueSuggestions,
} from "../../src/spanscope/ui/static/traceql.js";

test("an empty form is every span", () => {
  assert.equal(formToTraceQL({}), "{ }");
  assert.equal(formToTraceQL({ service: "", tags: ["", "  "] }), "{ }");
});

test("each form field becomes one term, all on one span", () => {
  assert.equal(
    formToTraceQL({ service: "checkout", operation: "POST /pay", status: "error",
      min_duration: "250ms", max_duration: "2s" }),
    '{ resource.service.name = "checkout" && name = "POST /pay" && status = error'
      + " && duration >= 250ms && duration <= 2s }");
});

test("attribute conditions keep the form's typing", () => {
  assert.equal(formToTraceQL({ tags: ["http.status_code>=500"] }), "{ .http.status_code >= 500 }");
  assert.equal(formToTraceQL({ tags: ['user.id="42"'] }), '{ .user.id = "42" }');
  assert.equal(formToTraceQL({ tags: ["http.status_code=500"] }),
    '{ (.http.status_code = 500 || .http.status_code = "500") }');
  assert.equal(formToTraceQL({ tags: ["http.status_code!=200"] }),
    '{ (.http.status_code != 200 || .http.status_code != "200") }');
  assert.equal(formToTraceQL({ tags: ["cache.hit=true"] }), "{ .cache.hit = true }");
  assert.equal(formToTraceQL({ tags: ["ratio<0.5"] }), "{ .ratio < 0.5 }");
  assert.equal(formToTraceQL({ tags: ["db.system:postgresql"] }), '{ .db.system = "postgresql" }');
  assert.equal(formToTraceQL({ tags: ["region != eu west"] }), '{ .region != "eu west" }');
  assert.equal(formToTraceQL({ tags: ['msg=say "hi"\\'] }), '{ .msg = "say \\"hi\\"\\\\" }');
  assert.equal(formToTraceQL({ tags: ["odd key>1"] }), '{ ."odd key" > 1 }');
});

test("a condition the form itself refuses says so", () => {
  assert.throws(() => formToTraceQL({ tags: ["no operator"] }), /no operator.*key<op>value/);
  assert.throws(() => formToTraceQL({ tags: ["=5"] }), /missing attribute name/);
});

test("literals", () => {
  assert.equal(literal({ type: "string", value: 'a"b' }), '"a\\"b"');
  assert.equal(literal({ type: "int", value: "500" }), "500");
  assert.equal(literal({ type: "keyword", value: "error" }), "error");
  assert.equal(literal({ type: "bool", value: "true" }), "true");
});

test("the cursor after '{ ' or '&& ' or a partial name completes a tag", () => {
  assert.deepEqual(completionAt("{ ", 2), { kind: "tag", prefix: "", from: 2 });
  assert.deepEqual(completionAt("{ resource.ser", 14), { kind: "tag", prefix: "resource.ser", from: 2 });
  assert.deepEqual(completionAt('{ name = "x" && sp', 18), { kind: "tag", prefix: "sp", from: 16 });
  assert.deepEqual(completionAt("{ .http", 7), { kind: "tag", prefix: ".http", from: 2 });
});

test("the cursor after an operator completes that tag's value", () => {
  assert.deepEqual(completionAt("{ resource.service.name = ", 26),
    { kind: "value", tag: "resource.service.name", prefix: "", from: 26 });
  assert.deepEqual(completionAt('{ resource.service.name = "ch', 29),
    { kind: "value", tag: "resource.service.name", prefix: "ch", from: 26 });
  assert.deepEqual(completionAt("{ status != er", 14),
    { kind: "value", tag: "status", prefix: "er", from: 12 });
  assert.deepEqual(completionAt("{ span.http.status_code >= 5", 28),
    { kind: "value", tag: "span.http.status_code", prefix: "5", from: 27 });
});

test("nothing to complete inside a finished string or after a closing brace", () => {
  assert.equal(completionAt('{ name = "x" ', 13), null);
  assert.equal(completionAt("{ } ", 4), null);
  assert.equal(completionAt("", 0), null);
});

test("tag names from /api/v2/search/tags, scoped as TraceQL writes them", () => {
  const answer = { scopes: [
    { name: "resource", tags: ["service.name", "host.name"] },
    { name: "span", tags: ["http.status_code"] },
    { name: "intrinsic", tags: ["duration", "name", "status"] },
  ] };
  assert.deepEqual(tagNames(answer), ["duration", "name", "resource.host.name",
    "resource.service.name", "span.http.status_code", "status"]);
  assert.deepEqual(tagNames(answer, "resource.s"), ["resource.service.name"]);
  // unscoped ".x" matches span and resource attributes
  assert.deepEqual(tagNames(answer, ".h"), [".host.name", ".http.status_code"]);
  assert.deepEqual(tagNames(answer, "stat"), ["status", "span.http.status_code"]);
});

test("values from /api/v2/search/tag/{tag}/values as literals, filtered by prefix", () => {
  const answer = { tagValues: [{ type: "string", value: "checkout" }, { type: "string", value: "cart" },
    { type: "string", value: "payments" }] };
  assert.deepEqual(valueSuggestions(answer, "c"), ['"cart"', '"checkout"']);
  assert.deepEqual(valueSuggestions({ tagValues: [{ type: "keyword", value: "error" }] }, ""), ["error"]);
});

test("a suggestion replaces what was typed and puts the cursor after it", () => {
  const text = '{ resource.ser && name = "x" }';
  const ctx = completionAt(text, 14);
  assert.deepEqual(applySuggestion(text, 14, ctx, "resource.service.name"),
    { text: '{ resource.service.name && name = "x" }', cursor: 23 });
  const v = '{ resource.service.name = "ch';
  assert.deepEqual(applySuggestion(v, v.length, completionAt(v, v.length), '"checkout"'),
    { text: '{ resource.service.name = "checkout"', cursor: 36 });
});
