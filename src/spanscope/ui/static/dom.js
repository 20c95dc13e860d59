// DOM helpers. Everything that comes from a span is untrusted: it only ever reaches the page
// through text nodes (textContent) or setAttribute on attributes that cannot run code, never
// through innerHTML. h() is the one way views build elements, so that rule holds everywhere.

const SVG_NS = "http://www.w3.org/2000/svg";
// Attribute names h()/s() refuse: event handlers and URL-bearing attributes take code.
const UNSAFE_ATTR = /^(on|srcdoc$|formaction$)/i;

function apply(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") el.textContent = String(value);
    else if (key === "class") el.setAttribute("class", value);
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key === "on") {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    } else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "href") el.setAttribute("href", safeHref(String(value)));
    else if (key === "value" && "value" in el) el.value = String(value);
    else if (key === "checked" || key === "selected" || key === "disabled") el[key] = !!value;
    else if (UNSAFE_ATTR.test(key)) throw new Error(`h(): refusing attribute ${key}`);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h("a", {href: "/x", class: "c"}, "text", otherNode). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  apply(el, props);
  return append(el, children);
}

/** An SVG element, same conventions as h(). */
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, props);
  return append(el, children);
}

/** Only same-site paths and http(s) URLs become links; anything else (javascript:) is inert. */
export function safeHref(href) {
  if (href.startsWith("/") && !href.startsWith("//")) return href;
  if (/^https?:\/\//i.test(href)) return href;
  if (href.startsWith("?") || href.startsWith("#")) return href;
  return "#";
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// ---- formatting ----

// Durations: the one format (units.js), under the name the views already import.
export { formatDuration as fmtDuration } from "./units.js";

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** Local wall-clock time of a unix-nanosecond timestamp: "2026-11-25 09:00:00.123". */
export function fmtTime(ns, withDate = true) {
  const d = new Date(ns / 1e6);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const ms = pad(d.getMilliseconds(), 3);
  if (!withDate) return `${time}.${ms}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}.${ms}`;
}

// A stable colour per service name, from a palette without the error red (palette.js).
export { serviceColor } from "./palette.js";

/** Nice tick values covering [0, span] with about `count` ticks. */
export function ticks(span, count = 6) {
  if (!(span > 0)) return [0];
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((m) => m >= raw) || raw;
  const out = [];
  for (let v = 0; v <= span + step * 1e-9; v += step) out.push(v);
  return out;
}

/** "kept by: errors · weight 1" when the tail sampler kept the trace (docs/sampling.md). */
export function samplingBadge(sampling) {
  if (!sampling) return null;
  const weight = Number.isInteger(sampling.weight) ? sampling.weight : +Number(sampling.weight).toPrecision(4);
  return h("span", { class: "sampling", title: `tail sampling kept this trace by policy "${sampling.policy}"; `
    + `it stands for ${weight} trace${weight === 1 ? "" : "s"} in counts` }, `kept by: ${sampling.policy} · weight ${weight}`);
}

/** A panel that says plainly what went wrong (with the API's own message). */
export function errorBox(title, error) {
  return h("div", { class: "error-box", role: "alert" },
    h("strong", {}, title), " ", error && error.message ? error.message : String(error || ""));
}

/** Debounce for input handlers. */
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
