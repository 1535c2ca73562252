// The service page: who the service is, where it runs, how it is routed
// and secured, and its golden signals over time.

import {h} from './dom.js';
import * as fmt from './format.js';
import {lineChart} from './chart.js';
import {nodeLink} from './topology.js';

function pill(text, cls, attrs) {
  return h('span', Object.assign({class: 'pill ' + cls}, attrs || {}), text);
}

function healthPill(health) {
  return pill(fmt.healthText(health), 'health-' + (health || 'idle'), {dataset: {health: health || ''}});
}

function table(headers, rows) {
  return h('div', {class: 'table-wrap'}, h('table', {class: 'data'},
    h('thead', null, h('tr', null, headers.map((t) => h('th', {scope: 'col', class: t.endsWith(' ') ? 'num' : null}, t.trim())))),
    h('tbody', null, rows)));
}

function section(name, title, count, body, empty) {
  const sec = h('section', {class: 'card', dataset: {section: name}},
    h('h2', null, title, count === null ? null : h('span', {class: 'count'}, String(count))));
  sec.append(count === 0 ? h('p', {class: 'empty'}, empty) : body());
  return sec;
}

function mono(text) {
  return h('code', null, text);
}

function stat(label, value, cls) {
  return h('div', {class: 'stat' + (cls ? ' ' + cls : '')}, h('div', {class: 'stat-value'}, value), h('div', {class: 'stat-label'}, label));
}

function edgeRows(edges, peerOf, nodesById) {
  return edges.map((e) => h('tr', {dataset: {source: e.source, target: e.target, health: e.health || ''}},
    h('td', null, nodeLink(peerOf(e), nodesById)),
    h('td', {class: 'muted'}, e.via ? (nodesById.get(e.via) || fmt.parseNodeID(e.via)).name : ''),
    h('td', {class: 'num'}, fmt.rps(e.signals && e.signals.rps)),
    h('td', {class: 'num'}, fmt.percent(e.signals && e.signals.errorRate)),
    h('td', {class: 'num'}, fmt.ms(e.signals && e.signals.p50ms)),
    h('td', {class: 'num'}, fmt.ms(e.signals && e.signals.p99ms)),
    h('td', null, healthPill(e.health))));
}

function charts(series) {
  const times = (series && series.times) || [];
  const get = (k) => (series && series[k]) || [];
  const pct = get('errorRate').map((v) => v * 100);
  const fmtPct = (v, axis) => (axis ? `${+v.toFixed(2)}%` : fmt.percent(v / 100));
  const fmtMs = (v, axis) => (axis ? (v >= 1000 ? `${+(v / 1000).toFixed(1)}s` : `${+v.toFixed(1)}`) : fmt.ms(v));
  const fmtRps = (v, axis) => (axis ? `${+v.toFixed(2)}` : fmt.rps(v));
  return h('div', {class: 'charts'},
    lineChart({id: 'rps', title: 'Requests per second', times, format: fmtRps, series: [{name: 'rps', cls: 's-rps', values: get('rps')}]}),
    lineChart({id: 'errors', title: 'Error rate', times, format: fmtPct, series: [{name: 'errors', cls: 's-err', values: pct}]}),
    lineChart({id: 'latency', title: 'Latency (ms)', times, format: fmtMs, series: [
      {name: 'p50', cls: 's-p50', values: get('p50ms')},
      {name: 'p99', cls: 's-p99', values: get('p99ms')},
    ]}));
}

// renderService builds the page of the service d (a ServiceDetail). topo,
// when known, names the nodes its edges join.
export function renderService(d, topo, span) {
  const nodesById = new Map(((topo && topo.nodes) || []).map((n) => [n.id, n]));
  const sig = d.signals || {};
  const badges = [healthPill(d.health)];
  if (d.exported) badges.push(pill('exported', 'badge-exported'));
  if (d.imported) badges.push(pill('imported', 'badge-imported'));
  if (d.mtls) badges.push(pill('mTLS ' + d.mtls, d.mtls === 'STRICT' ? 'mtls-strict' : 'mtls-permissive'));

  const facts = h('dl', {class: 'facts'});
  const fact = (k, ...v) => facts.append(h('div', null, h('dt', null, k), h('dd', null, v)));
  fact('Cluster', d.cluster || '–');
  fact('Namespace', d.namespace || '–');
  // In a ServiceDetail "endpoints" is the list (it hides the Node's count).
  const eps = Array.isArray(d.endpoints) ? d.endpoints : [];
  fact('Endpoints', `${eps.filter((e) => e.healthy).length}/${eps.length} healthy`);
  if (d.hostnames && d.hostnames.length) fact('Hostnames', d.hostnames.map((x) => h('div', null, mono(x))));
  if (d.addresses && d.addresses.length) fact('Addresses', d.addresses.map((x) => h('div', null, mono(x))));
  fact('Identities', d.identities && d.identities.length
    ? d.identities.map((x) => h('div', {class: 'identity'}, mono(x)))
    : h('span', {class: 'muted'}, 'none reported'));

  const header = h('section', {class: 'card service-head'},
    h('div', {class: 'service-title'},
      h('h1', null, d.name, h('span', {class: 'muted'}, ` ${d.namespace} · ${d.cluster}`)),
      h('div', {class: 'badges'}, badges)),
    h('div', {class: 'service-grid'},
      facts,
      h('div', {class: 'stats'},
        stat('requests/s', fmt.rps(sig.rps)),
        stat('errors', fmt.percent(sig.errorRate), sig.errorRate > 0.05 ? 'bad' : sig.errorRate > 0.01 ? 'warn' : ''),
        stat('p50', fmt.ms(sig.p50ms)),
        stat('p99', fmt.ms(sig.p99ms)))));

  const ports = d.ports || [];
  const routes = d.routes || [];
  const policies = d.policies || [];
  const callers = d.callers || [];
  const calls = d.calls || [];

  const seriesSection = h('section', {class: 'card', dataset: {section: 'charts'}},
    h('h2', null, 'Golden signals', h('span', {class: 'muted small'}, ` received requests, last ${span}`)),
    charts(d.series));

  return [
    header,
    seriesSection,
    h('div', {class: 'two-col'},
      section('ports', 'Ports', ports.length, () => table(['Name', 'Port ', 'Protocol'],
        ports.map((p) => h('tr', null, h('td', null, p.name || '–'), h('td', {class: 'num'}, String(p.port)), h('td', null, p.protocol))),
      ), 'No ports.'),
      section('policies', 'Policies', policies.length, () => table(['Kind', 'Name', 'Summary'],
        policies.map((p) => h('tr', null, h('td', null, p.kind), h('td', null, mono(`${p.namespace}/${p.name}`)), h('td', null, p.summary))),
      ), 'No TrafficPolicy or AuthorizationPolicy applies to this service.')),
    section('endpoints', 'Endpoints', eps.length, () => table(['Address', 'Cluster', 'Workload', 'Identity', 'Status'],
      eps.map((e) => h('tr', {dataset: {healthy: String(Boolean(e.healthy))}},
        h('td', null, mono(e.address), e.gateway ? pill('via gateway', 'badge-gateway', {title: 'a peer cluster\'s gateway standing for its instances'}) : null),
        h('td', null, e.cluster),
        h('td', null, e.workload || '–'),
        h('td', null, e.identity ? mono(e.identity) : h('span', {class: 'muted'}, '–')),
        h('td', null, e.healthy ? pill('healthy', 'health-ok') : pill('unhealthy', 'health-error')))),
    ), 'No endpoints: no workload serves this service.'),
    section('routes', 'Routes', routes.length, () => table(['Kind', 'Name', 'Rules'],
      routes.map((r) => h('tr', null,
        h('td', null, r.kind),
        h('td', null, mono(`${r.namespace}/${r.name}`)),
        h('td', null, h('ol', {class: 'rules'}, (r.rules || []).map((line) => h('li', null, line)))))),
    ), 'No HTTPRoute or GRPCRoute attaches to this service: requests go to its endpoints round robin.'),
    h('div', {class: 'two-col'},
      section('callers', 'Callers', callers.length, () => table(['From', 'Via', 'Req/s ', 'Errors ', 'p50 ', 'p99 ', 'Health'],
        edgeRows(callers, (e) => e.source, nodesById)), 'No callers in the last window.'),
      section('calls', 'Calls', calls.length, () => table(['To', 'Via', 'Req/s ', 'Errors ', 'p50 ', 'p99 ', 'Health'],
        edgeRows(calls, (e) => e.target, nodesById)), 'It calls no other service in the last window.')),
  ];
}
