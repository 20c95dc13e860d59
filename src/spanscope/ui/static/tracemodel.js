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
