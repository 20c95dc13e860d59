// Trace quality, /quality?service=&hours=: how well each service is instrumented, from the
// Jaeger-shaped GET /api/quality-metrics (docs/jaeger.md): two scores (coverage, quality),
// then one row per check — orphan spans, clock skew, a missing service.version, broken
// propagation (a CLIENT span with no SERVER child) and the rest — with how many spans pass,
// fail or are exempt, per service, and example traces of failures to open.

import { api } from "./api.js";
import { navigate, setQuery } from "./nav.js";
import { clear, errorBox, h, serviceColor } from "./dom.js";

const HOURS = [1, 6, 24, 48, 168];

export async function render(main, params) {
  const service = params.get("service") || "";
  const hours = params.get("hours") || "48";
  const go = (changes) => {
    const q = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) if (v) q.set(k, v); else q.delete(k);
    navigate(`/quality?${q}`);
  };
  const svcSelect = h("select", { "aria-label": "service", on: { change: (e) => go({ service: e.target.value }) } },
    h("option", { value: "" }, "every service"));
  const host = h("div", { class: "quality-body" }, h("p", { class: "muted" }, "Loading…"));
  const query = { service, hours };
  main.append(h("div", { class: "quality-page" },
    h("div", { class: "page-head" }, h("h1", {}, "Trace quality"), svcSelect,
      h("select", { "aria-label": "time range", on: { change: (e) => go({ hours: e.target.value }) } },
        HOURS.map((n) => h("option", { value: String(n), selected: String(n) === hours }, `last ${n} h`))),
      h("a", { class: "json-twin", href: `/api/quality-metrics?${new URLSearchParams(Object.entries(query).filter(([, v]) => v))}` }, "JSON")),
    host));
  setQuery(new URLSearchParams(Object.entries({ service, hours: hours === "48" ? "" : hours }).filter(([, v]) => v)));
  api.services().then(({ services }) => {
    svcSelect.append(...services.map((sv) => h("option", { value: sv, selected: sv === service }, sv)));
  }, (e) => console.warn("services", e));

  let report;
  try {
    report = await api.quality(Object.fromEntries(Object.entries(query).filter(([, v]) => v)));
  } catch (e) {
    clear(host).append(errorBox("Cannot load trace quality:", e));
    return;
  }
  clear(host).append(
    h("p", { class: "muted banner" }, report.bannerText || ""),
    h("div", { class: "scores" }, (report.scores || []).map((sc) => h("div", { class: "score", dataset: { key: sc.key } },
      h("span", { class: "score-value" }, `${Math.round(sc.value)}`), h("span", { class: "muted" }, ` / ${sc.max}`),
      h("div", { class: "score-label" }, sc.label)))),
    h("table", { class: "quality-table" },
      h("thead", {}, h("tr", {}, ["check", "passing", "failing", "exempt", "per service", "failing examples"].map((c) => h("th", {}, c)))),
      h("tbody", {}, (report.metrics || []).map(checkRow))));
}

function checkRow(m) {
  const total = m.passCount + m.failureCount;
  const share = total ? m.passCount / total : 1;
  const detail = (m.details || [])[0];
  return h("tr", { class: `quality-check${m.failureCount ? " failing" : ""}`, dataset: { check: m.name } },
    h("td", {}, h("strong", {}, m.name), h("div", { class: "muted" }, m.description || ""),
      h("span", { class: "badge" }, m.category)),
    h("td", { class: "num pass" }, `${m.passCount}`, total ? h("span", { class: "muted" }, ` (${(100 * share).toFixed(0)} %)`) : null),
    h("td", { class: `num fail${m.failureCount ? " error-count" : ""}` }, String(m.failureCount)),
    h("td", { class: "num" }, String(m.exemptionCount)),
    h("td", {}, detail && detail.rows.length ? h("ul", { class: "per-service" }, detail.rows.map((r) =>
      h("li", { dataset: { service: r.service } }, h("span", { class: "swatch", style: { background: serviceColor(r.service) } }),
        `${r.service}: ${r.passCount} pass · ${r.failureCount} fail`, r.exemptionCount ? ` · ${r.exemptionCount} exempt` : ""))) : "–"),
    h("td", {}, (m.failureExamples || []).length ? h("ul", { class: "examples" }, m.failureExamples.slice(0, 3).map((ex) =>
      h("li", {}, h("a", { class: "example", href: `/trace/${ex.traceID}${ex.spanIDs && ex.spanIDs[0] ? `?span=${ex.spanIDs[0]}` : ""}` },
        `trace ${ex.traceID.slice(0, 8)}${ex.spanIDs && ex.spanIDs[0] ? ` · span ${ex.spanIDs[0].slice(-6)}` : ""}`)))) : h("span", { class: "muted" }, "none")));
}
