// Number formats shared by the graph, the tables and the charts.

export function rps(v) {
  if (!Number.isFinite(v) || v < 0) return '–';
  if (v > 0 && v < 0.05) return '<0.1';
  if (v >= 10000) return (v / 1000).toFixed(0) + 'k';
  if (v >= 1000) return (v / 1000).toFixed(1) + 'k';
  return v.toFixed(1);
}

// percent formats a ratio (0 to 1) as a percentage with one decimal.
export function percent(ratio) {
  if (!Number.isFinite(ratio) || ratio < 0) return '–';
  const p = ratio * 100;
  if (p > 0 && p < 0.05) return '<0.1%';
  return p.toFixed(1) + '%';
}

// ms formats milliseconds: one decimal under 10, whole above, seconds
// from 1000 on.
export function ms(v) {
  if (!Number.isFinite(v) || v <= 0) return '–';
  if (v < 10) return v.toFixed(1) + 'ms';
  if (v < 1000) return Math.round(v) + 'ms';
  return (v / 1000).toFixed(v < 10000 ? 2 : 1) + 's';
}

// signals is an edge's label: "12.3 rps · 1.2% · p99 45ms".
export function signals(sig) {
  const g = sig || {};
  return `${rps(g.rps)} rps · ${percent(g.errorRate)} · p99 ${ms(g.p99ms)}`;
}

export function clock(date) {
  const d = date instanceof Date ? date : new Date(date);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false});
}

export function hourMinute(date) {
  return date.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', hour12: false});
}

// endpoints is "healthy/all", e.g. "2/3".
export function endpoints(node) {
  return `${node.healthyEndpoints || 0}/${node.endpoints || 0}`;
}

// parseNodeID splits "service:<cluster>/<namespace>/<name>" (or
// workload:..., gateway:<cluster>) into its parts.
export function parseNodeID(id) {
  const i = id.indexOf(':');
  const kind = i > 0 ? id.slice(0, i) : 'service';
  const parts = id.slice(i + 1).split('/');
  if (kind === 'gateway') return {kind, cluster: parts[0] || '', namespace: '', name: parts[parts.length - 1] || id};
  return {
    kind,
    cluster: parts.length > 2 ? parts[0] : '',
    namespace: parts.length > 1 ? parts[parts.length - 2] : '',
    name: parts[parts.length - 1] || id,
  };
}

export const HEALTH_ORDER = {error: 0, warning: 1, ok: 2, idle: 3};

export function healthText(h) {
  return {ok: 'healthy', warning: 'degraded', error: 'failing', idle: 'idle'}[h] || h || 'unknown';
}
