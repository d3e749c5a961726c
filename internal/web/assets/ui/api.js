// The console's client of the public HTTP API (/api/v1). It uses nothing
// else: the server has no endpoint for the console alone.

export const PREFIX = '/api/v1';
const USER_KEY = 'fledge.user';

/** ApiError is a failed API call, carrying the server's Status body. */
export class ApiError extends Error {
  constructor(code, status) {
    super((status && status.message) || `request failed with HTTP ${code}`);
    this.name = 'ApiError';
    this.code = code;
    this.reason = (status && status.reason) || '';
    this.details = (status && Array.isArray(status.details)) ? status.details : [];
  }
}

/**
 * The caller's identity, sent as X-Fledge-User until token login exists.
 * The console asks for it once and keeps it in localStorage.
 */
export function identity() {
  try {
    return localStorage.getItem(USER_KEY) || '';
  } catch {
    return '';
  }
}

/** A valid identity: what an HTTP header can carry, kept short and plain. */
export const IDENTITY_PATTERN = '[A-Za-z0-9][A-Za-z0-9 ._@+\\-]{0,62}';

/** setIdentity stores the name and tells the page. */
export function setIdentity(name) {
  const v = (name || '').trim();
  if (!new RegExp(`^${IDENTITY_PATTERN}$`).test(v)) {
    throw new ApiError(0, {
      message: 'a name is letters, digits, spaces and . _ @ + -, starting with a letter or digit, at most 63 characters',
      details: [{ field: 'name', message: 'is not a valid name' }],
    });
  }
  try {
    localStorage.setItem(USER_KEY, v);
  } catch {
    // Private windows may refuse storage; the name still applies to this page.
  }
  memo = v;
  window.dispatchEvent(new CustomEvent('fledge:identity', { detail: v }));
  return v;
}

let memo = '';
function currentUser() {
  return identity() || memo;
}

/** url builds an API URL with query parameters (empty ones left out). */
export function url(path, query) {
  const u = new URL(PREFIX + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
  }
  return u.pathname + u.search;
}

/**
 * call sends one request and returns the decoded body. Failures throw an
 * ApiError with the server's message and field details, or a network
 * error's text; nothing is swallowed.
 */
export async function call(method, path, { query, body, signal } = {}) {
  const headers = { Accept: 'application/json' };
  const user = currentUser();
  if (user) headers['X-Fledge-User'] = user;
  const init = { method, headers, signal, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url(path, query), init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, { message: `cannot reach the Fledge server (${e && e.message ? e.message : e})`, reason: 'NetworkError' });
  }
  const ctype = res.headers.get('Content-Type') || '';
  if (!res.ok) {
    let status = null;
    if (ctype.includes('json')) {
      try {
        status = await res.json();
      } catch {
        status = null;
      }
    }
    if (!status) {
      const text = await res.text().catch(() => '');
      status = { message: `${method} ${path}: HTTP ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 300)}` : ''}` };
    }
    throw new ApiError(res.status, status);
  }
  if (ctype.includes('json')) return res.json();
  return res.text();
}

export const get = (path, opts) => call('GET', path, opts);
export const post = (path, body, opts = {}) => call('POST', path, { ...opts, body });

/** Helpers naming the API's paths. */
export const paths = {
  pipelines: () => '/pipelines',
  pipeline: (name) => `/pipelines/${encodeURIComponent(name)}`,
  runs: (name) => `/pipelines/${encodeURIComponent(name)}/runs`,
  rollback: (name) => `/pipelines/${encodeURIComponent(name)}/rollback`,
  deployments: () => '/deployments',
  deployment: (id) => `/deployments/${encodeURIComponent(id)}`,
  events: (id) => `/deployments/${encodeURIComponent(id)}/events`,
  manifests: (id) => `/deployments/${encodeURIComponent(id)}/manifests`,
  approve: (id) => `/deployments/${encodeURIComponent(id)}/approve`,
  reject: (id) => `/deployments/${encodeURIComponent(id)}/reject`,
  cancel: (id) => `/deployments/${encodeURIComponent(id)}/cancel`,
};

/** Final statuses end a deployment. */
export const FINAL = new Set(['Succeeded', 'Failed', 'Rejected', 'Cancelled']);

/** STATUSES lists deployment statuses, for filters. */
export const STATUSES = ['Queued', 'Running', 'WaitingForApproval', 'Succeeded', 'Failed', 'Rejected', 'Cancelled'];

/** Console URLs (the pages), as opposed to API paths. */
export const pages = {
  pipelines: () => '/pipelines',
  pipeline: (name) => `/pipelines/${encodeURIComponent(name)}`,
  history: (name) => `/pipelines/${encodeURIComponent(name)}/history`,
  deployments: (q) => {
    const s = new URLSearchParams();
    for (const [k, v] of Object.entries(q || {})) if (v) s.set(k, String(v));
    const qs = s.toString();
    return qs ? `/deployments?${qs}` : '/deployments';
  },
  deployment: (id) => `/deployments/${encodeURIComponent(id)}`,
};
