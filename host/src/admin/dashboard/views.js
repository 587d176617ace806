// The dashboard's views: DOM built with textContent only (never innerHTML, so a route id or an
// error message cannot inject markup), sparklines as inline SVG, numbers formatted for people.

const SVG = 'http://www.w3.org/2000/svg';

/** An element: h('td', { class: 'num', title: 'x' }, child, 'text', ...). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A sparkline of `values` (oldest first) as an SVG polyline scaled to its maximum. */
export function sparkline(values, { width = 240, height = 40, label = '' } = {}) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const max = Math.max(...values, 0) || 1;
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`);
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', points.join(' '));
  line.setAttribute('class', 'spark-line');
  svg.append(line);
  return svg;
}

export function fmtRate(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function fmtSeconds(s) {
  if (s === null || s === undefined) return '–';
  if (s < 0.001) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(s < 0.01 ? 2 : 1)} ms`;
  return `${s.toFixed(2)} s`;
}

export function fmtMicros(us) {
  return us === null || us === undefined ? '–' : fmtSeconds(us / 1e6);
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function fmtDuration(s) {
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const mm = Math.floor(s / 60); s -= mm * 60;
  if (d) return `${d}d ${hh}h ${mm}m`;
  if (hh) return `${hh}h ${mm}m ${s}s`;
  if (mm) return `${mm}m ${s}s`;
  return `${s}s`;
}

export function fmtTime(unixSeconds) {
  if (!unixSeconds) return '–';
  return new Date(unixSeconds * 1000).toLocaleString();
}

/** A route's match rules in one line: `GET,PUT api.example.com /orders/{id} [x-tenant]`. */
export function describeMatch(m) {
  if (!m) return '';
  const parts = [];
  if (m.methods && m.methods.length) parts.push(m.methods.join(','));
  if (m.host) parts.push(m.host);
  parts.push(m.path_kind === 'prefix' ? `${m.path}${m.path.endsWith('/') ? '' : '/'}*` : m.path);
  for (const header of m.headers || []) parts.push(header.value === null ? `[${header.name}]` : `[${header.name}=${header.value}]`);
  return parts.join(' ');
}

/** A badge: `ok`, `bad`, `warn` or `off`. */
export function badge(text, kind) {
  return h('span', { class: `badge ${kind}` }, text);
}

/** Status-class counts as a small stacked bar with its numbers. */
export function statusBar(classes) {
  const total = Object.values(classes).reduce((a, b) => a + b, 0);
  const bar = h('span', { class: 'status-bar', title: Object.entries(classes).map(([k, v]) => `${k}: ${fmtRate(v)}/s`).join(', ') });
  for (const [name, value] of Object.entries(classes)) {
    if (!value) continue;
    const seg = h('span', { class: `seg s${name[0]}` });
    seg.style.flexGrow = String(value / (total || 1));
    bar.append(seg);
  }
  const text = Object.entries(classes).filter(([, v]) => v).map(([k, v]) => `${k} ${fmtRate(v)}`).join(' · ');
  return h('span', { class: 'status-classes' }, bar, h('span', { class: 'muted' }, text || 'no requests'));
}
