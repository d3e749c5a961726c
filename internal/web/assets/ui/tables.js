// Tables of deployments, shared by the deployments list, the pipeline page
// and the history. Cells carry data-label so that a phone shows each row
// as a card with labelled values.

import { h, badge, params, time, link } from './dom.js';
import { pages } from './api.js';

/** cell renders a td with a label for narrow screens. */
export function cell(label, ...children) {
  // One wrapper, so a phone's two-column layout gets the label and the value.
  return h('td', { 'data-label': label }, h('span', { class: 'cell' }, children));
}

/** table renders a table with a caption and column heads. */
export function table(caption, heads, rows, cls = '') {
  return h('div', { class: 'table-wrap' },
    h('table', { class: `data ${cls}` },
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', null, h('tr', null, heads.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', null, rows)));
}

/** kind says what a deployment is: a release, or a rollback to which #N. */
export function kind(d) {
  if (d.kind === 'Rollback') {
    return h('span', { class: 'kind' }, 'Rollback to ', link(pages.deployment(d.rollbackTo), d.rollbackToNumber ? `#${d.rollbackToNumber}` : 'an earlier deployment'));
  }
  return 'Release';
}

/** decisions summarises who approved and who rejected. */
export function decisions(d) {
  const ds = d.decisions || [];
  if (ds.length === 0) return h('span', { class: 'muted', text: '—' });
  return h('span', { class: 'decisions' }, ds.map((x, i) => [
    i > 0 ? ', ' : null,
    h('span', { class: x.decision === 'Reject' ? 'rejected-by' : 'approved-by', title: x.reason || '' },
      x.decision === 'Reject' ? '✗ ' : '✓ ', x.user),
  ]));
}

/** liveBadge marks the deployment production runs now. */
export function liveBadge(d) {
  const targets = d.liveTargets || [];
  return [
    d.live ? h('span', { class: 'badge live' }, h('span', { class: 'icon', 'aria-hidden': 'true' }, '★'), 'Live') : null,
    targets.length > 0
      ? h('span', { class: 'badge live targets', title: `Runs in ${targets.join(', ')}`, dataset: { targets: targets.join(',') } },
        h('span', { class: 'icon', 'aria-hidden': 'true' }, '◆'), `Live in ${targets.length} wave target${targets.length === 1 ? '' : 's'}`)
      : null,
  ];
}

/**
 * deploymentRow is one row of a deployments table. On a pipeline's own
 * page (withPipeline false) the rows say "#5", not the pipeline's name
 * again.
 */
export function deploymentRow(d, { withPipeline = true } = {}) {
  const name = withPipeline ? [h('strong', null, d.pipeline), ' '] : null;
  return h('tr', { dataset: { id: String(d.id), status: d.status }, class: d.live ? 'is-live' : null },
    cell('Deployment', h('span', { class: 'nowrap' }, link(pages.deployment(d.id), name, `#${d.number}`)), ' ', liveBadge(d)),
    cell('Status', badge(d.status)),
    cell('Parameters', d.kind === 'Rollback' ? [kind(d), ' '] : null, params(d.parameters)),
    cell('Stage', d.currentStage ? h('code', null, d.currentStage) : h('span', { class: 'muted small' }, d.message || '—')),
    cell('Started by', d.triggeredBy || h('span', { class: 'muted', text: '—' })),
    cell('Created', time(d.createdAt)));
}

/** DEPLOYMENT_HEADS are the column heads of deploymentRow. */
export const DEPLOYMENT_HEADS = ['Deployment', 'Status', 'Parameters', 'Stage or result', 'Started by', 'Created'];
