// The Portcullis dashboard: polls the admin API at most once a second (paused while the tab is
// hidden), keeps the last few minutes of figures in the page for rates, percentiles and
// sparklines, and renders routes, plugins, upstreams, the last reload and the manifest.
// Endpoints read: GET /status, /upstreams, /plugins, /stats every poll; GET /routes and
// /manifest when the manifest revision changes; POST /reload on the button.

import {
  h, sparkline, fmtRate, fmtSeconds, fmtMicros, fmtBytes, fmtDuration, fmtTime, describeMatch,
  badge, statusBar,
} from './views.js';

const POLL_MS = 1000;
const HISTORY = 300; // polls kept: five minutes at one a second
const WINDOW_MS = 10000; // rates and percentiles over the last ten seconds
const TOKEN_KEY = 'portcullis-admin-token';
const FAILURE_KINDS = ['error', 'panic', 'trap', 'cpu-limit', 'memory-limit', 'memory-budget', 'handle-limit', 'wall-clock', 'instantiate'];

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  history: [], // { t, stats, calls: Map(key -> calls) }
  status: null,
  routes: null,
  routesVersion: null,
  manifest: null,
  upstreams: null,
  plugins: null,
  search: '',
  openRoutes: new Set(),
  timer: null,
  polling: false,
  waitingForToken: false,
};

const $ = (id) => document.getElementById(id);

class Unauthorized extends Error {}

async function api(path, method = 'GET') {
  const headers = { Accept: 'application/json' };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const response = await fetch(path, { method, headers, cache: 'no-store', credentials: 'omit' });
  if (response.status === 401) throw new Unauthorized();
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  return { status: response.status, body };
}

async function poll() {
  state.timer = null;
  if (document.hidden || state.waitingForToken || state.polling) return;
  state.polling = true;
  try {
    const [status, upstreams, plugins, stats] = await Promise.all(
      ['/status', '/upstreams', '/plugins', '/stats'].map((p) => api(p)),
    );
    state.status = status.body;
    state.upstreams = upstreams.body;
    state.plugins = plugins.body;
    if (state.status.version !== state.routesVersion) {
      const [routes, manifest] = await Promise.all([api('/routes'), api('/manifest')]);
      state.routes = routes.body;
      state.manifest = manifest.body;
      state.routesVersion = state.status.version;
      renderManifest();
    }
    remember(stats.body);
    render();
    $('poll-state').textContent = `live · ${new Date().toLocaleTimeString()}`;
    $('poll-state').className = 'muted';
  } catch (error) {
    if (error instanceof Unauthorized) {
      askForToken();
    } else {
      $('poll-state').textContent = `cannot reach the admin API (${error.message}); retrying`;
      $('poll-state').className = 'bad-text';
    }
  } finally {
    state.polling = false;
    schedule();
  }
}

function schedule() {
  if (state.timer === null && !document.hidden && !state.waitingForToken) {
    state.timer = setTimeout(poll, POLL_MS);
  }
}

function pluginKey(p) {
  return `${p.route}\u0000${p.name}\u0000${p.version}`;
}

function remember(stats) {
  const calls = new Map();
  for (const p of state.plugins.plugins) {
    calls.set(pluginKey(p), p.calls);
    if (p.canary) calls.set(pluginKey(p.canary.candidate), p.canary.candidate.calls);
    if (p.shadow) calls.set(pluginKey(p.shadow.candidate), p.shadow.candidate.calls);
  }
  state.history.push({ t: Date.now(), stats, calls });
  if (state.history.length > HISTORY) state.history.shift();
}

/** The newest poll and the oldest one within the window before it. */
function recent() {
  const last = state.history[state.history.length - 1];
  const base = state.history.find((e) => e.t >= last.t - WINDOW_MS && e !== last);
  return base ? { last, base, dt: (last.t - base.t) / 1000 } : null;
}

function byRoute(stats) {
  return new Map(stats.routes.map((r) => [r.route, r]));
}

const total = (classes) => Object.values(classes).reduce((a, b) => a + b, 0);

/** Quantile `q` of a cumulative bucket difference, interpolated within its bucket. */
function quantile(bounds, cumulative, q) {
  const n = cumulative[cumulative.length - 1];
  if (!n) return null;
  const target = q * n;
  for (let i = 0; i < cumulative.length; i += 1) {
    if (cumulative[i] >= target) {
      if (i >= bounds.length) return bounds[bounds.length - 1];
      const lower = i ? bounds[i - 1] : 0;
      const below = i ? cumulative[i - 1] : 0;
      const inBucket = cumulative[i] - below;
      return lower + (bounds[i] - lower) * (inBucket ? (target - below) / inBucket : 1);
    }
  }
  return null;
}

/** Per route over the window: requests/s by status class, p50 and p99. */
function routeFigures() {
  const w = recent();
  const figures = new Map();
  if (!w) return figures;
  const before = byRoute(w.base.stats);
  const bounds = w.last.stats.latency_bounds_s;
  for (const now of w.last.stats.routes) {
    const then = before.get(now.route);
    const classes = {};
    for (const [k, v] of Object.entries(now.status_classes)) {
      classes[k] = (v - (then ? then.status_classes[k] : 0)) / w.dt;
    }
    const buckets = now.latency.buckets.map((v, i) => v - (then ? then.latency.buckets[i] : 0));
    figures.set(now.route, {
      classes,
      rps: total(classes),
      p50: quantile(bounds, buckets, 0.5),
      p99: quantile(bounds, buckets, 0.99),
    });
  }
  return figures;
}

/** Requests/s and 5xx share between each pair of consecutive polls, oldest first. */
function overviewSeries() {
  const rps = [];
  const errors = [];
  for (let i = 1; i < state.history.length; i += 1) {
    const a = state.history[i - 1];
    const b = state.history[i];
    const dt = (b.t - a.t) / 1000 || 1;
    const sum = (stats, cls) => stats.routes.reduce((n, r) => n + (cls ? r.status_classes[cls] : total(r.status_classes)), 0);
    const requests = sum(b.stats) - sum(a.stats);
    const failed = sum(b.stats, '5xx') - sum(a.stats, '5xx');
    rps.push(Math.max(0, requests / dt));
    errors.push(requests > 0 ? (100 * failed) / requests : 0);
  }
  return { rps, errors };
}

function matches(...texts) {
  if (!state.search) return true;
  return texts.some((t) => String(t ?? '').toLowerCase().includes(state.search));
}

function render() {
  renderOverview();
  renderRoutes();
  renderPlugins();
  renderUpstreams();
}

function renderOverview() {
  const s = state.status;
  $('gateway-version').textContent = s.gateway;
  $('uptime').textContent = fmtDuration(s.uptime_s);
  $('revision').textContent = String(s.version);
  $('loaded-at').textContent = fmtTime(s.loaded_at);
  const { rps, errors } = overviewSeries();
  const w = recent();
  if (w) {
    const sum = (stats, cls) => stats.routes.reduce((n, r) => n + (cls ? r.status_classes[cls] : total(r.status_classes)), 0);
    const requests = sum(w.last.stats) - sum(w.base.stats);
    const failed = sum(w.last.stats, '5xx') - sum(w.base.stats, '5xx');
    $('rps').textContent = fmtRate(requests / w.dt);
    $('error-rate').textContent = requests ? `${((100 * failed) / requests).toFixed(2)} %` : '0 %';
  }
  $('rps-spark').replaceChildren(sparkline(rps, { label: 'requests per second, last minutes' }));
  $('error-spark').replaceChildren(sparkline(errors, { label: '5xx share, last minutes' }));
  const memory = state.plugins.memory;
  $('plugin-memory').textContent = fmtBytes(memory.used_bytes);
  $('plugin-budget').textContent = `of ${fmtBytes(memory.budget_bytes)} budget`;
  const last = s.reloads.last;
  const box = $('last-reload');
  if (!last) {
    box.replaceChildren(h('p', { class: 'muted' }, `No reload yet (${s.reloads.succeeded} succeeded, ${s.reloads.failed} refused).`));
    return;
  }
  const refused = last.errors.length > 0;
  const children = [
    h('p', {},
      'Last reload: ', badge(refused ? 'refused' : 'succeeded', refused ? 'bad' : 'ok'),
      ` by ${last.trigger} at ${fmtTime(last.finished_at)} in ${last.duration_ms} ms; `,
      refused ? `version ${last.version} kept serving` : `now version ${last.version}`,
      h('span', { class: 'muted' }, ` (${s.reloads.succeeded} succeeded, ${s.reloads.failed} refused)`)),
    // The button's own answer shows the same errors: once is enough.
    refused && !$('reload-errors') ? h('pre', { class: 'code errors', id: 'last-reload-errors' }, last.errors.join('\n')) : null,
  ];
  box.replaceChildren(...children.filter(Boolean));
}

/** The /plugins entry of a chain step (a global one is listed with route `*`). */
function pluginEntry(route, step) {
  const wanted = step.global ? '*' : route;
  return state.plugins.plugins.find((p) => p.route === wanted && p.name === step.name);
}

function renderRoutes() {
  const figures = routeFigures();
  const body = $('routes').tBodies[0];
  const rows = [];
  let shown = 0;
  for (const route of state.routes.routes) {
    const chainNames = route.chain.map((c) => c.name);
    if (!matches(route.id, route.upstream, describeMatch(route.match), ...chainNames)) continue;
    shown += 1;
    const f = figures.get(route.id);
    const open = state.openRoutes.has(route.id);
    const toggle = () => {
      if (state.openRoutes.has(route.id)) state.openRoutes.delete(route.id); else state.openRoutes.add(route.id);
      renderRoutes();
    };
    rows.push(h('tr', { class: 'route', dataset: { route: route.id }, onclick: toggle },
      h('td', {}, h('button', { class: 'twisty', type: 'button', 'aria-expanded': String(open) }, open ? '▾' : '▸'), h('strong', {}, route.id)),
      h('td', { class: 'mono' }, describeMatch(route.match)),
      h('td', {}, route.upstream),
      h('td', { class: 'chain' }, route.chain.map((c) => h('span', { class: `chip${c.global ? ' global' : ''}`, title: `${c.name} ${c.version}` }, c.name))),
      h('td', { class: 'num' }, f ? fmtRate(f.rps) : '–'),
      h('td', { class: 'num' }, f ? fmtSeconds(f.p50) : '–'),
      h('td', { class: 'num' }, f ? fmtSeconds(f.p99) : '–'),
      h('td', {}, f ? statusBar(f.classes) : h('span', { class: 'muted' }, 'no requests yet'))));
    if (open) rows.push(routeDetail(route));
  }
  body.replaceChildren(...rows);
  $('routes-count').textContent = shown === state.routes.routes.length ? `${shown}` : `${shown} of ${state.routes.routes.length}`;
}

function routeDetail(route) {
  const chain = route.chain.map((step, i) => {
    const entry = pluginEntry(route.id, step);
    const limits = entry ? `cpu ${entry.limits.cpu_ms} ms · memory ${fmtBytes(entry.limits.memory_bytes)}` : '';
    return h('tr', {},
      h('td', { class: 'num' }, String(i + 1)),
      h('td', {}, h('strong', {}, step.name), step.global ? h('span', { class: 'muted' }, ' (global)') : null),
      h('td', { class: 'mono' }, step.version),
      h('td', { class: 'mono', title: step.hash }, `sha256:${step.hash.slice(0, 12)}…`),
      h('td', {}, entry ? `${entry.isolation} · ${entry.failure}` : ''),
      h('td', {}, limits),
      h('td', {},
        step.canary ? badge(`canary ${step.canary.weight}% ${step.canary.state}`, step.canary.state === 'active' ? 'warn' : 'off') : null,
        step.shadow ? badge(`shadow ${(step.shadow.sample * 100).toFixed(0)}%`, 'off') : null,
        step.breaker ? badge('breaker', 'off') : null));
  });
  const retry = route.retries ? ` · ${route.retries} retries` : '';
  return h('tr', { class: 'detail' }, h('td', { colspan: 8 },
    h('p', { class: 'muted' }, `timeout ${route.timeout_ms} ms · try timeout ${route.try_timeout_ms} ms${retry}`),
    h('table', { class: 'chain-table' },
      h('thead', {}, h('tr', {}, ['#', 'plugin', 'version', 'digest', 'isolation · failure', 'limits', 'roll-out'].map((t) => h('th', {}, t)))),
      h('tbody', {}, chain))));
}

function failuresCell(p) {
  const kinds = FAILURE_KINDS.filter((k) => p.failures_by_kind[k]);
  if (!kinds.length) return h('span', { class: 'muted' }, 'none');
  return kinds.map((k) => badge(`${k} ${p.failures_by_kind[k]}`, 'bad'));
}

function pluginRow(p, label) {
  const w = recent();
  const before = w ? w.base.calls.get(pluginKey(p)) : undefined;
  const rate = w && before !== undefined ? (p.calls - before) / w.dt : null;
  const breaker = p.breaker ? badge(p.breaker.state, p.breaker.state === 'closed' ? 'ok' : 'bad') : h('span', { class: 'muted' }, '–');
  const canary = p.canary
    ? badge(`${p.canary.state} ${p.canary.weight}% · served ${p.canary.served.candidate}`, p.canary.state === 'rolled-back' ? 'bad' : 'warn')
    : h('span', { class: 'muted' }, '–');
  const shadow = p.shadow
    ? h('span', {}, `${p.shadow.runs} runs · ${p.shadow.agreed} agreed`)
    : h('span', { class: 'muted' }, '–');
  return h('tr', { dataset: { plugin: `${p.route}/${p.name}`, role: p.role, traps: String(p.failures_by_kind.trap) } },
    h('td', {}, h('strong', {}, p.name), label ? h('span', { class: 'muted' }, ` ${label}`) : null),
    h('td', {}, p.route),
    h('td', { class: 'mono', title: p.hash }, p.version),
    h('td', { class: 'num' }, fmtRate(rate)),
    h('td', { class: 'num' }, `${fmtMicros(p.cpu_us.p50)} · ${fmtMicros(p.cpu_us.p99)}`),
    h('td', { class: 'failures' }, failuresCell(p)),
    h('td', { class: 'num', title: `${p.instantiations} created, ${p.idle_instances} idle` }, String(p.live_instances)),
    h('td', { class: 'num', title: 'largest linear memory of one instance' }, fmtBytes(p.memory_high_water_bytes)),
    h('td', {}, breaker),
    h('td', {}, canary),
    h('td', {}, shadow));
}

function renderPlugins() {
  const rows = [];
  const all = state.plugins.plugins;
  for (const p of all) {
    if (!matches(p.name, p.route)) continue;
    rows.push(pluginRow(p, ''));
    if (p.canary) rows.push(pluginRow({ ...p.canary.candidate, route: p.route, canary: null, shadow: null }, '(canary candidate)'));
    if (p.shadow) rows.push(pluginRow({ ...p.shadow.candidate, route: p.route, canary: null, shadow: null }, '(shadow)'));
  }
  $('plugins').tBodies[0].replaceChildren(...rows);
  $('plugins-count').textContent = `${rows.length}`;
}

function renderUpstreams() {
  const rows = [];
  let shown = 0;
  for (const u of state.upstreams.upstreams) {
    const targets = u.targets.filter((t) => matches(u.name, t.address));
    if (!targets.length) continue;
    shown += 1;
    const limit = u.max_requests === null ? 'no limit' : `max ${u.max_requests}`;
    rows.push(h('tr', { class: 'group', dataset: { upstream: u.name } },
      h('td', {}, h('strong', {}, u.name), h('span', { class: 'muted' }, ` ${u.scheme}`)),
      h('td', {}, `${u.targets.filter((t) => t.healthy).length}/${u.targets.length} up`),
      h('td', {}), h('td', {}), h('td', {}),
      h('td', { class: 'num' }, String(u.active_requests)),
      h('td', {}, badge(u.breaker, u.breaker === 'open' ? 'bad' : 'ok'), h('span', { class: 'muted' }, ` ${limit}`))));
    for (const t of targets) {
      const active = t.active === null ? h('span', { class: 'muted' }, 'not checked') : badge(t.active ? 'passing' : 'failing', t.active ? 'ok' : 'bad');
      const passive = t.ejected === null ? h('span', { class: 'muted' }, 'off') : badge(t.ejected ? 'ejected' : 'in', t.ejected ? 'bad' : 'ok');
      rows.push(h('tr', { class: 'target', dataset: { upstream: u.name, target: t.address, health: t.healthy ? 'up' : 'down' } },
        h('td', { class: 'mono indent' }, t.address),
        h('td', {}, badge(t.healthy ? 'up' : 'down', t.healthy ? 'ok' : 'bad')),
        h('td', {}, active),
        h('td', {}, passive),
        h('td', { class: 'num' }, String(t.ejections)),
        h('td', { class: 'num' }, String(t.in_flight)),
        h('td', {})));
    }
  }
  $('upstreams').tBodies[0].replaceChildren(...rows);
  $('upstreams-count').textContent = `${shown}`;
}

function renderManifest() {
  $('manifest-path').textContent = `${state.manifest.path} · revision ${state.manifest.version}`;
  $('manifest').textContent = state.manifest.text;
}

async function reload() {
  const button = $('reload');
  button.disabled = true;
  const box = $('reload-result');
  box.replaceChildren(h('p', { class: 'muted' }, 'Reloading…'));
  try {
    const { status, body } = await api('/reload', 'POST');
    if (status === 200) {
      box.replaceChildren(h('p', { id: 'reload-outcome' }, badge('reloaded', 'ok'), ` now serving version ${body.version}`));
    } else if (status === 422) {
      box.replaceChildren(
        h('p', { id: 'reload-outcome' }, badge('refused', 'bad'), ` version ${body.version} keeps serving`),
        h('pre', { class: 'code errors', id: 'reload-errors' }, body.errors.join('\n')));
    } else {
      box.replaceChildren(h('p', { id: 'reload-outcome' }, badge(`HTTP ${status}`, 'bad'), ` ${body ? body.detail || '' : ''}`));
    }
  } catch (error) {
    if (error instanceof Unauthorized) askForToken();
    else box.replaceChildren(h('p', { class: 'bad-text' }, `reload failed: ${error.message}`));
  } finally {
    button.disabled = false;
    if (state.timer !== null) { clearTimeout(state.timer); state.timer = null; }
    poll();
  }
}

function askForToken() {
  state.waitingForToken = true;
  $('token-form').hidden = false;
  $('poll-state').textContent = 'the admin API wants its token';
  $('poll-state').className = 'bad-text';
  $('token').focus();
}

function start() {
  $('reload').addEventListener('click', reload);
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    state.token = $('token').value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $('token').value = '';
    $('token-form').hidden = true;
    state.waitingForToken = false;
    poll();
  });
  $('search').addEventListener('input', (event) => {
    state.search = event.target.value.trim().toLowerCase();
    if (state.routes) render();
  });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      if (state.timer !== null) { clearTimeout(state.timer); state.timer = null; }
      $('poll-state').textContent = 'paused while the tab is hidden';
    } else {
      poll();
    }
  });
  poll();
}

start();
