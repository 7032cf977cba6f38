// The access log's timestamp: one ISO string per millisecond, however many requests finish in it.
let lastMs = 0;
let lastIso = '';

export function isoNow(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}
