import { test } from 'node:test';
import assert from 'node:assert/strict';
import algoliasearchHelper from 'algoliasearch-helper';
import { rummageSearchClient, rummageRequest } from '../src/lib/instantsearch.js';

// A small Rummage: /v1/search over a fixed catalog, with Rummage's rules
// (OR within a field, AND across; disjunctive facets; the category facet
// counts the children of the filtered node; cursors page on).
const catalog = [];
const brands = ['Nike', 'Zara', 'Gap', 'Coach'];
const cats = [['Women', 'Shoes', 'Boots'], ['Women', 'Shoes', 'Heels'], ['Women', 'Clothing', 'Dresses'], ['Men', 'Shoes', 'Sneakers'], ['Kids', 'Toys']];
for (let i = 0; i < 60; i++) {
  catalog.push({ id: 'l' + String(i).padStart(3, '0'), title: (i % 3 ? 'dress ' : 'coat ') + i, brand: brands[i % 4], size: ['S', 'M', 'L'][i % 3], condition: 'good', colors: [i % 2 ? 'Black' : 'Red'], category: cats[i % 5], price_cents: 1000 * (i % 10) });
}
function fakeRummage() {
  const calls = [];
  const get = async (path) => {
    calls.push(path);
    const u = new URL(path, 'http://x');
    const p = u.searchParams;
    const sel = { brand: p.getAll('brand'), size: p.getAll('size'), condition: p.getAll('condition'), color: p.getAll('color') };
    const field = { brand: (l) => [l.brand], size: (l) => [l.size], condition: (l) => [l.condition], color: (l) => l.colors };
    const cat = (p.get('category') || '').split('/').filter(Boolean);
    const match = (l, except) => (!p.get('q') || l.title.includes(p.get('q'))) &&
      Object.keys(sel).every((f) => f === except || !sel[f].length || field[f](l).some((v) => sel[f].includes(v))) &&
      cat.every((c, i) => l.category[i] === c) &&
      (!p.has('price_min') || l.price_cents >= Number(p.get('price_min'))) && (!p.has('price_max') || l.price_cents <= Number(p.get('price_max')));
    const hits = catalog.filter((l) => match(l));
    const facets = {};
    if (p.get('facets')) {
      for (const f of Object.keys(sel)) {
        const c = {};
        for (const l of catalog.filter((x) => match(x, f))) for (const v of field[f](l)) c[v] = (c[v] || 0) + 1;
        facets[f] = Object.entries(c).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([value, count]) => ({ value, count }));
      }
      const c = {};
      for (const l of hits) if (l.category.length > cat.length) { const v = l.category.slice(0, cat.length + 1).join('/'); c[v] = (c[v] || 0) + 1; }
      facets.category = Object.entries(c).sort((a, b) => b[1] - a[1]).map(([value, count]) => ({ value, count }));
    }
    const from = Number(p.get('cursor') || 0), limit = Number(p.get('limit'));
    return { total: hits.length, hits: hits.slice(from, from + limit), facets, next_cursor: from + limit < hits.length ? String(from + limit) : null, query_id: 'q' + calls.length };
  };
  return { calls, get };
}

function newHelper(client) {
  return algoliasearchHelper(client, 'listings_newest', {
    disjunctiveFacets: ['brand', 'size', 'colors'],
    hierarchicalFacets: [{ name: 'category', attributes: ['category.lvl0', 'category.lvl1', 'category.lvl2'], separator: ' > ' }],
    hitsPerPage: 10,
  });
}
const searchOnce = (helper) => new Promise((resolve, reject) => {
  helper.once('result', ({ results }) => resolve(results));
  helper.once('error', reject);
  helper.search();
});

test('two brands ticked: InstantSearch sends several queries, Rummage gets one request', async () => {
  const rummage = fakeRummage();
  let queries = 0;
  const client = rummageSearchClient({ get: rummage.get });
  const counting = { ...client, search: (reqs) => { queries += reqs.length; return client.search(reqs); } };
  const helper = newHelper(counting);
  await searchOnce(helper);
  assert.equal(rummage.calls.length, 1, 'the first state: one request');
  helper.addDisjunctiveFacetRefinement('brand', 'Nike').addDisjunctiveFacetRefinement('brand', 'Zara');
  const res = await searchOnce(helper);
  assert.ok(queries >= 3, `InstantSearch's queries for the two states: ${queries}`);
  assert.equal(rummage.calls.length, 2, 'the second state: one request more');
  const u = new URL(rummage.calls[1], 'http://x');
  assert.deepEqual(u.searchParams.getAll('brand'), ['Nike', 'Zara']);
  assert.equal(u.searchParams.get('sort'), 'newest');
  assert.equal(res.nbHits, 30);
  assert.equal(res.hits.length, 10);
  assert.ok(res.hits.every((h) => ['Nike', 'Zara'].includes(h.brand) && h.objectID === h.id));
  const brand = Object.fromEntries(res.getFacetValues('brand').map((v) => [v.name, v.count]));
  assert.deepEqual(brand, { Nike: 15, Zara: 15, Gap: 15, Coach: 15 }, 'the brand facet ignores its own filter');
  const size = Object.fromEntries(res.getFacetValues('size').map((v) => [v.name, v.count]));
  assert.equal(size.S + size.M + size.L, 30, 'other facets count under the filter');
});

test('infinite hits page through the cursor, one request per page', async () => {
  const rummage = fakeRummage();
  const helper = newHelper(rummageSearchClient({ get: rummage.get }));
  helper.addDisjunctiveFacetRefinement('size', 'M');
  const p0 = await searchOnce(helper);
  const p1 = await searchOnce(helper.setPage(1));
  const p2 = await searchOnce(helper.setPage(2));
  assert.equal(rummage.calls.length, 2, 'a page past the last cursor asks nothing');
  assert.equal(new URL(rummage.calls[1], 'http://x').searchParams.get('cursor'), '10');
  assert.equal(new URL(rummage.calls[1], 'http://x').searchParams.get('facets'), null, 'later pages do not recount facets');
  const ids = [...p0.hits, ...p1.hits, ...p2.hits].map((h) => h.id);
  assert.equal(ids.length, 20, 'twenty size-M listings, over two pages and an empty third');
  assert.equal(new Set(ids).size, 20);
  assert.equal(p2.hits.length, 0);
  assert.equal(p1.nbPages, 2);
});

test('the hierarchical menu: the children counted, the siblings along the path remembered', async () => {
  const rummage = fakeRummage();
  const helper = newHelper(rummageSearchClient({ get: rummage.get }));
  await searchOnce(helper);
  await searchOnce(helper.toggleFacetRefinement('category', 'Women'));
  const res = await searchOnce(helper.toggleFacetRefinement('category', 'Women > Shoes'));
  assert.equal(rummage.calls.length, 3, 'one request per state');
  assert.equal(new URL(rummage.calls[2], 'http://x').searchParams.get('category'), 'Women/Shoes');
  const tree = res.getFacetValues('category');
  const roots = tree.data.map((n) => [n.name, n.isRefined]);
  assert.deepEqual(roots.map((r) => r[0]).sort(), ['Kids', 'Men', 'Women'], 'the root level keeps the siblings');
  const women = tree.data.find((n) => n.name === 'Women');
  assert.deepEqual(women.data.map((n) => n.name).sort(), ['Clothing', 'Shoes']);
  const shoes = women.data.find((n) => n.name === 'Shoes');
  assert.equal(shoes.isRefined, true);
  assert.deepEqual(shoes.data.map((n) => [n.name, n.count]).sort(), [['Boots', 12], ['Heels', 12]]);
  assert.equal(res.nbHits, 24);
});

test('requests: prices, sorts and the query', () => {
  const u = new URL(rummageRequest('listings', { query: 'red coat', numericFilters: ['price_cents>=2500', 'price_cents<=5000'], facetFilters: [['colors:Red'], 'condition:good'], hitsPerPage: 12 }), 'http://x');
  assert.deepEqual(Object.fromEntries(u.searchParams), { q: 'red coat', color: 'Red', condition: 'good', price_min: '2500', price_max: '5000', limit: '12', facets: 'brand,category,size,condition,color,price' });
  assert.equal(new URL(rummageRequest('listings_price_asc', {}), 'http://x').searchParams.get('sort'), 'price_asc');
});

test('the insights client posts clicks with the query_id and positions', async () => {
  const { rummageInsightsClient } = await import('../src/lib/instantsearch.js');
  const sent = [];
  const aa = rummageInsightsClient(async (events) => { sent.push(events); }, { now: () => new Date('2026-01-01T00:00:00Z') });
  aa('setUserToken', 'u1');
  await aa('clickedObjectIDsAfterSearch', { index: 'listings', eventName: 'Hit Clicked', queryID: 'q7', objectIDs: ['l1', 'l2'], positions: [3, 4] });
  aa('init', { appId: 'x' });
  aa('unknownMethod', { objectIDs: ['l9'] });
  assert.deepEqual(sent, [[
    { type: 'click', listing_id: 'l1', surface: 'search', at: '2026-01-01T00:00:00.000Z', query_id: 'q7', position: 3, user: 'u1' },
    { type: 'click', listing_id: 'l2', surface: 'search', at: '2026-01-01T00:00:00.000Z', query_id: 'q7', position: 4, user: 'u1' },
  ]]);
});
