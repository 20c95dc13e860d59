// The one duration format of Spanscope, the same as the Python side's units.py
// (docs/ui.md, "Durations"): every view prints a duration through formatDuration().
//
//   formatDuration(850)            -> "850ns"
//   formatDuration(1_500_000)      -> "1.5ms"
//   formatDuration(999_960_000)    -> "1s"      (rounding reached 1000ms: next unit)
//   formatDuration(90_000_000_000) -> "1m30s"
//   formatDuration(3_723e9)        -> "1h2m3s"
//
// Below a minute the value is rounded to 4 significant digits in the largest unit (µs, ms,
// s) where it is at least 1, with trailing zeros and "." dropped. The rounding is that of
// Python's f"{x:.4g}" on the same float: correctly rounded from the binary value, ties to
// even (JavaScript's toPrecision breaks exact ties upwards, so those are handled here).
// From a minute on: whole seconds, as "{h}h{m}m{s}s" without zero trailing parts ("2h").
// Pure: no DOM, so tests/js runs it under `node --test`.

const SMALL_UNITS = [
  [1_000, "µs"],
  [1_000_000, "ms"],
  [1_000_000_000, "s"],
];
const SECOND = 1_000_000_000;

/** Round x (>= 1, < 1000) to 4 significant digits as Python's "{:.4g}" does; a Number. */
function round4(x, ns, unit) {
  const intDigits = x >= 100 ? 3 : x >= 10 ? 2 : 1;
  const decimals = 4 - intDigits;
  const scale = 10 ** decimals;
  // An exact tie (the float is exactly k + 0.5 at this precision): ties to even, as Python.
  const divisor = unit / scale; // an integer: unit >= 1000, scale <= 1000
  if (Number.isInteger(ns) && ns % divisor === divisor / 2 && isDyadic(ns, unit)) {
    const k = Math.floor(ns / divisor);
    return (k % 2 === 0 ? k : k + 1) / scale;
  }
  return Number(x.toPrecision(4));
}

/** Whether ns / unit is exactly representable as a binary float (its reduced denominator is 2^k). */
function isDyadic(ns, unit) {
  let a = ns;
  let b = unit;
  while (b) [a, b] = [b, a % b];
  let den = unit / a;
  while (den % 2 === 0) den /= 2;
  return den === 1;
}

function clock(ns) {
  let secs = Math.round(ns / SECOND);
  const h = Math.floor(secs / 3600);
  secs -= h * 3600;
  const m = Math.floor(secs / 60);
  const s = secs - m * 60;
  const parts = [];
  if (h) parts.push(`${h}h`);
  if (h || m) parts.push(`${m}m`);
  parts.push(`${s}s`);
  while (parts.length > 1 && /^0[hms]$/.test(parts[parts.length - 1])) parts.pop();
  return parts.join("");
}

/** A duration in nanoseconds as text: "850ns", "1.5ms", "1.235s", "1m30s", "2h"; "–" for none. */
export function formatDuration(ns) {
  if (ns === null || ns === undefined || ns === "" || !Number.isFinite(Number(ns))) return "–";
  const n = Math.round(Number(ns));
  if (n < 0) return `-${formatDuration(-n)}`;
  if (n < 1_000) return `${n}ns`;
  if (n >= 60 * SECOND) return clock(n);
  let u = n >= SECOND ? 2 : n >= 1_000_000 ? 1 : 0;
  for (;;) {
    const [size, name] = SMALL_UNITS[u];
    const v = round4(n / size, n, size);
    if (v >= 1000 && u < 2) u += 1; // 999.96ms rounds to 1000ms: write it as 1s
    else if (v >= 60 && u === 2) return clock(n); // 59.9996s rounds to 60s: "1m"
    else return `${v}${name}`;
  }
}

const PARSE_UNITS = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9, d: 86_400e9 };
const PART = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/y;

/**
 * "250ms", "1.5s", "1m30s", "100µs" -> nanoseconds. bareUnit: what a bare number means
 * ("ms" -> "250" is 250ms); without it a bare number is an error. Throws an Error naming
 * the value and showing a valid one.
 */
export function parseDuration(text, bareUnit = null) {
  const t = String(text).trim();
  if (bareUnit && /^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * PARSE_UNITS[bareUnit]);
  let total = 0;
  PART.lastIndex = 0;
  let at = 0;
  while (at < t.length) {
    PART.lastIndex = at;
    const m = PART.exec(t);
    if (!m) break;
    total += Number(m[1]) * PARSE_UNITS[m[2]];
    at = PART.lastIndex;
  }
  if (!t || at !== t.length) {
    throw new Error(`duration '${t}': expected a number with a unit, e.g. 250ms, 1.5s, 1m30s (units: ns µs ms s m h d)`);
  }
  return Math.round(total);
}
