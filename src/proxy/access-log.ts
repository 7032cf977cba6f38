// The JSON access log: one line per finished request, serialized by hand (this runs for every
// request; pino's generic path is slower). Every string field is JSON-encoded, whatever its source:
// request data (path, method, forwarded addresses, a trusted proxy's request id) must never be
// able to end the line or add a field.
import { secretValues } from '../config/secrets.ts';
import { isoNow } from './clock.ts';
import type { ProxyRequest } from './context.ts';

export function writeAccessLine(rc: ProxyRequest, latency: number): void {
  const route = rc.compiled;
  const consumer = rc.consumer === null ? 'null' : JSON.stringify(rc.consumer.username ?? rc.consumer.id);
  const upstream = rc.upstreamLatency < 0 ? 'null' : String(Math.round(rc.upstreamLatency * 1000) / 1000);
  // A path or cause that spells a value from `${...}` (a secret route prefix, a secret upstream
  // host in a connect error) is logged redacted.
  const secrets = rc.runtime.config.source.secrets;
  const scrub = secrets.size === 0 ? null : secretValues(secrets);
  const path = scrub === null ? rc.path : scrub.scrub(rc.path);
  const err = rc.error;
  const error =
    err === null
      ? ''
      : err.cause === undefined || err.cause === ''
        ? `,"error":${JSON.stringify(err.code)}`
        : `,"error":${JSON.stringify(err.code)},"cause":${JSON.stringify(scrub === null ? err.cause : scrub.scrubMessage(err.cause))}`;
  rc.gw.accessStream!.write(
    `{"level":"info","time":"${isoNow()}","type":"access","request_id":${JSON.stringify(rc.id)},"client_ip":${JSON.stringify(rc.clientIp)},"method":${JSON.stringify(rc.method)},"path":${JSON.stringify(path)},"route":${route === null ? 'null' : route.labelJson},"service":${route?.service == null ? 'null' : route.service.labelJson},"consumer":${consumer},"status":${rc.status},"bytes_sent":${rc.bytesSent},"bytes_received":${rc.bytesReceived},"latency_ms":${Math.round(latency * 1000) / 1000},"upstream_latency_ms":${upstream},"source":${sourceJson(rc)}${reasonJson(rc)}${error},"msg":"request"}\n`,
  );
}

/** Who answered (Kong's `source`): `upstream`, `kong`, or the plugin that ended the request. */
function sourceJson(rc: ProxyRequest): string {
  const s = rc.source;
  if (s === null) return rc.error === null ? '"upstream"' : '"kong"';
  return JSON.stringify(s);
}

/** Why the request ended, when known: the exiting plugin's code or the catalogued error's. */
function reasonJson(rc: ProxyRequest): string {
  const r = rc.reason ?? rc.error?.code ?? null;
  return r === null ? '' : `,"reason":${JSON.stringify(r)}`;
}
