// The operator dashboard at /admin: live panels for the night's party or
// drop from /metrics (requests/s, cache hit and shed ratios, freshness lag,
// consumer lag) and the party head (shares per minute), and the analytics
// of /v1/analytics/* drawn with uPlot. The admin key is typed in the page,
// kept for the tab's session only, and sent as a Bearer token.

import './style.css';
import uPlot from 'uplot';
import { h, countdown } from '../lib/dom.js';
import { get } from '../lib/api.js';
import { parse, figures } from '../lib/metrics.js';
import { series as tableSeries, rows as tableRows } from '../lib/tables.js';

const KEY = 'rummage.adminKey';
const main = document.getElementById('main');
const keyInput = document.getElementById('adminkey');
keyInput.value = sessionStorage.getItem(KEY) || '';
document.getElementById('keyform').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, keyInput.value.trim());
  loadAnalytics();
});
const adminKey = () => sessionStorage.getItem(KEY) || '';
const params = new URLSearchParams(location.search);
const every = Math.max(1000, Number(params.get('every')) || 2000);
const KEEP = 150;

const fmt = {
  rate: (v) => (v === null ? '–' : v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US')),
  pct: (v) => (v === null ? '–' : (v * 100).toFixed(v < 0.1 ? 1 : 0) + '%'),
  secs: (v) => (v === null ? '–' : v < 1 ? Math.round(v * 1000) + ' ms' : v.toFixed(1) + ' s'),
  int: (v) => (v === null ? '–' : Math.round(v).toLocaleString('en-US')),
};

function panel(id, label) {
  const value = h('div.value', '–');
  return { el: h('div.panel', { dataset: { panel: id } }, h('div.label', label), value), set: (s) => { value.textContent = s; } };
}

const P = {
  rps: panel('rps', 'Requests/s'),
  cacheHit: panel('cache', 'Cache hit ratio'),
  shed: panel('shed', 'Shed ratio'),
  freshness: panel('freshness', 'Freshness lag'),
  consumerLag: panel('consumer-lag', 'Consumer lag (msgs)'),
  shares: panel('shares', 'Shares/min'),
  errors: panel('errors', '5xx ratio'),
  documents: panel('documents', 'Listings indexed'),
};
const partyLine = h('p.party-line', 'Looking for a live party…');
const dropLine = h('p.drop-line');
const liveCharts = h('div.charts');
const analytics = h('div.charts.analytics');
main.append(h('h1', 'Party night'), partyLine, dropLine, h('div.panels', Object.values(P).map((p) => p.el)), liveCharts,
  h('h2', 'Analytics'), analytics);

// lineChart is a live uPlot chart of one or more series over time.
function lineChart(title, names, colors) {
  const box = h('div.chart', { dataset: { chart: title } }, h('h3', title));
  liveCharts.append(box);
  const data = [[], ...names.map(() => [])];
  const plot = new uPlot({
    width: Math.max(380, box.clientWidth - 20), height: 200,
    series: [{}, ...names.map((n, i) => ({ label: n, stroke: colors[i], width: 2, spanGaps: true }))],
    axes: [{}, { size: 50 }],
    scales: { x: { time: true } },
  }, data, box);
  return {
    push(t, ...vs) {
      data[0].push(t);
      vs.forEach((v, i) => data[i + 1].push(v));
      if (data[0].length > KEEP) for (const s of data) s.shift();
      plot.setData(data);
    },
  };
}

const reqChart = lineChart('Requests/s', ['req/s'], ['#b3261e']);
const ratioChart = lineChart('Cache hits and shedding', ['hit ratio', 'shed ratio'], ['#1b7f3b', '#e08a00']);
const sharesChart = lineChart('Shares per minute (current party)', ['shares/min'], ['#3b5bdb']);

let prev = null, prevAt = 0;
async function scrape() {
  try {
    const res = await fetch('/metrics', { headers: adminKey() ? { Authorization: 'Bearer ' + adminKey() } : {} });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const cur = parse(await res.text());
    const at = Date.now();
    if (prev) {
      const f = figures(prev, cur, (at - prevAt) / 1000);
      P.rps.set(fmt.rate(f.rps));
      P.cacheHit.set(fmt.pct(f.cacheHit));
      P.shed.set(fmt.pct(f.shed));
      P.freshness.set(fmt.secs(f.freshness));
      P.consumerLag.set(fmt.int(f.consumerLag));
      P.errors.set(fmt.pct(f.errors));
      P.documents.set(fmt.int(f.documents));
      reqChart.push(at / 1000, f.rps);
      ratioChart.push(at / 1000, f.cacheHit, f.shed);
    }
    prev = cur;
    prevAt = at;
    document.body.dataset.scrapes = String(Number(document.body.dataset.scrapes || 0) + 1);
  } catch (e) {
    P.rps.set('–');
  }
}

let party = null, lastShares = null;
async function watchParty() {
  try {
    if (!party || party.status !== 'live') {
      const want = params.get('party');
      const ans = want ? { parties: [await get('/v1/parties/' + encodeURIComponent(want))] } : await get('/v1/parties?status=live');
      party = ans.parties[0] || null;
      lastShares = null;
      if (party) loadAnalytics();
    }
    if (!party) {
      partyLine.textContent = 'No party is live.';
      return;
    }
    const p = await get('/v1/parties/' + encodeURIComponent(party.id));
    const at = Date.now();
    if (lastShares) {
      const perMin = Math.max(0, p.share_count - lastShares.count) / ((at - lastShares.at) / 60000);
      P.shares.set(fmt.rate(perMin));
      sharesChart.push(at / 1000, perMin);
    }
    lastShares = { count: p.share_count, at };
    party = p;
    partyLine.replaceChildren('Live party: ', h('a', { href: '/parties/' + encodeURIComponent(p.id) }, h('strong', p.name)),
      ` · ${p.share_count.toLocaleString('en-US')} shares · ${p.listing_count.toLocaleString('en-US')} listings · ends in ${countdown(Date.parse(p.ends_at) - at)}`);
  } catch (e) {
    partyLine.textContent = 'Party: ' + e.message;
    party = null;
  }
}

async function watchDrop() {
  try {
    const d = await get('/v1/drops');
    const next = d.drops[0];
    const offset = Date.parse(d.server_time) - Date.now();
    dropLine.textContent = next ? `Next drop: ${next.count} listings in ${countdown(Date.parse(next.at) - (Date.now() + offset))}` : 'No drop scheduled.';
  } catch (e) {
    dropLine.textContent = '';
  }
}

// analyticsChart draws one analytics answer: a chart of its first numeric
// series and a table of its rows, or "no data yet" when the endpoint is not
// there (404) or has nothing.
function analyticsBox(title) {
  const box = h('div.chart', { dataset: { analytics: title } }, h('h3', title), h('p.nodata', 'Loading…'));
  analytics.append(box);
  return box;
}

// The analytics answers' known shapes (events/rollup), narrowed to what a
// chart shows; an answer of another shape is drawn as it comes.
const pick = (rows, cols) => (rows || []).map((r) => Object.fromEntries(cols.filter((c) => c in r).map((c) => [c, r[c]])));
const views = {
  'Top queries': (a) => (a.queries ? { rows: pick(a.queries, ['query', 'searches', 'clicks', 'ctr']) } : a),
  'Zero-result queries': (a) => (a.queries ? { rows: pick(a.queries.filter((q) => q.zero_results > 0).sort((x, y) => y.zero_results - x.zero_results), ['query', 'zero_results', 'searches']) } : a),
  'Party funnel': (a) => (a.minutes ? { rows: pick(a.minutes, ['minute', 'views', 'clicks', 'add_to_carts', 'purchases', 'shares']) } : a),
  Drops: (a) => (a.drops ? { rows: pick(a.drops, ['at', 'listings', 'sold', 'arrivals']) } : a),
};

const boxes = {};
const answers = new Map(); // path → the promise of its answer, shared by the boxes of one load
async function loadOne(name, path) {
  const box = boxes[name] || (boxes[name] = analyticsBox(name));
  const body = (...c) => box.replaceChildren(h('h3', name), ...c);
  if (!adminKey()) return body(h('p.nodata', 'Enter the admin key to see analytics.'));
  let ans;
  try {
    if (!answers.has(path)) answers.set(path, get(path, { key: adminKey() }));
    ans = await answers.get(path);
    if (views[name]) ans = views[name](ans);
  } catch (e) {
    if (e.status === 404) return body(h('p.nodata', 'No data yet.'));
    return body(h('p.nodata', e.status === 401 || e.status === 403 ? 'The admin key was refused.' : 'Could not load: ' + e.message));
  }
  const s = tableSeries(ans);
  const r = tableRows(ans);
  if (!s && !r) return body(h('p.nodata', 'No data yet.'));
  const parts = [];
  if (s) {
    const el = h('div.plot');
    parts.push(el);
    body(...parts);
    new uPlot({
      width: Math.max(380, box.clientWidth - 20), height: 200,
      series: [{ label: s.x }, ...s.ys.map((y, i) => ({ label: y.name, stroke: ['#b3261e', '#1b7f3b', '#3b5bdb', '#e08a00'][i % 4], width: 2, fill: i ? null : 'rgba(179,38,30,.08)' }))],
      scales: { x: { time: s.time } },
      axes: [s.time ? {} : { values: (u, ticks) => ticks.map((t) => s.labels[t] ?? '') }, { size: 50 }],
    }, [s.xs, ...s.ys.map((y) => y.values)], el);
  }
  if (r) parts.push(h('table.data', h('thead', h('tr', r.cols.map((c) => h('th', c)))),
    h('tbody', r.rows.slice(0, 15).map((row) => h('tr', r.cols.map((c) => h('td', fmtCell(row[c]))))))));
  body(...parts);
}

function fmtCell(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(3);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function loadAnalytics() {
  answers.clear();
  loadOne('Top queries', '/v1/analytics/searches');
  loadOne('Zero-result queries', '/v1/analytics/searches');
  loadOne('Party funnel', party ? '/v1/analytics/parties/' + encodeURIComponent(party.id) : '/v1/analytics/parties/-');
  loadOne('Drops', '/v1/analytics/drops');
}

scrape();
watchParty();
watchDrop();
loadAnalytics();
setInterval(scrape, every);
setInterval(watchParty, Math.max(every, 2000));
setInterval(watchDrop, 1000);
