// Compare, two ways:
//   /compare?a={trace}&b={trace}   trace diff: the two traces aligned by service/operation
//                                  path — what only one has, count changes (N+1), duration deltas;
//   /compare?service=&operation=&slower_than=|slowest_percent=&lookback=
//                                  slow vs normal: which operations grew, which attribute
//                                  values are over-represented in the slow group.
// With neither, the page shows both forms. Answers come from /api/v1/diff and /api/v1/compare.

import { analysis, missingText, toQuery } from "./api.js";
import { navigate } from "./nav.js";
import { clear, errorBox, fmtDuration, h } from "./dom.js";

const pct = (x) => `${(100 * (x || 0)).toFixed(0)} %`;

export async function render(main, params) {
  const page = h("div", { class: "compare-page" }, h("h1", {}, "Compare"));
  main.append(page);
  const a = params.get("a") || "";
  const b = params.get("b") || "";
  page.append(diffForm(a, b), groupForm(params));
  const out = h("section", { class: "compare-result" });
  page.append(out);
  if (a && b) await showDiff(out, a, b);
  else if (params.get("service") || params.get("operation") || params.get("slower_than") || params.get("slowest_percent")) {
    await showGroups(out, params);
  }
}

function diffForm(a, b) {
  const form = h("form", { class: "compare-form", id: "diff-form" },
    h("h2", {}, "Two traces"),
    h("label", { class: "field" }, h("span", {}, "Trace A (baseline)"), h("input", { name: "a", value: a, required: true, pattern: "[0-9a-fA-F]{1,32}" })),
    h("label", { class: "field" }, h("span", {}, "Trace B"), h("input", { name: "b", value: b, required: true, pattern: "[0-9a-fA-F]{1,32}" })),
    h("button", { type: "submit", class: "primary" }, "Diff"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    navigate(`/compare?${toQuery({ a: form.elements.a.value.trim(), b: form.elements.b.value.trim() })}`);
  });
  return form;
}

function groupForm(params) {
  const get = (k) => params.get(k) || "";
  const form = h("form", { class: "compare-form", id: "group-form" },
    h("h2", {}, "Slow requests vs the rest"),
    h("label", { class: "field" }, h("span", {}, "Service"), h("input", { name: "service", value: get("service") })),
    h("label", { class: "field" }, h("span", {}, "Operation"), h("input", { name: "operation", value: get("operation") })),
    h("label", { class: "field" }, h("span", {}, "Slower than"), h("input", { name: "slower_than", value: get("slower_than"), placeholder: "1s" })),
    h("label", { class: "field" }, h("span", {}, "or slowest %"), h("input", { name: "slowest_percent", value: get("slowest_percent"), placeholder: "10" })),
    h("label", { class: "field" }, h("span", {}, "Lookback"), h("input", { name: "lookback", value: get("lookback"), placeholder: "1h" })),
    h("button", { type: "submit", class: "primary" }, "Compare"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const els = form.elements;
    const q = {};
    for (const k of ["service", "operation", "slower_than", "slowest_percent", "lookback"]) q[k] = els[k].value.trim();
    navigate(`/compare?${toQuery(q)}`);
  });
  return form;
}

async function showDiff(out, a, b) {
  out.append(h("p", { class: "muted" }, "Comparing…"));
  let d;
  try {
    d = await analysis.diff(a, b);
  } catch (e) {
    clear(out).append(e.missingEndpoint ? h("p", { class: "unavailable" }, missingText(e, "Trace diff"))
      : errorBox("Cannot diff these traces:", e));
    return;
  }
  clear(out).append(
    h("p", { class: "headline" }, d.headline || ""),
    h("p", {}, "A ", h("a", { href: `/trace/${d.a.trace_id}` }, d.a.trace_id), ` · ${fmtDuration(d.a.duration_ns)}`,
      " — B ", h("a", { href: `/trace/${d.b.trace_id}` }, d.b.trace_id), ` · ${fmtDuration(d.b.duration_ns)}`,
      " ", h("a", { class: "json-twin", href: `/api/v1/diff?${toQuery({ a, b })}` }, "JSON")),
    h("table", { class: "diff-table" },
      h("thead", {}, h("tr", {}, ["path", "A spans", "B spans", "A time", "B time", "Δ own work", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, (d.paths || []).map((p) => h("tr", { class: `diff-${p.status}` },
        h("td", { class: "path" }, p.path.join(" › ")),
        h("td", { class: "num" }, String(p.a_count)), h("td", { class: "num" }, String(p.b_count)),
        h("td", { class: "num" }, fmtDuration(p.a_total_ns)), h("td", { class: "num" }, fmtDuration(p.b_total_ns)),
        h("td", { class: "num delta" }, `${(p.own_delta_ns ?? p.delta_ns) > 0 ? "+" : ""}${fmtDuration(p.own_delta_ns ?? p.delta_ns)}`),
        h("td", {}, p.status.replace("_", " ")))))));
}

async function showGroups(out, params) {
  out.append(h("p", { class: "muted" }, "Comparing…"));
  const q = {};
  for (const k of ["service", "operation", "slower_than", "slowest_percent", "lookback", "start", "end"]) q[k] = params.get(k);
  let c;
  try {
    c = await analysis.compare(q);
  } catch (e) {
    clear(out).append(e.missingEndpoint ? h("p", { class: "unavailable" }, missingText(e, "Slow-vs-normal comparison"))
      : errorBox("Cannot compare:", e));
    return;
  }
  const sp = c.split || {};
  clear(out).append(
    h("p", { class: "headline" }, c.headline || ""),
    h("p", {}, `${sp.slow_count} slow requests (mean ${fmtDuration(sp.slow_mean_ns)}) vs ${sp.normal_count} normal ones (mean ${fmtDuration(sp.normal_mean_ns)})`,
      " ", h("a", { class: "json-twin", href: `/api/v1/compare?${toQuery(q)}` }, "JSON")),
    h("h3", {}, "Where the slow requests spend more time"),
    h("table", { class: "ops-table" },
      h("thead", {}, h("tr", {}, ["service", "operation", "slow mean", "normal mean", "Δ", "share of gap"].map((x) => h("th", {}, x)))),
      h("tbody", {}, (c.operations || []).map((o) => h("tr", {},
        h("td", {}, o.service), h("td", {}, o.name),
        h("td", { class: "num" }, fmtDuration(o.slow_mean_ns)), h("td", { class: "num" }, fmtDuration(o.normal_mean_ns)),
        h("td", { class: "num" }, fmtDuration(o.delta_ns)), h("td", { class: "num" }, pct(o.contribution)))))),
    h("h3", {}, "Attribute values over-represented in slow requests"),
    h("table", { class: "attrs-table" },
      h("thead", {}, h("tr", {}, ["attribute", "value", "in slow", "in normal"].map((x) => h("th", {}, x)))),
      h("tbody", {}, (c.attributes || []).map((x) => h("tr", {},
        h("td", {}, x.key), h("td", { class: "attr-value" }, String(x.value)),
        h("td", { class: "num" }, pct(x.slow_share)), h("td", { class: "num" }, pct(x.normal_share)))))),
    exemplars(c.exemplars || {}));
}

function exemplars(ex) {
  const list = (name, ids) => h("p", {}, `${name}: `, (ids || []).slice(0, 5).map((id) => [h("a", { href: `/trace/${id}` }, id.slice(0, 12)), " "]));
  return h("div", { class: "exemplars" }, list("Slow examples", ex.slow), list("Normal examples", ex.normal));
}
