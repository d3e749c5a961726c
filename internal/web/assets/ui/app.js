// The console's entry point: a small router over the History API. Every
// page is a real URL that the server answers with the same shell, so links
// can be opened in new tabs, reloaded and shared.

import { h, replace, errorBox, plain, refreshTimes } from './dom.js';
import { get, session } from './api.js';
import { mountIdentity, signInCard } from './identity.js';
import * as pipelines from './pages/pipelines.js';
import * as pipeline from './pages/pipeline.js';
import * as history from './pages/history.js';
import * as deployments from './pages/deployments.js';
import * as deployment from './pages/deployment.js';

// The same routes as the server's (internal/web/web.go).
const routes = [
  { re: /^\/$/, page: pipelines, nav: 'pipelines' },
  { re: /^\/pipelines$/, page: pipelines, nav: 'pipelines' },
  { re: /^\/pipelines\/([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)$/, page: pipeline, nav: 'pipelines' },
  { re: /^\/pipelines\/([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\/history$/, page: history, nav: 'pipelines' },
  { re: /^\/deployments$/, page: deployments, nav: 'deployments' },
  { re: /^\/deployments\/([1-9][0-9]*)$/, page: deployment, nav: 'deployments' },
];

// wayBack offers the ways out of a page that could not be shown.
function wayBack() {
  return h('ul', { class: 'way-back' },
    window.history.length > 1 ? h('li', null, h('button', { type: 'button', class: 'link', onclick: () => window.history.back() }, '← Back to the previous page')) : null,
    h('li', null, h('a', { href: '/pipelines' }, 'See the pipelines')),
    h('li', null, h('a', { href: '/deployments' }, 'See all deployments')));
}

/** missing is the page of something that does not exist (404). */
function missing(main, text) {
  document.title = 'Not found · Fledge';
  replace(main, h('div', { class: 'gone' },
    h('h1', { tabindex: '-1' }, 'Not found'),
    h('p', null, text),
    wayBack()));
}

const notFound = {
  name: 'not-found',
  async render(main) {
    missing(main, 'There is no such page in the Fledge console.');
  },
};

const signIn = {
  name: 'sign-in',
  async render(main) {
    document.title = 'Sign in · Fledge';
    const card = signInCard();
    replace(main, card);
    card.focusInput();
  },
};

let current = null;
let firstLoad = true;

function match(pathname) {
  for (const r of routes) {
    const m = r.re.exec(pathname);
    if (m) return { page: r.page, nav: r.nav, args: m.slice(1).map(decodeURIComponent) };
  }
  return { page: notFound, nav: '', args: [] };
}

/** navigate shows another page without reloading the document. */
export function navigate(href, { replace: replaceState = false } = {}) {
  if (replaceState) window.history.replaceState(null, '', href);
  else window.history.pushState(null, '', href);
  render();
}

async function render() {
  if (current) current.abort();
  const ctl = new AbortController();
  current = ctl;
  const main = document.getElementById('main');
  const { page, nav, args } = match(location.pathname);
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  delete document.documentElement.dataset.ready;
  main.setAttribute('aria-busy', 'true');
  const ctx = {
    args,
    query: new URLSearchParams(location.search),
    signal: ctl.signal,
    navigate,
    setTitle: (t) => { document.title = `${t} · Fledge`; },
  };
  const wasFirst = firstLoad;
  firstLoad = false;
  // Without an accepted token every page would fail: ask for one first.
  let shown = session.mode === 'signed-out' ? signIn : page;
  try {
    await shown.render(main, ctx);
  } catch (e) {
    if (ctl.signal.aborted || (e && e.name === 'AbortError')) return;
    if (e && e.code === 401) {
      shown = signIn;
      await signIn.render(main, ctx);
    } else if (e && e.code === 404) {
      missing(main, plain(e));
    } else {
      replace(main, h('h1', { tabindex: '-1' }, 'This page could not be shown'), errorBox(e), wayBack());
    }
  }
  if (ctl.signal.aborted) return;
  main.removeAttribute('aria-busy');
  // Tests and the load-time measurement wait for this mark: the page's
  // first data is on screen.
  const name = shown.name || 'page';
  if (wasFirst) performance.mark('fledge:first-render', { detail: name });
  document.documentElement.dataset.ready = name;
  const target = location.hash ? document.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
  if (target) {
    target.scrollIntoView();
  } else if (!wasFirst && shown !== signIn) {
    const h1 = main.querySelector('h1');
    if (h1) {
      h1.setAttribute('tabindex', '-1');
      h1.focus();
    }
  }
}

function onClick(e) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const u = new URL(a.href, location.href);
  if (u.origin !== location.origin || u.pathname.startsWith('/api/') || u.pathname.startsWith('/ui/')) return;
  if (u.pathname === location.pathname && u.search === location.search && u.hash) return;
  if (match(u.pathname).page === notFound) return;
  e.preventDefault();
  navigate(u.pathname + u.search + u.hash);
}

/**
 * showBuild writes the server's version in the footer. The version needs
 * a token like every API read, so the footer is empty until the caller
 * is known; a failure leaves it empty and does not sign anyone out.
 */
async function showBuild() {
  const el = document.getElementById('build');
  if (!el) return;
  try {
    const v = await get('/version', { token: session.token || '' });
    const parts = [`Fledge ${v.version}`];
    if (v.revision) parts.push(`revision ${v.revision.slice(0, 12)}${v.modified ? '-dirty' : ''}`);
    if (v.buildDate) parts.push(`built ${v.buildDate}`);
    parts.push(v.goVersion);
    el.textContent = parts.join(' · ');
  } catch {
    el.textContent = '';
  }
}

function start() {
  const known = mountIdentity(document.getElementById('identity'));
  document.addEventListener('click', onClick);
  window.addEventListener('popstate', render);
  // Signing in or out shows the page again with the new credentials.
  window.addEventListener('fledge:reload', render);
  window.addEventListener('fledge:reload', showBuild);
  // The header's Sign in goes to the sign-in card.
  window.addEventListener('fledge:signin', () => {
    const input = document.querySelector('.signin input[name="token"]');
    if (input) input.focus();
    else render();
  });
  // Relative times ("5 minutes ago") stay true while a page is open.
  window.setInterval(() => refreshTimes(document.getElementById('main')), 30000);
  // The first page waits for whoami (one local round trip), so that its
  // forms know whether the server identifies the caller by token.
  known.then(render);
  known.then(showBuild);
}

start();
