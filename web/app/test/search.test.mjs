import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseState, stateToQuery, stateToRequest, toggle, categoryMenu, learnCategories, priceRange, Paginator } from '../src/lib/search.js';

const q = (s) => new URLSearchParams(s);

test('a UI state round-trips through the page URL', () => {
  const s = parseState(q('q=denim+jacket&brand=Zara&brand=Levi%27s&size=M&category=Women/Clothing&price=25-50&sort=price_asc'));
  assert.deepEqual(s.brand, ["Levi's", 'Zara']);
  assert.deepEqual(parseState(q(stateToQuery(s))), s);
});

test('one UI state is one /v1/search request carrying every facet', () => {
  let s = parseState(q('q=dress'));
  s = toggle(s, 'brand', 'Zara');
  s = toggle(s, 'brand', 'Nike');
  s = toggle(s, 'color', 'Black');
  const u = new URL(stateToRequest(s), 'http://x');
  assert.equal(u.pathname, '/v1/search');
  assert.deepEqual(u.searchParams.getAll('brand'), ['Nike', 'Zara']);
  assert.deepEqual(u.searchParams.getAll('color'), ['Black']);
  assert.equal(u.searchParams.get('facets'), 'category,brand,size,condition,color,price');
  assert.equal(u.searchParams.get('q'), 'dress');
});

test('price buckets become inclusive cent bounds', () => {
  assert.deepEqual(priceRange('25-50'), { min: 2500, max: 4999 });
  assert.deepEqual(priceRange('500+'), { min: 50000 });
  assert.equal(priceRange('cheap'), null);
  const u = new URL(stateToRequest(parseState(q('price=0-25'))), 'http://x');
  assert.equal(u.searchParams.get('price_min'), '0');
  assert.equal(u.searchParams.get('price_max'), '2499');
});

test('relevance without a query is not sent (the API refuses it)', () => {
  const u = new URL(stateToRequest(parseState(q('sort=relevance'))), 'http://x');
  assert.equal(u.searchParams.get('sort'), null);
});

test('toggle ticks and unticks; single-choice facets clear on a second click', () => {
  let s = parseState(q(''));
  s = toggle(toggle(s, 'size', 'M'), 'size', 'S');
  assert.deepEqual(s.size, ['M', 'S']);
  assert.deepEqual(toggle(s, 'size', 'M').size, ['S']);
  assert.equal(toggle(toggle(s, 'category', 'Women'), 'category', 'Women').category, '');
});

test('the category menu: siblings along the path, then the children with counts', () => {
  const known = new Map();
  learnCategories(known, parseState(q('')), [{ value: 'Women', count: 9 }, { value: 'Men', count: 5 }]);
  learnCategories(known, parseState(q('category=Women')), [{ value: 'Women/Clothing', count: 6 }, { value: 'Women/Shoes', count: 3 }]);
  const s = parseState(q('category=Women/Shoes'));
  const m = categoryMenu(s, [{ value: 'Women/Shoes/Boots', count: 2 }, { value: 'Women/Shoes/Heels', count: 1 }], known);
  assert.deepEqual(m.rows.map((r) => [r.depth, r.name, r.value, !!r.selected, r.count]), [
    [0, 'Women', 'Women', true, undefined],
    [1, 'Clothing', 'Women/Clothing', false, undefined],
    [1, 'Shoes', 'Women/Shoes', true, undefined],
    [2, 'Boots', 'Women/Shoes/Boots', false, 2],
    [2, 'Heels', 'Women/Shoes/Heels', false, 1],
    [0, 'Men', 'Men', false, undefined],
  ]);
  assert.equal(m.rows[2].up, 'Women', 'a selected node links up to its parent');
  const cold = categoryMenu(s, [], new Map());
  assert.deepEqual(cold.rows.map((r) => r.value), ['Women', 'Women/Shoes'], 'a deep link shows the path alone');
});

// A fake API that records requests and answers pages of a fixed list.
function fakeAPI(pages) {
  const calls = [];
  const get = async (path) => {
    calls.push(path);
    const u = new URL(path, 'http://x');
    const n = Number(u.searchParams.get('cursor') || 0);
    return { total: pages.length * 2, hits: pages[n], facets: {}, next_cursor: n + 1 < pages.length ? String(n + 1) : null };
  };
  return { calls, get };
}

test('the paginator sends one request per UI state and pages by the cursor', async () => {
  const api = fakeAPI([['a', 'b'], ['c', 'd'], ['e']]);
  const p = new Paginator(api.get);
  const s1 = toggle(toggle(parseState(q('q=top')), 'brand', 'Zara'), 'brand', 'Nike');
  const [a, b] = await Promise.all([p.first(s1), p.first(s1)]); // a double render
  assert.equal(a, b);
  assert.equal(api.calls.length, 1);
  assert.deepEqual((await p.more()).hits, ['c', 'd']);
  assert.equal(new URL(api.calls[1], 'http://x').searchParams.get('cursor'), '1');
  assert.equal(new URL(api.calls[1], 'http://x').searchParams.get('facets'), null, 'later pages do not recount facets');
  assert.deepEqual((await p.more()).hits, ['e']);
  assert.equal(await p.more(), null, 'no request after the last page');
  assert.equal(api.calls.length, 3);
  const s2 = toggle(s1, 'size', 'M');
  await p.first(s2);
  assert.equal(api.calls.length, 4);
  assert.deepEqual(new URL(api.calls[3], 'http://x').searchParams.getAll('size'), ['M']);
});

test('a new UI state aborts the previous one in flight and drops its answer', async () => {
  const signals = [];
  let release;
  const slow = new Promise((r) => { release = r; });
  const p = new Paginator(async (path, { signal }) => {
    signals.push(signal);
    if (signals.length === 1) await slow;
    return { total: 1, hits: [path], facets: {}, next_cursor: 'c' };
  });
  const first = p.first(parseState(q('q=a')));
  const second = p.first(parseState(q('q=b')));
  assert.equal(signals[0].aborted, true);
  release();
  assert.equal(await first, null, 'the superseded answer is dropped');
  assert.match((await second).hits[0], /q=b/);
  assert.equal(p.cursor, 'c');
});
