// The blue/green strategy in the console: a blueGreen stage's settings,
// and where a blue/green deployment stands (the slot that serves, the one
// it runs in, the switch and until when a switch back is instant), in the
// words `fledge describe deployment` uses.

import { h, goDuration, time } from './dom.js';

/** slotNs is the namespace of slot in a blue/green namespace ns. */
function slotNs(ns, slot) {
  return `${ns}-${slot}`;
}

/** blueGreenSettings lists a blueGreen stage's settings as [label, value] pairs. */
export function blueGreenSettings(s, stage) {
  const th = s.testerHeader || {};
  const a = s.approval;
  const route = s.httpRouteName;
  const front = route ? `HTTPRoute ${route}` : `ingress ${s.ingressName}`;
  const preview = route ? `a rule of HTTPRoute ${route}` : `preview ingress ${s.ingressName}-preview`;
  const analysis = (an, gate) => an
    ? `analysis ${(an.templates || []).map((t) => t.name).join(', ')} (gate ${stage}/${gate})`
    : null;
  const pre = analysis(s.prePromotionAnalysis, 'pre-promotion');
  const post = analysis(s.postPromotionAnalysis, 'post-promotion');
  return [
    ['Strategy', 'blue/green: the new version beside the live one, then every request at once'],
    ['Environment', s.environment],
    ['Artifacts', (s.artifacts || []).join(', ')],
    ['Namespace', `${s.namespace} (${front})`],
    ['Slots', `${slotNs(s.namespace, 'blue')}, ${slotNs(s.namespace, 'green')}`],
    ['Tester header', `${th.name || 'redirect-to-canary'}: ${th.value || 'always'} (${preview})`],
    pre ? ['Pre-promotion', pre] : null,
    ['Approval', a ? `${a.approvalsRequired || 1} before the switch` : 'none: the switch follows the rollout'],
    post ? ['Post-promotion', `${post}; failed, it switches back`] : null,
    ['Scale down delay', s.scaleDownDelay ? goDuration(s.scaleDownDelay) : '30s (default)'],
  ].filter(Boolean);
}

/** serving names the slot that gets the requests of a blue/green deployment now. */
export function serving(d) {
  const st = d.blueGreen || {};
  if (st.switched && !st.switchedBack) return st.to;
  return st.from || (st.switched ? st.to : '');
}

/** blueGreenDoing says what an unfinished blue/green release is doing. */
export function blueGreenDoing(d) {
  const st = d.blueGreen || {};
  if (d.status === 'WaitingForApproval') return `slot ${st.to} ready beside the live one, waiting for approval`;
  if (st.switched) return `switched to slot ${st.to}, keeping the previous slot scaled`;
  return st.to ? `deploying into slot ${st.to}` : 'choosing a slot';
}

/**
 * blueGreenReason says in a sentence where a blue/green deployment's
 * requests go: a list of text and time elements.
 */
export function blueGreenReason(d) {
  const st = d.blueGreen || {};
  const ns = st.namespace || '';
  const final = ['Succeeded', 'Rejected', 'Failed', 'Cancelled'].includes(d.status);
  if (!st.to) return ['The slot for this version is not chosen yet; the live version gets every request.'];
  const to = `slot ${st.to} (${slotNs(ns, st.to)})`;
  const from = st.from ? `slot ${st.from} (${slotNs(ns, st.from)}${st.fromNumber ? `, #${st.fromNumber}` : ''})` : '';
  if (st.switchedBack) return [`Switched back: ${from} gets every request again; nothing was redeployed.`];
  if (st.switched) {
    const out = [`Every request goes to ${to} since `, time(st.switchedAt), '.'];
    if (st.scaledDown) out.push(` ${from} is scaled down.`);
    else if (from && !final) out.push(` ${from} stays scaled until `, time(st.scaleDownAt), ': aborting or rolling back to it switches back at once.');
    return out;
  }
  if (!from) return [`This version runs in ${to}; nothing serves yet, the switch creates the Ingress.`];
  if (final) return [`Not switched: ${from} kept every request.`];
  return [`This version runs in ${to} beside ${from}, which gets every request until the switch.`];
}

/** blueGreenFigure is the header figure of a blue/green deployment: the slot that serves. */
export function blueGreenFigure(d, mid) {
  const slot = serving(d) || 'none yet';
  return h('span', { class: 'weight-figure' },
    h('span', { class: 'weight-label', id: mid }, 'Serving'),
    h('span', { class: 'weight-value', dataset: { slot } }, slot));
}
