// Layout of the topology graph. It is a pure function of the topology and
// of the calls seen earlier in this page (memory), so that a live update
// puts every node where it was unless the graph itself changed.
//
// Each cluster is a group; groups stand in a row, the local cluster first.
// Inside a group, nodes stand in columns by call depth (callers left,
// callees right), computed from the calls between them with cycles broken.
// A group's gateway sits on its border facing the other groups. An edge
// that leaves a group, or skips a column, passes through placeholder slots
// ("dummies") so that it never runs through a node, and the nodes of each
// column are ordered to keep lines short (barycenter sweeps). An edge
// between two groups that are not neighbours runs in a lane under the
// groups in between.

export const NODE_W = 160;
export const NODE_H = 52;
export const GAP = 150; // between columns: an edge label fits in it
const BORDER_LABEL_GAP = GAP + 22; // between a border and a column, when a labelled edge crosses it
const BORDER_GAP = 60; // the same without a label
const SIDE_PAD = 28; // a group's side with nothing on its border
const ITEM_GAP = 30;
const DUMMY_H = 6;
export const GW_R = 22;
const GW_H = 2 * (GW_R + 22); // the hexagon with its label under it, centred
export const HEADER_H = 54;
const PAD_Y = 22;
const GROUP_GAP = 110;
const MARGIN = 16;
const MIN_GROUP_W = 300;
const MIN_CONTENT_H = 120;
const LABEL_SPACING = 34; // two-line edge labels in one gap keep this apart
const MEMORY_LIMIT = 4000;
const LANE_GAP = 26; // between the groups and the first lane under them
const LANE_STEP = 8;

// newMemory holds what the layout remembers across updates: the calls seen
// so far in this page, so that an edge that goes idle and disappears does
// not move the nodes it joined.
export function newMemory() {
  return {pairs: new Set()};
}

function sortedBy(items, key) {
  return items.slice().sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

function synthesize(id, localCluster) {
  const i = id.indexOf(':');
  const kind = i > 0 ? id.slice(0, i) : 'service';
  const parts = id.slice(i + 1).split('/');
  const cluster = kind === 'gateway' ? parts[0] : parts.length > 2 ? parts[0] : localCluster || '';
  return {
    id, kind, cluster,
    namespace: parts.length > 1 ? parts[parts.length - 2] : '',
    name: parts[parts.length - 1] || id,
    endpoints: 0, healthyEndpoints: 0, health: 'idle', signals: {}, synthetic: true,
  };
}

function makeGroups(topo, nodes) {
  const info = new Map();
  for (const c of topo.clusters || []) info.set(c.name, c);
  const names = new Set(info.keys());
  for (const n of nodes.values()) names.add(n.cluster || '');
  const local = topo.cluster;
  const ordered = [...names].sort((a, b) => {
    const la = a === local || (info.get(a) || {}).local;
    const lb = b === local || (info.get(b) || {}).local;
    if (la !== lb) return la ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
  });
  const count = ordered.length;
  return ordered.map((name, index) => ({
    name, index,
    cluster: info.get(name) || null,
    // The gateway faces the other groups: the first group's (the local
    // cluster's) on its right, the others' on their left, towards it.
    side: count === 1 || index === 0 ? 'right' : 'left',
    real: [], gateways: [], cols: new Map(), n: 0,
  }));
}

// assignLayers gives each node its call depth: the longest chain of calls
// leading to it, after dropping the calls that close a cycle.
function assignLayers(ids, pairs) {
  const out = new Map(ids.map((id) => [id, []]));
  const indeg = new Map(ids.map((id) => [id, 0]));
  for (const [a, b] of pairs) {
    out.get(a).push(b);
    indeg.set(b, indeg.get(b) + 1);
  }
  for (const l of out.values()) l.sort();
  const state = new Map();
  const back = new Set();
  const post = [];
  const dfs = (u) => {
    state.set(u, 1);
    for (const v of out.get(u)) {
      const st = state.get(v) || 0;
      if (st === 1) back.add(u + '\n' + v);
      else if (st === 0) dfs(v);
    }
    state.set(u, 2);
    post.push(u);
  };
  const starts = ids.filter((id) => indeg.get(id) === 0).concat(ids.filter((id) => indeg.get(id) !== 0));
  for (const id of starts) if (!state.get(id)) dfs(id);
  const layer = new Map(ids.map((id) => [id, 0]));
  for (const u of post.reverse()) {
    for (const v of out.get(u)) {
      if (!back.has(u + '\n' + v)) layer.set(v, Math.max(layer.get(v), layer.get(u) + 1));
    }
  }
  return layer;
}

function addItem(g, col, item) {
  item.group = g;
  item.col = col;
  item.nbrs = [];
  if (!g.cols.has(col)) g.cols.set(col, []);
  g.cols.get(col).push(item);
  return item;
}

// order sorts each column of a group by the mean position of the items it
// is joined to in the column before (then after), a few times over.
function order(g) {
  const keys = [...g.cols.keys()].sort((a, b) => a - b);
  const index = (col) => g.cols.get(col).forEach((it, i) => { it.idx = i; });
  for (const k of keys) {
    g.cols.set(k, sortedBy(g.cols.get(k), (it) => (it.type === 'dummy' ? '~' : '') + it.key));
    index(k);
  }
  const sweep = (col, ref) => {
    const items = g.cols.get(col);
    for (const it of items) {
      const ns = it.nbrs.filter((o) => o.group === g && o.col === ref);
      it.bc = ns.length ? ns.reduce((sum, o) => sum + o.idx, 0) / ns.length : it.idx;
    }
    items.sort((a, b) => a.bc - b.bc || a.idx - b.idx);
    index(col);
  };
  for (let round = 0; round < 4; round++) {
    for (let i = 1; i < keys.length; i++) sweep(keys[i], keys[i - 1]);
    for (let i = keys.length - 2; i >= 0; i--) sweep(keys[i], keys[i + 1]);
  }
}

function columnHeight(items) {
  return items.reduce((sum, it) => sum + it.h, 0) + ITEM_GAP * Math.max(0, items.length - 1);
}

// computeLayout places every node and edge of topo. It returns:
//   width, height: of the drawing;
//   groups: [{name, cluster, x, y, w, h, side}];
//   nodes: Map id -> {node, kind, x, y, w, h, cx, cy} (x, y: top left);
//   edges: [{edge, index, d, label: {x, y}, back}] in topo.edges order.
export function computeLayout(topo, memory = newMemory()) {
  const nodes = new Map();
  for (const n of topo.nodes || []) nodes.set(n.id, n);
  const edgesIn = topo.edges || [];
  for (const e of edgesIn) {
    for (const id of [e.source, e.target, e.via]) {
      if (id && !nodes.has(id)) nodes.set(id, synthesize(id, topo.cluster));
    }
  }
  const groups = makeGroups(topo, nodes);
  const groupByName = new Map(groups.map((g) => [g.name, g]));
  const gatewayIDs = new Set((topo.clusters || []).map((c) => c.gateway).filter(Boolean));
  const isGateway = (n) => n.kind === 'gateway' || gatewayIDs.has(n.id);
  for (const n of sortedBy([...nodes.values()], (n) => n.id)) {
    const g = groupByName.get(n.cluster || '');
    (isGateway(n) ? g.gateways : g.real).push(n);
  }

  // Routes: source, the gateway it goes through, target.
  const routes = edgesIn.map((e) => {
    const r = [e.source];
    if (e.via && e.via !== e.source && e.via !== e.target) r.push(e.via);
    r.push(e.target);
    return r;
  });
  const groupOf = (id) => groupByName.get(nodes.get(id).cluster || '');
  const gw = (id) => isGateway(nodes.get(id));
  if (memory.pairs.size > MEMORY_LIMIT) memory.pairs.clear();
  for (const r of routes) {
    for (let i = 1; i < r.length; i++) {
      const [a, b] = [r[i - 1], r[i]];
      if (a !== b && !gw(a) && !gw(b) && groupOf(a) === groupOf(b)) memory.pairs.add(a + '\n' + b);
    }
  }

  // Columns.
  const itemOf = new Map();
  for (const g of groups) {
    const ids = g.real.map((n) => n.id);
    const idSet = new Set(ids);
    const pairs = [];
    for (const p of memory.pairs) {
      const [a, b] = p.split('\n');
      if (idSet.has(a) && idSet.has(b)) pairs.push([a, b]);
    }
    const layer = assignLayers(ids, pairs);
    g.n = ids.length ? Math.max(...layer.values()) + 1 : 0;
    for (const n of g.real) {
      itemOf.set(n.id, addItem(g, layer.get(n.id), {type: 'node', key: n.id, node: n, h: NODE_H}));
    }
    for (const n of g.gateways) {
      itemOf.set(n.id, addItem(g, g.side === 'left' ? -1 : g.n, {type: 'gateway', key: n.id, node: n, h: GW_H}));
    }
  }

  // Chains of items each edge passes through, and the kind of each link.
  const chains = routes.map((r, ei) => {
    const e = edgesIn[ei];
    const key = `${e.source}>${e.target}`;
    const items = [itemOf.get(r[0])];
    const links = [];
    for (let si = 1; si < r.length; si++) {
      const A = itemOf.get(r[si - 1]);
      const B = itemOf.get(r[si]);
      const dummy = (g, col, tag) => addItem(g, col, {type: 'dummy', key: `${key}#${si}${tag}@${col}`, h: DUMMY_H});
      const seg = [];
      let kind = 'fwd';
      let cross = -1; // where in seg the link between two groups lands
      if (A === B) {
        kind = 'self';
      } else if (A.group === B.group) {
        const g = A.group;
        if (B.col > A.col) {
          for (let c = A.col + 1; c < B.col; c++) seg.push(dummy(g, c, ''));
        } else if (B.col < A.col && (A.type === 'gateway' || B.type === 'gateway')) {
          for (let c = A.col - 1; c > B.col; c--) seg.push(dummy(g, c, ''));
        } else {
          kind = 'back';
        }
      } else {
        const ga = A.group;
        const gb = B.group;
        if (A.type !== 'gateway') {
          const right = gb.index > ga.index;
          const border = right ? ga.n : -1;
          if (right) for (let c = A.col + 1; c < border; c++) seg.push(dummy(ga, c, 'x'));
          else for (let c = A.col - 1; c > border; c--) seg.push(dummy(ga, c, 'x'));
          seg.push(dummy(ga, border, 'x'));
        }
        cross = seg.length;
        if (B.type !== 'gateway') {
          const fromLeft = ga.index < gb.index;
          const border = fromLeft ? -1 : gb.n;
          seg.push(dummy(gb, border, 'e'));
          if (fromLeft) for (let c = 0; c < B.col; c++) seg.push(dummy(gb, c, 'e'));
          else for (let c = gb.n - 1; c > B.col; c--) seg.push(dummy(gb, c, 'e'));
        }
      }
      if (kind !== 'fwd') {
        links.push(kind);
        items.push(B);
        continue;
      }
      const skip = Math.abs(A.group.index - B.group.index) > 1;
      for (const [k, it] of seg.concat([B]).entries()) {
        const prev = items[items.length - 1];
        links.push(k === cross && skip ? 'skip' : 'fwd');
        items.push(it);
        if (prev.group === it.group && Math.abs(prev.col - it.col) === 1) {
          prev.nbrs.push(it);
          it.nbrs.push(prev);
        }
      }
    }
    return {items, links};
  });

  for (const g of groups) order(g);

  // Which borders carry a label (the last link of an edge ends at its target).
  for (const c of chains) {
    const from = c.items[c.items.length - 2];
    const to = c.items[c.items.length - 1];
    if (!from || from === to || from.group !== to.group) continue;
    if (from.col === -1) from.group.labelLeft = true;
    if (from.col === from.group.n && to.col < from.col) from.group.labelRight = true;
  }

  // Sizes and positions.
  let contentH = MIN_CONTENT_H;
  for (const g of groups) {
    for (const items of g.cols.values()) contentH = Math.max(contentH, columnHeight(items));
  }
  const groupH = HEADER_H + PAD_Y + contentH + PAD_Y;
  const lanes = chains.reduce((sum, c) => sum + c.links.filter((k) => k === 'skip').length, 0);
  let x = MARGIN; // the first group's gateway is on its right
  for (const g of groups) {
    const left = g.cols.has(-1) ? (g.labelLeft ? BORDER_LABEL_GAP : BORDER_GAP) : SIDE_PAD;
    const right = g.cols.has(g.n) ? (g.labelRight ? BORDER_LABEL_GAP : BORDER_GAP) : SIDE_PAD;
    const inner = g.n * NODE_W + Math.max(0, g.n - 1) * GAP;
    g.w = Math.max(MIN_GROUP_W, left + inner + right);
    g.offset = left + (g.w - (left + inner + right)) / 2;
    g.x = x;
    g.y = MARGIN;
    g.h = groupH;
    x += g.w + GROUP_GAP;
  }
  const last = groups[groups.length - 1];
  const rightExtra = last && last.cols.has(last.n) && last.cols.get(last.n).some((it) => it.type === 'gateway') ? GW_R : 0;
  const width = groups.length ? last.x + last.w + rightExtra + MARGIN : 2 * MARGIN;
  const laneTop = MARGIN + groupH + LANE_GAP;
  const height = MARGIN + groupH + (lanes ? LANE_GAP + (lanes - 1) * LANE_STEP + LANE_GAP / 2 : 0) + MARGIN;

  const place = new Map();
  for (const g of groups) {
    const top = g.y + HEADER_H + PAD_Y;
    for (const [col, items] of g.cols) {
      let y = top + (contentH - columnHeight(items)) / 2;
      for (const it of items) {
        it.cy = y + it.h / 2;
        y += it.h + ITEM_GAP;
        if (col === -1) {
          it.cx = g.x;
          it.hw = 0;
        } else if (col === g.n) {
          it.cx = g.x + g.w;
          it.hw = 0;
        } else {
          it.cx = g.x + g.offset + col * (NODE_W + GAP) + NODE_W / 2;
          it.hw = NODE_W / 2;
        }
        if (it.type === 'gateway') it.hw = GW_R;
      }
    }
    for (const items of g.cols.values()) {
      for (const it of items) {
        if (it.type === 'dummy') continue;
        const w = it.type === 'gateway' ? GW_R * 2 : NODE_W;
        const h = it.type === 'gateway' ? GW_R * 2 : NODE_H;
        place.set(it.node.id, {
          node: it.node, kind: it.node.kind || (it.type === 'gateway' ? 'gateway' : 'service'),
          gateway: it.type === 'gateway', group: g.name,
          cx: it.cx, cy: it.cy, w, h, x: it.cx - w / 2, y: it.cy - h / 2,
        });
      }
    }
  }

  const lane = {next: 0, y: (i) => laneTop + i * LANE_STEP};
  const edges = chains.map((c, index) => ({edge: edgesIn[index], index, ...edgePath(c, lane)}));
  spreadLabels(edges);

  return {
    width, height, nodes: place, edges,
    groups: groups.map((g) => ({name: g.name, cluster: g.cluster, x: g.x, y: g.y, w: g.w, h: g.h, side: g.side, empty: g.real.length === 0})),
  };
}

function bezier(p, tp, q, tq, k) {
  const c1 = {x: p.x + tp.x * k, y: p.y + tp.y * k};
  const c2 = {x: q.x - tq.x * k, y: q.y - tq.y * k};
  const mid = {
    x: 0.125 * p.x + 0.375 * c1.x + 0.375 * c2.x + 0.125 * q.x,
    y: 0.125 * p.y + 0.375 * c1.y + 0.375 * c2.y + 0.125 * q.y,
  };
  return {d: `C${f(c1.x)},${f(c1.y)} ${f(c2.x)},${f(c2.y)} ${f(q.x)},${f(q.y)}`, mid};
}

function f(v) {
  return Math.round(v * 10) / 10;
}

// edgePath draws a chain as one path: curves between items, straight
// through the columns its dummies stand in. The label goes on the last
// curve, the one that reaches the target.
function edgePath({items, links}, lane) {
  let d = '';
  let label = null;
  let labelKey = '';
  let back = false;
  for (let i = 1; i < items.length; i++) {
    const P = items[i - 1];
    const Q = items[i];
    const kind = links[i - 1];
    let seg;
    if (kind === 'self') {
      const x = P.cx + P.hw - 30;
      const y = P.cy - NODE_H / 2;
      const p = {x, y};
      const q = {x: P.cx + P.hw, y: y + 16};
      if (!d) d = `M${f(p.x)},${f(p.y)}`;
      seg = bezier(p, {x: 0, y: -1}, q, {x: -1, y: 0}, 34);
      d += seg.d;
      label = {x: P.cx + P.hw, y: y - 22};
      labelKey = 'self:' + i;
      continue;
    }
    if (kind === 'back') {
      back = true;
      const p = {x: P.cx, y: P.cy + NODE_H / 2};
      const q = {x: Q.cx, y: Q.cy + NODE_H / 2};
      const k = 46 + Math.abs(p.x - q.x) * 0.1;
      if (!d) d = `M${f(p.x)},${f(p.y)}`;
      else d += `L${f(p.x)},${f(p.y)}`;
      seg = bezier(p, {x: 0, y: 1}, q, {x: 0, y: -1}, k);
      d += seg.d;
      label = {x: seg.mid.x, y: seg.mid.y + 2};
      labelKey = 'back:' + P.key + '>' + Q.key;
      continue;
    }
    const dir = Q.cx >= P.cx ? 1 : -1;
    const p = {x: P.cx + dir * P.hw, y: P.cy};
    const q = {x: Q.cx - dir * Q.hw, y: Q.cy};
    if (kind === 'skip') {
      // Down the middle of the gap after P's group, along a lane under the
      // groups, and up the middle of the gap before Q's: square corners,
      // rounded.
      const n = lane.next++;
      const y = lane.y(n);
      const off = n * LANE_STEP;
      const gp = P.group;
      const gq = Q.group;
      const x1 = dir > 0 ? gp.x + gp.w + GROUP_GAP / 2 - off : gp.x - GROUP_GAP / 2 + off;
      const x2 = dir > 0 ? gq.x - GROUP_GAP / 2 + off : gq.x + gq.w + GROUP_GAP / 2 - off;
      const r = 10;
      if (!d) d = `M${f(p.x)},${f(p.y)}`;
      else d += `L${f(p.x)},${f(p.y)}`;
      d += `L${f(x1 - dir * r)},${f(p.y)}Q${f(x1)},${f(p.y)} ${f(x1)},${f(p.y + r)}`;
      d += `L${f(x1)},${f(y - r)}Q${f(x1)},${f(y)} ${f(x1 + dir * r)},${f(y)}`;
      d += `L${f(x2 - dir * r)},${f(y)}Q${f(x2)},${f(y)} ${f(x2)},${f(y - r)}`;
      d += `L${f(x2)},${f(q.y + r)}Q${f(x2)},${f(q.y)} ${f(x2 + dir * r)},${f(q.y)}L${f(q.x)},${f(q.y)}`;
      if (i === items.length - 1) {
        label = {x: (x1 + x2) / 2, y};
        labelKey = 'lane:' + n;
      }
      continue;
    }
    const tp = {x: dir, y: 0};
    const tq = tp;
    const k = Math.max(20, Math.abs(q.x - p.x) * 0.5);
    if (!d) d = `M${f(p.x)},${f(p.y)}`;
    else d += `L${f(p.x)},${f(p.y)}`;
    seg = bezier(p, tp, q, tq, k);
    d += seg.d;
    if (i === items.length - 1) {
      label = seg.mid;
      labelKey = `${Q.group.name}|${Math.min(P.col, Q.col)}`;
    }
  }
  return {d, back, label: label ? {x: label.x, y: label.y, key: labelKey} : null};
}

// spreadLabels moves the labels that share a gap apart vertically.
function spreadLabels(edges) {
  const byKey = new Map();
  for (const e of edges) {
    if (!e.label) continue;
    const k = e.label.key + '@' + Math.round(e.label.x / 20);
    if (!byKey.has(k)) byKey.set(k, []);
    byKey.get(k).push(e.label);
  }
  for (const labels of byKey.values()) {
    if (labels.length < 2) continue;
    labels.sort((a, b) => a.y - b.y);
    const before = labels.reduce((s, l) => s + l.y, 0);
    for (let i = 1; i < labels.length; i++) {
      labels[i].y = Math.max(labels[i].y, labels[i - 1].y + LABEL_SPACING);
    }
    const shift = (labels.reduce((s, l) => s + l.y, 0) - before) / labels.length;
    for (const l of labels) l.y -= shift;
  }
}
