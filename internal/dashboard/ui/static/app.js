// Plexus mesh dashboard: routes between the topology view (#/) and the
// service pages (#/service/<cluster>/<namespace>/<name>), and keeps the
// topology live with Server-Sent Events, polling while they are down.
//
// Every URL is relative to the page, so the dashboard also works when it is
// served under a path prefix.

import {h, clear} from './dom.js';
import * as fmt from './format.js';
import {newMemory} from './layout.js';
import {renderGraph, wireGraph, renderEdgeTable, legend} from './topology.js';
import {renderService} from './service.js';

const WINDOW = '1m';
const SPAN = '15m';
const POLL_MS = 5000;
const RECONNECT_MS = 15000;

const state = {
  topo: null,
  topoTime: 0,
  error: '',
  memory: newMemory(),
  route: {view: 'topology'},
  serviceTimer: 0,
  serviceGen: 0,
  es: null,
  pollTimer: 0,
};

const $ = (id) => document.getElementById(id);

// ---- data --------------------------------------------------------------

async function getJSON(url) {
  const res = await fetch(url, {headers: {Accept: 'application/json'}, cache: 'no-store'});
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.text()).trim();
      if (body) msg += `: ${body.slice(0, 300)}`;
    } catch {
      // the status is enough
    }
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  return res.json();
}

function onTopology(topo) {
  const t = Date.parse(topo.time) || 0;
  if (t && t < state.topoTime) return; // an older answer arriving late
  state.topoTime = t;
  state.topo = topo;
  state.error = '';
  renderHeader();
  if (state.route.view === 'topology') renderTopologyView();
  document.body.dataset.updated = topo.time || '';
}

function onTopologyError(err) {
  state.error = `Cannot load the topology: ${err.message}`;
  renderHeader();
  if (state.route.view === 'topology' && !state.topo) renderTopologyView();
}

async function loadTopology() {
  try {
    onTopology(await getJSON(`api/topology?window=${WINDOW}`));
  } catch (err) {
    onTopologyError(err);
  }
}

// ---- live updates --------------------------------------------------------

function setConn(conn) {
  const el = $('conn');
  el.dataset.state = conn;
  const text = {connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…'}[conn] || conn;
  el.querySelector('.conn-text').textContent = text;
  el.title = conn === 'reconnecting'
    ? `The live stream is down: polling every ${POLL_MS / 1000}s while it reconnects.`
    : conn === 'live' ? 'Updates stream from the control plane.' : '';
}

function startPolling() {
  if (state.pollTimer) return;
  state.pollTimer = setInterval(loadTopology, POLL_MS);
}

function stopPolling() {
  clearInterval(state.pollTimer);
  state.pollTimer = 0;
}

function connect() {
  if (typeof EventSource === 'undefined') {
    setConn('reconnecting');
    startPolling();
    return;
  }
  const es = new EventSource('api/events');
  state.es = es;
  es.addEventListener('open', () => {
    setConn('live');
    stopPolling();
  });
  es.addEventListener('topology', (ev) => {
    let topo;
    try {
      topo = JSON.parse(ev.data);
    } catch (err) {
      onTopologyError(new Error(`bad event: ${err.message}`));
      return;
    }
    setConn('live');
    stopPolling();
    onTopology(topo);
  });
  es.addEventListener('error', () => {
    setConn('reconnecting');
    startPolling();
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (the server answered with an error): try again
      // later, polling meanwhile.
      es.close();
      setTimeout(() => {
        if (state.es === es) connect();
      }, RECONNECT_MS);
    }
  });
}

// ---- header --------------------------------------------------------------

function renderHeader() {
  const t = state.topo;
  $('hdr-cluster').textContent = t ? t.cluster || '–' : '–';
  $('hdr-cluster').title = t && t.trustDomain ? `trust domain ${t.trustDomain}` : '';
  const src = t ? t.source : '';
  $('hdr-source').textContent = src || 'no metrics yet';
  $('hdr-source').dataset.source = src || 'none';
  $('hdr-window').textContent = t ? t.window || WINDOW : WINDOW;
  $('hdr-updated').textContent = t ? fmt.clock(t.time) : '–';
  const problems = [];
  if (t && t.sourceError) problems.push(`Signals: ${t.sourceError}`);
  if (state.error) problems.push(state.error);
  const el = $('hdr-source-error');
  el.textContent = problems.join(' — ');
  el.hidden = problems.length === 0;
}

// ---- views ---------------------------------------------------------------

function view() {
  return $('view');
}

function renderTopologyView() {
  const root = view();
  let graph = $('graph');
  if (!graph) {
    clear(root);
    graph = h('div', {id: 'graph', class: 'graph'});
    wireGraph(graph);
    root.append(
      h('section', {class: 'card graph-card', dataset: {section: 'topology'}},
        h('div', {class: 'card-head'}, h('div', {class: 'card-title'}, h('h2', null, 'Topology'), fitToggle(graph)), legend()),
        graph),
      h('div', {id: 'edge-list'}));
  }
  const t = state.topo;
  if (!t) {
    clear(graph).append(h('p', {class: 'empty'}, state.error || 'Loading the topology…'));
    return;
  }
  if (!(t.nodes || []).length && !(t.clusters || []).length) {
    clear(graph).append(h('div', {class: 'empty big'},
      h('strong', null, 'No services yet'),
      h('span', null, 'Label a namespace for injection and deploy a workload: its services appear here.')));
  } else {
    renderGraph(graph, t, state.memory);
    if (!(t.edges || []).length) {
      graph.append(h('p', {class: 'empty overlay'}, 'No traffic yet — start some requests.'));
    }
  }
  clear($('edge-list')).append(renderEdgeTable(t));
  document.title = `Plexus · ${t.cluster || 'mesh'}`;
}

// fitToggle switches the graph between readable (it scrolls when wide)
// and fitted to the page; the choice is kept in this browser.
function fitToggle(graph) {
  let on = false;
  try {
    on = localStorage.getItem('plexus.fit') === '1';
  } catch {
    // no storage: not kept
  }
  const btn = h('button', {type: 'button', class: 'toggle', 'aria-pressed': String(on), title: 'Shrink a wide graph to the width of the page'}, 'Fit to width');
  graph.classList.toggle('fit', on);
  btn.addEventListener('click', () => {
    on = !on;
    graph.classList.toggle('fit', on);
    btn.setAttribute('aria-pressed', String(on));
    try {
      localStorage.setItem('plexus.fit', on ? '1' : '');
    } catch {
      // no storage: not kept
    }
  });
  return btn;
}

function serviceURL(r) {
  return 'api/services/' + [r.cluster, r.namespace, r.name].map(encodeURIComponent).join('/') + `?span=${SPAN}`;
}

function backLink() {
  return h('nav', {class: 'crumbs'}, h('a', {href: '#/', class: 'back'}, '← Topology'));
}

async function loadService(gen) {
  const r = state.route;
  try {
    const d = await getJSON(serviceURL(r));
    if (gen !== state.serviceGen) return;
    clear(view()).append(backLink(), ...renderService(d, state.topo, SPAN));
    document.body.dataset.service = `${r.cluster}/${r.namespace}/${r.name}`;
    document.title = `${d.name} · Plexus`;
  } catch (err) {
    if (gen !== state.serviceGen) return;
    const root = view();
    const notFound = err.status === 404;
    // Keep a page already drawn on a passing error; say so on top of it.
    let banner = root.querySelector('.load-error');
    if (!banner || notFound) {
      if (notFound || !root.querySelector('.service-head')) clear(root).append(backLink());
      banner = h('div', {class: 'load-error', role: 'alert'});
      root.querySelector('.crumbs').after(banner);
    }
    banner.textContent = notFound
      ? `No service ${r.name} in namespace ${r.namespace} of cluster ${r.cluster}.`
      : `Cannot load the service: ${err.message}`;
  }
}

function route() {
  clearInterval(state.serviceTimer);
  state.serviceTimer = 0;
  state.serviceGen++;
  delete document.body.dataset.service;
  const m = /^#\/service\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(location.hash);
  if (m) {
    const [cluster, namespace, name] = m.slice(1).map(decodeURIComponent);
    state.route = {view: 'service', cluster, namespace, name};
    document.body.dataset.view = 'service';
    clear(view()).append(backLink(), h('p', {class: 'empty'}, `Loading ${name}…`));
    window.scrollTo(0, 0);
    const gen = state.serviceGen;
    loadService(gen);
    state.serviceTimer = setInterval(() => loadService(gen), POLL_MS);
    return;
  }
  state.route = {view: 'topology'};
  document.body.dataset.view = 'topology';
  clear(view());
  renderTopologyView();
}

// ---- start ---------------------------------------------------------------

window.addEventListener('hashchange', route);
setConn('connecting');
renderHeader();
route();
loadTopology();
connect();
