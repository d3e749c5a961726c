// One deployment: a header with its status, canary weight and why, and
// what production runs; approval with a confirmation that says what
// approving does and shows the diff against production; the stage graph
// coloured by state; the decisions; the objects applied per namespace; the
// manifests; and a live timeline of its events grouped by stage
// (server-sent events from GET /deployments/{id}/events?watch=true; event
// ids are seqs, so the browser resumes where it stopped after a dropped
// connection).

import { h, replace, add, uid, errorBox, section, dl, time, badge, params, announce, link, fieldError } from '../dom.js';
import { get, post, watchURL, paths, pages, FINAL, identity } from '../api.js';
import { stageGraph, deploymentStages, typeNames, stepText } from '../graph.js';
import { nameField } from '../identity.js';
import { kind, liveBadge, table, cell } from '../tables.js';
import { numbered, numberLink, paramText, weightReason, testerNote } from '../status.js';
import { blueGreenFigure, blueGreenReason } from '../bluegreen.js';
import { diffView } from './history.js';
import { analysisCharts } from '../chart.js';

export const name = 'deployment';

export async function render(main, ctx) {
  const id = ctx.args[0];
  ctx.setTitle(`Deployment ${id}`);
  const d = await get(paths.deployment(id), { signal: ctx.signal });
  const nonFatal = (e) => {
    if (e && e.name === 'AbortError') throw e;
    return { error: e };
  };
  const [pipeline, overview] = await Promise.all([
    get(paths.pipeline(d.pipeline), { signal: ctx.signal }).catch(nonFatal),
    get(paths.overview(), { query: { pipeline: d.pipeline }, signal: ctx.signal }).catch(nonFatal),
  ]);
  const view = new DeploymentView(main, d, pipeline.error ? null : pipeline, overview.error ? null : (overview.items || [])[0], ctx);
  // A pipeline deleted since is normal: the graph then shows the states
  // without the settings. Anything else is shown.
  if (pipeline.error && pipeline.error.code !== 404) {
    main.querySelector('.page-head').append(errorBox(pipeline.error, `Could not load pipeline ${d.pipeline}; stage settings are not shown`));
  }
  view.update(d);
  view.watch();
  view.loadManifests();
  view.loadAnalysis();
}

// Applied events read "applied 3 objects to canary namespace ns: deployment/web configured, ...".
const APPLIED = /^applied (\d+) objects? to (\S+) namespace (\S+): (.*)$/;

/** parseApplied extracts the namespace and objects of an Applied event. */
export function parseApplied(ev) {
  const m = APPLIED.exec(ev.message || '');
  if (!m) return null;
  const objects = m[4].split(', ').map((s) => {
    const i = s.lastIndexOf(' ');
    return i > 0 ? { object: s.slice(0, i), action: s.slice(i + 1) } : { object: s, action: '' };
  });
  return { role: m[2], namespace: m[3], objects, time: ev.time, seq: ev.seq };
}

/** manifestObjects lists kind/name of each document of a YAML stream. */
export function manifestObjects(yaml) {
  const out = [];
  for (const doc of String(yaml).split(/^---\s*$/m)) {
    const k = /^kind:\s*["']?([A-Za-z0-9]+)/m.exec(doc);
    const md = /^metadata:\s*\n((?:[ \t]+.*\n?|\s*\n)*)/m.exec(doc);
    let n = null;
    if (md) {
      const nm = /^[ \t]{1,4}name:\s*["']?([^"'\s#]+)/m.exec(md[1]);
      if (nm) n = nm[1];
    }
    if (k) out.push({ kind: k[1], name: n || '?' });
  }
  return out;
}

// Plain names of the executor's event types; others are split into words.
const eventNames = {
  DeploymentCreated: 'Deployment created',
  DeploymentStarted: 'Deployment started',
  Queued: 'Queued',
  StageStarted: 'Stage started',
  StageSucceeded: 'Stage done',
  StageFailed: 'Stage failed',
  NamespaceCreated: 'Namespace created',
  Applied: 'Objects applied',
  RolloutProgress: 'Rollout progress',
  RolloutComplete: 'Rollout complete',
  WeightSet: 'Canary weight set',
  WeightKept: 'Canary weight kept',
  HeaderRouteSet: 'Tester header route set',
  HeaderRouteNotSet: 'Tester header route not set',
  BatchDelay: 'Waiting between batches',
  WaitingForApproval: 'Waiting for approval',
  Approved: 'Approved',
  Rejected: 'Rejected',
  ApprovalGranted: 'Approval complete',
  ApprovalTimedOut: 'Approval timed out',
  PromotionSkipped: 'Promotion skipped',
  EndpointsSettled: 'Production endpoints settled',
  EndpointsNotSettled: 'Endpoints did not settle',
  WeightUnchanged: 'Canary weight unchanged',
  AnalysisStarted: 'Analysis started',
  AnalysisMeasurement: 'Analysis measurement',
  AnalysisSuccessful: 'Analysis successful',
  AnalysisFailed: 'Analysis failed',
  AnalysisInconclusive: 'Analysis inconclusive',
  AnalysisError: 'Analysis error',
  AnalysisSkipped: 'Analysis skipped',
  ProductionReleased: 'Released to production',
  ProductionRestored: 'Production restored',
  ProductionNotRestored: 'Production not restored',
  CancelRequested: 'Cancellation requested',
  DeploymentCancelled: 'Deployment cancelled',
  DeploymentSucceeded: 'Deployment succeeded',
  DeploymentFailed: 'Deployment failed',
  DeploymentRejected: 'Deployment rejected',
};

/** eventName says an event type in words: "WeightSet" is "Canary weight set". */
export function eventName(type) {
  if (eventNames[type]) return eventNames[type];
  const words = String(type || '').replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const BAD_EVENTS = new Set(['StageFailed', 'Rejected', 'ApprovalTimedOut', 'DeploymentFailed', 'DeploymentRejected', 'ProductionNotRestored', 'EndpointsNotSettled', 'HeaderRouteNotSet', 'AnalysisFailed', 'AnalysisError']);
const GOOD_EVENTS = new Set(['Approved', 'ApprovalGranted', 'ProductionReleased', 'DeploymentSucceeded', 'StageSucceeded', 'RolloutComplete', 'AnalysisSuccessful']);

class DeploymentView {
  constructor(main, d, pipeline, overview, ctx) {
    this.main = main;
    this.ctx = ctx;
    this.id = d.id;
    this.pipeline = pipeline;
    this.overview = overview;
    this.d = d;
    this.lastSeq = 0;
    this.applied = new Map();
    this.refreshing = null;
    this.dirty = false;
    this.group = null;
    this.diff = null;

    this.statusEl = h('span', { class: 'head-status' });
    this.weight = h('div', { class: 'weight' });
    this.facts = h('div');
    this.approval = h('div');
    this.graph = h('div');
    this.analysis = h('div');
    this.analysisLoading = null;
    this.analysisDirty = false;
    this.decisions = h('div');
    this.targets = h('div');
    this.cancel = h('div');
    this.objects = h('div', null, h('p', { class: 'muted' }, 'Nothing applied yet.'));
    this.manifests = h('div', { class: 'manifests' }, h('p', { class: 'muted' }, 'Loading manifests…'));
    this.liveState = h('span', { class: 'live-state', role: 'status' }, 'Connecting…');
    this.timeline = h('div', { class: 'timeline', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': 'Events by stage' });
    this.watchError = h('div');

    ctx.setTitle(`${d.pipeline} #${d.number}`);
    replace(main,
      h('div', { class: 'page-head' },
        h('p', { class: 'crumbs' }, link(pages.deployments(), 'Deployments'), ' / ', link(pages.pipeline(d.pipeline), d.pipeline), ' / '),
        h('h1', null, h('span', { class: 'nowrap' }, `${d.pipeline} #${d.number}`), ' ', this.statusEl),
        this.weight,
        this.facts),
      this.approval,
      section('Stages', this.graph),
      this.targets,
      this.analysis,
      this.decisions,
      this.cancel,
      h('div', { class: 'columns' },
        section('Timeline', h('p', { class: 'small' }, this.liveState), this.watchError, this.timeline),
        h('div', null,
          section('Objects applied', this.objects),
          section('Manifests', this.manifests))));
  }

  // update shows a fresh copy of the deployment.
  update(d) {
    this.d = d;
    this.main.dataset.status = d.status;
    replace(this.statusEl, badge(d.status), ' ', liveBadge(d));
    const live = this.overview && this.overview.live;
    replace(this.facts, dl([
      ['Kind', kind(d)],
      ['Parameters', params(d.parameters)],
      d.reason ? ['Reason', h('q', { class: 'reason' }, d.reason)] : null,
      !d.live ? ['Production runs', live ? numberLink(live) : h('span', { class: 'muted' }, 'nothing yet')] : null,
      ['Started by', d.triggeredBy || '—'],
      ['Created', time(d.createdAt)],
      d.endedAt ? ['Ended', time(d.endedAt)] : null,
      d.productionAt ? ['In production since', time(d.productionAt)] : null,
      d.message ? ['Result', h('span', { class: 'result' }, d.message)] : null,
    ], 'facts inline'));
    replace(this.graph, stageGraph(deploymentStages(d, this.pipeline), {
      label: `Stages of ${d.pipeline} #${d.number}`,
      current: FINAL.has(d.status) ? '' : d.currentStage || '',
    }));
    this.renderWeight(d);
    this.renderApproval(d);
    this.renderDecisions(d);
    this.renderTargets(d);
    this.renderCancel(d);
  }

  // renderTargets lists the production targets of the deployment's waves:
  // where each is, how far this deployment took it, and whether it runs
  // this deployment now.
  renderTargets(d) {
    const ts = d.targets || [];
    if (ts.length === 0) {
      replace(this.targets);
      return;
    }
    const live = new Set(d.liveTargets || []);
    replace(this.targets, section('Production targets', table(`Production targets of ${d.pipeline} #${d.number}`,
      ['Target', 'Wave', 'Status', 'Runs this deployment', 'Ran before', 'Updated', 'Message'],
      ts.map((t) => h('tr', { dataset: { target: t.name, status: t.status } },
        cell('Target', h('code', null, t.name)),
        cell('Wave', t.stage),
        cell('Status', h('span', { class: `target-status ${t.status.toLowerCase()}` }, t.status)),
        cell('Runs this deployment', live.has(t.name) ? '★ yes' : 'no'),
        cell('Ran before', t.previous ? link(pages.deployment(t.previous), `deployment ${t.previous}`) : h('span', { class: 'muted' }, '—')),
        cell('Updated', t.updatedAt ? time(t.updatedAt) : '—'),
        cell('Message', t.message || '—'))))));
  }

  // stageOf returns the pipeline's stage of a type as this deployment ran
  // it (null when the pipeline changed since).
  stageOf(type) {
    const same = this.pipeline && this.pipeline.metadata.generation === this.d.pipelineGeneration;
    const st = same && ((this.pipeline.spec && this.pipeline.spec.stages) || []).find((s) => s[type]);
    return st ? st[type] : null;
  }

  // renderWeight puts the canary weight in the header with the reason
  // for its value.
  renderWeight(d) {
    const w = d.canaryWeight || 0;
    const canary = this.stageOf('canaryDeployment');
    const mid = uid('w');
    if (d.blueGreen) {
      replace(this.weight, blueGreenFigure(d, mid), h('span', { class: 'weight-reason' }, ...blueGreenReason(d)));
      return;
    }
    replace(this.weight,
      h('span', { class: 'weight-figure' },
        h('span', { class: 'weight-label', id: mid }, 'Canary weight'),
        h('span', { class: 'weight-value', dataset: { weight: String(w) } }, `${w}%`),
        h('meter', { min: '0', max: '100', value: String(w), 'aria-labelledby': mid }, `${w}%`)),
      h('span', { class: 'weight-reason' }, weightReason(d, canary ? canary.namespace : ''), ' ', testerNote(d)));
  }

  // gate says what the deployment waits at: {kind, next, promotes}. kind
  // is 'approval' (a stage or step), 'pause', 'analysis' or 'background';
  // next is what approving lets happen next; promotes is true when that is
  // the production release.
  gate() {
    const g = this.d.currentStage || '';
    const m = /^(.*)\/(step-(\d+)|background)$/.exec(g);
    if (!m) {
      const stages = (this.d.stages || []);
      const i = stages.findIndex((s) => s.name === g);
      const after = stages[i + 1];
      return { kind: 'approval', promotes: !after || after.type === 'productionRelease', next: after ? after.name : '' };
    }
    const same = this.pipeline && this.pipeline.metadata.generation === this.d.pipelineGeneration;
    const st = same && ((this.pipeline.spec && this.pipeline.spec.stages) || []).find((s) => s.name === m[1]);
    const steps = (st && st.canarySteps && st.canarySteps.steps) || [];
    if (m[2] === 'background') return { kind: 'background', promotes: false, next: `the rest of ${m[1]}` };
    const n = Number(m[3]);
    const step = steps[n - 1] || {};
    const kind = step.pause ? 'pause' : step.analysis ? 'analysis' : 'approval';
    const next = steps[n] ? `step ${n + 1} of ${m[1]}: ${stepText(steps[n])}` : `the end of ${m[1]}`;
    return { kind, promotes: false, next };
  }

  // effect says what approving does: "Promote IMAGE_TAG=2.3 to prod-ns,
  // replacing #4 (2.0)", or for a gate inside the canary steps what comes
  // next.
  effect() {
    const d = this.d;
    const g = this.gate();
    if (!g.promotes) {
      const verb = g.kind === 'pause' ? 'Resume' : 'Let the release go on';
      return `${verb}: next, ${g.next}`;
    }
    const prod = this.stageOf('productionRelease');
    const ns = (this.diff && this.diff.namespace) || (prod && prod.namespace) || 'production';
    const live = this.overview && this.overview.live;
    const what = paramText(d) || `#${d.number}`;
    if (live && live.id !== d.id) return `Promote ${what} to ${ns}, replacing ${numbered(live)}`;
    return `Promote ${what} to ${ns}, its first release there`;
  }

  renderApproval(d) {
    if (d.status !== 'WaitingForApproval') {
      this.approvalForm = null;
      if (this.approval.firstChild) replace(this.approval);
      return;
    }
    const stage = d.currentStage;
    const mine = (d.decisions || []).find((x) => x.stage === stage && x.user === identity());
    const need = this.requiredApprovals(stage);
    const got = (d.decisions || []).filter((x) => x.stage === stage && x.decision === 'Approve').length;
    const kind = this.gate().kind;
    const why = {
      pause: `Paused at ${stage} until someone resumes it`,
      analysis: `The analysis at ${stage} reached no verdict (see Analysis): approve to go on, reject to abort`,
      background: `The background analysis at ${stage} reached no verdict (see Analysis): approve to go on without it, reject to abort`,
    }[kind] || `Stage ${stage} needs ${need} approval${need === 1 ? '' : 's'} (${got} so far)`;
    const info = h('p', null, why, d.approvalDeadline ? ['; it times out ', time(d.approvalDeadline), '.'] : '.');
    if (mine) {
      this.approvalForm = null;
      replace(this.approval, section('Approval', info,
        h('p', { class: 'note' }, `You ${mine.decision === 'Approve' ? 'approved' : 'rejected'} this deployment; the pipeline continues once the stage is decided.`)));
      return;
    }
    if (this.approvalForm) {
      replace(this.approvalInfo, info);
      return;
    }
    this.approvalInfo = h('div', null, info);
    const g = this.gate();
    const effect = h('p', { class: 'effect' }, h('strong', null, `${this.effect()}.`));
    const diffBox = h('div', { class: 'approval-diff' }, g.promotes ? h('p', { class: 'muted', role: 'status' }, 'Comparing with production…') : null);
    const rid = uid('reason');
    const hint = uid('hint');
    const reasonErr = h('p', { class: 'field-error', id: uid('err'), hidden: true });
    const reason = h('textarea', { id: rid, name: 'reason', rows: '2', maxlength: '2000', 'aria-describedby': `${hint} ${reasonErr.id}` });
    const who = nameField();
    const out = h('div');
    const approveBtn = h('button', { type: 'button', class: 'approve' }, g.kind === 'pause' ? 'Resume…' : 'Approve…');
    const rejectBtn = h('button', { type: 'button', class: 'reject danger' }, 'Reject');
    const actions = h('div', { class: 'actions' }, approveBtn, rejectBtn);
    const confirmQ = h('p', { class: 'confirm-q', id: uid('cq') });
    const confirmBtn = h('button', { type: 'button', class: 'confirm-approve' },
      g.promotes ? 'Yes, promote to production' : g.kind === 'pause' ? 'Yes, resume' : 'Yes, go on');
    const backBtn = h('button', { type: 'button', class: 'link' }, 'Back');
    const confirmBox = h('div', { class: 'confirm', role: 'group', 'aria-labelledby': confirmQ.id, hidden: true },
      confirmQ,
      h('p', null, g.promotes
        ? 'The canary then serves every request while production rolls out; your reason is recorded with the approval.'
        : 'The canary keeps its weight until the next step changes it; your reason is recorded with your decision.'),
      h('div', { class: 'actions' }, confirmBtn, backBtn));
    const busy = (on) => {
      for (const b of [approveBtn, rejectBtn, confirmBtn]) b.disabled = on;
    };
    const decide = async (verb) => {
      replace(out);
      busy(true);
      try {
        who.save();
        const path = verb === 'reject' ? paths.reject(this.id) : g.kind === 'pause' ? paths.resume(this.id) : paths.approve(this.id);
        const nd = await post(path, { reason: reason.value.trim() }, { signal: this.ctx.signal });
        announce(`${d.pipeline} #${d.number} ${verb === 'approve' ? 'approved' : 'rejected'}`);
        this.approvalForm = null;
        this.update(nd);
        this.scheduleRefresh();
      } catch (ex) {
        if (ex && ex.name === 'AbortError') return;
        busy(false);
        replace(out, errorBox(ex, `Could not ${verb}`));
        const bad = (ex.details || []).find((x) => x.field === 'reason');
        if (bad) {
          fieldError(reason, reasonErr, `The reason ${bad.message}.`);
          reason.focus();
        }
      }
    };
    const checkReason = (required) => {
      fieldError(reason, reasonErr, '');
      replace(out);
      if (required && reason.value.trim() === '') {
        fieldError(reason, reasonErr, 'Say why you reject: the reason is recorded with the decision and shown to the team.');
        reason.focus();
        return false;
      }
      if (reason.value.length > 2000) {
        fieldError(reason, reasonErr, 'The reason is longer than 2000 characters; shorten it.');
        reason.focus();
        return false;
      }
      return true;
    };
    approveBtn.addEventListener('click', () => {
      if (!checkReason(false)) return;
      confirmQ.replaceChildren(h('strong', null, `${this.effect()}?`));
      actions.hidden = true;
      confirmBox.hidden = false;
      confirmBtn.focus();
    });
    backBtn.addEventListener('click', () => {
      confirmBox.hidden = true;
      actions.hidden = false;
      approveBtn.focus();
    });
    confirmBtn.addEventListener('click', () => decide('approve'));
    rejectBtn.addEventListener('click', () => {
      if (checkReason(true)) decide('reject');
    });
    this.approvalForm = h('form', { class: 'approval-form', 'aria-label': 'Approve or reject', onsubmit: (e) => e.preventDefault() },
      who.el,
      h('div', { class: 'field' },
        h('label', { for: rid }, 'Reason'), reason,
        h('p', { class: 'hint', id: hint }, 'Recorded with your decision; required to reject.'),
        reasonErr),
      actions,
      confirmBox,
      out);
    const title = { pause: 'Paused', analysis: 'Decision needed', background: 'Decision needed' }[g.kind] || 'Approval needed';
    const s = section(title, this.approvalInfo, effect, diffBox, this.approvalForm);
    s.classList.add('attention');
    replace(this.approval, s);
    if (g.promotes) this.loadDiff(effect, diffBox);
  }

  // loadDiff shows what approving would change in production (a read-only
  // diff against the live production namespace).
  async loadDiff(effect, box) {
    try {
      this.diff = await get(paths.diff(this.id), { signal: this.ctx.signal });
    } catch (ex) {
      if (ex && ex.name === 'AbortError') return;
      replace(box, errorBox(ex, 'Could not compare with production'));
      return;
    }
    replace(effect, h('strong', null, `${this.effect()}.`));
    const n = this.diff.changed;
    replace(box,
      h('p', { class: 'changed', dataset: { changed: String(n) } }, n === 0
        ? 'Production already matches this deployment: nothing would change.'
        : `${n} object${n === 1 ? '' : 's'} would change in production:`),
      n === 0 ? null : diffView(this.diff.diff, 'Diff of production against this deployment'));
  }

  requiredApprovals(stage) {
    if (this.d.currentStage === stage && this.d.approvalsRequired) return this.d.approvalsRequired;
    const st = this.pipeline && this.pipeline.metadata.generation === this.d.pipelineGeneration
      && ((this.pipeline.spec && this.pipeline.spec.stages) || []).find((s) => s.name === stage);
    return st && st.approval && st.approval.approvalsRequired ? st.approval.approvalsRequired : 1;
  }

  renderDecisions(d) {
    const ds = d.decisions || [];
    if (ds.length === 0) {
      replace(this.decisions);
      return;
    }
    replace(this.decisions, section('Decisions', h('ul', { class: 'decision-list' }, ds.map((x) => h('li', { class: x.decision === 'Reject' ? 'rejected-by' : 'approved-by', dataset: { user: x.user, decision: x.decision } },
      h('strong', null, x.decision === 'Reject' ? '✗ Rejected' : '✓ Approved'), ' by ',
      h('strong', { class: 'who' }, x.user), ' at stage ', h('code', null, x.stage), ' ', time(x.at),
      x.reason ? [': ', h('q', null, x.reason)] : null)))));
  }

  renderCancel(d) {
    if (FINAL.has(d.status)) {
      replace(this.cancel);
      return;
    }
    if (d.cancelRequested) {
      replace(this.cancel, h('p', { class: 'note' }, 'Cancellation requested; the run stops at its next step.'));
      return;
    }
    if (this.cancel.childElementCount > 0 && !this.cancel.querySelector('.error')) return;
    const out = h('div');
    const who = nameField();
    const ask = h('button', { type: 'button', class: 'secondary' }, 'Cancel deployment…');
    const confirm = h('button', { type: 'button', class: 'danger' }, 'Yes, cancel it');
    const keep = h('button', { type: 'button', class: 'link' }, 'Keep running');
    const confirmBox = h('div', { hidden: true }, who.el, h('div', { class: 'actions' }, confirm, keep));
    ask.addEventListener('click', () => {
      ask.hidden = true;
      confirmBox.hidden = false;
      confirm.focus();
    });
    keep.addEventListener('click', () => {
      ask.hidden = false;
      confirmBox.hidden = true;
      ask.focus();
    });
    confirm.addEventListener('click', async () => {
      confirm.disabled = true;
      try {
        who.save();
        const nd = await post(paths.cancel(this.id), undefined, { signal: this.ctx.signal });
        replace(this.cancel);
        this.update(nd);
      } catch (ex) {
        if (ex && ex.name === 'AbortError') return;
        confirm.disabled = false;
        replace(out, errorBox(ex, 'Could not cancel'));
      }
    });
    replace(this.cancel, h('div', { class: 'cancel-box' }, ask, confirmBox, out));
  }

  // scheduleRefresh re-reads the deployment after events, at most one
  // request at a time.
  scheduleRefresh() {
    if (this.refreshing) {
      this.dirty = true;
      return;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.dirty = false;
          const d = await get(paths.deployment(this.id), { signal: this.ctx.signal });
          if (this.ctx.signal.aborted) return;
          this.update(d);
        } while (this.dirty);
      } catch (ex) {
        if (ex && ex.name === 'AbortError') return;
        replace(this.watchError, errorBox(ex, 'Could not refresh the deployment'));
      } finally {
        this.refreshing = null;
      }
    })();
  }

  watch() {
    const es = new EventSource(watchURL(this.id));
    this.ctx.signal.addEventListener('abort', () => es.close());
    es.addEventListener('open', () => {
      replace(this.liveState, h('span', { class: 'dot on', 'aria-hidden': 'true' }), ' Live');
      replace(this.watchError);
    });
    es.addEventListener('event', (m) => {
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch (e) {
        replace(this.watchError, errorBox(e, 'An event could not be read'));
        return;
      }
      if (ev.seq <= this.lastSeq) return;
      this.lastSeq = ev.seq;
      this.addEvent(ev);
      if (!FINAL.has(this.d.status)) this.scheduleRefresh();
      if (String(ev.type).startsWith('Analysis')) this.loadAnalysis();
    });
    es.addEventListener('end', (m) => {
      es.close();
      replace(this.liveState, h('span', { class: 'dot', 'aria-hidden': 'true' }), ' Ended');
      try {
        const d = JSON.parse(m.data);
        const changed = d.status !== this.d.status;
        this.update(d);
        if (changed) announce(`${d.pipeline} #${d.number} ${d.status}`);
      } catch {
        this.scheduleRefresh();
      }
    });
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CLOSED) {
        replace(this.liveState, h('span', { class: 'dot off', 'aria-hidden': 'true' }), ' Disconnected');
        const retry = h('button', { type: 'button', class: 'link', onclick: () => this.watch() }, 'Reconnect');
        replace(this.watchError, errorBox({ message: 'the server closed the live updates' }, 'Live updates stopped'), retry);
      } else {
        replace(this.liveState, h('span', { class: 'dot off', 'aria-hidden': 'true' }), ' Reconnecting…');
      }
    });
  }

  // groupTitle names a timeline group: the stage's type and name, or the
  // deployment itself for events of no stage.
  groupTitle(stage) {
    if (!stage) return [h('span', { class: 'tl-type' }, 'Deployment')];
    const st = (this.d.stages || []).find((s) => s.name === stage);
    const type = st ? (typeNames[st.type] || st.type) : 'Stage';
    return [h('span', { class: 'tl-type' }, type), ' ', h('code', { class: 'tl-stage' }, stage)];
  }

  // addEvent appends an event to the timeline: consecutive events of one
  // stage form a group, and rollout progress collapses into one entry
  // that shows the latest.
  addEvent(ev) {
    const key = ev.stage || '';
    if (!this.group || this.group.key !== key) {
      const list = h('ol', { class: 'tl-events' });
      add(this.timeline, h('section', { class: 'tl-group', dataset: { stage: key } }, h('h3', null, this.groupTitle(key)), list));
      this.group = { key, list, progress: null };
    }
    const g = this.group;
    const tone = BAD_EVENTS.has(ev.type) ? ' bad' : GOOD_EVENTS.has(ev.type) ? ' good' : '';
    const entry = h('li', { class: `ev t-${ev.type}${tone}`, dataset: { seq: String(ev.seq), type: ev.type } },
      h('span', { class: 'ev-type' }, eventName(ev.type)), ' ',
      h('span', { class: 'ev-msg' }, ev.message), ' ',
      time(ev.time));
    if (ev.type === 'RolloutProgress') {
      if (!g.progress) {
        const count = h('span', { class: 'ev-count' });
        const latest = h('span', { class: 'ev-msg' });
        const when = h('span');
        const inner = h('ol', { class: 'tl-progress' });
        const li = h('li', { class: 'ev progress', dataset: { type: 'RolloutProgressGroup' } },
          h('details', null, h('summary', null, h('span', { class: 'ev-type' }, 'Rollout progress'), ' ', count, ' ', latest, ' ', when), inner));
        add(g.list, li);
        g.progress = { n: 0, count, latest, when, inner };
      }
      const p = g.progress;
      p.n += 1;
      p.count.textContent = `(${p.n} update${p.n === 1 ? '' : 's'})`;
      p.latest.textContent = ev.message;
      replace(p.when, time(ev.time));
      add(p.inner, entry);
    } else {
      g.progress = null;
      add(g.list, entry);
    }
    const a = ev.type === 'Applied' ? parseApplied(ev) : null;
    if (a) {
      this.applied.set(a.namespace, a);
      this.renderObjects();
    }
  }

  renderObjects() {
    const groups = [...this.applied.values()].sort((x, y) => x.seq - y.seq);
    replace(this.objects, groups.map((g) => h('div', { class: 'ns-group', dataset: { namespace: g.namespace } },
      h('h3', null, h('code', null, g.namespace), ' ', h('span', { class: 'muted small' }, `${g.role}, `, time(g.time))),
      h('ul', { class: 'objects' }, g.objects.map((o) => h('li', null, h('code', null, o.object), ' ', h('span', { class: `action a-${o.action}` }, o.action)))))));
  }

  // loadAnalysis draws the analyses' measurements, at most one request at
  // a time; a deployment without any shows nothing.
  loadAnalysis() {
    if (this.analysisLoading) {
      this.analysisDirty = true;
      return;
    }
    this.analysisLoading = (async () => {
      try {
        do {
          this.analysisDirty = false;
          const list = await get(paths.measurements(this.id), { signal: this.ctx.signal });
          if (this.ctx.signal.aborted) return;
          if ((list.items || []).length === 0) continue;
          replace(this.analysis, section('Analysis', analysisCharts(list)));
        } while (this.analysisDirty);
      } catch (ex) {
        if (ex && ex.name === 'AbortError') return;
        replace(this.analysis, section('Analysis', errorBox(ex, 'Could not load the measurements')));
      } finally {
        this.analysisLoading = null;
      }
    })();
  }

  async loadManifests() {
    try {
      const text = await get(paths.manifests(this.id), { signal: this.ctx.signal });
      const objs = manifestObjects(text);
      replace(this.manifests,
        h('p', { class: 'small' }, `${objs.length} object${objs.length === 1 ? '' : 's'} rendered for this deployment`,
          this.d.kind === 'Release' ? ' (the canary copy also carries the canary annotations)' : '', ':'),
        h('ul', { class: 'objects' }, objs.map((o) => h('li', null, h('code', null, `${o.kind.toLowerCase()}/${o.name}`)))),
        h('details', null, h('summary', null, 'Show the YAML'), h('pre', { class: 'yaml', tabindex: '0' }, text)));
    } catch (ex) {
      if (ex && ex.name === 'AbortError') return;
      replace(this.manifests, errorBox(ex, 'Could not load the manifests'));
    }
  }
}
