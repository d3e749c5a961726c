// The console's client of the public HTTP API (/api/v1). It uses nothing
// else: the server has no endpoint for the console alone.

export const PREFIX = '/api/v1';
const USER_KEY = 'fledge.user';
const TOKEN_KEY = 'fledge.token';

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

function read(store, key) {
  try {
    return store.getItem(key) || '';
  } catch {
    return '';
  }
}

function write(store, key, value) {
  try {
    if (value) store.setItem(key, value);
    else store.removeItem(key);
  } catch {
    // Private windows may refuse storage; the value still applies to this page.
  }
}

/**
 * session is who the console acts as. With an API token (the server's
 * default), every request carries Authorization: Bearer and the identity
 * is the token's name. On a server started with --auth=none, the console
 * asks for a name once, keeps it in localStorage and sends it as
 * X-Fledge-User. mode is 'unknown' until whoami answered.
 */
export const session = {
  mode: 'unknown',
  token: read(sessionStorage, TOKEN_KEY) || read(localStorage, TOKEN_KEY),
  name: '',
  roles: [],
};

function changed() {
  window.dispatchEvent(new CustomEvent('fledge:session', { detail: session }));
}

/** identity is the name the console acts as, or '' when it has none yet. */
export function identity() {
  if (session.mode === 'token') return session.name;
  return read(localStorage, USER_KEY) || memo;
}

/** A valid name: what the server accepts as an identity. */
export const IDENTITY_PATTERN = '[A-Za-z0-9][A-Za-z0-9._@\\-]{0,62}';

/** setIdentity stores the name (servers without authentication) and tells the page. */
export function setIdentity(name) {
  const v = (name || '').trim();
  if (!new RegExp(`^${IDENTITY_PATTERN}$`).test(v)) {
    throw new ApiError(0, {
      message: 'a name is 1 to 63 letters, digits and . _ @ -, starting with a letter or digit',
      details: [{ field: 'name', message: 'is not a valid name' }],
    });
  }
  write(localStorage, USER_KEY, v);
  memo = v;
  changed();
  return v;
}

let memo = '';

/**
 * signIn checks a token with GET /whoami and keeps it for this tab, or on
 * this device when remember is set. It throws the API's error when the
 * token is refused.
 */
export async function signIn(token, remember) {
  const t = (token || '').trim();
  const who = await call('GET', '/whoami', { token: t });
  signOut(false);
  write(remember ? localStorage : sessionStorage, TOKEN_KEY, t);
  Object.assign(session, { mode: 'token', token: t, name: who.name, roles: who.roles || [] });
  changed();
  return who;
}

/** signOut forgets the token. */
export function signOut(tell = true) {
  write(sessionStorage, TOKEN_KEY, '');
  write(localStorage, TOKEN_KEY, '');
  Object.assign(session, { mode: 'unknown', token: '', name: '', roles: [] });
  if (tell) {
    session.mode = 'signed-out';
    changed();
  }
}

/**
 * whoami asks the server who the console is: a token's name and roles, a
 * server without authentication (authDisabled), or 401 when a token is
 * needed.
 */
export async function whoami() {
  try {
    const who = await call('GET', '/whoami');
    if (who.authDisabled) Object.assign(session, { mode: 'name', name: '', roles: who.roles || [] });
    else Object.assign(session, { mode: 'token', name: who.name, roles: who.roles || [] });
  } catch (e) {
    if (e.code === 404) {
      // A server from before authentication: names it is.
      session.mode = 'name';
    } else if (e.code === 401) {
      session.mode = 'signed-out';
    } else {
      throw e;
    }
  } finally {
    changed();
  }
  return session;
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
export async function call(method, path, { query, body, signal, token } = {}) {
  const headers = { Accept: 'application/json' };
  const bearer = token !== undefined ? token : session.token;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  else if (identity()) headers['X-Fledge-User'] = identity();
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
    if (res.status === 401 && token === undefined && session.mode !== 'signed-out') {
      session.mode = 'signed-out';
      changed();
    }
    throw new ApiError(res.status, status);
  }
  if (ctype.includes('json')) return res.json();
  return res.text();
}

/**
 * watchURL is the URL of a deployment's event stream. A browser's
 * EventSource cannot send headers, so the token rides in access_token,
 * which the server accepts on this stream only.
 */
export function watchURL(id) {
  return url(`/deployments/${encodeURIComponent(id)}/events`, { watch: 'true', access_token: session.token });
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
  measurements: (id) => `/deployments/${encodeURIComponent(id)}/measurements`,
  diff: (id) => `/deployments/${encodeURIComponent(id)}/diff`,
  overview: () => '/overview',
  approve: (id) => `/deployments/${encodeURIComponent(id)}/approve`,
  reject: (id) => `/deployments/${encodeURIComponent(id)}/reject`,
  cancel: (id) => `/deployments/${encodeURIComponent(id)}/cancel`,
  resume: (id) => `/deployments/${encodeURIComponent(id)}/resume`,
};

/** Final statuses end a deployment. */
export const FINAL = new Set(['Succeeded', 'Failed', 'Rejected', 'Cancelled']);

/** STATUSES lists deployment statuses, for filters. */
export const STATUSES = ['Queued', 'Running', 'WaitingForApproval', 'Succeeded', 'Failed', 'Rejected', 'Cancelled'];

/** Console URLs (the pages), as opposed to API paths. */
export const pages = {
  pipelines: (page) => (page > 1 ? `/pipelines?page=${page}` : '/pipelines'),
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
