// Line charts of golden signals over time, as inline SVG.

import {h, s} from './dom.js';
import {hourMinute} from './format.js';

const W = 420;
const H = 160;
const M = {left: 48, right: 12, top: 10, bottom: 24};

// niceStep is a round step (1, 2, 2.5 or 5 times a power of ten) that
// divides span into at most count parts.
function niceStep(span, count) {
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

const TIME_STEPS = [15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

// lineChart draws series (each {name, cls, values}) against times (Unix
// seconds). format writes a value for the axis and the legend.
export function lineChart({id, title, times, series, format}) {
  const fig = h('figure', {class: 'chart', dataset: {chart: id}});
  const current = h('span', {class: 'chart-current'});
  for (const sr of series) {
    const last = [...sr.values].reverse().find((v) => Number.isFinite(v));
    current.append(h('span', {class: 'chart-key'},
      h('span', {class: 'chart-dot ' + sr.cls, 'aria-hidden': 'true'}),
      sr.name + ' ',
      h('b', {class: 'chart-value'}, last === undefined ? '–' : format(last))));
  }
  fig.append(h('figcaption', null, h('span', {class: 'chart-title'}, title), current));
  const svg = s('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title});
  fig.append(svg);

  const n = times ? times.length : 0;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  if (n < 2) {
    svg.append(s('rect', {class: 'chart-frame', x: M.left, y: M.top, width: plotW, height: plotH}));
    svg.append(s('text', {class: 'chart-empty', x: M.left + plotW / 2, y: M.top + plotH / 2 + 4, 'text-anchor': 'middle', text: 'No data yet'}));
    return fig;
  }
  let max = 0;
  for (const sr of series) for (const v of sr.values) if (Number.isFinite(v)) max = Math.max(max, v);
  const step = max > 0 ? niceStep(max, 4) : 1;
  const top = max > 0 ? Math.ceil(max / step) * step : 4;
  const t0 = times[0];
  const t1 = times[n - 1];
  const px = (t) => M.left + ((t - t0) / (t1 - t0 || 1)) * plotW;
  const py = (v) => M.top + plotH - (v / top) * plotH;

  const axes = s('g', {class: 'chart-axes'});
  for (let v = 0; v <= top + step / 2; v += max > 0 ? step : 1) {
    const y = py(v).toFixed(1);
    axes.append(s('path', {class: v === 0 ? 'chart-baseline' : 'chart-grid', d: `M${M.left},${y} H${W - M.right}`}));
    axes.append(s('text', {class: 'chart-tick', x: M.left - 6, y: Number(y) + 3.5, 'text-anchor': 'end', text: format(v, true)}));
  }
  const span = t1 - t0;
  const tstep = TIME_STEPS.find((st) => span / st <= 5) || 86400;
  for (let t = Math.ceil(t0 / tstep) * tstep; t <= t1; t += tstep) {
    const xx = px(t).toFixed(1);
    axes.append(s('path', {class: 'chart-xtick', d: `M${xx},${M.top + plotH} v4`}));
    axes.append(s('text', {class: 'chart-tick', x: xx, y: H - 8, 'text-anchor': 'middle', text: hourMinute(new Date(t * 1000))}));
  }
  svg.append(axes);

  for (const sr of series) {
    let d = '';
    let pen = false;
    for (let i = 0; i < n; i++) {
      const v = sr.values[i];
      if (!Number.isFinite(v)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${px(times[i]).toFixed(1)},${py(v).toFixed(1)}`;
      pen = true;
    }
    if (d) svg.append(s('path', {class: 'chart-line ' + sr.cls, d}));
  }
  return fig;
}
