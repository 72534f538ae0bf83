// skiff's web console: one page, no framework. It lists each kind once, then keeps it current
// from the API's watch streams (no reloads), and draws the service graph and charts from
// /metrics and /skiff/v1/history. Every request carries the user's token.
'use strict';

const KINDS = {
  nodes: '/api/v1/nodes',
  pods: '/api/v1/pods',
  deployments: '/apis/apps/v1/deployments',
  services: '/api/v1/services',
  events: '/api/v1/events',
};
const state = { nodes: new Map(), pods: new Map(), deployments: new Map(), services: new Map(), events: new Map() };
let token = '';
let renderQueued = false;
let logAbort = null;
const graph = { prev: null, prevAt: 0, edges: [] };
let chartData = { samples: [] };

// ---------- helpers ----------

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const keyOf = (o) => (o.metadata.namespace ? o.metadata.namespace + '/' : '') + o.metadata.name;
function age(ts) {
  if (!ts) return '';
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 120) return Math.floor(s) + 's';
  if (s < 7200) return Math.floor(s / 60) + 'm';
  if (s < 172800) return Math.floor(s / 3600) + 'h';
  return Math.floor(s / 86400) + 'd';
}
function bytes(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + ' ' + u[i];
}

async function api(path, options = {}) {
  const r = await fetch(path, { ...options, headers: { Authorization: 'Bearer ' + token, ...(options.headers || {}) } });
  if (r.status === 401) { showLogin('That token was not accepted.'); throw new Error('unauthorized'); }
  return r;
}

function setConn(text) { document.getElementById('conn').textContent = text; }

// ---------- watches ----------

// Lists a kind, then follows its watch stream; reconnects (relisting) when the stream ends.
async function follow(kind) {
  const path = KINDS[kind];
  for (;;) {
    try {
      const list = await (await api(path)).json();
      const map = state[kind];
      map.clear();
      for (const o of list.items || []) map.set(keyOf(o), o);
      schedule();
      const r = await api(path + '?watch=1&allowWatchBookmarks=true&resourceVersion=' + encodeURIComponent(list.metadata.resourceVersion));
      setConn('live');
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const ev = JSON.parse(line);
          if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') continue;
          if (ev.type === 'DELETED') map.delete(keyOf(ev.object));
          else map.set(keyOf(ev.object), ev.object);
          schedule();
        }
      }
    } catch (e) {
      if (e.message === 'unauthorized') return;
      setConn('reconnecting…');
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
}

function schedule() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; render(); });
}

// ---------- status helpers ----------

function podStatus(p) {
  if (p.metadata.deletionTimestamp) return ['Terminating', 'warn'];
  for (const c of p.status?.containerStatuses || []) {
    if (c.state?.waiting?.reason) return [c.state.waiting.reason, 'bad'];
    if (c.state?.terminated?.reason && p.status.phase !== 'Succeeded') return [c.state.terminated.reason, 'bad'];
  }
  const phase = p.status?.phase || 'Pending';
  return [phase, phase === 'Running' || phase === 'Succeeded' ? 'ok' : phase === 'Failed' ? 'bad' : 'warn'];
}
const readyCount = (p) => {
  const cs = p.status?.containerStatuses || [];
  return cs.filter((c) => c.ready).length + '/' + (p.spec?.containers || []).length;
};
const restarts = (p) => (p.status?.containerStatuses || []).reduce((n, c) => n + (c.restartCount || 0), 0);
const nodeReady = (n) => (n.status?.conditions || []).find((c) => c.type === 'Ready')?.status === 'True';
const sorted = (map) => [...map.values()].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));

// ---------- views ----------

function chart(title, samples, field, fmt) {
  const values = samples.map((s) => s[field]);
  const max = Math.max(1e-9, ...values);
  const w = 300, h = 80;
  const pts = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * w},${h - (v / max) * (h - 6) - 3}`).join(' ');
  const last = values.length ? fmt(values[values.length - 1]) : '–';
  return `<div class="card chart"><div class="label">${esc(title)} <strong>${esc(last)}</strong> <span class="muted">(last hour, max ${esc(fmt(max))})</span></div>
    <svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-label="${esc(title)} over the last hour"><polyline points="${pts}"/></svg></div>`;
}

function overview() {
  const nodes = sorted(state.nodes), deps = sorted(state.deployments), pods = [...state.pods.values()];
  const running = pods.filter((p) => p.status?.phase === 'Running').length;
  const failing = pods.filter((p) => podStatus(p)[1] === 'bad').length;
  const warnings = [...state.events.values()].filter((e) => e.type === 'Warning').length;
  const readyDeps = deps.filter((d) => (d.status?.readyReplicas || 0) >= (d.spec?.replicas ?? 1)).length;
  return `<h1>Overview</h1>
  <div class="cards" aria-label="Cluster health">
    <div class="card"><div class="n" id="nodes-ready">${nodes.filter(nodeReady).length}/${nodes.length}</div><div class="label">nodes ready</div></div>
    <div class="card"><div class="n" id="deployments-ready">${readyDeps}/${deps.length}</div><div class="label">deployments ready</div></div>
    <div class="card"><div class="n" id="pods-running">${running}</div><div class="label">pods running</div></div>
    <div class="card"><div class="n ${failing ? 'bad' : ''}" id="pods-failing">${failing}</div><div class="label">pods failing</div></div>
    <div class="card"><div class="n ${warnings ? 'warn' : ''}">${warnings}</div><div class="label">warning events</div></div>
  </div>
  <h2>Last hour</h2>
  <div class="charts">
    ${chart('Node CPU', chartData.samples, 'cpu', (v) => v.toFixed(2) + ' cores')}
    ${chart('Node memory', chartData.samples, 'memory', bytes)}
    ${chart('Proxy traffic', chartData.samples, 'rps', (v) => v.toFixed(1) + ' req/s')}
  </div>
  <h2>Nodes</h2>
  <table><thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">CPU</th><th scope="col">Memory</th><th scope="col">Age</th></tr></thead><tbody>
  ${nodes.map((n) => `<tr><td>${esc(n.metadata.name)}</td><td class="${nodeReady(n) ? 'ok' : 'bad'}">${nodeReady(n) ? 'Ready' : 'NotReady'}</td>
     <td>${esc(n.status?.allocatable?.cpu || '')}</td><td>${esc(n.status?.allocatable?.memory || '')}</td><td>${age(n.metadata.creationTimestamp)}</td></tr>`).join('')}
  </tbody></table>
  ${deploymentsTable(deps)}`;
}

function deploymentsTable(deps) {
  return `<h2>Deployments</h2>
  <table id="deployments"><thead><tr><th scope="col">Namespace</th><th scope="col">Name</th><th scope="col">Ready</th><th scope="col">Up-to-date</th><th scope="col">Available</th><th scope="col">Age</th></tr></thead><tbody>
  ${deps.map((d) => {
    const want = d.spec?.replicas ?? 1, ready = d.status?.readyReplicas || 0;
    return `<tr data-deployment="${esc(keyOf(d))}"><td>${esc(d.metadata.namespace)}</td><td>${esc(d.metadata.name)}</td>
      <td class="${ready >= want ? 'ok' : 'warn'} ready">${ready}/${want}</td><td>${d.status?.updatedReplicas || 0}</td><td>${d.status?.availableReplicas || 0}</td><td>${age(d.metadata.creationTimestamp)}</td></tr>`;
  }).join('')}
  </tbody></table>`;
}

function workloads() {
  const pods = sorted(state.pods);
  return `<h1>Workloads</h1>${deploymentsTable(sorted(state.deployments))}
  <h2>Pods</h2>
  <table id="pods"><thead><tr><th scope="col">Namespace</th><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Ready</th><th scope="col">Restarts</th><th scope="col">IP</th><th scope="col">Node</th><th scope="col">Age</th></tr></thead><tbody>
  ${pods.map((p) => {
    const [s, cls] = podStatus(p);
    return `<tr data-pod="${esc(keyOf(p))}"><td>${esc(p.metadata.namespace)}</td><td><a href="#/pod/${esc(p.metadata.namespace)}/${esc(p.metadata.name)}">${esc(p.metadata.name)}</a></td>
      <td class="${cls}">${esc(s)}</td><td>${readyCount(p)}</td><td>${restarts(p)}</td><td>${esc(p.status?.podIP || '')}</td><td>${esc(p.spec?.nodeName || '')}</td><td>${age(p.metadata.creationTimestamp)}</td></tr>`;
  }).join('')}
  </tbody></table>`;
}

function eventsTable(events) {
  return `<table id="events"><thead><tr><th scope="col">Last seen</th><th scope="col">Type</th><th scope="col">Reason</th><th scope="col">Object</th><th scope="col">Message</th></tr></thead><tbody>
  ${events.map((e) => `<tr><td>${age(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp)}</td><td class="${e.type === 'Warning' ? 'warn' : ''}">${esc(e.type)}</td>
     <td>${esc(e.reason)}</td><td>${esc((e.involvedObject?.kind || '') + '/' + (e.involvedObject?.name || ''))}</td><td>${esc(e.message)}</td></tr>`).join('')}
  </tbody></table>`;
}
const byTime = (a, b) => Date.parse(b.lastTimestamp || b.metadata.creationTimestamp) - Date.parse(a.lastTimestamp || a.metadata.creationTimestamp);

function events() {
  return `<h1>Events</h1>${eventsTable([...state.events.values()].sort(byTime).slice(0, 300))}`;
}

function podDetail(ns, name) {
  const p = state.pods.get(ns + '/' + name);
  if (!p) return `<h1>Pod ${esc(ns)}/${esc(name)}</h1><p class="muted">Not found (yet).</p><pre class="logs" id="logs" aria-live="polite"></pre>`;
  const [s, cls] = podStatus(p);
  const evs = [...state.events.values()].filter((e) => e.involvedObject?.kind === 'Pod' && e.involvedObject?.name === name && e.metadata.namespace === ns).sort(byTime);
  return `<h1>Pod ${esc(ns)}/${esc(name)}</h1>
  <p><span class="${cls}">${esc(s)}</span> · ready ${readyCount(p)} · restarts ${restarts(p)} · IP ${esc(p.status?.podIP || '–')} · node ${esc(p.spec?.nodeName || '–')}</p>
  <h2>Containers</h2>
  <table><thead><tr><th scope="col">Name</th><th scope="col">Image</th><th scope="col">State</th><th scope="col">Restarts</th></tr></thead><tbody>
  ${(p.status?.containerStatuses || []).map((c) => `<tr><td>${esc(c.name)}</td><td>${esc(c.image)}</td><td>${esc(Object.keys(c.state || {})[0] || '')}</td><td>${c.restartCount || 0}</td></tr>`).join('')}
  </tbody></table>
  <h2>Events</h2>${eventsTable(evs)}
  <h2>Logs <span class="muted">(live)</span></h2><pre class="logs" id="logs" aria-live="polite"></pre>`;
}

// Follows a pod's log into the #logs element (kept across re-renders).
let logText = '';
let logTarget = '';
async function followLogs(ns, name) {
  const target = ns + '/' + name;
  if (logTarget === target) return;
  if (logAbort) logAbort.abort();
  logTarget = target;
  logText = '';
  logAbort = new AbortController();
  try {
    const r = await api(`/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}/log?follow=true&tailLines=200`, { signal: logAbort.signal });
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      logText = (logText + decoder.decode(value, { stream: true })).slice(-200000);
      const el = document.getElementById('logs');
      if (el) { el.textContent = logText; el.scrollTop = el.scrollHeight; }
    }
  } catch (e) { /* aborted, or the pod went away */ }
}

// ---------- service graph from the proxy's metrics ----------

function parseMetrics(text) {
  const totals = new Map(); // edge -> {requests, errors, buckets: Map(le -> count)}
  const edge = (l) => {
    const src = l.source_workload && l.source_workload !== 'unknown' ? l.source_namespace + '/' + l.source_workload : 'outside';
    const key = src + ' → ' + l.destination_service;
    if (!totals.has(key)) totals.set(key, { src, dst: l.destination_service, requests: 0, errors: 0, buckets: new Map() });
    return totals.get(key);
  };
  for (const line of text.split('\n')) {
    const isReq = line.startsWith('skiff_http_requests_total{');
    const isBucket = line.startsWith('skiff_http_request_duration_seconds_bucket{');
    if (!isReq && !isBucket) continue;
    const close = line.lastIndexOf('}');
    const labels = {};
    for (const m of line.slice(line.indexOf('{') + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]] = m[2];
    const value = parseFloat(line.slice(close + 1));
    const e = edge(labels);
    if (isReq) {
      e.requests += value;
      if (labels.code && labels.code.startsWith('5')) e.errors += value;
    } else {
      e.buckets.set(labels.le, (e.buckets.get(labels.le) || 0) + value);
    }
  }
  return totals;
}

function quantile(buckets, q) {
  const les = [...buckets.keys()].filter((k) => k !== '+Inf').map(parseFloat).sort((a, b) => a - b);
  const total = buckets.get('+Inf') || 0;
  if (total <= 0) return NaN;
  for (const le of les) {
    const key = [...buckets.keys()].find((k) => parseFloat(k) === le);
    if (buckets.get(key) >= q * total) return le;
  }
  return Infinity;
}

async function pollGraph() {
  try {
    const text = await (await api('/metrics')).text();
    const now = Date.now();
    const cur = parseMetrics(text);
    if (graph.prev) {
      const dt = (now - graph.prevAt) / 1000;
      graph.edges = [...cur.entries()].map(([k, e]) => {
        const p = graph.prev.get(k) || { requests: 0, errors: 0, buckets: new Map() };
        const dr = e.requests - p.requests, de = e.errors - p.errors;
        const delta = new Map([...e.buckets].map(([le, n]) => [le, n - (p.buckets.get(le) || 0)]));
        const useTotal = dr > 0 ? delta : e.buckets;  // no traffic this interval: show the all-time p99
        return { src: e.src, dst: e.dst, rps: dr / dt, errorRate: dr > 0 ? de / dr : 0, p99: quantile(useTotal, 0.99), total: e.requests };
      });
    }
    graph.prev = cur;
    graph.prevAt = now;
    if (location.hash.startsWith('#/graph')) schedule();
  } catch (e) { /* shown by the connection status */ }
}

function serviceGraph() {
  const edges = graph.edges;
  const names = [...new Set(edges.flatMap((e) => [e.src, e.dst]))].sort();
  const w = 900, h = 520, cx = w / 2, cy = h / 2, r = Math.min(w, h) / 2 - 90;
  const pos = new Map(names.map((n, i) => [n, [cx + r * Math.cos((2 * Math.PI * i) / Math.max(1, names.length) - Math.PI / 2), cy + r * Math.sin((2 * Math.PI * i) / Math.max(1, names.length) - Math.PI / 2)]]));
  const fmtP99 = (v) => (isFinite(v) ? (v * 1000).toFixed(v < 0.01 ? 1 : 0) + ' ms' : '–');
  const lines = edges.map((e) => {
    const [x1, y1] = pos.get(e.src), [x2, y2] = pos.get(e.dst);
    const label = `${e.rps.toFixed(1)} req/s · ${(e.errorRate * 100).toFixed(1)}% errors · p99 ${fmtP99(e.p99)}`;
    return `<g class="edge" data-edge="${esc(e.src + ' → ' + e.dst)}"><line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" class="${e.errorRate > 0.01 ? 'err' : ''}"/>
      <text x="${(x1 + x2) / 2}" y="${(y1 + y2) / 2 - 6}" text-anchor="middle">${esc(label)}</text></g>`;
  }).join('');
  const nodes = names.map((n) => { const [x, y] = pos.get(n); return `<g><circle cx="${x}" cy="${y}" r="8"/><text x="${x}" y="${y + 24}" text-anchor="middle">${esc(n)}</text></g>`; }).join('');
  return `<h1>Service graph</h1>
  <p class="muted">Requests through the node proxy over the last ${graph.prevAt ? '2' : '–'} seconds, by calling workload and destination service.</p>
  <div class="graph"><svg viewBox="0 0 ${w} ${h}" role="img" aria-label="Service graph">${lines}${nodes}</svg></div>
  <h2>Edges</h2>
  <table id="edges"><thead><tr><th scope="col">From</th><th scope="col">To</th><th scope="col">Requests/s</th><th scope="col">Error rate</th><th scope="col">p99</th><th scope="col">Total</th></tr></thead><tbody>
  ${edges.map((e) => `<tr><td>${esc(e.src)}</td><td>${esc(e.dst)}</td><td class="rps">${e.rps.toFixed(1)}</td><td>${(e.errorRate * 100).toFixed(1)}%</td><td>${fmtP99(e.p99)}</td><td>${e.total}</td></tr>`).join('')}
  </tbody></table>`;
}

// ---------- routing ----------

function render() {
  const view = document.getElementById('view');
  const parts = (location.hash || '#/').slice(2).split('/');
  let html;
  switch (parts[0]) {
    case 'workloads': html = workloads(); break;
    case 'events': html = events(); break;
    case 'graph': html = serviceGraph(); break;
    case 'pod': html = podDetail(decodeURIComponent(parts[1] || ''), decodeURIComponent(parts[2] || '')); break;
    default: html = overview();
  }
  view.innerHTML = html;
  document.querySelectorAll('header nav a').forEach((a) => a.setAttribute('aria-current', a.getAttribute('href') === '#/' + parts[0] ? 'page' : 'false'));
  if (parts[0] === 'pod') {
    const el = document.getElementById('logs');
    if (el) el.textContent = logText;
    followLogs(decodeURIComponent(parts[1] || ''), decodeURIComponent(parts[2] || ''));
  } else if (logAbort) {
    logAbort.abort();
    logAbort = null;
    logTarget = '';
  }
}

async function pollHistory() {
  try {
    chartData = await (await api('/skiff/v1/history')).json();
    if ((location.hash || '#/') === '#/') schedule();
  } catch (e) { /* keep the last */ }
}

function showLogin(message) {
  document.getElementById('login').hidden = false;
  document.getElementById('view').hidden = true;
  document.getElementById('login-error').textContent = message || '';
  setConn('signed out');
}

async function start() {
  const r = await fetch('/api/v1/namespaces?limit=1', { headers: { Authorization: 'Bearer ' + token } });
  if (r.status === 401) return showLogin('That token was not accepted.');
  document.getElementById('login').hidden = true;
  document.getElementById('view').hidden = false;
  for (const kind of Object.keys(KINDS)) follow(kind);
  pollGraph();
  setInterval(pollGraph, 2000);
  pollHistory();
  setInterval(pollHistory, 10000);
  setInterval(schedule, 5000);  // ages move on
  render();
}

window.addEventListener('hashchange', () => { render(); document.getElementById('main').focus(); });
document.getElementById('login').addEventListener('submit', (e) => {
  e.preventDefault();
  token = document.getElementById('token').value.trim();
  sessionStorage.setItem('skiff-token', token);
  start();
});
// A token in the URL fragment (as `make demo` prints it) never reaches the server's logs; move it
// to this tab's storage and out of the address bar.
const fromHash = /[#&]token=([^&]+)/.exec(location.hash);
if (fromHash) {
  sessionStorage.setItem('skiff-token', decodeURIComponent(fromHash[1]));
  window.history.replaceState(null, '', location.pathname + '#/');
}
token = sessionStorage.getItem('skiff-token') || '';
if (token) start(); else showLogin();
