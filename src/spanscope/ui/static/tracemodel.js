// A trace as the views need it: the span tree in display order (parents before children,
// siblings by start time), each span's depth, and which rows are visible once some subtrees
// are collapsed. Spans whose parent never arrived (orphans) become extra roots, as do spans
// caught in a parent cycle, so every span of the trace is always shown exactly once.

export function buildTree(trace) {
  const spans = trace.spans;
  const n = spans.length;
  const index = new Map();
  for (let i = 0; i < n; i++) if (!index.has(spans[i].span_id)) index.set(spans[i].span_id, i);
  const parent = new Int32Array(n).fill(-1);
  const children = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) {
    const p = spans[i].parent_span_id;
    const pi = p ? index.get(p) : undefined;
    if (pi !== undefined && pi !== i) {
      parent[i] = pi;
      children[pi].push(i); // spans arrive sorted by start, so siblings stay in start order
    }
  }
  const order = new Int32Array(n);   // display position -> span index
  const depth = new Int32Array(n);   // by span index
  const end = new Int32Array(n);     // by display position: position after its subtree
  const position = new Int32Array(n); // by span index
  const seen = new Uint8Array(n);
  let k = 0;
  const visit = (root) => {
    // Iterative DFS: a 10,000-deep chain must not overflow the call stack.
    const stack = [[root, 0, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [i, d, c] = top;
      if (c === 0) {
        seen[i] = 1;
        depth[i] = d;
        position[i] = k;
        order[k++] = i;
      }
      if (c < children[i].length) {
        top[2] = c + 1;
        const child = children[i][c];
        if (!seen[child]) stack.push([child, d + 1, 0]);
      } else {
        end[position[i]] = k;
        stack.pop();
      }
    }
  };
  const roots = [];
  for (let i = 0; i < n; i++) if (parent[i] === -1) roots.push(i);
  for (const r of roots) visit(r);
  for (let i = 0; i < n; i++) {
    if (!seen[i]) {
      roots.push(i);
      visit(i);
    }
  }
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const sp of spans) {
    if (sp.start_time_unix_nano < t0) t0 = sp.start_time_unix_nano;
    if (sp.end_time_unix_nano > t1) t1 = sp.end_time_unix_nano;
  }
  if (!n) [t0, t1] = [0, 1];
  return { spans, index, parent, children, order, depth, end, position, roots, t0, t1,
    duration: Math.max(t1 - t0, 1) };
}

/** Display rows (span indexes) with the subtrees under `collapsed` (a Set of span indexes) hidden. */
export function visibleRows(tree, collapsed) {
  const rows = [];
  const { order, end } = tree;
  for (let k = 0; k < order.length;) {
    const i = order[k];
    rows.push(i);
    k = collapsed.has(i) ? end[k] : k + 1;
  }
  return rows;
}

/** Every ancestor of span i (so find-in-trace can expand them). */
export function ancestors(tree, i) {
  const out = [];
  for (let p = tree.parent[i]; p !== -1 && out.length < tree.spans.length; p = tree.parent[p]) out.push(p);
  return out;
}

/** The text find-in-trace matches against: names, ids, attribute keys and values. */
export function searchText(span) {
  const parts = [span.name, span.service, span.span_id, span.status.message || ""];
  const add = (attrs) => {
    for (const a of attrs || []) parts.push(a.key, typeof a.value === "object" ? JSON.stringify(a.value) : String(a.value));
  };
  add(span.attributes);
  add(span.resource);
  for (const e of span.events || []) parts.push(e.name);
  return parts.join("\u0000").toLowerCase();
}

/** Human text of a typed attribute value (arrays and maps included), for display only. */
export function attrText(attr) {
  const one = (type, value) => {
    if (type === "array") return `[${value.map((v) => one(v.type, v.value)).join(", ")}]`;
    if (type === "map") return `{${value.map((a) => `${a.key}: ${one(a.type, a.value)}`).join(", ")}}`;
    if (type === "string") return value;
    return String(value);
  };
  return one(attr.type, attr.value);
}

/**
 * Flame graph boxes: one per span, x as a share of the root's width (0..1), depth from the
 * root (0). A span's children are laid left to right by start time, each as wide as its
 * share of the parent's duration; parallel children whose durations add up to more than
 * the parent are scaled down together, so a box never spills outside its parent. The gap
 * right of a parent's children is its self time. root = -1: every root side by side,
 * widths by duration (the trace); root = i: the subtree of span i (the icicle).
 * -> {boxes: [{i, depth, x0, x1}], depth: number of levels}
 */
export function flameLayout(tree, root = -1) {
  const dur = (i) => Math.max(tree.spans[i].duration_ns, 0);
  const roots = root >= 0 ? [root] : tree.roots;
  const total = roots.reduce((sum, r) => sum + dur(r), 0);
  const boxes = [];
  const placed = new Uint8Array(tree.spans.length);
  let levels = 0;
  let x = 0;
  const stack = [];
  for (const r of roots) {
    const w = total > 0 ? dur(r) / total : 1 / roots.length;
    stack.push([r, 0, x, x + w]);
    x += w;
  }
  stack.reverse();
  while (stack.length) {
    const [i, depth, x0, x1] = stack.pop();
    if (placed[i]) continue; // a parent cycle: each span once
    placed[i] = 1;
    boxes.push({ i, depth, x0, x1 });
    if (depth + 1 > levels) levels = depth + 1;
    const kids = tree.children[i].filter((c) => !placed[c]);
    if (!kids.length) continue;
    const sum = kids.reduce((a, c) => a + dur(c), 0);
    const scale = (x1 - x0) / Math.max(dur(i), sum, 1);
    let cx = x0;
    const next = [];
    for (const c of kids) {
      const w = sum > 0 ? dur(c) * scale : (x1 - x0) / kids.length;
      next.push([c, depth + 1, cx, cx + w]);
      cx += w;
    }
    for (let k = next.length - 1; k >= 0; k--) stack.push(next[k]);
  }
  return { boxes, depth: levels };
}

// OTLP span flags (opentelemetry-proto trace.proto, SpanFlags): bits 0-7 are the W3C trace
// flags of the span's context; bit 8 says whether bit 9 (the parent is remote) is known.
const FLAG_BITS = [
  [0x01, "sampled"],
  [0x02, "random trace id (W3C level 2)"],
];

/** What a span's flags mean: 256 -> "parent in this process (local)"; 769 -> sampled, remote parent. */
export function flagsText(flags) {
  const f = Number(flags) || 0;
  const parts = [];
  for (const [bit, text] of FLAG_BITS) if (f & bit) parts.push(text);
  if (!(f & 0x01)) parts.push("not sampled");
  if (f & 0x100) parts.push(f & 0x200 ? "parent in another process (remote)" : "parent in this process (local)");
  const unknown = f & ~0x3ff & 0xffffffff;
  const otherW3c = f & 0xfc;
  if (otherW3c) parts.push(`other trace flags 0x${otherW3c.toString(16)}`);
  if (unknown) parts.push(`unknown bits 0x${unknown.toString(16)}`);
  return parts.join(" · ");
}

/**
 * Span filters inside a trace. filter: {service, status, minNs, maxNs, attribute} (any may
 * be empty); attribute is "key" (present) or "key=value" (its text equals value, as shown).
 * -> predicate(spanIndex) -> bool; null when no filter is set.
 */
export function spanFilter(tree, filter) {
  const { service = "", status = "", minNs = null, maxNs = null, attribute = "" } = filter || {};
  const attr = attribute.trim();
  if (!service && !status && minNs === null && maxNs === null && !attr) return null;
  const eq = attr.indexOf("=");
  const key = eq >= 0 ? attr.slice(0, eq).trim() : attr;
  const want = eq >= 0 ? attr.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1") : null;
  return (i) => {
    const sp = tree.spans[i];
    if (service && sp.service !== service) return false;
    if (status && sp.status.code !== status) return false;
    if (minNs !== null && sp.duration_ns < minNs) return false;
    if (maxNs !== null && sp.duration_ns > maxNs) return false;
    if (key) {
      const found = [...(sp.attributes || []), ...(sp.resource || [])].find((a) => a.key === key);
      if (!found) return false;
      if (want !== null && attrText(found) !== want) return false;
    }
    return true;
  };
}

/** Display rows of the spans that pass `keep`, with their ancestors for context, in tree order. */
export function filteredRows(tree, keep) {
  const show = new Uint8Array(tree.spans.length);
  for (let i = 0; i < tree.spans.length; i++) {
    if (!keep(i)) continue;
    show[i] = 1;
    for (const a of ancestors(tree, i)) {
      if (show[a]) break;
      show[a] = 1;
    }
  }
  const rows = [];
  for (let k = 0; k < tree.order.length; k++) if (show[tree.order[k]]) rows.push(tree.order[k]);
  return rows;
}

/**
 * Whether the trace is still arriving or lost its root: its first root span names a
 * parent that is not in the trace. Such a trace is "incomplete", not "root span missing".
 */
export function isIncomplete(tree) {
  return tree.roots.length > 0 && !!tree.spans[tree.roots[0]].parent_span_id;
}
