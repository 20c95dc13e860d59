// The query token, for a server run with --auth-file (docs/security.md#tokens-and-scopes).
//
// The UI's shell and assets load without a token; its API calls (api.js) send the one kept
// here as `Authorization: Bearer`. When the server answers 401 (no token, or one it does not
// know) or 403 (a token without scope `query`), askForToken() shows a small form in the page
// (no window.prompt, no inline script: the Content-Security-Policy allows neither) and
// resolves once a token is entered; the caller then repeats its request. The token lives in
// sessionStorage: it survives a reload of this tab and is gone when the tab closes.

import { h } from "./dom.js";

const KEY = "spanscope.token";
let asking = null; // one form for every call that was refused at the same time
let memory = null; // the token entered, should sessionStorage be disabled

export function storedToken() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null; // storage disabled: the user is asked on each page load
  }
}

function keep(token) {
  try {
    sessionStorage.setItem(KEY, token);
  } catch {
    /* storage disabled: kept for this page only, below */
  }
  memory = token;
}

/** The token to send: the one in sessionStorage, else one entered on this page. */
export function currentToken() {
  return storedToken() || memory;
}

/** Show the token form with the server's reason; resolves when a token has been entered. */
export function askForToken(reason) {
  if (asking) return asking;
  asking = new Promise((resolve) => {
    const input = h("input", {
      type: "password", id: "token-input", name: "token", required: true,
      autocomplete: "off", spellcheck: "false", "aria-label": "Token",
    });
    const form = h("form", { class: "token-form", id: "token-form" },
      h("h2", {}, "This server needs a token"),
      h("p", { class: "token-reason" }, reason),
      h("p", { class: "muted" },
        "Paste a token with scope query from the server's auth file. It is kept for this " +
        "tab only (sessionStorage) and sent as Authorization: Bearer."),
      h("div", { class: "token-row" }, input, h("button", { type: "submit", class: "primary" },
        "Use token")));
    const overlay = h("div", { class: "token-overlay", role: "dialog", "aria-modal": "true",
      "aria-labelledby": "token-title" }, form);
    form.querySelector("h2").id = "token-title";
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      keep(token);
      overlay.remove();
      asking = null;
      resolve(token);
    });
    document.body.append(overlay);
    input.focus();
  });
  return asking;
}
