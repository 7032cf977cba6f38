// The access log's timestamp: the ISO text up to the second is formatted once per second; each
// line adds its milliseconds (three digits), so no request formats a Date.
let lastMs = 0;
let lastIso = '';
let lastSecond = -1;
/** `2026-12-02T12:32:09.` for the current second. */
let secondPrefix = '';

export function isoNow(): string {
  const now = Date.now();
  if (now === lastMs) return lastIso;
  lastMs = now;
  const second = Math.floor(now / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    secondPrefix = new Date(second * 1000).toISOString().slice(0, 20);
  }
  const ms = now - second * 1000;
  lastIso = `${secondPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
  return lastIso;
}

let dateSecond = -1;
let dateText = '';

/**
 * The `Date` header's value (RFC 9110 6.6.1, an IMF-fixdate) for the current second, formatted
 * once per second, for the answers written on a socket without node's ServerResponse (which
 * keeps its own such cache).
 */
export function httpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}
