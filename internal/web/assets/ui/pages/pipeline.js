// One pipeline: what production runs and what is under way, its stage
// graph with settings and the current stage highlighted, a form that
// starts a run with parameters (defaults filled in), and its latest
// deployments.

import { h, replace, uid, errorBox, section, dl, time, announce, fieldError } from '../dom.js';
import { get, post, paths, pages } from '../api.js';
import { stageGraph, pipelineStages } from '../graph.js';
import { nameField } from '../identity.js';
import { table, deploymentRow, DEPLOYMENT_HEADS } from '../tables.js';
import { overviewLine } from '../status.js';
import { currentOf } from './pipelines.js';

export const name = 'pipeline';

const RECENT = 10;

export async function render(main, ctx) {
  const [pname] = ctx.args;
  ctx.setTitle(`Pipeline ${pname}`);
  const [p, recent, overview] = await Promise.all([
    get(paths.pipeline(pname), { signal: ctx.signal }),
    get(paths.deployments(), { query: { pipeline: pname, limit: RECENT }, signal: ctx.signal }),
    get(paths.overview(), { query: { pipeline: pname }, signal: ctx.signal }),
  ]);
  const m = p.metadata;
  const o = (overview.items || [])[0];
  replace(main,
    h('div', { class: 'page-head' },
      h('p', { class: 'crumbs' }, h('a', { href: pages.pipelines() }, 'Pipelines'), ' / '),
      h('h1', null, m.name),
      o ? overviewLine(o) : null,
      m.description ? h('p', null, m.description) : null,
      h('div', { class: 'actions' },
        h('a', { class: 'button secondary', href: pages.history(m.name) }, 'History and rollback'),
        h('a', { class: 'button secondary', href: pages.deployments({ pipeline: m.name }) }, 'All deployments'))),
    section('Stages', stageGraph(pipelineStages(p), { label: `Stages of ${m.name}`, ...currentOf(o) }),
      dl([
        ['Generation', String(m.generation || 1)],
        ['Updated', time(m.updatedAt)],
      ], 'facts inline')),
    runForm(p, ctx),
    section('Latest deployments',
      recent.items.length === 0
        ? h('p', { class: 'empty' }, 'No deployments yet.')
        : table(`Latest deployments of ${m.name}`, DEPLOYMENT_HEADS, recent.items.map((d) => deploymentRow(d, { withPipeline: false }))),
      recent.total > recent.items.length
        ? h('p', null, h('a', { href: pages.history(m.name) }, `See all ${recent.total} in the history`))
        : null));
  if (location.hash === '#run') {
    const first = main.querySelector('#run input');
    if (first) first.focus();
  }
}

function runForm(p, ctx) {
  const pname = p.metadata.name;
  const inputs = [];
  const fields = ((p.spec && p.spec.parameters) || []).map((prm) => {
    const id = uid('param');
    const hint = uid('hint');
    const err = h('p', { class: 'field-error', id: uid('err'), hidden: true });
    const input = h('input', {
      id, name: prm.name, value: prm.default === undefined ? '' : prm.default,
      required: prm.default === undefined, autocomplete: 'off', spellcheck: 'false',
      'aria-describedby': `${hint} ${err.id}`,
    });
    inputs.push({ prm, input, err });
    return h('div', { class: 'field' },
      h('label', { for: id }, h('code', null, prm.name)),
      input,
      h('p', { class: 'hint', id: hint },
        prm.description || '',
        prm.default !== undefined ? ` (default: ${prm.default === '' ? 'empty' : prm.default})` : ' (required)'),
      err);
  });
  const who = nameField();
  const out = h('div', { class: 'form-result' });
  const button = h('button', { type: 'submit' }, 'Start run');
  const form = h('form', {
    class: 'run-form',
    'aria-label': `Start a run of ${pname}`,
    onsubmit: async (e) => {
      e.preventDefault();
      replace(out);
      for (const x of inputs) fieldError(x.input, x.err, '');
      // What can be checked here is checked before the round trip.
      let firstBad = null;
      for (const x of inputs) {
        const v = x.input.value;
        let msg = '';
        if (x.prm.default === undefined && v.trim() === '') msg = `${x.prm.name} is required: this pipeline has no default for it.`;
        else if (/[\u0000-\u001f\u007f]/.test(v)) msg = `${x.prm.name} contains a control character; type it again.`;
        if (msg) {
          fieldError(x.input, x.err, msg);
          firstBad = firstBad || x.input;
        }
      }
      if (firstBad) {
        firstBad.focus();
        return;
      }
      const parameters = {};
      for (const x of inputs) parameters[x.prm.name] = x.input.value;
      button.disabled = true;
      try {
        who.save();
        const d = await post(paths.runs(pname), { parameters }, { signal: ctx.signal });
        announce(`Deployment #${d.number} started`);
        ctx.navigate(pages.deployment(d.id));
      } catch (ex) {
        if (ex && ex.name === 'AbortError') return;
        button.disabled = false;
        markFields(inputs, ex);
        replace(out, errorBox(ex, 'The run was not started'));
      }
    },
  }, fields.length === 0 ? h('p', { class: 'muted' }, 'This pipeline takes no parameters.') : fields, who.el, h('div', { class: 'actions' }, button), out);
  const s = section('Start a run', form);
  s.id = 'run';
  return s;
}

// markFields shows a field's error next to its input when the server names
// it (details[].field like "parameters.IMAGE_TAG").
function markFields(inputs, ex) {
  for (const d of (ex && ex.details) || []) {
    const f = String(d.field || '');
    for (const x of inputs) {
      if (f === `parameters.${x.prm.name}` || f === x.prm.name) fieldError(x.input, x.err, `${x.prm.name} ${d.message}`);
    }
  }
}
