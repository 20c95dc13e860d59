// The JS duration format against PLAN/docs spec (docs/ui.md "Durations"): every case is
// one the Python formatter (spanscope.units.format_duration) must print the same way.
import assert from "node:assert/strict";
import { test } from "node:test";

import { formatDuration } from "../../src/spanscope/ui/static/units.js";

const CASES = [
  [0, "0ns"],
  [1, "1ns"],
  [850, "850ns"],
  [999, "999ns"],
  [1_000, "1µs"],
  [1_500, "1.5µs"],
  [10_125, "10.12µs"], // an exact binary tie: to even, as Python's "{:.4g}"
  [10_375, "10.38µs"], // the other side of the same rule
  [999_999, "1ms"], // 999.999µs rounds to 1000µs: next unit
  [1_500_000, "1.5ms"],
  [12_000_000, "12ms"],
  [123_456_789, "123.5ms"],
  [999_600_000, "999.6ms"],
  [999_960_000, "1s"],
  [1_000_000_000, "1s"],
  [1_234_567_890, "1.235s"],
  [1_250_000_000, "1.25s"],
  [59_000_000_000, "59s"],
  [59_999_900_000, "1m"],
  [60_000_000_000, "1m"],
  [90_000_000_000, "1m30s"],
  [3_599_000_000_000, "59m59s"],
  [3_600_000_000_000, "1h"],
  [3_723_000_000_000, "1h2m3s"],
  [3_900_000_000_000, "1h5m"],
  [7_200_000_000_000, "2h"],
];

test("formatDuration follows the one duration format", () => {
  for (const [ns, text] of CASES) assert.equal(formatDuration(ns), text, `formatDuration(${ns})`);
});

test("the micro sign is U+00B5", () => {
  assert.equal(formatDuration(2_000).codePointAt(1), 0xb5);
});

test("no exponent and no trailing zeros or dot", () => {
  for (let ns = 1_000; ns < 60e9; ns = Math.round(ns * 1.37 + 7)) {
    const text = formatDuration(ns);
    assert.match(text, /^\d+(\.\d*[1-9])?(µs|ms|s)$/, `formatDuration(${ns}) = ${text}`);
    assert.ok(text.replace(/\D/g, "").length <= 4, `at most 4 significant digits: ${text}`);
  }
});

test("non-integer nanoseconds (a metric in seconds, scaled) are rounded first", () => {
  assert.equal(formatDuration(0.0123 * 1e9), "12.3ms");
  assert.equal(formatDuration(12.4), "12ns");
});

test("negative, missing and non-finite values", () => {
  assert.equal(formatDuration(-1_500_000), "-1.5ms");
  assert.equal(formatDuration(undefined), "–");
  assert.equal(formatDuration(null), "–");
  assert.equal(formatDuration(Number.NaN), "–");
});

test("parseDuration reads what formatDuration prints, and Go-style compounds", async () => {
  const { parseDuration } = await import("../../src/spanscope/ui/static/units.js");
  for (const [ns, text] of CASES) assert.equal(Math.abs(parseDuration(text) - ns) <= ns * 5e-4, true, text);
  assert.equal(parseDuration("1m30s"), 90e9);
  assert.equal(parseDuration("100us"), 100_000);
  assert.equal(parseDuration("100µs"), 100_000);
  assert.equal(parseDuration("10ns"), 10);
  assert.equal(parseDuration("250", "ms"), 250e6);
  assert.throws(() => parseDuration("250"), /duration '250': expected a number with a unit, e.g. 250ms/);
  assert.throws(() => parseDuration("fast"), /duration 'fast'/);
});
