// Pipelines: each pipeline at a glance (what production runs, what is under
// way and where it stands) with its stages drawn as a graph, the current
// deployment's stage highlighted. One page of pipelines at a time, by name:
// the overview of each costs the server a few reads.

import { h, replace, params as paramChips } from '../dom.js';
import { get, paths, pages } from '../api.js';
import { stageGraph, pipelineStages } from '../graph.js';
import { overviewLine, runningOf, numbered, doing } from '../status.js';

export const name = 'pipelines';

/** PAGE is how many pipelines one page shows. */
export const PAGE = 50;

export async function render(main, ctx) {
  ctx.setTitle('Pipelines');
  const pageNo = Math.max(1, parseInt(ctx.query.get('page') || '1', 10) || 1);
  const list = await get(paths.pipelines(), { signal: ctx.signal });
  const all = (list.items || []).slice().sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const items = all.slice((pageNo - 1) * PAGE, pageNo * PAGE);
  const overview = items.length === 0
    ? { items: [] }
    : await get(paths.overview(), { query: { pipelines: items.map((p) => p.metadata.name).join(',') }, signal: ctx.signal });
  const byName = new Map((overview.items || []).map((o) => [o.pipeline, o]));
  const first = (pageNo - 1) * PAGE + 1;
  const shown = all.length > PAGE ? `Showing ${items.length === 0 ? 'none' : `${first}–${first + items.length - 1}`} of ${all.length} pipelines. ` : `${all.length} pipeline${all.length === 1 ? '' : 's'}. `;
  replace(main,
    h('div', { class: 'page-head' },
      h('h1', null, 'Pipelines'),
      h('p', { class: 'muted', id: 'count' }, shown,
        'Define them in YAML and apply them with ', h('code', null, 'fledge apply -f'), '.')),
    all.length === 0
      ? h('p', { class: 'empty' }, 'No pipelines yet.')
      : h('ul', { class: 'cards' }, items.map((p) => card(p, byName.get(p.metadata.name)))),
    pager(pageNo, all.length));
}

function pager(pageNo, total) {
  const last = Math.ceil(total / PAGE);
  if (last <= 1) return null;
  const links = [];
  if (pageNo > 1) links.push(h('a', { href: pages.pipelines(pageNo - 1), rel: 'prev' }, '« Previous'));
  if (pageNo < last) links.push(h('a', { href: pages.pipelines(pageNo + 1), rel: 'next' }, 'Next »'));
  return h('nav', { class: 'pager', 'aria-label': 'Pages' }, h('span', { class: 'muted' }, `Page ${pageNo} of ${last}`), links);
}

/** currentOf returns the stage graph's highlight for a pipeline's running deployment. */
export function currentOf(o) {
  const d = runningOf(o);
  if (!d || d.kind === 'Rollback' || !d.currentStage) return {};
  return { current: d.currentStage, here: `${numbered(d)} ${doing(d)}` };
}

function card(p, o) {
  const n = p.metadata.name;
  const defaults = {};
  for (const prm of (p.spec && p.spec.parameters) || []) defaults[prm.name] = prm.default === undefined ? '(required)' : prm.default;
  return h('li', { class: 'card', dataset: { pipeline: n } },
    h('div', { class: 'card-head' },
      h('h2', null, h('a', { href: pages.pipeline(n) }, n)),
      h('div', { class: 'actions' },
        h('a', { class: 'button', href: `${pages.pipeline(n)}#run` }, 'Start a run'),
        h('a', { class: 'button secondary', href: pages.history(n) }, 'History'))),
    o ? overviewLine(o) : null,
    p.metadata.description ? h('p', null, p.metadata.description) : null,
    h('p', { class: 'small' }, h('span', { class: 'muted' }, 'Parameters (defaults): '), paramChips(defaults),
      h('span', { class: 'muted' }, ` · generation ${p.metadata.generation || 1}`)),
    stageGraph(pipelineStages(p), { label: `Stages of ${n}`, compact: true, ...currentOf(o) }));
}
