// Insights: the shopper's clicks on a listing list, posted to
// POST /v1/events with the list's query_id and the hit's position, the way
// Algolia's insights client reports clickedObjectIDsAfterSearch. Events need
// a key (public, events or admin); without one, or while the events
// endpoint is not there (404), they are dropped: analytics is best effort
// and never gets in the shopper's way.

import { post, settings, canActFor } from './api.js';

const queue = [];
let timer = null;
let disabled = false;

// event builds one event of DESIGN.md's contract.
export function event(type, { user = '', listingId, queryId = '', position, surface, partyId = '' }, at = new Date()) {
  const e = { type, listing_id: listingId, surface, at: at.toISOString() };
  if (user) e.user = user;
  if (queryId) e.query_id = queryId;
  if (position !== undefined) e.position = position;
  if (partyId) e.party_id = partyId;
  return e;
}

// track queues an event; a batch goes out within a second. The shopper's
// id goes along only when the settings can vouch for it (canActFor): the
// API rejects an event whose user it cannot trust.
export function track(type, ev) {
  const st = settings();
  if (disabled || !st.key) return;
  queue.push(event(type, { ...ev, user: canActFor(st) ? st.user : '' }));
  if (!timer) timer = setTimeout(flush, 1000);
}

// click reports a click on a listing list's hit.
export const click = (ev) => track('click', ev);

export async function flush() {
  timer = null;
  if (!queue.length) return;
  const events = queue.splice(0, queue.length);
  try {
    await post('/v1/events', { events }, { keepalive: true });
  } catch (e) {
    if (e.status === 404 || e.status === 401 || e.status === 403) disabled = true;
  }
}

if (typeof window !== 'undefined') window.addEventListener('pagehide', () => { if (queue.length) flush(); });
