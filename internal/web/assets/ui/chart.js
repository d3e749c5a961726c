// Analysis charts: each metric of a deployment's analyses drawn over time
// (GET /deployments/{id}/measurements), with the thresholds its conditions
// set and every measurement marked by its verdict: a circle when it
// passed, a square when it failed, a diamond when inconclusive, a cross on
// the axis when the provider did not answer. Shapes and words tell the
// verdicts apart, not colour alone, and a table under each chart holds the
// same figures for a screen reader. Texts from providers are set as text.

import { h, time } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 520;
const H = 180;
const M = { top: 12, right: 128, bottom: 28, left: 56 };

/** s builds an SVG element with attributes and children. */
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/**
 * numeric reads a measurement's value as a number: a number, the first
 * element of a list, or a judge's score; null when it is none of these.
 */
export function numeric(value) {
  if (value === undefined || value === null || value === '') return null;
  let v;
  try {
    v = JSON.parse(value);
  } catch {
    return null;
  }
  if (Array.isArray(v)) [v] = v;
  if (v && typeof v === 'object' && typeof v.score === 'number') v = v.score;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** fmt writes a value with at most four significant digits. */
export function fmt(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/** series groups measurements by analysis, template and metric, in order. */
export function series(list) {
  const out = new Map();
  const key = (x) => `${x.analysis}\u0000${x.template}\u0000${x.metric}`;
  for (const m of list.metrics || []) {
    out.set(key(m), { summary: m, items: [] });
  }
  for (const m of list.items || []) {
    const k = key(m);
    if (!out.has(k)) out.set(k, { summary: { analysis: m.analysis, template: m.template, metric: m.metric, thresholds: [] }, items: [] });
    out.get(k).items.push(m);
  }
  return [...out.values()].filter((x) => x.items.length > 0);
}

const SHAPES = { Successful: 'passed', Failed: 'failed', Inconclusive: 'inconclusive', Error: 'error' };

/** metricChart draws one metric's measurements and thresholds. */
export function metricChart({ summary, items }) {
  const pts = items.map((m) => ({ m, t: Date.parse(m.finishedAt || m.startedAt), v: numeric(m.value) }));
  const vals = pts.filter((p) => p.v !== null).map((p) => p.v);
  const ths = summary.thresholds || [];
  const all = vals.concat(ths.map((x) => x.value));
  let lo = all.length ? Math.min(...all) : 0;
  let hi = all.length ? Math.max(...all) : 1;
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  } else {
    const pad = (hi - lo) * 0.08;
    lo -= pad;
    hi += pad;
  }
  const t0 = Math.min(...pts.map((p) => p.t));
  const t1 = Math.max(...pts.map((p) => p.t));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (t) => M.left + (t1 === t0 ? pw / 2 : ((t - t0) / (t1 - t0)) * pw);
  const y = (v) => M.top + (1 - (v - lo) / (hi - lo)) * ph;
  const r = (v) => Math.round(v * 10) / 10;

  const title = `${summary.template}/${summary.metric}`;
  const desc = `${items.length} measurement${items.length === 1 ? '' : 's'} of ${title} in ${summary.analysis}`;
  const svg = s('svg', {
    class: 'metric-chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': desc,
    'data-analysis': summary.analysis, 'data-metric': title,
  }, s('title', null, desc));

  // Axes and their labels.
  svg.append(
    s('line', { class: 'axis', x1: M.left, y1: M.top + ph, x2: M.left + pw, y2: M.top + ph }),
    s('line', { class: 'axis', x1: M.left, y1: M.top, x2: M.left, y2: M.top + ph }),
    s('text', { class: 'tick', x: M.left - 6, y: r(y(hi)) + 4, 'text-anchor': 'end' }, fmt(hi)),
    s('text', { class: 'tick', x: M.left - 6, y: r(y(lo)) + 4, 'text-anchor': 'end' }, fmt(lo)),
    s('text', { class: 'tick', x: M.left, y: H - 8 }, new Date(t0).toLocaleTimeString()),
    s('text', { class: 'tick', x: M.left + pw, y: H - 8, 'text-anchor': 'end' }, new Date(t1).toLocaleTimeString()));

  // Thresholds: a dashed line each, labelled with what it asks.
  for (const th of ths) {
    const ty = r(y(th.value));
    svg.append(s('g', { class: `threshold th-${th.condition}`, 'data-threshold': String(th.value), 'data-operator': th.operator, 'data-y': String(ty) },
      s('line', { x1: M.left, y1: ty, x2: M.left + pw, y2: ty }),
      s('text', { x: M.left + pw + 6, y: ty + 4 }, `${th.condition === 'failure' ? 'fails' : 'passes'} ${th.operator} ${fmt(th.value)}`)));
  }

  // The line through the numeric values, then each measurement's mark.
  const line = pts.filter((p) => p.v !== null).map((p) => `${r(x(p.t))},${r(y(p.v))}`);
  if (line.length > 1) svg.append(s('polyline', { class: 'series', points: line.join(' ') }));
  for (const p of pts) {
    const shape = SHAPES[p.m.phase] || 'other';
    const px = r(x(p.t));
    const tip = s('title', null, `${new Date(p.t).toLocaleString()}: ${p.v === null ? 'no value' : fmt(p.v)}, ${p.m.phase}${p.m.message ? ` (${p.m.message})` : ''}`);
    const attrs = { class: `point p-${shape}`, 'data-phase': p.m.phase, 'data-value': p.v === null ? '' : String(p.v) };
    if (p.v === null) {
      // No value to place: a cross on the time axis.
      const py = M.top + ph;
      svg.append(s('g', attrs, tip, s('path', { d: `M${px - 4},${py - 4} L${px + 4},${py + 4} M${px - 4},${py + 4} L${px + 4},${py - 4}` })));
      continue;
    }
    const py = r(y(p.v));
    let mark;
    if (shape === 'failed') mark = s('rect', { x: px - 4.5, y: py - 4.5, width: 9, height: 9 });
    else if (shape === 'inconclusive') mark = s('path', { d: `M${px},${py - 5.5} L${px + 5.5},${py} L${px},${py + 5.5} L${px - 5.5},${py} Z` });
    else mark = s('circle', { cx: px, cy: py, r: 4 });
    svg.append(s('g', attrs, tip, mark));
  }

  const counts = {};
  for (const m of items) counts[m.phase] = (counts[m.phase] || 0) + 1;
  const tally = Object.entries(counts).map(([k, n]) => `${n} ${k.toLowerCase()}`).join(', ');
  const conds = [summary.successCondition && `passes when ${summary.successCondition}`, summary.failureCondition && `fails when ${summary.failureCondition}`].filter(Boolean).join('; ');
  const rows = items.map((m) => h('tr', { class: `m-${m.phase}` },
    h('td', null, time(m.finishedAt || m.startedAt)),
    h('td', null, m.value === undefined || m.value === '' ? '—' : m.value),
    h('td', null, h('span', { class: `verdict v-${m.phase}` }, m.phase)),
    h('td', null, m.message || '')));
  return h('figure', { class: 'metric', dataset: { analysis: summary.analysis, metric: title } },
    h('figcaption', null, h('code', null, summary.analysis), ' ', h('strong', null, title), ' ', h('span', { class: 'muted small' }, tally)),
    conds ? h('p', { class: 'small muted conditions' }, conds) : null,
    svg,
    h('details', null, h('summary', null, 'Measurements'),
      h('table', { class: 'measurements' },
        h('thead', null, h('tr', null, h('th', null, 'Time'), h('th', null, 'Value'), h('th', null, 'Verdict'), h('th', null, 'Message'))),
        h('tbody', null, rows))));
}

/** analysisCharts draws every metric of a measurement list. */
export function analysisCharts(list) {
  const all = series(list);
  if (all.length === 0) return h('p', { class: 'muted' }, 'No measurement yet.');
  return h('div', { class: 'metric-charts' }, all.map(metricChart));
}
