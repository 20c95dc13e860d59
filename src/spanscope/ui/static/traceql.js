// TraceQL in the search page, the pure part (no DOM; tests/js/traceql.test.mjs):
//
//   formToTraceQL(form)            the form search as the TraceQL that finds the same traces:
//                                  every filter a term of ONE spanset, as the form's filters
//                                  all hold on one span ({ resource.service.name = "x" && ... })
//   completionAt(text, cursor)     what is being typed at the cursor: a tag name
//                                  ({kind: "tag", prefix, from}) or a tag's value
//                                  ({kind: "value", tag, prefix, from}), or null
//   tagNames(v2tags, prefix)       names from /tempo/api/v2/search/tags, scoped as TraceQL
//                                  writes them (resource.x, span.x, .x, intrinsics)
//   valueSuggestions(v2values, p)  values from /tempo/api/v2/search/tag/{tag}/values as literals
//   applySuggestion(...)           the text with the suggestion in place, and the new cursor
//
// The form's attribute conditions are typed as the native API types them (query/model.py
// parse_value): "500" is a number, '"500"' a string, true/false booleans; `key:value` is `=`;
// `=`/`!=` with a number also match the number's text, as the form does.
// A condition the API would refuse throws with the API's own sentence.

import { parseDuration } from "./units.js";

const OPERATORS = ["!=", ">=", "<=", "=", ">", "<"];
const MAX_SUGGESTIONS = 30;

export function formToTraceQL(form) {
  const terms = [];
  const text = (v) => (v || "").trim();
  if (text(form.service)) terms.push(`resource.service.name = ${quote(text(form.service))}`);
  if (text(form.operation)) terms.push(`name = ${quote(text(form.operation))}`);
  for (const tag of form.tags || []) if (text(tag)) terms.push(condition(text(tag)));
  if (text(form.status)) terms.push(`status = ${text(form.status)}`);
  if (text(form.min_duration)) terms.push(`duration >= ${duration(text(form.min_duration))}`);
  if (text(form.max_duration)) terms.push(`duration <= ${duration(text(form.max_duration))}`);
  return terms.length ? `{ ${terms.join(" && ")} }` : "{ }";
}

/** A string literal: double quotes, with backslash and quote escaped. */
export function quote(s) {
  return `"${String(s).replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** A typed value of the tags endpoints ({type, value}) as a TraceQL literal. */
export function literal({ type, value }) {
  return type === "string" ? quote(value) : String(value);
}

function attributeName(key) {
  return /^[\w.\-/]+$/.test(key) ? `.${key}` : `.${quote(key)}`;
}

function duration(text) {
  const compact = text.replace("µs", "us");
  if (/^\d+(\.\d+)?(ns|us|ms|s|m|h)$/.test(compact)) return compact;
  return `${parseDuration(text)}ns`; // a form the form takes that TraceQL writes otherwise
}

function condition(text) {
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (!"=!<>:".includes(ch)) continue;
    const key = text.slice(0, i).trim();
    const rest = text.slice(i);
    let op = OPERATORS.find((o) => rest.startsWith(o));
    let raw;
    if (!op && ch === ":") [op, raw] = ["=", rest.slice(1)];
    else if (!op) break;
    else raw = rest.slice(op.length);
    if (!key) throw new Error(`condition '${text}': missing attribute name before '${op}'`);
    if (!raw.trim()) throw new Error(`condition '${text}': missing value after '${op}'`);
    const value = typedValue(raw);
    if (op.length && "<>".includes(op[0]) && typeof value !== "number") {
      throw new Error(`tag filter '${text}': expected a number after '${op}'`);
    }
    const name = attributeName(key);
    if (typeof value === "string") return `${name} ${op} ${quote(value)}`;
    // The form's = and != with a number also match a string holding the number's text
    // (http.status_code="500" from some SDKs); TraceQL compares types strictly, so say both.
    if (typeof value === "number" && op === "=") return `(${name} = ${value} || ${name} = ${quote(String(value))})`;
    if (typeof value === "number" && op === "!=") return `(${name} != ${value} || ${name} != ${quote(String(value))})`;
    return `${name} ${op} ${value}`;
  }
  throw new Error(`condition '${text}': expected key<op>value with op one of = != > >= < <= `
    + "(e.g. http.status_code>=500)");
}

function typedValue(raw) {
  const t = raw.trim();
  if (t.length >= 2 && t[0] === t[t.length - 1] && (t[0] === '"' || t[0] === "'")) return t.slice(1, -1);
  if (t === "true" || t === "false") return t === "true";
  if (/^[+-]?\d+$/.test(t)) return Number(t);
  if (/^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$/.test(t)) return Number(t);
  return t;
}

// ---- autocomplete ----

const VALUE_AT_END = /([A-Za-z_.:][\w.:\-/]*)\s*(=~|!~|!=|>=|<=|=|>|<)\s*("?)([^"\s&|(){}]*)$/;

export function completionAt(text, cursor) {
  const before = text.slice(0, cursor);
  const v = VALUE_AT_END.exec(before);
  if (v) {
    const [, tag, , q, prefix] = v;
    return { kind: "value", tag, prefix, from: cursor - q.length - prefix.length };
  }
  const word = /[\w.:\-/]*$/.exec(before)[0];
  const from = cursor - word.length;
  const prev = before.slice(0, from).trimEnd().slice(-1);
  if (prev && "{(,&|!".includes(prev)) return { kind: "tag", prefix: word, from };
  return null;
}

export function tagNames(v2tags, prefix = "") {
  const scoped = new Set();
  const unscoped = new Set();
  for (const scope of (v2tags && v2tags.scopes) || []) {
    for (const tag of scope.tags || []) {
      if (scope.name === "intrinsic") scoped.add(tag);
      else scoped.add(`${scope.name}.${tag}`);
      if (scope.name === "span" || scope.name === "resource") unscoped.add(`.${tag}`);
    }
  }
  const pool = [...(prefix.startsWith(".") ? unscoped : scoped)].sort();
  const first = pool.filter((n) => n.startsWith(prefix));
  const then = prefix ? pool.filter((n) => !n.startsWith(prefix) && n.includes(prefix)) : [];
  return [...first, ...then].slice(0, MAX_SUGGESTIONS);
}

export function valueSuggestions(v2values, prefix = "") {
  const values = ((v2values && v2values.tagValues) || []).filter((v) => String(v.value).startsWith(prefix));
  return values.map(literal).sort().slice(0, MAX_SUGGESTIONS);
}

export function applySuggestion(text, cursor, ctx, suggestion) {
  const head = text.slice(0, ctx.from) + suggestion;
  return { text: head + text.slice(cursor), cursor: head.length };
}
