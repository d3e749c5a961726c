// Deployments: newest first, one page at a time (the API pages with
// limit and before; the console never fetches everything), filtered by
// pipeline and status.

import { h, replace, uid, errorBox, statusWord } from '../dom.js';
import { get, paths, pages, STATUSES } from '../api.js';
import { table, deploymentRow, DEPLOYMENT_HEADS } from '../tables.js';

export const name = 'deployments';

/** PAGE is how many deployments one page shows. */
export const PAGE = 25;

export async function render(main, ctx) {
  ctx.setTitle('Deployments');
  const q = ctx.query;
  const filter = { pipeline: q.get('pipeline') || '', status: q.get('status') || '' };
  const before = q.get('before') || '';
  const pageNo = Math.max(1, parseInt(q.get('page') || '1', 10) || 1);
  const [list, pls] = await Promise.all([
    get(paths.deployments(), { query: { ...filter, before, limit: PAGE }, signal: ctx.signal }),
    get(paths.pipelines(), { signal: ctx.signal }).catch((e) => {
      if (e && e.name === 'AbortError') throw e;
      return { items: [], error: e };
    }),
  ]);
  const items = list.items || [];
  const first = (pageNo - 1) * PAGE + 1;
  const range = items.length === 0 ? 'none' : `${first}–${first + items.length - 1}`;
  replace(main,
    h('div', { class: 'page-head' },
      h('h1', null, 'Deployments'),
      h('p', { class: 'muted', id: 'count' }, `Showing ${range} of ${list.total} deployment${list.total === 1 ? '' : 's'}, newest first.`)),
    pls.error ? errorBox(pls.error, 'Could not list the pipelines for the filter') : null,
    filters(filter, (pls.items || []).map((p) => p.metadata.name), ctx),
    items.length === 0
      ? h('p', { class: 'empty' }, before ? 'No older deployments.' : 'No deployments match.')
      : table('Deployments, newest first', DEPLOYMENT_HEADS, items.map((d) => deploymentRow(d))),
    pager(filter, list, before, pageNo));
}

function filters(filter, names, ctx) {
  const pid = uid('f');
  const sid = uid('f');
  const pipeline = h('select', { id: pid, name: 'pipeline' },
    h('option', { value: '' }, 'All pipelines'),
    names.map((n) => h('option', { value: n, selected: n === filter.pipeline ? 'selected' : null }, n)));
  const status = h('select', { id: sid, name: 'status' },
    h('option', { value: '' }, 'Any status'),
    STATUSES.map((s) => h('option', { value: s, selected: s === filter.status ? 'selected' : null }, statusWord(s))));
  return h('form', {
    class: 'filters',
    method: 'get',
    action: '/deployments',
    role: 'search',
    'aria-label': 'Filter deployments',
    onsubmit: (e) => {
      e.preventDefault();
      ctx.navigate(pages.deployments({ pipeline: pipeline.value, status: status.value }));
    },
  },
  h('div', { class: 'field inline' }, h('label', { for: pid }, 'Pipeline'), pipeline),
  h('div', { class: 'field inline' }, h('label', { for: sid }, 'Status'), status),
  h('button', { type: 'submit' }, 'Filter'));
}

function pager(filter, list, before, pageNo) {
  const links = [];
  if (before) links.push(h('a', { href: pages.deployments(filter), rel: 'first' }, '« Newest'));
  if (list.nextBefore) {
    links.push(h('a', { href: pages.deployments({ ...filter, before: list.nextBefore, page: pageNo + 1 }), rel: 'next' }, 'Older »'));
  }
  if (links.length === 0) return null;
  return h('nav', { class: 'pager', 'aria-label': 'Pages' }, h('span', { class: 'muted' }, `Page ${pageNo}`), links);
}
