// One deployment: the stage graph coloured by state, the canary weight,
// approval with a reason, the decisions, the objects applied per namespace,
// the manifests, and a live timeline of its events (server-sent events from
// GET /deployments/{id}/events?watch=true; event ids are seqs, so the
// browser resumes where it stopped after a dropped connection).

import { h, replace, add, uid, errorBox, section, dl, time, clock, badge, params, announce, link } from '../dom.js';
import { get, post, watchURL, paths, pages, FINAL, identity } from '../api.js';
import { stageGraph, deploymentStages, testerHeader } from '../graph.js';
import { nameField } from '../identity.js';
import { kind, liveBadge } from '../tables.js';

export const name = 'deployment';

export async function render(main, ctx) {
  const id = ctx.args[0];
  ctx.setTitle(`Deployment ${id}`);
  const d = await get(paths.deployment(id), { signal: ctx.signal });
  let pipeline = null;
  let pipelineError = null;
  try {
    pipeline = await get(paths.pipeline(d.pipeline), { signal: ctx.signal });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    // A pipeline deleted since is normal: the graph then shows the states
    // without the settings. Anything else is shown.
    if (!(e && e.code === 404)) pipelineError = e;
  }
  const view = new DeploymentView(main, d, pipeline, ctx);
  if (pipelineError) main.querySelector('.page-head').append(errorBox(pipelineError, `Could not load pipeline ${d.pipeline}; stage settings are not shown`));
  view.update(d);
  view.watch();
  view.loadManifests();
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

class DeploymentView {
  constructor(main, d, pipeline, ctx) {
    this.main = main;
    this.ctx = ctx;
    this.id = d.id;
    this.pipeline = pipeline;
    this.d = d;
    this.lastSeq = 0;
    this.applied = new Map();
    this.refreshing = null;
    this.dirty = false;

    this.statusEl = h('span', { class: 'head-status' });
    this.facts = h('div');
    this.approval = h('div');
    this.graph = h('div');
    this.weight = h('div');
    this.decisions = h('div');
    this.cancel = h('div');
    this.objects = h('div', null, h('p', { class: 'muted' }, 'Nothing applied yet.'));
    this.manifests = h('div', { class: 'manifests' }, h('p', { class: 'muted' }, 'Loading manifests…'));
    this.liveState = h('span', { class: 'live-state', role: 'status' }, 'Connecting…');
    this.timeline = h('ol', { class: 'timeline', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': 'Events' });
    this.watchError = h('div');

    ctx.setTitle(`${d.pipeline} #${d.number}`);
    replace(main,
      h('div', { class: 'page-head' },
        h('p', { class: 'crumbs' }, link(pages.deployments(), 'Deployments'), ' / ', link(pages.pipeline(d.pipeline), d.pipeline), ' / '),
        h('h1', null, `${d.pipeline} #${d.number}`, ' ', this.statusEl),
        this.facts),
      this.approval,
      section('Stages', this.graph, this.weight),
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
    replace(this.facts, dl([
      ['Kind', kind(d)],
      ['Parameters', params(d.parameters)],
      ['Triggered by', d.triggeredBy || '—'],
      ['Created', time(d.createdAt)],
      d.startedAt ? ['Started', time(d.startedAt)] : null,
      d.endedAt ? ['Ended', time(d.endedAt)] : null,
      d.productionAt ? ['In production since', time(d.productionAt)] : null,
      d.message ? ['Result', h('span', { class: 'result' }, d.message)] : null,
      ['Deployment id', String(d.id)],
    ], 'facts inline'));
    replace(this.graph, stageGraph(deploymentStages(d, this.pipeline), { label: `Stages of deployment ${d.id}` }));
    this.renderWeight(d);
    this.renderApproval(d);
    this.renderDecisions(d);
    this.renderCancel(d);
  }

  // canaryStage is the pipeline's canary stage as this deployment ran it
  // (null when the pipeline changed since).
  canaryStage() {
    const same = this.pipeline && this.pipeline.metadata.generation === this.d.pipelineGeneration;
    const st = same && ((this.pipeline.spec && this.pipeline.spec.stages) || []).find((s) => s.canaryDeployment);
    return st ? st.canaryDeployment : null;
  }

  renderWeight(d) {
    if (d.kind === 'Rollback') {
      replace(this.weight);
      return;
    }
    const w = d.canaryWeight || 0;
    const canary = this.canaryStage();
    const ns = canary ? canary.namespace : '';
    const th = testerHeader(canary);
    const mid = uid('w');
    replace(this.weight, h('div', { class: 'weight' },
      h('label', { for: mid }, 'Canary weight'),
      h('meter', { id: mid, min: '0', max: '100', value: String(w), low: '1', optimum: '0' }, `${w}%`),
      h('span', { class: 'weight-value', dataset: { weight: String(w) } }, `${w}%`),
      h('span', { class: 'muted small' }, w > 0
        ? ` of requests go to the canary${ns ? ` in ${ns}` : ''}; requests with the header ${th.name}: ${th.value} always reach it`
        : ' — production gets all requests')));
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
    const info = h('p', null,
      `Stage ${stage} waits for ${need} approval${need === 1 ? '' : 's'} (${got} so far)`,
      d.approvalDeadline ? [', times out ', time(d.approvalDeadline), '.'] : '.');
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
    const rid = uid('reason');
    const hint = uid('hint');
    const reason = h('textarea', { id: rid, name: 'reason', rows: '2', maxlength: '2000', 'aria-describedby': hint });
    const who = nameField();
    const out = h('div');
    const approveBtn = h('button', { type: 'button', class: 'approve' }, 'Approve');
    const rejectBtn = h('button', { type: 'button', class: 'reject danger' }, 'Reject');
    const decide = async (verb) => {
      replace(out);
      approveBtn.disabled = true;
      rejectBtn.disabled = true;
      try {
        who.save();
        const path = verb === 'approve' ? paths.approve(this.id) : paths.reject(this.id);
        const nd = await post(path, { reason: reason.value }, { signal: this.ctx.signal });
        announce(`Deployment ${this.id} ${verb === 'approve' ? 'approved' : 'rejected'}`);
        this.approvalForm = null;
        this.update(nd);
        this.scheduleRefresh();
      } catch (ex) {
        if (ex && ex.name === 'AbortError') return;
        approveBtn.disabled = false;
        rejectBtn.disabled = false;
        replace(out, errorBox(ex, `Could not ${verb}`));
        if ((ex.details || []).some((x) => x.field === 'reason')) {
          reason.setAttribute('aria-invalid', 'true');
          reason.focus();
        }
      }
    };
    approveBtn.addEventListener('click', () => decide('approve'));
    rejectBtn.addEventListener('click', () => decide('reject'));
    this.approvalForm = h('form', { class: 'approval-form', 'aria-label': 'Approve or reject', onsubmit: (e) => e.preventDefault() },
      who.el,
      h('div', { class: 'field' },
        h('label', { for: rid }, 'Reason'), reason,
        h('p', { class: 'hint', id: hint }, 'Recorded with your decision; required to reject.')),
      h('div', { class: 'actions' }, approveBtn, rejectBtn),
      out);
    const s = section('Approval needed', this.approvalInfo, this.approvalForm);
    s.classList.add('attention');
    replace(this.approval, s);
  }

  requiredApprovals(stage) {
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
        replace(this.watchError, errorBox(e, 'Unreadable event'));
        return;
      }
      if (ev.seq <= this.lastSeq) return;
      this.lastSeq = ev.seq;
      this.addEvent(ev);
      if (!FINAL.has(this.d.status)) this.scheduleRefresh();
    });
    es.addEventListener('end', (m) => {
      es.close();
      replace(this.liveState, h('span', { class: 'dot', 'aria-hidden': 'true' }), ' Ended');
      try {
        const d = JSON.parse(m.data);
        const changed = d.status !== this.d.status;
        this.update(d);
        if (changed) announce(`Deployment ${d.id} ${d.status}`);
      } catch {
        this.scheduleRefresh();
      }
    });
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CLOSED) {
        replace(this.liveState, h('span', { class: 'dot off', 'aria-hidden': 'true' }), ' Disconnected');
        const retry = h('button', { type: 'button', class: 'link', onclick: () => this.watch() }, 'Reconnect');
        replace(this.watchError, errorBox({ message: 'the live event stream was refused by the server' }, 'Live updates stopped'), retry);
      } else {
        replace(this.liveState, h('span', { class: 'dot off', 'aria-hidden': 'true' }), ' Reconnecting…');
      }
    });
  }

  addEvent(ev) {
    add(this.timeline, h('li', { class: `ev t-${ev.type}`, dataset: { seq: String(ev.seq), type: ev.type } },
      clock(ev.time), ' ',
      ev.stage ? h('code', { class: 'ev-stage' }, ev.stage) : null, ' ',
      h('span', { class: 'ev-type' }, ev.type), ' ',
      h('span', { class: 'ev-msg' }, ev.message)));
    const a = ev.type === 'Applied' ? parseApplied(ev) : null;
    if (a) {
      this.applied.set(a.namespace, a);
      this.renderObjects();
    }
  }

  renderObjects() {
    const groups = [...this.applied.values()].sort((x, y) => x.seq - y.seq);
    replace(this.objects, groups.map((g) => h('div', { class: 'ns-group', dataset: { namespace: g.namespace } },
      h('h3', null, h('code', null, g.namespace), ' ', h('span', { class: 'muted small' }, `${g.role}, `, clock(g.time))),
      h('ul', { class: 'objects' }, g.objects.map((o) => h('li', null, h('code', null, o.object), ' ', h('span', { class: `action a-${o.action}` }, o.action)))))));
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
