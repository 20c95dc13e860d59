// Spanscope's web UI: a router over the views. Every view is a URL a user can share: the
// path picks the view and the query string holds its state, so reloading a link restores
// what its sender saw. Views call only the public API (api.js).
//
//   /  /search?service=&operation=&tag=&min_duration=&...   search (views/search.js)
//   /trace/{trace_id}?span=&tab=&find=&from=&to=            one trace (trace.js)
//   /compare?a=&b=   /compare?service=&operation=&...       compare (compare.js)
//   /map?lookback=                                          service map (map.js)
//   /services?lookback=&span_kind=                          every service, RED sparklines (services.js)
//   /services/{service}?lookback=&step=                     service overview (service.js)
//   /logs?service=&severity=&q=&trace_id=                   log search (logsearch.js)
//   /quality?service=&hours=                                trace quality (quality.js)
//   /open                                                   a trace from a file, not stored (open.js)

import { clear, errorBox } from "./dom.js";
import { navigate, onNavigate, setQuery } from "./nav.js";

export { navigate, setQuery }; // views import them from nav.js (see there why)

const ROUTES = [
  [/^\/(search)?$/, "search", () => import("./search.js")],
  [/^\/trace\/([^/]+)$/, "trace", () => import("./trace.js")],
  [/^\/compare$/, "compare", () => import("./compare.js")],
  [/^\/map$/, "map", () => import("./map.js")],
  [/^\/services$/, "services", () => import("./services.js")],
  [/^\/services\/([^/]+)$/, "services", () => import("./service.js")],
  [/^\/logs$/, "logs", () => import("./logsearch.js")],
  [/^\/quality$/, "quality", () => import("./quality.js")],
  [/^\/open$/, "open", () => import("./open.js")],
];

let renderSeq = 0;

async function render() {
  const seq = ++renderSeq;
  const main = document.getElementById("view");
  const path = location.pathname;
  const route = ROUTES.find(([re]) => re.test(path));
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", route && a.dataset.nav === route[1]);
  }
  if (!route) {
    clear(main).append(errorBox("No such page:", { message: `${path} — try /search` }));
    return;
  }
  const [re, , load] = route;
  const args = (path.match(re) || []).slice(1).map((p) => (p ? decodeURIComponent(p) : p));
  try {
    const view = await load();
    if (seq !== renderSeq) return;
    clear(main);
    await view.render(main, new URLSearchParams(location.search), ...args);
  } catch (e) {
    if (seq !== renderSeq) return;
    console.warn("view failed", e);
    clear(main).append(errorBox("This view failed:", e));
  }
}

function onClick(event) {
  // Same-origin links to UI routes navigate in place; API links (JSON twins) load normally.
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target.closest && event.target.closest("a[href]");
  if (!a || a.target || a.hasAttribute("download")) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  if (!ROUTES.some(([re]) => re.test(url.pathname))) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}

function onJump(event) {
  event.preventDefault();
  const input = document.getElementById("jump-id");
  const id = input.value.trim().toLowerCase();
  if (!id) return;
  if (!/^[0-9a-f]{1,32}$/.test(id)) {
    input.setCustomValidity(`'${id}' is not a trace id: expected 1–32 hex digits`);
    input.reportValidity();
    return;
  }
  input.setCustomValidity("");
  input.value = "";
  navigate(`/trace/${id}`);
}

onNavigate(render);
document.addEventListener("click", onClick);
window.addEventListener("popstate", render);
document.getElementById("jump").addEventListener("submit", onJump);
document.getElementById("jump-id").addEventListener("input", (e) => e.target.setCustomValidity(""));
render();

