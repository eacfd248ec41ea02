// The shopper app: search with facets, a listing page, parties (live, with
// "N new — tap to refresh"), the following and home feeds, and drops with a
// countdown. Client-side routes under /, served by the Go binary (package
// web), talking to the v1 API like any client.

import './style.css';
import { h, money, ago, countdown } from '../lib/dom.js';
import { get, settings, saveSettings } from '../lib/api.js';
import { click, track } from '../lib/insights.js';
import { parseState, stateToQuery, toggle, categoryMenu, learnCategories, Paginator, SORTS, MULTI, PAGE_SIZE } from '../lib/search.js';
import { thumb, srcset, placeholder } from '../lib/images.js';
import { PartyHead } from '../lib/party.js';
import { clockOffset, dropState } from '../lib/drops.js';

const main = document.getElementById('main');
const knownCategories = new Map(); // parent path → child names, from this session's answers
let cleanup = [];

function onCleanup(f) { cleanup.push(f); }

export function navigate(url, replace = false) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a');
  if (!a || a.target || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  const u = new URL(a.href, location.href);
  if (u.origin !== location.origin || u.pathname.startsWith('/v1/') || u.pathname.startsWith('/admin') || u.pathname.startsWith('/docs')) return;
  e.preventDefault();
  navigate(u.pathname + u.search);
});
addEventListener('popstate', () => render());

const routes = [
  [/^\/$/, searchPage],
  [/^\/listing\/([^/]+)$/, listingPage],
  [/^\/parties$/, partiesPage],
  [/^\/parties\/([^/]+)$/, partyPage],
  [/^\/feed$/, () => feedPage('home')],
  [/^\/following$/, () => feedPage('following')],
  [/^\/drops$/, dropsPage],
];

function render() {
  for (const f of cleanup) f();
  cleanup = [];
  for (const a of document.querySelectorAll('nav.top a')) a.classList.toggle('active', a.pathname === location.pathname);
  for (const [re, page] of routes) {
    const m = re.exec(location.pathname);
    if (m) {
      main.replaceChildren();
      page(...m.slice(1).map(decodeURIComponent));
      return;
    }
  }
  main.replaceChildren(h('p.empty', 'Nothing here. ', h('a', { href: '/' }, 'Back to search')));
}

function errorBox(e) {
  return h('p.error', { role: 'alert' }, e.code === 'user_not_trusted' || e.code === 'user_token_required'
    ? 'This feed is for a chosen shopper: open Settings and paste a server key (or a public key with a user token).'
    : `Could not load: ${e.message}`);
}

// --- listing cards and grids ---------------------------------------------

function card(hit, pos, ctx) {
  const t = thumb(hit);
  const img = h('img', { src: t.url, width: t.width, height: t.height, alt: hit.title, loading: pos < 8 ? 'eager' : 'lazy', decoding: 'async' });
  img.addEventListener('error', () => { img.src = placeholder(hit); }, { once: true });
  const reason = hit.feed_reason ? h('span.reason', reasonText(hit.feed_reason)) : null;
  return h('a.card', {
    href: '/listing/' + encodeURIComponent(hit.id),
    dataset: { id: hit.id, pos: String(pos) },
    onclick: () => click({ listingId: hit.id, queryId: ctx.queryId(), position: pos + 1, surface: ctx.surface, partyId: ctx.partyId }),
  },
  h('div.pic', img),
  h('div.meta',
    h('div.title', hit.title),
    h('div.sub', [hit.brand, hit.size].filter(Boolean).join(' · ')),
    h('div.price', money(hit.price_cents), hit.original_price_cents > hit.price_cents ? h('s', money(hit.original_price_cents)) : null),
    hit.party_shared_at ? h('span.reason', 'shared ' + ago(hit.party_shared_at)) : reason));
}

function reasonText(r) {
  switch (r.type) {
    case 'listed': return 'listed by ' + r.by;
    case 'shared': return 'shared by ' + r.by;
    default: return r.type + (r.value ? ': ' + r.value : r.by ? ' · ' + r.by : '');
  }
}

// grid shows an answer's hits and pages on through its cursor as the
// shopper scrolls (the cursor is the API's, so no page is skipped or
// repeated while listings change).
function grid(ctx) {
  const el = h('div.grid', { 'aria-live': 'polite' });
  const sentinel = h('div.sentinel', { 'aria-hidden': 'true' });
  const more = h('button.more', { hidden: true, onclick: () => loadMore() }, 'Show more');
  let count = 0, loading = false;
  const add = (ans) => {
    for (const hit of ans.hits || []) el.append(card(hit, count++, ctx));
    more.hidden = !ans.next_cursor;
    sentinel.hidden = !ans.next_cursor;
  };
  const loadMore = async () => {
    if (loading) return;
    loading = true;
    try {
      const ans = await ctx.more();
      if (ans) add(ans);
    } catch (e) {
      if (e.name !== 'AbortError') el.after(errorBox(e));
    } finally {
      loading = false;
    }
  };
  const io = new IntersectionObserver((es) => { if (es.some((x) => x.isIntersecting)) loadMore(); }, { rootMargin: '300px' });
  io.observe(sentinel);
  onCleanup(() => io.disconnect());
  return { root: h('div', el, sentinel, more), add, reset() { el.replaceChildren(); count = 0; } };
}

// --- search ----------------------------------------------------------------

function searchPage() {
  const state = parseState(new URLSearchParams(location.search));
  const pager = new Paginator((path, o) => get(path, o));
  let queryId = '';
  const g = grid({ surface: 'search', queryId: () => queryId, more: () => pager.more() });
  const facetsEl = h('aside.facets');
  const head = h('div.results-head');
  const q = h('input', { type: 'search', name: 'q', value: state.q, placeholder: 'Search brands, styles, sizes…', 'aria-label': 'Search' });
  const sort = h('select', { name: 'sort', 'aria-label': 'Sort' },
    SORTS.map(([k, label]) => h('option', { value: k, selected: (state.sort || (state.q ? 'relevance' : 'newest')) === k }, label)));
  const go = (s) => navigate('/' + (stateToQuery(s) ? '?' + stateToQuery(s) : ''));
  const form = h('form.searchbar', { role: 'search', onsubmit: (e) => { e.preventDefault(); go({ ...state, q: q.value.trim(), sort: state.sort === 'relevance' ? '' : state.sort }); } },
    q, h('button', { type: 'submit' }, 'Search'), sort);
  sort.addEventListener('change', () => go({ ...state, sort: sort.value }));
  main.append(form, h('div.layout', facetsEl, h('section.results', head, g.root)));

  const started = performance.now();
  pager.first(state).then((ans) => {
    if (!ans) return;
    queryId = ans.query_id || '';
    head.replaceChildren(...[h('span.total', `${ans.total.toLocaleString('en-US')} listings`), chips(state, go)].filter(Boolean));
    g.add(ans);
    facetsEl.replaceChildren(...facetPanels(state, ans.facets || {}, go));
    document.body.dataset.rendered = String(Math.round(performance.now() - started));
    performance.mark('rummage:first-page');
  }).catch((e) => { if (e.name !== 'AbortError') head.replaceChildren(errorBox(e)); });
  onCleanup(() => pager.ctrl && pager.ctrl.abort());
}

function chips(state, go) {
  const out = [];
  for (const f of MULTI) for (const v of state[f]) out.push(h('button.chip', { onclick: () => go(toggle(state, f, v)) }, `${v} ×`));
  if (state.category) out.push(h('button.chip', { onclick: () => go({ ...state, category: '' }) }, `${state.category} ×`));
  if (state.price) out.push(h('button.chip', { onclick: () => go({ ...state, price: '' }) }, `$${state.price} ×`));
  return out.length ? h('span.chips', out) : null;
}

const LABELS = { brand: 'Brand', size: 'Size', condition: 'Condition', color: 'Color', price: 'Price', category: 'Category' };
const CONDITIONS = { nwt: 'New with tags', like_new: 'Like new', good: 'Good', fair: 'Fair' };

function facetPanels(state, facets, go) {
  const out = [];
  learnCategories(knownCategories, state, facets.category);
  const menu = categoryMenu(state, facets.category, knownCategories);
  out.push(h('section.facet', { dataset: { facet: 'category' } }, h('h3', LABELS.category),
    h('ul.tree',
      state.category ? h('li', h('a', { href: '/?' + stateToQuery({ ...state, category: '' }) }, '‹ All')) : null,
      menu.rows.map((r) => h('li' + (r.selected ? '.selected' : ''), { style: `padding-left:${r.depth * 0.8}em` },
        h('a', { href: '/?' + stateToQuery({ ...state, category: r.selected ? r.up : r.value }), 'aria-current': r.selected ? 'true' : null },
          r.selected ? h('strong', r.name) : r.name, r.count !== undefined ? [' ', h('span.count', String(r.count))] : null))))));
  for (const f of MULTI) {
    const values = [...(facets[f] || [])];
    for (const v of state[f]) if (!values.some((x) => x.value === v)) values.push({ value: v, count: 0 });
    if (!values.length) continue;
    out.push(h('section.facet', { dataset: { facet: f } }, h('h3', LABELS[f]),
      h('ul', values.map((v) => h('li', h('label',
        h('input', { type: 'checkbox', checked: state[f].includes(v.value), onchange: () => go(toggle(state, f, v.value)) }),
        ' ', f === 'condition' ? (CONDITIONS[v.value] || v.value) : v.value, ' ', h('span.count', String(v.count))))))));
  }
  if ((facets.price || []).length) {
    out.push(h('section.facet', { dataset: { facet: 'price' } }, h('h3', LABELS.price),
      h('ul', facets.price.map((v) => h('li', h('label',
        h('input', { type: 'radio', name: 'price', checked: state.price === v.key, onclick: () => go(toggle(state, 'price', v.key)) }),
        ' ', v.key.endsWith('+') ? `$${v.key}` : `$${v.key.replace('-', '–$')}`, ' ', h('span.count', String(v.count))))))));
  }
  return out;
}

// --- one listing --------------------------------------------------------------

async function listingPage(id) {
  const box = h('article.listing', h('p.loading', 'Loading…'));
  main.append(box);
  try {
    const l = await get('/v1/listings/' + encodeURIComponent(id));
    track('view', { listingId: l.id, surface: 'listing' });
    const s = srcset(l);
    const img = h('img.hero', { src: s.src, srcset: s.srcset, sizes: '(max-width: 700px) 100vw, 600px', width: s.width, height: s.height, alt: l.title });
    img.addEventListener('error', () => { img.removeAttribute('srcset'); img.src = placeholder(l); }, { once: true });
    box.replaceChildren(
      h('div.pic', img),
      h('div.info',
        h('h1', l.title),
        h('p.price', money(l.price_cents), l.original_price_cents > l.price_cents ? h('s', money(l.original_price_cents)) : null),
        l.status !== 'available' ? h('p.status', l.status) : null,
        h('dl',
          l.brand ? [h('dt', 'Brand'), h('dd', h('a', { href: '/?brand=' + encodeURIComponent(l.brand) }, l.brand))] : null,
          l.size ? [h('dt', 'Size'), h('dd', l.size)] : null,
          l.condition ? [h('dt', 'Condition'), h('dd', CONDITIONS[l.condition] || l.condition)] : null,
          (l.category || []).length ? [h('dt', 'Category'), h('dd', h('a', { href: '/?category=' + encodeURIComponent(l.category.join('/')) }, l.category.join(' › ')))] : null,
          (l.colors || []).length ? [h('dt', 'Colors'), h('dd', l.colors.join(', '))] : null,
          [h('dt', 'Likes · shares'), h('dd', `${l.like_count || 0} · ${l.share_count || 0}`)]),
        h('p.desc', l.description || ''),
        h('p.seller', 'Closet ', h('code', l.seller_id))));
  } catch (e) {
    box.replaceChildren(e.status === 404 ? h('p.empty', 'This listing is not available.') : errorBox(e));
  }
}

// --- parties ----------------------------------------------------------------

function when(p) {
  const opts = { weekday: 'short', hour: '2-digit', minute: '2-digit' };
  return `${new Date(p.starts_at).toLocaleString('en-US', opts)} – ${new Date(p.ends_at).toLocaleTimeString('en-US', { hour: '2-digit', minute: '2-digit' })}`;
}

async function partiesPage() {
  const list = h('ul.parties', h('li.loading', 'Loading…'));
  main.append(h('h1', 'Parties'), list);
  try {
    const ans = await get('/v1/parties');
    list.replaceChildren(...(ans.parties.length ? ans.parties.map((p) => h('li', { dataset: { status: p.status } },
      h('a', { href: '/parties/' + encodeURIComponent(p.id) }, h('strong', p.name)),
      ' ', h('span.badge.' + p.status, p.status), ' ', h('span.when', when(p)))) : [h('li.empty', 'No parties live or coming up.')]));
  } catch (e) {
    list.replaceChildren(errorBox(e));
  }
}

// partyPage shows a party's feed and polls its small, cacheable head
// (GET /v1/parties/{id}: share_count) every few seconds while the page is
// visible; new shares show as "N new — tap to refresh" instead of moving
// the grid under the shopper's thumb.
function partyPage(id) {
  const title = h('h1', 'Party');
  const info = h('p.party-info');
  const banner = h('button.banner', { hidden: true, onclick: () => load() });
  const pager = { cursor: null };
  let queryId = '';
  const g = grid({
    surface: 'party', partyId: id, queryId: () => queryId,
    more: async () => {
      if (!pager.cursor) return null;
      const ans = await get(`/v1/parties/${encodeURIComponent(id)}/feed?limit=${PAGE_SIZE}&cursor=${encodeURIComponent(pager.cursor)}`);
      pager.cursor = ans.next_cursor;
      return ans;
    },
  });
  main.append(title, info, banner, g.root);
  const head = new PartyHead((path) => get(path), id);
  const showHead = (p, fresh) => {
    title.textContent = p.name;
    info.replaceChildren(h('span.badge.' + p.status, p.status), ` ${when(p)} · `, h('span.shares', `${p.share_count} shares`), ` · ${p.listing_count} listings`);
    if (fresh > 0) {
      banner.textContent = `${fresh} new — tap to refresh`;
      banner.hidden = false;
    }
  };
  const load = async () => {
    banner.hidden = true;
    try {
      const [p, ans] = await Promise.all([head.reset(), get(`/v1/parties/${encodeURIComponent(id)}/feed?limit=${PAGE_SIZE}`)]);
      queryId = ans.query_id || '';
      pager.cursor = ans.next_cursor;
      g.reset();
      showHead(p, 0);
      if (!ans.hits.length) g.root.prepend(h('p.empty', p.status === 'upcoming' ? 'The party has not started yet.' : 'Nothing shared into this party yet.'));
      g.add(ans);
    } catch (e) {
      main.replaceChildren(e.status === 404 ? h('p.empty', 'No such party.') : errorBox(e));
    }
  };
  load();
  const every = Number(new URLSearchParams(location.search).get('poll')) || 5000;
  const timer = setInterval(async () => {
    if (document.hidden) return;
    try {
      const r = await head.poll();
      if (r) showHead(r.party, r.fresh);
    } catch { /* the next poll retries */ }
  }, Math.max(every, 1000));
  onCleanup(() => clearInterval(timer));
}

// --- feeds --------------------------------------------------------------------

function feedPage(kind) {
  const st = settings();
  const who = h('input', { name: 'user', value: st.user, placeholder: 'shopper id, e.g. u0000001', 'aria-label': 'Shopper' });
  const form = h('form.shopper', { onsubmit: (e) => { e.preventDefault(); saveSettings({ ...settings(), user: who.value.trim() }); render(); } },
    h('label', 'Shopper ', who), h('button', { type: 'submit' }, 'Show'));
  const title = kind === 'home' ? 'Home' : 'Following';
  const base = kind === 'home' ? '/v1/feed' : '/v1/feed/following';
  const status = h('p.feed-status');
  let cursor = null, queryId = '';
  const withUser = (extra) => {
    const p = new URLSearchParams({ limit: String(PAGE_SIZE), ...extra });
    if (st.user) p.set('user', st.user);
    return `${base}?${p}`;
  };
  const g = grid({
    surface: kind === 'home' ? 'home' : 'following', queryId: () => queryId,
    more: async () => {
      if (!cursor) return null;
      const ans = await get(withUser({ cursor }));
      cursor = ans.next_cursor;
      return ans;
    },
  });
  main.append(h('h1', title), form, status, g.root);
  if (kind === 'following' && !st.user) {
    status.textContent = 'Choose a shopper to see the closets they follow.';
    return;
  }
  get(withUser({})).then((ans) => {
    cursor = ans.next_cursor;
    queryId = ans.query_id || '';
    status.textContent = ans.total ? `${ans.total.toLocaleString('en-US')} listings${st.user ? ' for ' + st.user : ' trending'}` : 'Nothing yet: this shopper follows no one with recent activity.';
    g.add(ans);
  }).catch((e) => status.replaceChildren(errorBox(e)));
}

// --- drops --------------------------------------------------------------------

// dropsPage counts down to each upcoming drop on the server's clock
// (server_time), so every shopper's countdown agrees; at T0 the drop flips
// to live and its listings, now the newest, are shown.
async function dropsPage() {
  const list = h('ul.drops', h('li.loading', 'Loading…'));
  const landed = h('section.landed');
  main.append(h('h1', 'Drops'), list, landed);
  let ans, offset;
  try {
    const sent = Date.now();
    ans = await get('/v1/drops');
    offset = clockOffset(ans.server_time, sent, Date.now());
  } catch (e) {
    list.replaceChildren(errorBox(e));
    return;
  }
  if (!ans.drops.length) {
    list.replaceChildren(h('li.empty', 'No drops in the next 30 days.'));
    return;
  }
  const rows = ans.drops.map((d) => {
    const clock = h('span.countdown');
    const li = h('li', { dataset: { at: d.at } }, h('strong', new Date(d.at).toLocaleString('en-US', { weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' })),
      ` · ${d.count} ${d.count === 1 ? 'listing' : 'listings'} · `, h('span.brands', d.brands.slice(0, 5).map((b) => b.value).join(', ')), ' ', clock);
    return { d, li, clock, live: false };
  });
  list.replaceChildren(...rows.map((r) => r.li));
  const tick = () => {
    const now = Date.now() + offset;
    for (const r of rows) {
      const s = dropState(r.d.at, now);
      if (s.live && !r.live) {
        r.live = true;
        r.li.classList.add('live');
        r.li.dataset.flippedAt = String(Date.now()); // when this browser flipped it (the browser tests read it)
        r.clock.replaceChildren(h('span.badge.live', 'Live now'));
        showLanded(landed, r.d.at);
      } else if (!s.live) {
        r.clock.textContent = 'in ' + countdown(s.remaining);
      }
    }
  };
  tick();
  const timer = setInterval(tick, 100);
  onCleanup(() => clearInterval(timer));
}

async function showLanded(box, at) {
  // The drop lands at the top of "Just in" at T0 (listed_at is its
  // instant); the index shows it within a second of T0, so an answer from
  // just before that is asked again for a few seconds.
  const t0 = Date.parse(at);
  for (let i = 0; i < 20; i++) {
    const ans = await get('/v1/search?sort=newest&limit=' + PAGE_SIZE).catch(() => null);
    if (ans) {
      const dropped = ans.hits.filter((x) => x.available_at && Date.parse(x.available_at) === t0);
      box.replaceChildren(h('h2', 'Just dropped'), h('div.grid', (dropped.length ? dropped : ans.hits).map((hit, i) => card(hit, i, { surface: 'drop', queryId: () => ans.query_id || '' }))));
      if (dropped.length) {
        box.dataset.shownAt = String(Date.now());
        return;
      }
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

// --- settings -------------------------------------------------------------------

function settingsDialog() {
  const st = settings();
  const key = h('input', { name: 'key', value: st.key, placeholder: 'rk_public_… or rk_search_…', autocomplete: 'off' });
  const token = h('input', { name: 'token', value: st.token, placeholder: 'user token (with a public key)', autocomplete: 'off' });
  const user = h('input', { name: 'user', value: st.user, placeholder: 'u0000001' });
  const dlg = h('dialog.settings',
    h('form', { method: 'dialog', onsubmit: (e) => { if (e.submitter && e.submitter.value !== 'save') return; saveSettings({ key: key.value.trim(), token: token.value.trim(), user: user.value.trim() }); setTimeout(render); } },
      h('h2', 'Settings'),
      h('p', 'Reads on loopback need no key. The following and home feeds for a shopper need a server key, or a public key with a user token signed by the marketplace. `rummage dev` prints its keys at the first start.'),
      h('label', 'API key ', key), h('label', 'User token ', token), h('label', 'Shopper ', user),
      h('menu', h('button', { value: 'cancel', formnovalidate: true }, 'Cancel'), h('button', { value: 'save' }, 'Save'))));
  document.body.append(dlg);
  dlg.addEventListener('close', () => dlg.remove());
  dlg.showModal();
}

document.getElementById('settings').addEventListener('click', settingsDialog);
render();
