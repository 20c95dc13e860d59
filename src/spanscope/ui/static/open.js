// Open a trace from a file without storing it: /open. Drop (or choose) a Jaeger JSON file
// (what Jaeger's UI downloads, {"data": [trace]}) — read here in the browser — or an OTLP
// JSON file (an SDK's file exporter, {"resourceSpans": [...]}) — converted by the server's
// POST /api/transform, which stores nothing. The trace is then drawn as a stored one would
// be (trace.js), minus the tabs that need the server to have it. A file with several
// traces lists them first. Nothing of the file is kept when the page is left.

import { api } from "./api.js";
import { clear, errorBox, fmtDuration, h } from "./dom.js";
import { showTrace } from "./trace.js";
import { fromJaeger, parseTraceFile } from "./traceformat.js";

export async function render(main, params) {
  const input = h("input", { type: "file", accept: ".json,application/json", class: "trace-file",
    "aria-label": "trace file (Jaeger JSON or OTLP JSON)" });
  const status = h("div", { class: "open-status" });
  const zone = h("label", { class: "drop-zone" },
    h("strong", {}, "Drop a trace file here, or choose one: "), input,
    h("p", { class: "muted" }, "Jaeger JSON ({\"data\": [{\"traceID\", \"spans\", \"processes\"}]}, as Jaeger's UI downloads) ",
      "or OTLP JSON ({\"resourceSpans\": […]}, as an OpenTelemetry file exporter writes). ",
      "The trace is shown, not stored: leave the page and it is gone."));
  const host = h("div", { class: "open-trace" });
  main.append(h("div", { class: "open-page" }, h("h1", {}, "Open a trace file"), zone, status, host));

  const open = async (file) => {
    clear(host);
    status.replaceChildren(h("p", { class: "muted" }, `Reading ${file.name}…`));
    try {
      const traces = await readTraces(file);
      status.replaceChildren();
      if (traces.length === 1) showTrace(host, traces[0], params, { stored: false, source: file.name });
      else host.append(traceChoice(traces, file.name, (t) => {
        clear(host);
        showTrace(host, t, params, { stored: false, source: file.name });
      }));
    } catch (e) {
      status.replaceChildren(errorBox(`Cannot open ${file.name}:`, e));
    }
  };
  input.addEventListener("change", () => input.files[0] && open(input.files[0]));
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    const file = e.dataTransfer.files[0];
    if (file) open(file);
  });
}

async function readTraces(file) {
  const text = await file.text();
  const parsed = parseTraceFile(text, file.name);
  if (parsed.format === "jaeger") return parsed.traces;
  const answer = await api.transform(text);
  const traces = (answer.data || []).map(fromJaeger);
  if (!traces.length) throw new Error(`${file.name} is OTLP JSON with no spans in it`);
  return traces;
}

function traceChoice(traces, name, onPick) {
  return h("div", { class: "trace-choice" }, h("h2", {}, `${name} holds ${traces.length} traces`),
    h("ol", { class: "result-list" }, traces.map((t) => {
      const root = t.spans.find((sp) => !sp.parent_span_id) || t.spans[0];
      return h("li", { class: "result" }, h("button", { type: "button", class: "pick-trace", dataset: { traceId: t.trace_id },
        on: { click: () => onPick(t) } }, root ? `${root.service}: ${root.name}` : t.trace_id),
      ` ${t.spans.length} spans · ${fmtDuration(t.duration_ns)} · `, h("code", {}, t.trace_id));
    })));
}
