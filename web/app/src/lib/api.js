// The Rummage client the pages share: the same public v1 contract as any
// other client.
//
// Keys: on loopback Rummage answers reads without a key. user= (the
// following and home feeds for a chosen shopper) must be vouched for: by a
// server key (search or admin), or by a public key with a user token signed
// by the marketplace's backend (docs/keys.md). The settings dialog keeps
// what the operator pastes in the browser's localStorage; a deployment
// would have its backend hand out the public key and the token.

const STORE = 'rummage.settings';

export function settings() {
  try {
    return { key: '', token: '', user: '', ...JSON.parse(localStorage.getItem(STORE) || '{}') };
  } catch {
    return { key: '', token: '', user: '' };
  }
}

export function saveSettings(s) {
  localStorage.setItem(STORE, JSON.stringify({ key: s.key || '', token: s.token || '', user: s.user || '' }));
}

// ApiError is a non-2xx answer, with the API's error code.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

function headers(key, token) {
  const h = { Accept: 'application/json' };
  if (key) h.Authorization = 'Bearer ' + key;
  if (token) h['Rummage-User-Token'] = token;
  return h;
}

// canActFor reports whether the settings may say user= (events, feeds): a
// server key, or any key with a user token.
export function canActFor(st = settings()) {
  return Boolean(st.user && st.key && (st.token || !st.key.startsWith('rk_public_')));
}

// get fetches a v1 path (with its query string) and decodes the JSON.
// withUser adds the settings' key and token (user= needs them); plain
// reads send the key only when one is set.
export async function get(path, { signal, key, token } = {}) {
  const st = settings();
  const res = await fetch(path, { headers: headers(key ?? st.key, token ?? (path.includes('user=') ? st.token : '')), signal });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const e = body && body.error;
    throw new ApiError(res.status, e && e.code, e && e.message);
  }
  return body;
}

// post sends a JSON body (with the user token, which vouches for the
// events' user).
export async function post(path, data, { key, keepalive = false } = {}) {
  const st = settings();
  const res = await fetch(path, {
    method: 'POST',
    headers: { ...headers(key ?? st.key, st.token), 'Content-Type': 'application/json' },
    body: JSON.stringify(data),
    keepalive,
  });
  if (!res.ok) throw new ApiError(res.status, '', `HTTP ${res.status}`);
  return res.status === 204 ? null : res.json().catch(() => null);
}
