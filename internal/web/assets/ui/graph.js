// The stage graph: a pipeline's stages in order (canary deployment → shift
// traffic → approval → production release), each with its settings, and
// for a deployment each coloured by its state. It is an ordered list, so
// it reads as a sequence without the picture.

import { h, badge, duration, time, goDuration } from './dom.js';
import { blueGreenSettings } from './bluegreen.js';

export const typeNames = {
  canaryDeployment: 'Canary deployment',
  shiftTraffic: 'Shift traffic',
  canarySteps: 'Canary steps',
  approval: 'Approval',
  productionRelease: 'Production release',
  productionWave: 'Production wave',
  blueGreen: 'Blue/green',
  rollback: 'Rollback to production',
};

/** stageType returns the declared type of a pipeline's stage. */
export function stageType(stage) {
  for (const t of ['canaryDeployment', 'shiftTraffic', 'canarySteps', 'approval', 'productionRelease', 'productionWave', 'blueGreen']) {
    if (stage[t]) return t;
  }
  return '';
}

/** weights mirrors the server's ramp: 50% in 5 batches is 10, 20, …, 50. */
export function weights(ramp, batches) {
  const n = batches >= 1 ? batches : 1;
  const out = [];
  for (let i = 1; i <= n; i += 1) {
    const w = Math.floor((ramp * i + n - 1) / n);
    if (out.length > 0 && w <= out[out.length - 1]) continue;
    out.push(w);
  }
  return out;
}

/** testerHeader is the header that always reaches the canary, with defaults. */
export function testerHeader(canaryStage) {
  const th = (canaryStage && canaryStage.testerHeader) || {};
  return { name: th.name || 'redirect-to-canary', value: th.value || 'always' };
}

/** settings lists a pipeline stage's settings as [label, value] pairs. */
export function settings(stage) {
  const t = stageType(stage);
  const s = stage[t] || {};
  switch (t) {
    case 'canaryDeployment': {
      const th = testerHeader(s);
      return [
        ['Environment', s.environment],
        ['Artifacts', (s.artifacts || []).join(', ')],
        ['Namespace', s.namespace],
        s.ingressName ? ['Ingress', s.ingressName] : null,
        s.httpRouteName ? ['HTTPRoute', s.httpRouteName] : null,
        ['Tester header', `${th.name}: ${th.value}`],
        ['Rollout timeout', s.rolloutTimeout ? goDuration(s.rolloutTimeout) : '5m (default)'],
      ].filter(Boolean);
    }
    case 'shiftTraffic': {
      const ws = weights(s.rampLimitPercent, s.batchCount);
      return [
        ['Ramp limit', `${s.rampLimitPercent}% of requests`],
        ['Batches', ws.length > 1 ? `${ws.length}: ${ws.map((w) => `${w}%`).join(' → ')}` : '1'],
        s.batchDelay ? ['Batch delay', goDuration(s.batchDelay)] : null,
      ].filter(Boolean);
    }
    case 'canarySteps': {
      const out = (s.steps || []).map((step, i) => [`Step ${i + 1}`, stepText(step)]);
      const bg = s.backgroundAnalysis;
      if (bg) out.push(['Background analysis', templateNames(bg)]);
      return out;
    }
    case 'approval':
      return [
        ['Approvals required', String(s.approvalsRequired || 1)],
        ['Timeout', s.timeout ? goDuration(s.timeout) : '24h (default)'],
        s.requireDistinctFromTrigger ? ['Four eyes', 'whoever started the run cannot approve it'] : null,
      ].filter(Boolean);
    case 'productionRelease':
      return [
        ['Namespace', s.namespace],
        ['Rollout timeout', s.rolloutTimeout ? goDuration(s.rolloutTimeout) : '5m (default)'],
        ['Promotion hold', s.promotionHold != null ? goDuration(s.promotionHold) : 'none (default)'],
        s.rollbackOnFailure === 'all' ? ['Wave failure', 'rolls back every target, this production included'] : null,
      ].filter(Boolean);
    case 'productionWave':
      return [
        ...(s.steps || []).map((step, i) => [`Step ${i + 1}`, stepText(step)]),
        ['Targets', (s.targets || []).map((x) => `${x.environment}/${x.namespace}`).join(', ')],
        ['Rollout timeout', s.rolloutTimeout ? goDuration(s.rolloutTimeout) : '5m (default)'],
      ];
    case 'blueGreen':
      return blueGreenSettings(s, stage.name);
    default:
      return [];
  }
}

/** templateNames lists an analysis's templates. */
function templateNames(a) {
  return (a.templates || []).map((t) => t.name).join(', ');
}

/** stepText says what a canary step does, as describe does. */
export function stepText(step) {
  if (step.setWeight !== undefined) return `setWeight ${step.setWeight}%`;
  if (step.pause) return step.pause.duration ? `pause ${goDuration(step.pause.duration)}` : 'pause until resumed';
  if (step.approval) return `approval by ${step.approval.approvalsRequired || 1}`;
  if (step.analysis) return `analysis ${templateNames(step.analysis)}`;
  return '—';
}

/**
 * stageGraph renders stages. Each item is {name, type, settings?, state?}
 * where state is the deployment's StageState (status, message, times).
 * current names the stage a deployment is at now, and here says which
 * deployment and what it does there ("#5 (2.3) waiting for approval"):
 * that stage is highlighted.
 */
export function stageGraph(items, { label = 'Stages', compact = false, current = '', here = null } = {}) {
  return h('ol', { class: `stages${compact ? ' compact' : ''}`, 'aria-label': label },
    items.map((it, i) => {
      const st = it.state;
      const status = st ? (st.display || st.status) : '';
      const isCurrent = current !== '' && it.name === current;
      const li = h('li', {
        class: `stage${status ? ` s-${status}` : ''}${isCurrent ? ' current' : ''}`,
        dataset: { stage: it.name, status: status || 'none' },
        'aria-current': isCurrent ? 'step' : null,
      },
      h('div', { class: 'stage-head' },
        h('span', { class: 'step', 'aria-hidden': 'true' }, String(i + 1)),
        h('span', { class: 'stage-title' },
          h('span', { class: 'stage-type' }, typeNames[it.type] || it.type),
          h('span', { class: 'stage-name' }, it.name))),
      isCurrent && here ? h('p', { class: 'here' }, here) : null,
      st ? h('div', { class: 'stage-status' }, badge(status), timing(st)) : null,
      st && st.message ? h('p', { class: 'stage-msg' }, st.message) : null,
      it.settings && it.settings.length > 0
        ? h('dl', { class: 'settings' }, it.settings.map(([k, v]) => [h('dt', null, k), h('dd', null, v === undefined || v === '' ? '—' : String(v))]))
        : null);
      return li;
    }));
}

function timing(st) {
  if (!st.startedAt) return null;
  if (st.endedAt) return h('span', { class: 'muted small' }, ` took ${duration(Date.parse(st.endedAt) - Date.parse(st.startedAt))}`);
  return h('span', { class: 'muted small' }, ' started ', time(st.startedAt));
}

/** pipelineStages turns a Pipeline resource into graph items. */
export function pipelineStages(p) {
  return ((p.spec && p.spec.stages) || []).map((s) => ({ name: s.name, type: stageType(s), settings: settings(s) }));
}

/**
 * deploymentStages turns a deployment's stage states into graph items,
 * with the settings of the pipeline when it is still the generation the
 * deployment ran with.
 */
export function deploymentStages(d, p) {
  const byName = {};
  if (p && p.metadata && p.metadata.generation === d.pipelineGeneration) {
    for (const s of (p.spec && p.spec.stages) || []) byName[s.name] = settings(s);
  }
  return (d.stages || []).map((s) => {
    // A rejected deployment's approval stage failed by its rejection: it
    // says Rejected, as the deployment does.
    const state = d.status === 'Rejected' && s.type === 'approval' && s.status === 'Failed' ? { ...s, display: 'Rejected' } : s;
    return { name: s.name, type: s.type, state, settings: byName[s.name] };
  });
}
