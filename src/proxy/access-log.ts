// The JSON access log: one line per finished request, serialized by hand (this runs for every
// request; pino's generic path is slower) from pieces fixed per route (the route and service
// labels) and per second (the timestamp's date part), with numbers printed from integers. Every
// string field that comes from request data (path, method, client address, a trusted proxy's
// request id, error causes) is JSON-escaped: request data must never be able to end the line or
// add a field.
import type { SecretValues } from '../config/secrets.ts';
import { answerSource } from '../pipeline/request.ts';
import { isoNow } from './clock.ts';
import type { ProxyRequest } from './context.ts';

/**
 * Fields the gateway makes itself (a generated request id, the source `upstream` or `kong`) are
 * quoted as they are: they hold only characters JSON takes verbatim.
 */
export function writeAccessLine(rc: ProxyRequest, latency: number): void {
  const route = rc.compiled;
  // A path or cause that spells a value from `${...}` (a secret route prefix, a secret upstream
  // host in a connect error) is logged redacted.
  const scrub = rc.runtime.logSecrets;
  const err = rc.error;
  const consumer = rc.consumer;
  // Why the request ended, when known: the exiting plugin's code or the catalogued error's.
  const reason = rc.reason ?? err?.code ?? null;
  rc.gw.accessStream!.write(
    `{"level":"info","time":"${isoNow()}","type":"access","request_id":${rc.idFromClient ? jsonString(rc.id) : `"${rc.id}"`},"client_ip":${jsonString(rc.clientIp)},"method":${jsonString(rc.method)},"path":${jsonString(scrub === null ? rc.path : scrub.scrub(rc.path))}${route === null ? ',"route":null,"service":null' : route.accessLabelsJson},"consumer":${consumer === null ? 'null' : jsonString(consumer.username ?? consumer.id)},"status":${rc.status},"bytes_sent":${rc.bytesSent},"bytes_received":${rc.bytesReceived},"latency_ms":${milliseconds(latency)},"upstream_latency_ms":${rc.upstreamLatency < 0 ? 'null' : milliseconds(rc.upstreamLatency)},"source":${rc.source === null ? `"${answerSource(rc)}"` : jsonString(rc.source)}${reason === null ? '' : `,"reason":${jsonString(reason)}`}${err === null ? '' : errorFields(err.code, err.cause, scrub)},"msg":"request"}\n`,
  );
}

function errorFields(code: string, cause: string | undefined, scrub: SecretValues | null): string {
  if (cause === undefined || cause === '') return `,"error":${jsonString(code)}`;
  return `,"error":${jsonString(code)},"cause":${jsonString(scrub === null ? cause : scrub.scrubMessage(cause))}`;
}

/**
 * A string as a JSON literal. Printable ASCII without `"` or `\` (addresses, methods, most paths,
 * generated request ids) is quoted as it is; anything else goes through JSON.stringify.
 */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/**
 * Milliseconds rounded to the microsecond, printed as `String(Math.round(ms * 1000) / 1000)` would
 * (`12`, `0.5`, `1.234`), from integers: no float-to-shortest-string conversion per request.
 */
export function milliseconds(ms: number): string {
  const us = Math.round(ms * 1000);
  if (!(us >= 0 && us < 0x7fffffff)) return String(us / 1000);
  const whole = Math.floor(us / 1000);
  let frac = us - whole * 1000;
  if (frac === 0) return `${whole}`;
  if (frac % 100 === 0) return `${whole}.${frac / 100}`;
  if (frac % 10 === 0) {
    frac /= 10;
    return `${whole}.${frac < 10 ? '0' : ''}${frac}`;
  }
  return `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}
