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
// s) where it is at least 1, with trailing zeros and "." dropped. The rounding is half up
// on the exact whole nanoseconds, in integer arithmetic — the same as units.py, so
// 12125ns is "12.13µs" on both sides (a float's toPrecision or "{:.4g}" would each break
// that tie its own way). A value that rounds to 1000 takes the next unit (999.96ms -> "1s"),
// and one that rounds to 60s is "1m".
// From a minute on: whole seconds (half up), as "{h}h{m}m{s}s" without zero trailing
// parts ("2h", "1h5m"; a zero middle part stays: "1h0m5s").
// Pure: no DOM, so tests/js runs it under `node --test`.

const SMALL_UNITS = [
  [1_000, "µs"],
  [1_000_000, "ms"],
  [1_000_000_000, "s"],
];
const SECOND = 1_000_000_000;

/** n / size rounded half up to 4 significant digits, as text ("12.13", "999.6", "1000"). */
function round4(n, size) {
  const whole = Math.floor(n / size);
  const decimals = Math.max(0, 4 - String(whole).length);
  const scale = 10 ** decimals;
  // value * scale, half up: exact in doubles (2 * n * scale < 2 * 60e9 * 1000 < 2^53)
  const scaled = Math.floor((2 * n * scale + size) / (2 * size));
  const intPart = Math.floor(scaled / scale);
  const frac = decimals ? String(scaled - intPart * scale).padStart(decimals, "0").replace(/0+$/, "") : "";
  return { value: scaled / scale, text: frac ? `${intPart}.${frac}` : `${intPart}` };
}

function clock(ns) {
  let secs = Math.floor((ns + SECOND / 2) / SECOND);
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
    const { value, text } = round4(n, size);
    if (value >= 1000 && u < 2) u += 1; // 999.96ms rounds to 1000ms: write it as 1s
    else if (value >= 60 && u === 2) return clock(n); // 59.9996s rounds to 60s: "1m"
    else return `${text}${name}`;
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
