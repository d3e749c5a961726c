// The words the console uses for where a deployment stands: its number and
// version, what it is doing, and why its canary weight has its value. One
// place, so that every page says the same thing the same way.

import { h, link } from './dom.js';
import { pages } from './api.js';
import { blueGreenDoing } from './bluegreen.js';

/** version is what a deployment deploys: "2.3" for one parameter, else name=value pairs. */
export function version(d) {
  const p = (d && d.parameters) || {};
  const keys = Object.keys(p).sort();
  if (keys.length === 0) return '';
  if (keys.length === 1) return p[keys[0]];
  return keys.map((k) => `${k}=${p[k]}`).join(', ');
}

/** paramText is a deployment's parameters as name=value pairs. */
export function paramText(d) {
  const p = (d && d.parameters) || {};
  return Object.keys(p).sort().map((k) => `${k}=${p[k]}`).join(', ');
}

/** numbered is "#4 (2.0)": the number in its pipeline and the version. */
export function numbered(d) {
  const v = version(d);
  return v ? `#${d.number} (${v})` : `#${d.number}`;
}

/** numberLink links "#4 (2.0)" to the deployment's page. */
export function numberLink(d, prefix = '') {
  return link(pages.deployment(d.id), `${prefix}${numbered(d)}`);
}

/** currentStage returns the stage state a deployment is at, or null. */
export function currentStage(d) {
  return ((d && d.stages) || []).find((s) => s.name === d.currentStage) || null;
}

/**
 * doing says what an unfinished deployment is doing, after its name:
 * "at 25%, waiting for approval".
 */
export function doing(d) {
  const st = currentStage(d);
  const type = st ? st.type : '';
  let words;
  if (d.status === 'Queued') words = 'queued behind another deployment';
  else if (d.kind === 'Rollback') words = 'rolling production back';
  else if (d.blueGreen) words = blueGreenDoing(d);
  else if (d.status === 'WaitingForApproval') words = `at ${d.canaryWeight}%, waiting for approval`;
  else if (type === 'canaryDeployment') words = 'being deployed to the canary';
  else if (type === 'shiftTraffic') words = `at ${d.canaryWeight}%, shifting traffic`;
  else if (type === 'approval') words = `at ${d.canaryWeight}%, approved`;
  else if (type === 'productionRelease') words = 'rolling out to production';
  else words = 'running';
  if (d.cancelRequested) words += ', cancelling';
  return words;
}

/**
 * activeSummary is one line about an unfinished deployment: "canary #5
 * (2.3) at 25%, waiting for approval", the number a link.
 */
export function activeSummary(d) {
  const role = d.kind === 'Rollback' ? 'rollback ' : 'canary ';
  return h('span', { class: 'ov-active', dataset: { id: String(d.id), status: d.status } },
    numberLink(d, role), ` ${doing(d)}`);
}

/**
 * overviewLine is a pipeline at a glance: "Production #4 (2.0) · canary #5
 * (2.3) at 25%, waiting for approval", from a PipelineOverview.
 */
export function overviewLine(o) {
  const parts = [];
  parts.push(o.live
    ? h('span', { class: 'ov-prod', dataset: { id: String(o.live.id) } }, 'Production ', numberLink(o.live))
    : h('span', { class: 'ov-prod muted' }, 'Nothing in production yet'));
  const active = o.active || [];
  if (active.length === 0) {
    parts.push(h('span', { class: 'ov-idle muted' }, 'nothing under way'));
  } else {
    // The oldest unfinished deployment runs; the others wait behind it.
    parts.push(activeSummary(active[active.length - 1]));
    const more = (o.activeTotal || active.length) - 1;
    if (more > 0) parts.push(h('span', { class: 'muted' }, `${more} more queued`));
  }
  return h('p', { class: 'overview', dataset: { overview: o.pipeline } },
    parts.map((p, i) => [i > 0 ? h('span', { class: 'sep', 'aria-hidden': 'true' }, ' · ') : null, i > 0 ? h('span', { class: 'visually-hidden' }, '; ') : null, p]));
}

/** runningOf returns the deployment of an overview that is running now. */
export function runningOf(o) {
  const active = (o && o.active) || [];
  return active.length > 0 ? active[active.length - 1] : null;
}

/**
 * weightReason says, in a sentence, why a deployment's canary weight has
 * its value, for the deployment's header. canaryNs is the canary
 * namespace when known.
 */
export function weightReason(d, canaryNs) {
  const w = d.canaryWeight || 0;
  const st = currentStage(d);
  const type = st ? st.type : '';
  const where = canaryNs ? ` in ${canaryNs}` : '';
  if (d.kind === 'Rollback') return 'A rollback puts production back; the canary takes no requests.';
  switch (d.status) {
    case 'Queued':
      return 'Queued: production gets every request.';
    case 'Succeeded':
      return 'Released: production runs this version and gets every request.';
    case 'Rejected':
      return 'Rejected: production gets every request again.';
    case 'Failed':
      return 'Failed: production gets every request.';
    case 'Cancelled':
      return 'Cancelled: production gets every request.';
    case 'WaitingForApproval':
      return w > 0
        ? `${w}% of requests go to the canary${where} while it waits for approval; production gets the rest.`
        : 'The canary takes no requests (the shift traffic stage says why); production gets every request.';
    default:
  }
  if (type === 'canaryDeployment') return 'The canary is being deployed; production gets every request until it is ready.';
  if (type === 'shiftTraffic') return `${w}% of requests go to the canary${where}, rising in batches.`;
  if (type === 'productionRelease' || type === 'approval') {
    return w >= 100
      ? 'Approved: the canary serves every request while production rolls out.'
      : 'Production rolls out; the canary keeps its share until production is ready.';
  }
  return w > 0 ? `${w}% of requests go to the canary${where}.` : 'Production gets every request.';
}

/** testerNote says which header reaches the canary whatever the weight. */
export function testerNote(d) {
  const th = d.traffic && d.traffic.testerHeader;
  if (!th || !th.name || d.kind === 'Rollback' || ['Succeeded', 'Rejected', 'Failed', 'Cancelled'].includes(d.status)) return null;
  return h('span', { class: 'tester' }, 'Requests with the header ', h('code', null, `${th.name}: ${th.value}`), ' always reach the canary.');
}
