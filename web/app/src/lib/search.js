// The search page's state and its one Rummage request.
//
// The UI state lives in the page's URL (so a search can be shared and the
// back button works); stateToRequest turns it into exactly one
// GET /v1/search, whose answer carries every facet the page shows. Rummage
// counts facets disjunctively (a facet's counts ignore that facet's own
// filter), so there is no need for the extra per-facet queries a
// multi-index client such as InstantSearch sends.

export const FACETS = ['category', 'brand', 'size', 'condition', 'color', 'price'];
export const MULTI = ['brand', 'size', 'condition', 'color'];
export const SORTS = [
  ['relevance', 'Best match'],
  ['newest', 'Just in'],
  ['recently_shared', 'Recently shared'],
  ['price_asc', 'Price: low to high'],
  ['price_desc', 'Price: high to low'],
];
export const PAGE_SIZE = 24;

// parseState reads the UI state from a query string (URLSearchParams).
export function parseState(params) {
  const s = { q: (params.get('q') || '').trim(), category: '', price: '', sort: '' };
  for (const f of MULTI) s[f] = [...new Set(params.getAll(f).filter(Boolean))].sort();
  s.category = (params.get('category') || '').split('/').filter(Boolean).join('/');
  s.price = params.get('price') || '';
  const sort = params.get('sort') || '';
  s.sort = SORTS.some(([k]) => k === sort) ? sort : '';
  return s;
}

// stateToQuery is the page URL's query string for a state (parseState's inverse).
export function stateToQuery(s) {
  const p = new URLSearchParams();
  if (s.q) p.set('q', s.q);
  for (const f of MULTI) for (const v of s[f]) p.append(f, v);
  if (s.category) p.set('category', s.category);
  if (s.price) p.set('price', s.price);
  if (s.sort) p.set('sort', s.sort);
  return p.toString();
}

// priceRange turns a price bucket key of the price facet ("25-50", "500+",
// in dollars) into Rummage's inclusive cent bounds.
export function priceRange(key) {
  const m = /^(\d+)(?:-(\d+)|\+)$/.exec(key || '');
  if (!m) return null;
  const r = { min: Number(m[1]) * 100 };
  if (m[2] !== undefined) r.max = Number(m[2]) * 100 - 1; // buckets are [from, to)
  return r;
}

// stateToRequest is the one /v1/search request of a UI state (path and
// query string), for its first page or, with cursor, a later one.
export function stateToRequest(s, { cursor = '', limit = PAGE_SIZE, facets = FACETS } = {}) {
  const p = new URLSearchParams();
  if (s.q) p.set('q', s.q);
  for (const f of MULTI) for (const v of s[f]) p.append(f, v);
  if (s.category) p.set('category', s.category);
  const r = priceRange(s.price);
  if (r) {
    p.set('price_min', String(r.min));
    if (r.max !== undefined) p.set('price_max', String(r.max));
  }
  if (s.sort && !(s.sort === 'relevance' && !s.q)) p.set('sort', s.sort);
  p.set('limit', String(limit));
  if (cursor) p.set('cursor', cursor);
  else if (facets.length) p.set('facets', facets.join(','));
  return '/v1/search?' + p.toString();
}

// toggle returns the state with value ticked or unticked in a multi-select
// facet, or chosen or cleared in a single-choice one (category, price).
export function toggle(s, field, value) {
  const n = { ...s };
  for (const f of MULTI) n[f] = [...s[f]];
  if (MULTI.includes(field)) {
    n[field] = n[field].includes(value) ? n[field].filter((v) => v !== value) : [...n[field], value].sort();
  } else {
    n[field] = s[field] === value ? '' : value;
  }
  return n;
}

// categoryMenu is the hierarchical menu of a state and its answer, as rows
// to indent by depth: along the selected path each level's siblings (the
// one on the path selected), then the children of the selected node with
// their counts. Rummage's category facet counts the children of the node
// the request filters on; the siblings along the path come from earlier
// answers of the session (known: parent path → child names), so the menu
// costs no extra request. A level not seen yet shows the path's node alone.
export function categoryMenu(s, facetValues, known = new Map()) {
  const path = s.category ? s.category.split('/') : [];
  const children = (facetValues || []).map((v) => ({ name: v.value.split('/').pop(), value: v.value, count: v.count, depth: path.length }));
  const rowsAt = (d) => {
    if (d === path.length) return children;
    const parent = path.slice(0, d).join('/');
    const names = [...(known.get(parent) || [])];
    if (!names.includes(path[d])) names.push(path[d]);
    const out = [];
    for (const name of names) {
      const value = parent ? parent + '/' + name : name;
      if (name === path[d]) out.push({ name, value, depth: d, selected: true, up: parent }, ...rowsAt(d + 1));
      else out.push({ name, value, depth: d });
    }
    return out;
  };
  return { rows: rowsAt(0), children };
}

// learnCategories records the children an answer counted under the
// state's category node, for categoryMenu's siblings.
export function learnCategories(known, s, facetValues) {
  if (facetValues && facetValues.length) known.set(s.category || '', facetValues.map((v) => v.value.split('/').pop()));
}

// Paginator runs the requests of one UI state: first() fetches the first
// page, more() the next one through next_cursor. A new state aborts the
// previous state's request in flight, and asking twice for the same page
// sends one request.
export class Paginator {
  constructor(get) {
    this.get = get; // (path, {signal}) => Promise<answer>
    this.key = null;
    this.inflight = null;
    this.cursor = null;
    this.done = false;
    this.ctrl = null;
  }

  first(s) {
    const path = stateToRequest(s);
    if (this.key === path && this.inflight) return this.inflight;
    if (this.ctrl) this.ctrl.abort();
    this.ctrl = new AbortController();
    this.key = path;
    this.cursor = null;
    this.done = false;
    this.state = s;
    return this.fetch(path);
  }

  more() {
    if (this.done || !this.cursor) return Promise.resolve(null);
    if (this.inflight) return this.inflight;
    return this.fetch(stateToRequest(this.state, { cursor: this.cursor }));
  }

  fetch(path) {
    const key = this.key;
    const p = this.get(path, { signal: this.ctrl.signal }).then((ans) => {
      if (this.key !== key) return null; // superseded
      this.cursor = ans.next_cursor || null;
      this.done = !this.cursor;
      return ans;
    }).finally(() => { if (this.inflight === p) this.inflight = null; });
    this.inflight = p;
    return p;
  }
}
