// Talking to weft's HTTP API. Errors carry the status and the server's JSON body so the views
// can show "this endpoint does not exist on this server" separately from a bad request.
import { h } from './util.js';

export class ApiError extends Error {
  constructor(path, status, body, message) {
    super(message);
    this.path = path;
    this.status = status;
    this.body = body;
  }
  /** The server has no such route (its JSON 404 for unknown endpoints). */
  get missingEndpoint() {
    return this.status === 404 && typeof this.body?.error === 'string' && this.body.error.startsWith('no such endpoint');
  }
}

async function request(path, signal) {
  let res;
  try {
    res = await fetch(path, { signal, headers: { accept: 'application/json' } });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(path, 0, null, `cannot reach the weft server (${e.message}): is weft serve running?`);
  }
  if (!res.ok) {
    const text = await res.text();
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    const msg = body?.error ?? (text.trim() || res.statusText);
    throw new ApiError(path, res.status, body, `${res.status}: ${msg}`);
  }
  return res;
}

/** GET a JSON document. */
export async function getJson(path, signal) {
  const res = await request(path, signal);
  return res.json();
}

/** GET a body as text (kept, e.g. to download it unchanged). */
export async function getText(path, signal) {
  const res = await request(path, signal);
  return res.text();
}

/** Builds a query string from an object, skipping empty values; arrays repeat the key. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v == null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => u.append(k, x));
    else u.set(k, v);
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

/**
 * The block a view shows when a request failed: for a missing endpoint, says which feature is
 * unavailable on this server; otherwise the server's message.
 */
export function errorView(err, feature) {
  if (err instanceof ApiError && err.missingEndpoint) {
    return h('div', { class: 'unavailable', dataset: { unavailable: err.path.split('?')[0] } },
      h('strong', null, `${feature} is not available on this server. `),
      `GET ${err.path.split('?')[0]} answered 404 (no such endpoint); this weft server was built without it.`);
  }
  return h('div', { class: 'error-box', role: 'alert' }, `${feature} failed: ${err.message}`);
}
