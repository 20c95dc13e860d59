// The UI's only way to the server: the public JSON API (docs/api.md, docs/analysis.md).
// Each function returns the parsed JSON; a failure throws ApiError carrying the API's own
// message ("parameter min_duration='fast': ..."), which views show as-is. On a server with
// tokens every call sends the tab's query token, and a 401/403 asks for one (token.js).

import { askForToken, currentToken } from "./token.js";

export class ApiError extends Error {
  constructor(status, message, url) {
    super(message);
    this.status = status;
    this.url = url;
    // The app answers unknown paths with "no such endpoint": the feature is not on this server.
    this.missingEndpoint = status === 404 && /^no such endpoint/.test(message);
  }
}

/** GET a JSON document; params is a URLSearchParams or a plain object (arrays repeat). */
export async function getJSON(path, params) {
  const query = toQuery(params);
  return request(query ? `${path}?${query}` : path);
}

/** POST a body (text) and read the JSON answer, with the same errors as getJSON. */
export async function postJSON(path, body) {
  return request(path, { method: "POST", body, headers: { "Content-Type": "application/json" } });
}

async function request(url, init) {
  let response = await send(url, init);
  // Refused for the token: ask for one (again, if the one sent was not accepted) and repeat.
  while (response.status === 401 || (response.status === 403 && currentToken())) {
    const reason = await refusal(response);
    if (response.status === 403 && !/needs scope/.test(reason)) break; // not about the token
    await askForToken(reason);
    response = await send(url, init);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    if (!response.ok) throw new ApiError(response.status, `${response.status} ${response.statusText}`, url);
    throw new ApiError(response.status, `the server answered ${url} with something that is not JSON`, url);
  }
  if (!response.ok) {
    // Native answers say {"error": {"message"}}; Jaeger's (/api/...) {"errors": [{"msg"}]}.
    const err = (body && body.error) || (body && body.errors && body.errors[0]) || {};
    const message = err.message || err.msg || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message, url);
  }
  return body;
}

async function send(url, init = {}) {
  const headers = { Accept: "application/json", ...(init.headers || {}) };
  const token = currentToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    return await fetch(url, { ...init, headers });
  } catch (e) {
    throw new ApiError(0, `cannot reach the server (${e.message}); is spanscope serve running?`, url);
  }
}

/** The server's sentence for a 401/403, in whichever API shape it came. */
async function refusal(response) {
  try {
    const body = await response.clone().json();
    const err = (body && body.error) || (body && body.errors && body.errors[0]) || {};
    return err.message || err.msg || `${response.status} ${response.statusText}`;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

export function toQuery(params) {
  if (!params) return "";
  if (params instanceof URLSearchParams) return params.toString();
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => q.append(key, v));
    else q.append(key, value);
  }
  return q.toString();
}

const enc = encodeURIComponent;

export const api = {
  services: () => getJSON("/api/v1/services"),
  operations: (service) => getJSON(`/api/v1/services/${enc(service)}/operations`),
  search: (params) => getJSON("/api/v1/traces", params),
  trace: (traceId) => getJSON(`/api/v1/traces/${enc(traceId)}`),
  dependencies: (params) => getJSON("/api/v1/dependencies", params),
  // OTLP JSON -> Jaeger's model, nothing stored (docs/jaeger.md): how an OTLP file is opened.
  transform: (otlpText) => postJSON("/api/transform", otlpText),
  // Jaeger's trace-quality report, per service (docs/jaeger.md, "Trace quality").
  quality: (params) => getJSON("/api/quality-metrics", params),
  logs: (params) => getJSON("/api/v1/logs", params),
};

/** The JSON twin of a search page: the same query against the API. */
export function searchApiUrl(params) {
  const q = toQuery(params);
  return q ? `/api/v1/traces?${q}` : "/api/v1/traces";
}

// Analysis (docs/analysis.md). A server without them answers "no such endpoint"
// (ApiError.missingEndpoint), which the views say plainly instead of guessing.
export const analysis = {
  criticalPath: (traceId) => getJSON(`/api/v1/traces/${enc(traceId)}/critical-path`),
  breakdown: (traceId) => getJSON(`/api/v1/traces/${enc(traceId)}/breakdown`),
  smells: (traceId) => getJSON(`/api/v1/traces/${enc(traceId)}/smells`),
  diff: (a, b) => getJSON("/api/v1/diff", { a, b }),
  compare: (params) => getJSON("/api/v1/compare", params),
  serviceMap: (params) => getJSON("/api/v1/service-map", params),
  red: (params) => getJSON("/api/v1/red", params),
};

// Logs and metrics linked to traces (docs/logs-and-metrics.md).
export const signals = {
  traceLogs: (traceId, spanId) => getJSON(`/api/v1/traces/${enc(traceId)}/logs`, { span_id: spanId }),
  metrics: (service) => getJSON("/api/v1/metrics", { service }),
  series: (name, params) => getJSON(`/api/v1/metrics/${enc(name)}/series`, params),
  exemplars: (params) => getJSON("/api/v1/exemplars", params),
};

/** The sentence a view shows when an analysis endpoint is not on this server. */
export function missingText(error, what) {
  return error && error.missingEndpoint
    ? `${what} is not available: this server does not answer ${new URL(error.url, location.href).pathname} yet (docs/analysis.md).`
    : `${what} failed: ${error && error.message}`;
}
