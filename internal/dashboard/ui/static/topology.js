// The topology view: the graph (SVG), its legend and the edge list.

import {h, s, clear, fitText} from './dom.js';
import * as fmt from './format.js';
import {computeLayout, NODE_W, NODE_H, GW_R} from './layout.js';

const HEALTHS = ['ok', 'warning', 'error', 'idle'];
// The graph shrinks to fit its card down to this scale; past it, the card
// scrolls (drag to pan) so that the labels stay readable.
const MIN_SCALE = 0.8;

export function serviceHash(n) {
  return '#/service/' + [n.cluster, n.namespace, n.name].map(encodeURIComponent).join('/');
}

function isService(n) {
  return n && n.kind === 'service' && !n.synthetic && n.namespace;
}

function nodeTitle(n) {
  const lines = [`${n.name} (${n.kind})`, n.id, `health: ${fmt.healthText(n.health)}`];
  if (n.kind === 'service') {
    lines.push(`endpoints: ${fmt.endpoints(n)} healthy`);
    if (n.mtls) lines.push(`mTLS: ${n.mtls}`);
    if (n.exported) lines.push('exported to peers');
    if (n.imported) lines.push('imported from a peer');
  }
  const g = n.signals || {};
  if (g.rps > 0) lines.push(`received: ${fmt.rps(g.rps)} rps · ${fmt.percent(g.errorRate)} errors · p50 ${fmt.ms(g.p50ms)} · p99 ${fmt.ms(g.p99ms)}`);
  if (isService(n)) lines.push('click for details');
  return lines.join('\n');
}

function lockIcon(mode) {
  const open = mode !== 'STRICT';
  return s('g', {class: 'lock' + (open ? ' lock-open' : ''), transform: `translate(${NODE_W - 22},9)`},
    s('title', {text: `mTLS ${mode}`}),
    s('path', {class: 'lock-shackle', d: open ? 'M3.5,7 V4.5 a3.5,3.5 0 0 1 7,0' : 'M3.5,7 V4.5 a3.5,3.5 0 0 1 7,0 V7'}),
    s('rect', {class: 'lock-body', x: 1.5, y: 7, width: 11, height: 8.5, rx: 1.8}));
}

function badge(text, cls, x, y) {
  const g = s('g', {class: 'badge ' + cls, transform: `translate(${x},${y})`});
  const t = s('text', {x: 7, y: 10.5, text});
  g.append(s('rect', {class: 'badge-bg', height: 15, rx: 7.5}), t);
  return g;
}

// sizeBadges sets the width of each badge's background to its text, and
// right-aligns the badges marked so. The SVG must be in the document.
function sizeBadges(root) {
  for (const g of root.querySelectorAll('.badge')) {
    const w = g.querySelector('text').getComputedTextLength() + 14;
    g.querySelector('rect').setAttribute('width', w.toFixed(1));
    if (g.dataset.alignRight !== undefined) {
      const [x, y] = g.getAttribute('transform').match(/-?[\d.]+/g).map(Number);
      g.setAttribute('transform', `translate(${(x - w).toFixed(1)},${y})`);
    }
  }
}

function hexagon(r) {
  const pts = [];
  for (let i = 0; i < 6; i++) {
    const a = Math.PI / 6 + (i * Math.PI) / 3;
    pts.push(`${(r * Math.cos(a)).toFixed(1)},${(r * Math.sin(a)).toFixed(1)}`);
  }
  return pts.join(' ');
}

function drawNode(p) {
  const n = p.node;
  const health = HEALTHS.includes(n.health) ? n.health : 'idle';
  const attrs = {
    class: `node kind-${p.gateway ? 'gateway' : n.kind}` + (isService(n) ? ' clickable' : ''),
    transform: `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})`,
    dataset: {nodeId: n.id, health: n.health || '', kind: n.kind || ''},
  };
  if (isService(n)) {
    Object.assign(attrs, {tabindex: 0, role: 'link', 'aria-label': `${n.name} in ${n.cluster}: ${fmt.healthText(health)}. Open service page.`});
  }
  const g = s('g', attrs, s('title', {text: nodeTitle(n)}));
  if (p.gateway) {
    g.append(
      s('polygon', {class: 'node-box', points: hexagon(GW_R), transform: `translate(${GW_R},${GW_R})`}),
      s('path', {class: 'gw-icon', d: 'M-8,-3 H7 M3,-7 L7,-3 L3,1 M8,4 H-7 M-3,0 L-7,4 L-3,8', transform: `translate(${GW_R},${GW_R - 1})`}),
    );
    const label = s('text', {class: 'node-sub gw-label', x: GW_R, y: GW_R * 2 + 14, 'text-anchor': 'middle', text: n.name});
    g.append(label);
    return {g, fit: [[label, 120]]};
  }
  g.append(s('rect', {class: 'node-box', width: NODE_W, height: NODE_H, rx: n.kind === 'workload' ? 4 : 10}));
  g.append(n.kind === 'workload'
    ? s('rect', {class: 'node-icon', x: 11, y: 14, width: 12, height: 12, rx: 2})
    : s('circle', {class: 'node-icon', cx: 17, cy: 20, r: 6.5}));
  const name = s('text', {class: 'node-name', x: 32, y: 24, text: n.name});
  const sub = s('text', {class: 'node-sub', x: 32, y: 41});
  sub.append(s('tspan', {text: n.namespace || n.cluster}));
  if (n.kind === 'service' && !(n.imported && !n.endpoints)) {
    const bad = n.endpoints > 0 && n.healthyEndpoints === 0 ? 'ep-bad' : n.healthyEndpoints < n.endpoints || n.endpoints === 0 ? 'ep-warn' : 'ep-ok';
    sub.append(s('tspan', {class: 'node-sep', text: ' · '}), s('tspan', {class: 'ep ' + bad, text: fmt.endpoints(n)}));
  } else if (n.kind === 'workload') {
    sub.append(s('tspan', {class: 'node-sep', text: ' · '}), s('tspan', {text: 'workload'}));
  }
  g.append(name, sub);
  if (n.mtls) g.append(lockIcon(n.mtls));
  if (n.exported || n.imported) {
    const b = badge(n.exported ? 'exported' : 'imported', n.exported ? 'badge-exported' : 'badge-imported', NODE_W - 10, -8);
    b.dataset.alignRight = '';
    g.append(b);
  }
  return {g, fit: [[name, NODE_W - 32 - (n.mtls ? 26 : 8)], [sub, NODE_W - 40]]};
}

function drawCluster(gr, topo) {
  const c = gr.cluster;
  const local = c ? c.local || c.name === topo.cluster : gr.name === topo.cluster;
  let state = 'unknown';
  if (local) state = 'local';
  else if (c) state = c.connected ? 'connected' : 'disconnected';
  const g = s('g', {
    class: `cluster cluster-${state}`,
    transform: `translate(${gr.x},${gr.y})`,
    dataset: {cluster: gr.name, state},
  });
  const tip = [`cluster ${gr.name || '(unnamed)'}`];
  if (c && c.trustDomain) tip.push(`trust domain: ${c.trustDomain}`);
  if (c && c.gateways && c.gateways.length) tip.push(`gateways: ${c.gateways.join(', ')}`);
  if (!c) tip.push('not among this control plane\'s clusters');
  if (c && c.error) tip.push(`error: ${c.error}`);
  g.append(s('title', {text: tip.join('\n')}));
  g.append(s('rect', {class: 'cluster-box', width: gr.w, height: gr.h, rx: 14}));
  g.append(s('path', {class: 'cluster-head', d: `M0,44 H${gr.w}`}));
  const name = s('text', {class: 'cluster-name', x: 16, y: 20, text: gr.name || '(no cluster)'});
  const td = s('text', {class: 'cluster-td', x: 16, y: 36, text: (c && c.trustDomain) || (c ? 'no trust domain' : 'unknown cluster')});
  g.append(name, td);
  const b = badge(state, 'badge-' + state, gr.w - 12, 14);
  b.dataset.alignRight = '';
  g.append(b);
  if (c && c.error) {
    const warn = s('g', {class: 'cluster-error', transform: `translate(${gr.w - 12},30)`},
      s('title', {text: c.error}),
      s('text', {x: 0, y: 9, 'text-anchor': 'end', text: '⚠ ' + c.error}));
    g.append(warn);
  }
  if (gr.empty) {
    g.append(s('text', {class: 'cluster-empty', x: gr.w / 2, y: gr.h / 2 + 20, 'text-anchor': 'middle', text: 'no services'}));
  }
  return {g, fit: [[name, gr.w - 130], [td, gr.w - 40]], errorText: c && c.error ? [g.querySelector('.cluster-error text'), gr.w - 140] : null};
}

function strokeWidth(sig) {
  const r = (sig && sig.rps) || 0;
  return (1.4 + Math.min(4.2, Math.log10(1 + r) * 1.7)).toFixed(2);
}

// drawEdge returns the edge's line and, apart, its label (or null): the
// labels go in a layer of their own over every line, so that no line
// crosses another edge's label. Both carry the edge's data-source,
// data-target, data-health and data-via.
function drawEdge(le, nodes) {
  const e = le.edge;
  const health = HEALTHS.includes(e.health) ? e.health : 'idle';
  const text = fmt.signals(e.signals);
  const name = (id) => (nodes.get(id) ? nodes.get(id).node.name : id);
  const title = `${name(e.source)} → ${name(e.target)}${e.via ? ` (via ${name(e.via)})` : ''}\n${text}\n${fmt.healthText(e.health)}`;
  const dataset = {source: e.source, target: e.target, health: e.health || '', via: e.via || undefined};
  const g = s('g', {class: 'edge' + (le.back ? ' edge-back' : ''), dataset}, s('title', {text: title}));
  g.append(
    s('path', {class: 'edge-hit', d: le.d}),
    s('path', {class: 'edge-line', d: le.d, 'stroke-width': strokeWidth(e.signals), 'marker-end': `url(#arrow-${health})`}),
  );
  if (!le.label) return {g, label: null};
  const [rate, latency] = text.split(' · p99 ');
  const t = s('text', {class: 'edge-label-text', 'text-anchor': 'middle'},
    s('tspan', {x: 0, y: -2, text: rate}),
    // Hidden: it keeps the label's text the single line "… · p99 …".
    s('tspan', {class: 'sep', text: ' · '}),
    s('tspan', {x: 0, y: 11, text: 'p99 ' + latency}));
  const label = s('g', {
    class: 'edge-label',
    transform: `translate(${le.label.x.toFixed(1)},${le.label.y.toFixed(1)})`,
    dataset,
  }, s('title', {text: title}), s('rect', {class: 'edge-label-bg', rx: 5}), t);
  return {g, label};
}

function defs() {
  return s('defs', null, HEALTHS.map((hl) => s('marker', {
    id: 'arrow-' + hl, class: 'arrow arrow-' + hl, viewBox: '0 0 10 10', refX: 9, refY: 5,
    markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto',
  }, s('path', {d: 'M0,0 L10,5 L0,10 z'}))));
}

// renderGraph draws topo into the element holder, which it empties first.
export function renderGraph(holder, topo, memory) {
  const lay = computeLayout(topo, memory);
  const svg = s('svg', {
    class: 'topology', viewBox: `0 0 ${lay.width} ${lay.height}`, width: lay.width, height: lay.height,
    role: 'group', 'aria-label': 'Service topology',
  });
  // CSSOM, not a style attribute: allowed under a strict CSP.
  svg.style.minWidth = `${Math.round(lay.width * MIN_SCALE)}px`;
  const scroll = holder.scrollLeft;
  const active = document.activeElement;
  const focused = active && holder.contains(active) && active.dataset ? active.dataset.nodeId : null;
  clear(holder).append(svg);
  holder.scrollLeft = scroll;
  svg.append(defs());
  const clusters = s('g', {class: 'layer-clusters'});
  const edges = s('g', {class: 'layer-edges'});
  // Edge labels over every edge line, under the nodes (which they never
  // overlap).
  const labels = s('g', {class: 'layer-labels'});
  const nodes = s('g', {class: 'layer-nodes'});
  svg.append(clusters, edges, labels, nodes);
  const fits = [];
  for (const gr of lay.groups) {
    const c = drawCluster(gr, topo);
    clusters.append(c.g);
    fits.push(...c.fit);
    if (c.errorText) fits.push(c.errorText);
  }
  for (const le of lay.edges) {
    const d = drawEdge(le, lay.nodes);
    edges.append(d.g);
    if (d.label) labels.append(d.label);
  }
  for (const id of [...lay.nodes.keys()].sort()) {
    const d = drawNode(lay.nodes.get(id));
    nodes.append(d.g);
    fits.push(...d.fit);
  }
  // Measuring needs the elements in the document: fit texts, size badges
  // and the labels' backgrounds.
  for (const [el, w] of fits) if (el) fitText(el, w);
  sizeBadges(svg);
  for (const lg of svg.querySelectorAll('g.edge-label')) {
    const b = lg.querySelector('text').getBBox();
    const rect = lg.querySelector('rect');
    rect.setAttribute('x', (b.x - 6).toFixed(1));
    rect.setAttribute('y', (b.y - 3).toFixed(1));
    rect.setAttribute('width', (b.width + 12).toFixed(1));
    rect.setAttribute('height', (b.height + 6).toFixed(1));
  }
  // Keep the keyboard focus on the node it was on.
  if (focused) {
    const again = [...svg.querySelectorAll('g.node')].find((n) => n.dataset.nodeId === focused);
    if (again) again.focus({preventScroll: true});
  }
  return lay;
}

// wireGraph adds the graph's interactions to holder once: open a service
// page on click or Enter, and highlight a node's edges on hover.
export function wireGraph(holder) {
  const open = (ev) => {
    const g = ev.target.closest && ev.target.closest('g.node.clickable');
    if (!g) return;
    const p = fmt.parseNodeID(g.dataset.nodeId);
    location.hash = serviceHash(p);
  };
  holder.addEventListener('click', open);
  holder.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      open(ev);
    }
  });
  // An edge and its label (apart, in the label layer) match by source and
  // target: the API has one edge per pair.
  const sameEdge = (a, b) => a.dataset.source === b.dataset.source && a.dataset.target === b.dataset.target;
  const edgeParts = (svg) => svg.querySelectorAll('g.edge, g.edge-label');
  const highlight = (id) => {
    const svg = holder.querySelector('svg');
    if (!svg) return;
    svg.classList.toggle('focused', Boolean(id));
    for (const e of edgeParts(svg)) {
      e.classList.toggle('hl', Boolean(id) && (e.dataset.source === id || e.dataset.target === id || e.dataset.via === id));
    }
    for (const n of svg.querySelectorAll('g.node')) n.classList.toggle('hl', n.dataset.nodeId === id);
  };
  // hover marks the edge under the pointer, line and label together.
  const hover = (edge) => {
    const svg = holder.querySelector('svg');
    if (!svg) return;
    for (const e of edgeParts(svg)) e.classList.toggle('hover', Boolean(edge) && sameEdge(e, edge));
  };
  holder.addEventListener('mouseover', (ev) => {
    const g = ev.target.closest && ev.target.closest('g.node');
    highlight(g ? g.dataset.nodeId : null);
    hover(ev.target.closest && ev.target.closest('g.edge, g.edge-label'));
  });
  holder.addEventListener('mouseleave', () => {
    highlight(null);
    hover(null);
  });

  // Drag to pan when the graph is wider than its card.
  let drag = null;
  holder.addEventListener('mousedown', (ev) => {
    if (ev.button !== 0 || holder.scrollWidth <= holder.clientWidth) return;
    drag = {x: ev.clientX, left: holder.scrollLeft, moved: false};
  });
  window.addEventListener('mousemove', (ev) => {
    if (!drag) return;
    const dx = ev.clientX - drag.x;
    if (Math.abs(dx) > 3) drag.moved = true;
    if (drag.moved) {
      holder.scrollLeft = drag.left - dx;
      holder.classList.add('panning');
      ev.preventDefault();
    }
  });
  window.addEventListener('mouseup', () => {
    if (drag && drag.moved) {
      // Swallow the click that ends a drag.
      holder.addEventListener('click', (e) => e.stopPropagation(), {capture: true, once: true});
    }
    drag = null;
    holder.classList.remove('panning');
  });
}

function healthPill(health) {
  return h('span', {class: `pill health-${health || 'idle'}`, dataset: {health: health || ''}}, fmt.healthText(health));
}

export function nodeLink(id, nodesById) {
  const n = nodesById.get(id) || fmt.parseNodeID(id);
  const label = [n.name, h('span', {class: 'muted'}, ` ${n.namespace ? n.namespace + ' · ' : ''}${n.cluster || ''}`)];
  if (isService(n) || (!nodesById.has(id) && n.kind === 'service')) {
    return h('a', {href: serviceHash(n), title: id}, label);
  }
  return h('span', {title: id}, label);
}

export function renderEdgeTable(topo) {
  const nodesById = new Map((topo.nodes || []).map((n) => [n.id, n]));
  const edges = (topo.edges || []).slice().sort((a, b) =>
    a.source < b.source ? -1 : a.source > b.source ? 1 : a.target < b.target ? -1 : a.target > b.target ? 1 : 0);
  const section = h('section', {class: 'card', dataset: {section: 'edges'}},
    h('h2', null, 'Edges', h('span', {class: 'count'}, String(edges.length))));
  if (!edges.length) {
    section.append(h('p', {class: 'empty'}, 'No traffic yet — start some requests and the calls between services show up here.'));
    return section;
  }
  const rows = edges.map((e) => h('tr', {dataset: {source: e.source, target: e.target, health: e.health || ''}},
    h('td', null, nodeLink(e.source, nodesById)),
    h('td', null, nodeLink(e.target, nodesById)),
    h('td', {class: 'muted'}, e.via ? (nodesById.get(e.via) || fmt.parseNodeID(e.via)).name : ''),
    h('td', {class: 'num'}, fmt.rps(e.signals && e.signals.rps)),
    h('td', {class: 'num'}, fmt.percent(e.signals && e.signals.errorRate)),
    h('td', {class: 'num'}, fmt.ms(e.signals && e.signals.p99ms)),
    h('td', null, healthPill(e.health))));
  section.append(h('div', {class: 'table-wrap'}, h('table', {class: 'data edge-table'},
    h('thead', null, h('tr', null,
      h('th', {scope: 'col'}, 'Source'), h('th', {scope: 'col'}, 'Target'), h('th', {scope: 'col'}, 'Via'),
      h('th', {scope: 'col', class: 'num'}, 'Requests/s'), h('th', {scope: 'col', class: 'num'}, 'Errors'),
      h('th', {scope: 'col', class: 'num'}, 'p99'), h('th', {scope: 'col'}, 'Health'))),
    h('tbody', null, rows))));
  return section;
}

export function legend() {
  const swatch = (...children) => s('svg', {class: 'legend-swatch', viewBox: '0 0 28 16', width: 28, height: 16, 'aria-hidden': 'true'}, children);
  const line = (hl, text) => h('li', null, swatch(s('path', {class: `legend-line health-${hl}`, d: 'M2,8 H26'})), text);
  const item = (shape, text) => h('li', null, swatch(shape), text);
  return h('aside', {class: 'legend', 'aria-label': 'Legend'},
    h('ul', null,
      line('ok', 'ok'), line('warning', 'errors > 1%'), line('error', 'errors > 5% or no healthy endpoint'), line('idle', 'idle')),
    h('ul', null,
      item(s('circle', {class: 'legend-service', cx: 14, cy: 8, r: 5.5}), 'service'),
      item(s('rect', {class: 'legend-workload', x: 8.5, y: 2.5, width: 11, height: 11, rx: 2}), 'workload'),
      item(s('polygon', {class: 'legend-gateway', points: hexagon(7), transform: 'translate(14,8)'}), 'east-west gateway'),
      item(s('g', {class: 'lock', transform: 'translate(7,0)'},
        s('path', {class: 'lock-shackle', d: 'M3.5,7 V4.5 a3.5,3.5 0 0 1 7,0 V7'}),
        s('rect', {class: 'lock-body', x: 1.5, y: 7, width: 11, height: 8.5, rx: 1.8})), 'mTLS strict'),
      h('li', null, h('span', {class: 'legend-ep'}, '2/3'), 'healthy / all endpoints'),
      h('li', {class: 'muted'}, 'line width: requests/s')));
}
