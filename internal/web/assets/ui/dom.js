// DOM helpers. Everything the API returns reaches the page as text nodes or
// attribute values set through the DOM, never as markup: there is no
// innerHTML in the console.

/**
 * h builds an element. props: class, text, dataset, on<event> handlers,
 * value/checked/disabled properties, and plain attributes. Children are
 * nodes or strings (added as text), arrays are flattened, null is skipped.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

/** add appends children (nodes or text) to el. */
export function add(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** replace swaps the children of el. */
export function replace(el, ...children) {
  el.replaceChildren();
  return add(el, children);
}

let idSeq = 0;
/** uid returns a document-unique id for label and aria references. */
export function uid(prefix = 'f') {
  idSeq += 1;
  return `${prefix}-${idSeq}`;
}

const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const dtf = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'medium' });

/** ago says how long ago an ISO time was, like "5 minutes ago". */
export function ago(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.round((t - now) / 1000);
  const abs = Math.abs(s);
  if (abs < 45) return rtf.format(s, 'second');
  if (abs < 2700) return rtf.format(Math.round(s / 60), 'minute');
  if (abs < 79200) return rtf.format(Math.round(s / 3600), 'hour');
  if (abs < 30 * 86400) return rtf.format(Math.round(s / 86400), 'day');
  if (abs < 365 * 86400) return rtf.format(Math.round(s / (30 * 86400)), 'month');
  return rtf.format(Math.round(s / (365 * 86400)), 'year');
}

/** absolute formats an ISO time for people. */
export function absolute(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '' : dtf.format(t);
}

/**
 * time renders a time the one way the console shows times: relative ("5
 * minutes ago"), with the exact time on hover. refreshTimes keeps the
 * words current.
 */
export function time(iso) {
  if (!iso) return h('span', { class: 'muted', text: '—' });
  return h('time', { datetime: iso, title: absolute(iso) }, ago(iso));
}

/** refreshTimes rewrites the relative words of every time on the page. */
export function refreshTimes(root = document) {
  const now = Date.now();
  for (const t of root.querySelectorAll('time[datetime]')) {
    const w = ago(t.getAttribute('datetime'), now);
    if (w && t.textContent !== w) t.textContent = w;
  }
}

/** goDuration shortens a Go duration string: 24h0m0s is 24h, 1m0s is 1m. */
export function goDuration(s) {
  return String(s || '').replace(/([hm])0s$/, '$1').replace(/h0m$/, 'h');
}

/** duration formats milliseconds compactly: 4s, 2m 5s, 1h 3m. */
export function duration(ms) {
  if (!(ms >= 0)) return '';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

const statusIcons = {
  Queued: '◌', Running: '●', WaitingForApproval: '‖', Succeeded: '✓', Failed: '✗', Rejected: '✗', Cancelled: '⊘',
  Pending: '○', Waiting: '‖', Skipped: '–',
};

const statusWords = { WaitingForApproval: 'Waiting for approval' };

/** statusWord is a status as the console says it. */
export function statusWord(status) {
  return statusWords[status] || status;
}

/** badge renders a status with an icon and a word, not by colour alone. */
export function badge(status) {
  return h('span', { class: `badge s-${status}`, dataset: { status } },
    h('span', { class: 'icon', 'aria-hidden': 'true' }, statusIcons[status] || '•'),
    statusWord(status));
}

/** params renders a parameter map as name=value chips. */
export function params(p) {
  const keys = Object.keys(p || {}).sort();
  if (keys.length === 0) return h('span', { class: 'muted', text: 'none' });
  return h('span', { class: 'params' }, keys.map((k) => h('code', { class: 'param' }, `${k}=${p[k]}`)));
}

/** link renders an in-console link (the router intercepts it). */
export function link(href, ...children) {
  return h('a', { href }, children);
}

// sentence makes a server message read as a sentence: capital first
// letter, full stop at the end.
function sentence(msg) {
  const m = String(msg || '').trim();
  if (!m) return '';
  const c = m.charAt(0).toUpperCase() + m.slice(1);
  return /[.!?:)]$/.test(c) ? c : `${c}.`;
}

// fieldNames are the words for the API's field paths a person typed.
const fieldNames = { reason: 'The reason', name: 'The name', token: 'The token', to: 'The deployment to roll back to' };

function fieldWords(field) {
  if (!field) return '';
  if (fieldNames[field]) return fieldNames[field];
  const p = /^parameters\.(.+)$/.exec(field);
  if (p) return `Parameter ${p[1]}`;
  return field;
}

/**
 * plain says in plain words what a failed call means, with the server's
 * own message when it is specific.
 */
export function plain(err) {
  const code = err && err.code;
  const msg = sentence(err && err.message);
  switch (true) {
    case code === 0 || (err && err.reason === 'NetworkError'):
      return 'Fledge did not answer. Check that the server runs and try again.';
    case code === 401:
      return 'You are not signed in, or your token is no longer accepted.';
    case code === 403:
      return `Your token does not allow this. ${msg}`;
    case code === 404:
      return msg || 'It does not exist.';
    case code === 409:
      return `This changed meanwhile. ${msg}`;
    case code === 400 || code === 422:
      return (err.details || []).length > 0 ? 'Please check:' : msg;
    case code >= 500:
      return `The server failed. ${msg} Try again; if it keeps failing, the server's log says more.`;
    default:
      return msg || String(err);
  }
}

/**
 * errorBox shows a failure in plain words: what could not be done (title),
 * why, and which fields to fix. The HTTP status stays out of the words; it
 * is on the box's data-code for tools.
 */
export function errorBox(err, title) {
  const code = err && err.code !== undefined ? String(err.code) : '';
  const box = h('div', { class: 'error', role: 'alert', dataset: { code } });
  if (title) add(box, h('p', null, h('strong', null, title)));
  add(box, h('p', null, plain(err)));
  if (err && err.code === 401) {
    add(box, h('p', null, h('button', {
      type: 'button',
      class: 'link',
      onclick: () => window.dispatchEvent(new CustomEvent('fledge:signin')),
    }, 'Sign in'), ' with an API token.'));
  }
  const details = (err && err.details) || [];
  if (details.length > 0) {
    add(box, h('ul', null, details.map((d) => h('li', { dataset: { field: d.field || '' } },
      d.field ? `${fieldWords(d.field)} ${d.message || 'is not valid'}` : sentence(d.message)))));
  }
  return box;
}

/** fieldError marks an input invalid with a message under it, or clears it (msg ''). */
export function fieldError(input, msgEl, msg) {
  if (msg) {
    input.setAttribute('aria-invalid', 'true');
    msgEl.textContent = msg;
    msgEl.hidden = false;
  } else {
    input.removeAttribute('aria-invalid');
    msgEl.textContent = '';
    msgEl.hidden = true;
  }
}

/** announce tells screen readers about a change (politely). */
export function announce(text) {
  const el = document.getElementById('announce');
  if (el) el.textContent = text;
}

/** section renders a titled region. */
export function section(title, ...children) {
  const id = uid('sec');
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id }, title), children);
}

/** dl renders [term, value] pairs as a description list. */
export function dl(pairs, cls = 'facts') {
  return h('dl', { class: cls }, pairs.filter(Boolean).map(([k, v]) => h('div', { class: 'fact' }, h('dt', null, k), h('dd', null, v))));
}
