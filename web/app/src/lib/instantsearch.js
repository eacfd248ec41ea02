// A search client for InstantSearch.js (and algoliasearch-helper, the
// engine under it) that answers from Rummage, modelled on the open
// adapters of Typesense (typesense-instantsearch-adapter) and Meilisearch
// (instant-meilisearch): a marketplace whose pages are built with
// InstantSearch can point them at Rummage.
//
// One Rummage request per UI state. For one click InstantSearch sends
// several queries: the main one with every refinement, and one per
// refined disjunctive facet (that facet's own filter left out) and per
// level of a refined hierarchical facet. Rummage counts facets
// disjunctively already, so the main query's answer holds the counts all of
// them ask for: the client sends that one request and answers every query
// from it. The category tree's levels above the selected node (its
// siblings along the path) are not in that answer (Rummage counts the
// children of the node a request filters on); the client answers them from
// the levels it saw earlier in the session, and otherwise with the path's
// nodes alone. Pages are Rummage cursors: page n is asked with the cursor
// page n-1 returned (infiniteHits goes page by page).
//
// Index names choose the sort: "listings" (relevance), "listings_newest",
// "listings_price_asc", "listings_price_desc", "listings_recently_shared".
// Facet attributes: brand, size, condition, colors (color), the category
// as category.lvl0..lvlN ("Women > Shoes"), price_cents in numericFilters.

import { PAGE_SIZE } from './search.js';

const SEP = ' > ';
const ATTR = { brand: 'brand', size: 'size', condition: 'condition', colors: 'color', color: 'color' };

function asArray(v) {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

// parseFilters turns facetFilters (["a:x", ["a:y", "a:z"]]) into field →
// values; numericFilters on price_cents into price bounds.
function parseFilters(params) {
  const terms = {};
  let category = '';
  for (const group of asArray(params.facetFilters)) {
    for (const f of asArray(group)) {
      const i = f.indexOf(':');
      if (i < 0) continue;
      const attr = f.slice(0, i).replace(/^-/, ''), value = f.slice(i + 1);
      const lvl = /^category\.lvl(\d+)$/.exec(attr);
      if (lvl) {
        const path = value.split(SEP).join('/');
        if (path.split('/').length > category.split('/').filter(Boolean).length) category = path;
      } else if (ATTR[attr]) {
        (terms[ATTR[attr]] ||= []).push(value);
      }
    }
  }
  const price = {};
  for (const f of asArray(params.numericFilters).flat()) {
    const m = /^price_cents\s*(>=|<=|>|<|=)\s*(-?\d+(?:\.\d+)?)$/.exec(String(f).trim());
    if (!m) continue;
    const n = Math.round(Number(m[2]));
    if (m[1] === '>=' || m[1] === '=') price.min = Math.max(price.min ?? 0, n);
    if (m[1] === '>') price.min = Math.max(price.min ?? 0, n + 1);
    if (m[1] === '<=' || m[1] === '=') price.max = Math.min(price.max ?? Infinity, n);
    if (m[1] === '<') price.max = Math.min(price.max ?? Infinity, n - 1);
  }
  return { terms, category, price };
}

// rummageRequest is the one /v1/search request of a query, without its
// page (the cursor is added by the client).
export function rummageRequest(indexName, params) {
  const { terms, category, price } = parseFilters(params);
  const p = new URLSearchParams();
  if (params.query) p.set('q', params.query);
  for (const f of Object.keys(terms).sort()) for (const v of [...new Set(terms[f])].sort()) p.append(f, v);
  if (category) p.set('category', category);
  if (price.min !== undefined) p.set('price_min', String(price.min));
  if (price.max !== undefined && Number.isFinite(price.max)) p.set('price_max', String(price.max));
  const sort = (/^[^_]+_(.+)$/.exec(indexName) || [])[1];
  if (sort && sort !== 'relevance') p.set('sort', sort);
  p.set('limit', String(Math.min(100, Math.max(1, params.hitsPerPage || PAGE_SIZE))));
  p.set('facets', 'brand,category,size,condition,color,price');
  return '/v1/search?' + p.toString();
}

// isMain tells the query that shows hits from the facet-count queries
// InstantSearch adds (hitsPerPage 0, analytics off).
const isMain = (r) => r.params && r.params.hitsPerPage !== 0;

export function rummageSearchClient({ get, known = new Map() } = {}) {
  const cursors = new Map(); // request → cursors by page ('' for page 0, null past the end)
  const firsts = new Map(); // request → its latest first page (total, facets, query_id)
  const inflight = new Map(); // request#page → promise, while in flight

  // page fetches page n of req, walking the cursors from the last page seen
  // when the caller jumps ahead (infiniteHits does not).
  async function page(req, n) {
    if (!cursors.has(req)) cursors.set(req, ['']);
    const list = cursors.get(req);
    for (let i = list.length - 1; i < n; i++) {
      if (list[i] === null) return null;
      await fetchPage(req, i);
    }
    if (typeof list[n] !== 'string') return null;
    return fetchPage(req, n);
  }

  function fetchPage(req, n) {
    const key = req + '#' + n;
    if (inflight.has(key)) return inflight.get(key);
    const list = cursors.get(req);
    const cursor = list[n];
    // A later page recounts nothing: the facets are the first page's.
    const path = cursor ? req.replace(/&facets=[^&]*/, '') + '&cursor=' + encodeURIComponent(cursor) : req;
    const p = get(path).then((ans) => {
      list[n + 1] = ans.next_cursor || null;
      if (n === 0) {
        firsts.delete(req);
        firsts.set(req, ans);
        if (firsts.size > 50) firsts.delete(firsts.keys().next().value);
      }
      return ans;
    }).finally(() => inflight.delete(key));
    inflight.set(key, p);
    return p;
  }

  function learn(category, values) {
    if (values && values.length) known.set(category, values.map((v) => ({ name: v.value.split('/').pop(), count: v.count })));
  }

  // facetsFor answers one query's facets from the answer of its state.
  function facetsFor(params, ans, category, first) {
    const want = asArray(params.facets);
    const all = want.includes('*');
    const out = {};
    const terms = (name) => {
      const o = {};
      for (const v of (ans.facets || first.facets || {})[name] || []) o[v.value] = v.count;
      return o;
    };
    for (const [attr, name] of Object.entries(ATTR)) if (all || want.includes(attr)) out[attr] = terms(name);
    const path = category ? category.split('/') : [];
    for (let lvl = 0; lvl <= path.length + 1; lvl++) {
      const attr = 'category.lvl' + lvl;
      if (!all && !want.includes(attr)) continue;
      const o = {};
      if (lvl === path.length) {
        for (const v of (first.facets || {}).category || []) o[v.value.split('/').join(SEP)] = v.count;
      } else if (lvl < path.length) {
        const parent = path.slice(0, lvl);
        for (const s of known.get(parent.join('/')) || []) o[[...parent, s.name].join(SEP)] = s.count;
        const node = path.slice(0, lvl + 1).join(SEP);
        if (lvl === path.length - 1) o[node] = first.total;
        else if (!(node in o)) o[node] = first.total;
      }
      out[attr] = o;
    }
    if (all || want.includes('price_cents')) out.price_cents = {};
    return out;
  }

  return {
    // search answers InstantSearch's queries of one UI state; queries of
    // the same state (same filters but one facet's, same index) share one
    // Rummage request.
    async search(requests) {
      const mains = requests.filter(isMain);
      const base = new Map(); // indexName → the main query's request and page
      for (const r of mains) base.set(r.indexName, { req: rummageRequest(r.indexName, r.params), page: r.params.page || 0, params: r.params });
      const answers = new Map();
      const ask = (req, n) => {
        const k = req + '#' + n;
        if (!answers.has(k)) answers.set(k, page(req, n));
        return answers.get(k);
      };
      const results = await Promise.all(requests.map(async (r) => {
        const params = r.params || {};
        const main = base.get(r.indexName);
        const req = main ? main.req : rummageRequest(r.indexName, params);
        const n = isMain(r) ? params.page || 0 : (main ? main.page : 0);
        const first = n === 0 || !firsts.has(req) ? await ask(req, 0) : firsts.get(req);
        const ans = n === 0 ? first : (await ask(req, n)) || { hits: [], total: first.total, facets: first.facets };
        const { category } = parseFilters(main ? main.params : params);
        if (first.facets && first.facets.category) learn(category, first.facets.category);
        const hitsPerPage = params.hitsPerPage ?? Math.min(100, (main && main.params.hitsPerPage) || PAGE_SIZE);
        return {
          index: r.indexName,
          hits: isMain(r) ? (ans.hits || []).map((h) => ({ ...h, objectID: h.id, __queryID: first.query_id })) : [],
          nbHits: first.total,
          page: n,
          nbPages: hitsPerPage ? Math.ceil(first.total / hitsPerPage) : 0,
          hitsPerPage,
          facets: facetsFor(params, ans, category, first),
          exhaustiveFacetsCount: true,
          exhaustiveNbHits: true,
          query: params.query || '',
          params: new URLSearchParams(Object.entries(params).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString(),
          queryID: first.query_id,
          processingTimeMS: 0,
        };
      }));
      return { results };
    },
    searchForFacetValues() {
      return Promise.resolve([{ facetHits: [], exhaustiveFacetsCount: true, processingTimeMS: 0 }]);
    },
    clearCache() {
      cursors.clear();
      firsts.clear();
      return Promise.resolve();
    },
  };
}

// rummageInsightsClient is an insightsClient for InstantSearch's insights
// middleware (the search-insights signature, aa(method, payload)): clicks,
// conversions and views after a search go to POST /v1/events with the
// answer's query_id (hits carry it as __queryID) and their positions.
// post(events) sends the batch (the app's insights module does, with its
// key); methods Rummage has no counterpart for are ignored.
export function rummageInsightsClient(post, { surface = 'search', now = () => new Date() } = {}) {
  const types = {
    clickedObjectIDsAfterSearch: 'click',
    clickedObjectIDs: 'click',
    convertedObjectIDsAfterSearch: 'purchase',
    convertedObjectIDs: 'purchase',
    addedToCartObjectIDsAfterSearch: 'add_to_cart',
    addedToCartObjectIDs: 'add_to_cart',
    viewedObjectIDs: 'view',
  };
  let user = '';
  return function aa(method, payload = {}) {
    if (method === 'setUserToken' || method === 'setAuthenticatedUserToken') {
      user = String(payload || '');
      return undefined;
    }
    const type = types[method];
    if (!type) return undefined;
    const at = now().toISOString();
    const events = (payload.objectIDs || []).map((id, i) => {
      const e = { type, listing_id: id, surface, at };
      if (payload.queryID) e.query_id = payload.queryID;
      if (payload.positions && payload.positions[i]) e.position = payload.positions[i];
      if (payload.userToken || user) e.user = payload.userToken || user;
      return e;
    });
    return events.length ? post(events) : undefined;
  };
}
