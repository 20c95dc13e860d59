// The search page's TraceQL box: a query input with autocomplete of attribute names and
// values (Tempo's tags endpoints under /tempo, docs/tempo.md), run through the native
// search's q= (docs/traceql.md). The pure logic is traceql.js; this module is the DOM.

import { getJSON } from "./api.js";
import { navigate } from "./nav.js";
import { clear, debounce, h } from "./dom.js";
import { applySuggestion, completionAt, tagNames, valueSuggestions } from "./traceql.js";

const TAGS = "/tempo/api/v2/search/tags";
const values = (tag) => `/tempo/api/v2/search/tag/${encodeURIComponent(tag)}/values`;

/** The box; running it navigates to /search?q=... in the window windowParams() gives. */
export function traceqlBox(params, windowParams) {
  const input = h("textarea", { name: "q", id: "traceql-input", rows: 2, spellcheck: "false",
    autocomplete: "off", placeholder: '{ resource.service.name = "checkout" && duration > 500ms }',
    "aria-label": "TraceQL query", "aria-autocomplete": "list", "aria-controls": "traceql-suggestions",
    value: params.get("q") || "" });
  const list = h("ul", { id: "traceql-suggestions", class: "suggestions hidden", role: "listbox" });
  const form = h("form", { class: "search-form traceql-form", id: "traceql-form", role: "search" },
    h("label", { class: "field", for: "traceql-input" }, h("span", {}, "TraceQL"), input),
    list,
    h("button", { type: "submit", class: "primary" }, "Run query"));
  let tags = null;
  let shown = [];
  let active = -1;
  let ctx = null;
  let typed = 0; // bumped on every edit: an answer for older text is not shown

  const hide = () => { list.classList.add("hidden"); shown = []; active = -1; };
  const choose = (i) => {
    if (!ctx || !shown[i]) return;
    const next = applySuggestion(input.value, input.selectionStart, ctx, shown[i]);
    input.value = next.text;
    input.setSelectionRange(next.cursor, next.cursor);
    hide();
    input.focus();
  };
  const show = (items) => {
    shown = items;
    active = -1;
    clear(list).append(...items.map((text, i) => h("li", { role: "option", class: "suggestion",
      on: { mousedown: (e) => { e.preventDefault(); choose(i); } } }, text)));
    list.classList.toggle("hidden", !items.length);
  };
  const suggest = debounce(async () => {
    const asked = typed;
    ctx = completionAt(input.value, input.selectionStart);
    if (!ctx) return hide();
    try {
      if (ctx.kind === "tag") {
        tags = tags || await getJSON(TAGS, windowParams());
        if (asked === typed) show(tagNames(tags, ctx.prefix));
      } else {
        const answer = await getJSON(values(ctx.tag), windowParams());
        if (asked === typed) show(valueSuggestions(answer, ctx.prefix));
      }
    } catch (e) {
      console.warn("traceql autocomplete", e);
      hide();
    }
  }, 120);
  // A list left up while typing goes on would offer the names of a shorter prefix
  // (resource.host.name for "resource.ser" when typing paused at "resource."): every edit
  // hides it until the suggestions for the text as it now stands are in.
  input.addEventListener("input", () => { typed++; hide(); suggest(); });
  input.addEventListener("click", suggest);
  input.addEventListener("blur", hide);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && active < 0) {
      e.preventDefault();
      form.requestSubmit();
    } else if (!shown.length) {
      return;
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      active = (active + (e.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
      list.querySelectorAll("li").forEach((li, i) => li.classList.toggle("active", i === active));
    } else if ((e.key === "Enter" || e.key === "Tab") && active >= 0) {
      e.preventDefault();
      choose(active);
    } else if (e.key === "Escape") {
      hide();
    }
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams(windowParams());
    if (input.value.trim()) q.set("q", input.value.trim());
    navigate(`/search?${q.toString()}`);
  });
  return { form, input };
}
