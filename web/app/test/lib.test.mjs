import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse, figures } from '../src/lib/metrics.js';
import { rows, series } from '../src/lib/tables.js';
import { clockOffset, dropState } from '../src/lib/drops.js';
import { PartyHead } from '../src/lib/party.js';
import { thumb, srcset, placeholder } from '../src/lib/images.js';
import { event } from '../src/lib/insights.js';
import { countdown } from '../src/lib/dom.js';

const scrape = (reqs, hits, misses, shed) => parse(`# HELP x
rummage_http_request_duration_seconds_count{route="/v1/search",status="200"} ${reqs}
rummage_http_request_duration_seconds_count{route="/metrics",status="200"} 999
rummage_cache_requests_total{result="hit"} ${hits}
rummage_cache_requests_total{result="miss"} ${misses}
rummage_admission_shed_total{reason="overload"} ${shed}
rummage_indexer_consumer_lag{partition="0",topic="a"} 3
rummage_indexer_consumer_lag{partition="1",topic="a"} 4
rummage_cdc_replication_lag_seconds 0.25
`);

test('figures from two scrapes', () => {
  const f = figures(scrape(100, 10, 10, 0), scrape(300, 160, 60, 50), 2);
  assert.equal(f.rps, 100);
  assert.equal(f.cacheHit, 150 / 200);
  assert.equal(f.shed, 50 / 250);
  assert.equal(f.consumerLag, 7);
  assert.equal(f.freshness, 0.25);
  assert.equal(f.documents, null, 'an absent metric is null, not 0');
});

test('parse reads labels with escapes', () => {
  const [s] = parse('m{a="x\\"y",b="z"} 1.5e3');
  assert.deepEqual(s, { name: 'm', labels: { a: 'x"y', b: 'z' }, value: 1500 });
});

test('analytics answers of unknown shape become a table and a series', () => {
  const ans = { top: [{ query: 'dress', searches: 10, clicks: 3, ctr: 0.3 }, { query: 'boots', searches: 4, clicks: 0, ctr: 0 }] };
  assert.deepEqual(rows(ans).cols, ['query', 'searches', 'clicks', 'ctr']);
  const s = series(ans);
  assert.equal(s.time, false);
  assert.deepEqual(s.labels, ['dress', 'boots']);
  assert.deepEqual(s.ys.map((y) => y.name), ['searches', 'clicks', 'ctr']);
  const t = series({ minutes: [{ minute: '2026-01-01T00:01:00Z', shares: 5 }, { minute: '2026-01-01T00:00:00Z', shares: 2 }] });
  assert.equal(t.time, true);
  assert.deepEqual(t.ys[0].values, [2, 5], 'sorted by time');
  assert.equal(rows({ nothing: [] }), null);
});

test('drops count down on the server clock', () => {
  const off = clockOffset('2026-01-01T00:00:10Z', Date.parse('2026-01-01T00:00:00Z'), Date.parse('2026-01-01T00:00:02Z'));
  assert.equal(off, 9000);
  assert.deepEqual(dropState('2026-01-01T00:00:05Z', Date.parse('2026-01-01T00:00:04Z')), { live: false, remaining: 1000 });
  assert.equal(dropState('2026-01-01T00:00:05Z', Date.parse('2026-01-01T00:00:05Z')).live, true);
  assert.equal(countdown(3723000), '01:02:03');
  assert.equal(countdown(65000), '01:05');
  assert.equal(countdown(90061000), '1d 01:01:01');
});

test('the party head counts shares since the feed was loaded', async () => {
  let n = 10;
  const calls = [];
  const head = new PartyHead(async (p) => { calls.push(p); return { share_count: n }; }, 'p 1');
  await head.reset();
  n = 13;
  assert.equal((await head.poll()).fresh, 3);
  await head.reset();
  assert.equal((await head.poll()).fresh, 0);
  assert.deepEqual(new Set(calls), new Set(['/v1/parties/p%201']));
});

test('image variants: thumbnail for the grid, medium and large for the page', () => {
  const l = { title: 'x', images: [{ url: 'l.jpg', width: 1200, height: 1200 }, { url: 't.jpg', width: 150, height: 150 }, { url: 'm.jpg', width: 600, height: 600 }] };
  assert.equal(thumb(l).url, 't.jpg');
  assert.deepEqual(srcset(l), { src: 'm.jpg', srcset: 'm.jpg 600w, l.jpg 1200w', width: 600, height: 600 });
  assert.match(thumb({ title: 'Coat' }).url, /^data:image\/svg\+xml/);
  assert.doesNotMatch(decodeURIComponent(placeholder({ brand: '<b>' })), /<b>/);
});

test('click events follow the events contract', () => {
  const e = event('click', { listingId: 'l1', queryId: 'q1', position: 3, surface: 'search', user: 'u1' }, new Date('2026-01-01T00:00:00Z'));
  assert.deepEqual(e, { type: 'click', listing_id: 'l1', surface: 'search', at: '2026-01-01T00:00:00.000Z', user: 'u1', query_id: 'q1', position: 3 });
});
