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
const tf = new Intl.DateTimeFormat('en', { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

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

/** time renders a <time> with a relative text and the full time as title. */
export function time(iso, { relative = true } = {}) {
  if (!iso) return h('span', { class: 'muted', text: '—' });
  return h('time', { datetime: iso, title: absolute(iso) }, relative ? ago(iso) : absolute(iso));
}

/** clock renders the time of day of an ISO time (timeline entries). */
export function clock(iso) {
  const t = Date.parse(iso);
  return h('time', { datetime: iso, title: absolute(iso) }, Number.isNaN(t) ? '' : tf.format(t));
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

/** badge renders a status with an icon and a word, not by colour alone. */
export function badge(status) {
  return h('span', { class: `badge s-${status}`, dataset: { status } },
    h('span', { class: 'icon', 'aria-hidden': 'true' }, statusIcons[status] || '•'),
    statusWords[status] || status);
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

/** errorBox shows an API error (Status message and field details). */
export function errorBox(err, title) {
  const box = h('div', { class: 'error', role: 'alert' });
  const code = err && err.code ? ` (HTTP ${err.code}${err.reason ? ` ${err.reason}` : ''})` : '';
  const head = `${title || 'Error'}${code}`;
  add(box, h('p', null, h('strong', null, `${head}: `), (err && err.message) || String(err)));
  if (err && err.code === 401) {
    add(box, h('p', null, 'The server needs an API token. ',
      h('button', { type: 'button', class: 'link', onclick: () => { const b = document.querySelector('[data-signin]'); if (b) b.click(); } }, 'Sign in'),
      ' with one an admin created (fledge token create).'));
  }
  const details = (err && err.details) || [];
  if (details.length > 0) {
    add(box, h('ul', null, details.map((d) => h('li', null, d.field ? h('code', null, d.field) : null, d.field ? ': ' : null, d.message || ''))));
  }
  return box;
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
