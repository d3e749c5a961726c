// History and rollback: a pipeline's deployments with number, parameters,
// time, approvers and which one is live. Choosing one previews the rollback
// (POST .../rollback with dryRun) as a diff against what production runs
// now; a confirm button then starts it.

import { h, replace, add, uid, errorBox, section, dl, time, badge, params, announce, link, fieldError } from '../dom.js';
import { get, post, paths, pages } from '../api.js';
import { nameField } from '../identity.js';
import { table, cell, kind, decisions, liveBadge } from '../tables.js';

export const name = 'history';

/** PAGE is how many deployments one page of history shows. */
export const PAGE = 25;

export async function render(main, ctx) {
  const [pname] = ctx.args;
  ctx.setTitle(`History of ${pname}`);
  const before = ctx.query.get('before') || '';
  const pageNo = Math.max(1, parseInt(ctx.query.get('page') || '1', 10) || 1);
  const list = await get(paths.deployments(), { query: { pipeline: pname, before, limit: PAGE }, signal: ctx.signal });
  const items = list.items || [];
  const preview = h('div', { id: 'preview' });
  const view = { pname, ctx, preview, items };
  const heads = ['#', 'Parameters', 'Status', 'Created', 'In production', 'Started by', 'Approved by', 'Roll back'];
  replace(main,
    h('div', { class: 'page-head' },
      h('p', { class: 'crumbs' }, link(pages.pipelines(), 'Pipelines'), ' / ', link(pages.pipeline(pname), pname), ' / '),
      h('h1', null, `History of ${pname}`),
      h('p', { class: 'muted' }, `${list.total} deployment${list.total === 1 ? '' : 's'}, newest first. `,
        'Choose a deployment that reached production to see what rolling back to it would change.')),
    preview,
    items.length === 0
      ? h('p', { class: 'empty' }, before ? 'No older deployments.' : 'No deployments yet.')
      : table(`Deployments of ${pname}`, heads, items.map((d) => row(d, view)), 'history'),
    pager(pname, list, before, pageNo));
}

function row(d, view) {
  const canRollBack = Boolean(d.productionAt) && !d.live;
  return h('tr', { dataset: { id: String(d.id), status: d.status }, class: d.live ? 'is-live' : null },
    cell('#', link(pages.deployment(d.id), `#${d.number}`), ' ', liveBadge(d)),
    cell('Parameters', d.kind === 'Rollback' ? [kind(d), ' '] : null, params(d.parameters)),
    cell('Status', badge(d.status)),
    cell('Created', time(d.createdAt)),
    cell('In production', d.productionAt ? time(d.productionAt) : h('span', { class: 'muted', text: 'never' })),
    cell('Started by', d.triggeredBy || '—'),
    cell('Approved by', decisions(d)),
    cell('Roll back', d.live
      ? h('span', { class: 'muted small' }, 'running now')
      : canRollBack
        ? h('button', { type: 'button', class: 'secondary small', dataset: { rollback: String(d.id) }, 'aria-label': `Preview rollback to #${d.number}`, onclick: () => showPreview(d, view) }, 'Preview rollback')
        : h('span', { class: 'muted small' }, 'never in production')));
}

async function showPreview(d, view) {
  const { pname, ctx, preview } = view;
  replace(preview, section(`Rollback to #${d.number}`, h('p', { class: 'muted', role: 'status' }, 'Computing the diff against production…')));
  let p;
  try {
    p = await post(paths.rollback(pname), { to: d.id, dryRun: true }, { signal: ctx.signal });
  } catch (ex) {
    if (ex && ex.name === 'AbortError') return;
    replace(preview, section(`Rollback to #${d.number}`, errorBox(ex, 'Could not preview the rollback'), closeButton(preview)));
    focusHeading(preview);
    return;
  }
  let live = null;
  let liveError = null;
  if (p.live) {
    live = view.items.find((x) => x.id === p.live) || null;
    if (!live) {
      try {
        live = await get(paths.deployment(p.live), { signal: ctx.signal });
      } catch (ex) {
        if (ex && ex.name === 'AbortError') return;
        liveError = ex;
      }
    }
  }
  const t = p.target || d;
  const who = nameField();
  const out = h('div');
  const rid = uid('reason');
  const hint = uid('hint');
  const reasonErr = h('p', { class: 'field-error', id: uid('err'), hidden: true });
  const reason = h('textarea', { id: rid, name: 'reason', rows: '2', maxlength: '2000', 'aria-describedby': `${hint} ${reasonErr.id}` });
  const go = h('button', { type: 'button', class: 'danger', dataset: { confirm: String(t.id) } }, `Roll production back to #${t.number}`);
  go.addEventListener('click', async () => {
    replace(out);
    fieldError(reason, reasonErr, '');
    if (reason.value.length > 2000) {
      fieldError(reason, reasonErr, 'The reason is longer than 2000 characters; shorten it.');
      reason.focus();
      return;
    }
    go.disabled = true;
    try {
      who.save();
      const rb = await post(paths.rollback(pname), { to: t.id, reason: reason.value.trim() }, { signal: ctx.signal });
      announce(`Rollback #${rb.number} started`);
      ctx.navigate(pages.deployment(rb.id));
    } catch (ex) {
      if (ex && ex.name === 'AbortError') return;
      go.disabled = false;
      replace(out, errorBox(ex, 'The rollback was not started'));
    }
  });
  const approvers = (t.decisions || []).filter((x) => x.decision === 'Approve').map((x) => x.user);
  replace(preview, section(`Rollback to #${t.number}`,
    h('div', { class: 'compare' },
      h('div', { class: 'side from' }, h('h3', null, 'Production now'),
        live
          ? dl([
            ['Deployment', [link(pages.deployment(live.id), `#${live.number}`), ' ', liveBadge(live)]],
            ['Parameters', params(live.parameters)],
            ['In production since', time(live.productionAt)],
          ])
          : [h('p', { class: 'muted' }, p.live ? link(pages.deployment(p.live), 'the live deployment') : 'nothing recorded as live'),
            liveError ? errorBox(liveError, 'Could not load the live deployment') : null]),
      h('div', { class: 'side to' }, h('h3', null, 'After the rollback'),
        dl([
          ['Deployment', link(pages.deployment(t.id), `#${t.number}`)],
          ['Parameters', params(t.parameters)],
          ['Deployed', time(t.productionAt || t.createdAt)],
          ['Triggered by', t.triggeredBy || '—'],
          ['Approved by', approvers.length ? approvers.join(', ') : '—'],
        ]))),
    h('p', { class: 'changed', dataset: { changed: String(p.changed) } }, p.changed === 0
      ? 'Production already matches this deployment: nothing would change.'
      : `${p.changed} object${p.changed === 1 ? '' : 's'} would change in production:`),
    diffView(p.diff),
    who.el,
    h('div', { class: 'field' },
      h('label', { for: rid }, 'Reason'), reason,
      h('p', { class: 'hint', id: hint }, 'Why you roll back; recorded with the rollback and in the audit log.'),
      reasonErr),
    h('div', { class: 'actions' }, go, closeButton(preview)),
    out));
  focusHeading(preview);
}

function closeButton(preview) {
  return h('button', { type: 'button', class: 'link', onclick: () => replace(preview) }, 'Close');
}

function focusHeading(preview) {
  const h2 = preview.querySelector('h2');
  if (h2) {
    h2.setAttribute('tabindex', '-1');
    h2.focus();
  }
}

/** diffView renders a unified diff with each line coloured by its kind. */
export function diffView(text, label = 'Diff of production against the chosen deployment') {
  const pre = h('pre', { class: 'diff', tabindex: '0', 'aria-label': label });
  const lines = String(text || '').replace(/\n$/, '').split('\n');
  for (const line of lines) {
    let cls = 'ctx';
    if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('diff ')) cls = 'meta';
    else if (line.startsWith('@@')) cls = 'hunk';
    else if (line.startsWith('+')) cls = 'add';
    else if (line.startsWith('-')) cls = 'del';
    add(pre, h('span', { class: `dl ${cls}` }, line), '\n');
  }
  if (!text) add(pre, h('span', { class: 'dl ctx muted' }, '(no differences)'));
  return pre;
}

function pager(pname, list, before, pageNo) {
  const links = [];
  if (before) links.push(h('a', { href: pages.history(pname), rel: 'first' }, '« Newest'));
  if (list.nextBefore) {
    links.push(h('a', { href: `${pages.history(pname)}?before=${list.nextBefore}&page=${pageNo + 1}`, rel: 'next' }, 'Older »'));
  }
  if (links.length === 0) return null;
  return h('nav', { class: 'pager', 'aria-label': 'Pages' }, h('span', { class: 'muted' }, `Page ${pageNo}`), links);
}
