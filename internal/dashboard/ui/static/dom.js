// Small DOM helpers: the UI builds every element with these (no innerHTML),
// which keeps it working under a strict Content-Security-Policy.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'dataset') {
        for (const [dk, dv] of Object.entries(v)) {
          if (dv !== undefined && dv !== null) el.dataset[dk] = String(dv);
        }
      } else if (k === 'text') {
        el.textContent = String(v);
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

// append adds children: nodes, strings (as text), and arrays of them;
// null, undefined and false are skipped.
export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

// h makes an HTML element: h('td', {class: 'num'}, '12.3').
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s makes an SVG element.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

// clear removes every child of el.
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// fitText shortens an SVG text element's content with an ellipsis until it
// is at most width pixels wide. It must be in the document.
export function fitText(textEl, width) {
  const full = textEl.textContent;
  if (textEl.getComputedTextLength() <= width) return full;
  let lo = 0;
  let hi = full.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    textEl.textContent = full.slice(0, mid) + '…';
    if (textEl.getComputedTextLength() <= width) lo = mid;
    else hi = mid - 1;
  }
  textEl.textContent = full.slice(0, lo) + '…';
  return full;
}
