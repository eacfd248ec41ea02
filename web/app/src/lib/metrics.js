// Reading Prometheus's text exposition format (GET /metrics) in the
// browser, and turning two scrapes into the dashboard's live figures.

// parse returns the samples of a scrape: [{name, labels, value}].
export function parse(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

// sum adds the samples of a metric whose labels match where (a function or null).
export function sum(samples, name, where = null) {
  let s = 0, seen = false;
  for (const x of samples) {
    if (x.name !== name || (where && !where(x.labels)) || !Number.isFinite(x.value)) continue;
    s += x.value;
    seen = true;
  }
  return seen ? s : null;
}

const api = (l) => l.route && l.route !== '/metrics' && !l.route.startsWith('/assets');

// figures computes the live panels from the previous and the current
// scrape, dt seconds apart. A figure is null when its metric is absent
// (a role this process does not run) or the interval saw nothing.
export function figures(prev, cur, dt) {
  const d = (name, where) => {
    const a = sum(prev, name, where), b = sum(cur, name, where);
    return a === null || b === null ? null : Math.max(0, b - a);
  };
  const ratio = (n, t) => (n === null || !t ? null : n / t);
  const reqs = d('rummage_http_request_duration_seconds_count', api);
  const hits = d('rummage_cache_requests_total', (l) => l.result === 'hit');
  const lookups = d('rummage_cache_requests_total');
  const shed = d('rummage_admission_shed_total');
  const delayN = d('rummage_pipeline_broker_delay_seconds_count');
  const delayS = d('rummage_pipeline_broker_delay_seconds_sum');
  const repl = sum(cur, 'rummage_cdc_replication_lag_seconds');
  const brokerDelay = delayN ? delayS / delayN : null;
  return {
    rps: reqs === null ? null : reqs / dt,
    errors: ratio(d('rummage_http_request_duration_seconds_count', (l) => api(l) && /^5/.test(l.status)), reqs),
    cacheHit: ratio(hits, lookups),
    shed: ratio(shed, reqs === null ? null : reqs + (shed || 0)),
    freshness: repl === null && brokerDelay === null ? null : (repl || 0) + (brokerDelay || 0),
    consumerLag: sum(cur, 'rummage_indexer_consumer_lag'),
    documents: sum(cur, 'rummage_index_documents'),
  };
}
