// Pipelines: each pipeline at a glance (what production runs, what is under
// way and where it stands) with its stages drawn as a graph, the current
// deployment's stage highlighted.

import { h, replace, params as paramChips } from '../dom.js';
import { get, paths, pages } from '../api.js';
import { stageGraph, pipelineStages } from '../graph.js';
import { overviewLine, runningOf, numbered, doing } from '../status.js';

export const name = 'pipelines';

export async function render(main, ctx) {
  ctx.setTitle('Pipelines');
  const [list, overview] = await Promise.all([
    get(paths.pipelines(), { signal: ctx.signal }),
    get(paths.overview(), { signal: ctx.signal }),
  ]);
  const byName = new Map((overview.items || []).map((o) => [o.pipeline, o]));
  const items = (list.items || []).slice().sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  replace(main,
    h('div', { class: 'page-head' },
      h('h1', null, 'Pipelines'),
      h('p', { class: 'muted' }, `${items.length} pipeline${items.length === 1 ? '' : 's'}. `,
        'Define them in YAML and apply them with ', h('code', null, 'fledge apply -f'), '.')),
    items.length === 0
      ? h('p', { class: 'empty' }, 'No pipelines yet.')
      : h('ul', { class: 'cards' }, items.map((p) => card(p, byName.get(p.metadata.name)))));
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
