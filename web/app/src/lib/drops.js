// Drop countdowns on the server's clock. /v1/drops carries server_time;
// the offset between it and the browser's clock (taken at the middle of the
// request) makes every shopper's countdown flip at the same instant,
// whatever their device's clock says.

// clockOffset is server minus browser time, in ms.
export function clockOffset(serverTime, sentMs, receivedMs) {
  const t = Date.parse(serverTime);
  if (Number.isNaN(t)) return 0;
  return t - (sentMs + receivedMs) / 2;
}

// dropState says whether a drop at `at` is live at server time nowMs, and
// how long remains if not.
export function dropState(at, nowMs) {
  const remaining = Date.parse(at) - nowMs;
  return { live: remaining <= 0, remaining: Math.max(0, remaining) };
}
