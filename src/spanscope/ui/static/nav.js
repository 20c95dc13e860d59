// Moving between views without reloading: navigate() pushes a URL and asks the router
// (app.js) to draw it; setQuery() records a view's state in the URL without redrawing.
// Views import these from here, never from app.js: the page loads app.js as
// "app.js?v=<version>", so an import of "./app.js" is another URL — a second copy of the
// router that drew every page twice (two API fetches, two 10,000-span waterfalls).

let redraw = () => {};

/** The router registers how to draw the current URL (app.js does, once). */
export function onNavigate(render) {
  redraw = render;
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  redraw();
}

/** Update the URL's query without re-rendering: views record their state as the user acts. */
export function setQuery(params) {
  const q = params.toString();
  const url = location.pathname + (q ? `?${q}` : "");
  if (url !== location.pathname + location.search) history.replaceState(null, "", url);
}
