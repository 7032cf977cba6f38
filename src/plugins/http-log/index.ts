/**
 * The `http-log` plugin: Kong 3's http-log. Every request's Kong-shaped entry (tollgate/log) is
 * sent to `http_endpoint` as JSON (one object, or an array when `queue.max_batch_size` > 1),
 * through Kong 3's queue: batched, retried with backoff, bounded, dropped and counted when the
 * receiver is slow or down. Deliveries happen after the response, never delaying it.
 * Credentials in `http_endpoint` (`https://user:pass@host/`) become Basic authorization, as in Kong.
 */
import { Agent, request } from 'undici';

import schema from '../../../schemas/plugins/http-log.schema.json' with { type: 'json' };
import type {
  CertificatePair,
  DependencyHealth,
  GatewayRequest,
  LogEntry,
  PluginContext,
  PluginHandlers,
} from '../../index.ts';
import { configuredRequestHeaders, definePlugin, dnsLookup, PluginConfigError } from '../../index.ts';
import {
  type CustomFields,
  compileCustomFields,
  type LegacyQueueFields,
  LogQueue,
  type QueueConfig,
  queueHealth,
  serializeKong,
  withCustomFields,
  withLegacyQueueFields,
} from '../../lib/log/index.ts';

/** An explicit `queue.max_bytes` counts an entry's JSON in bytes, as Kong's `#entry` does. */
function byteLength(json: string): number {
  return Buffer.byteLength(json);
}

/** How long closing waits for the last flush and for deliveries in flight. */
const CLOSE_DEADLINE_MS = 2000;

/** A delivery's deadline when `timeout` is 0 (the schema's default). */
const DEFAULT_TIMEOUT_MS = 10_000;

/** Headers `headers` may not set (Kong's words for them). */
const FIXED_HEADERS: Readonly<Record<string, string>> = {
  host: 'Host',
  'content-length': 'Content-Length',
  'content-type': 'Content-Type',
};

export interface HttpLogConfig extends LegacyQueueFields {
  http_endpoint: string;
  method: 'POST' | 'PUT' | 'PATCH';
  content_type: string;
  timeout: number;
  keepalive: number;
  ssl_verify: boolean;
  client_certificate: { id?: string | null } | null;
  headers: Record<string, string> | null;
  queue: QueueConfig;
  custom_fields_by_lua: Record<string, string> | null;
  custom_fields: Record<string, string> | null;
}

class HttpLog implements PluginHandlers {
  private readonly fields: CustomFields | null;
  private readonly url: URL;
  /** `host:port` of the endpoint, as Kong's delivery errors name it. */
  private readonly target: string;
  private readonly headers: Record<string, string>;
  private queue: LogQueue<string> | null = null;
  private agent: Agent | null = null;

  constructor(
    private readonly config: HttpLogConfig,
    private readonly warn: (msg: string) => void,
    private readonly clientCert: CertificatePair | undefined,
  ) {
    this.fields = compileCustomFields(config);
    const url = new URL(config.http_endpoint);
    const headers: Record<string, string> = { 'content-type': config.content_type, ...(config.headers ?? {}) };
    if (url.username !== '' || url.password !== '') {
      // Kong's schema: one or the other, never both (which would win is not obvious).
      if (Object.keys(config.headers ?? {}).some((h) => h.toLowerCase() === 'authorization')) {
        throw new PluginConfigError(
          'headers',
          "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed",
        );
      }
      const basic = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`);
      headers.authorization = `Basic ${basic.toString('base64')}`;
      url.username = '';
      url.password = '';
    }
    this.url = url;
    this.target = `${url.hostname}:${url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : url.port}`;
    this.headers = headers;
  }

  log(req: GatewayRequest, entry: LogEntry): void {
    this.queue ??= new LogQueue<string>(
      'http-log',
      this.config.queue,
      (batch) => this.send(batch),
      this.warn,
      byteLength,
    );
    // The entry waits as its JSON, as Kong's handler queues cjson.encode(kong.log.serialize()):
    // serialized once, and a string holds about its length in memory, where the object held
    // several times its JSON (a hostile request's hundred new header names), so max_bytes bounds
    // the memory held, not a third of it.
    this.queue.add(JSON.stringify(withCustomFields(serializeKong(req, entry), req, this.fields)));
  }

  private async send(batch: string[]): Promise<void> {
    // Names resolve as the gateway's own do (dns_resolver, dns_hostsfile), as Kong's cosockets do.
    this.agent ??= new Agent({
      keepAliveTimeout: Math.max(1, this.config.keepalive),
      connections: 8,
      // Kong 3.14's ssl_verify: off, any certificate is taken. Kong 3.15's client_certificate:
      // presented when the receiver asks for one (mutual TLS).
      connect: {
        lookup: dnsLookup,
        rejectUnauthorized: this.config.ssl_verify !== false,
        ...(this.clientCert === undefined ? {} : { cert: this.clientCert.cert, key: this.clientCert.key }),
      },
    });
    // 0 is Kong's "no timeout of the plugin's own" (the socket's default); never an instant abort.
    const timeout = this.config.timeout > 0 ? this.config.timeout : DEFAULT_TIMEOUT_MS;
    const body = this.config.queue.max_batch_size === 1 && batch.length === 1 ? batch[0]! : `[${batch.join(',')}]`;
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(this.url, {
        method: this.config.method,
        headers: this.headers,
        body,
        dispatcher: this.agent,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: AbortSignal.timeout(timeout),
      });
    } catch (err) {
      // Kong's words for a delivery that got no answer (the queue logs them, and retries).
      throw new Error(`failed request to ${this.target}: ${err instanceof Error ? err.message : String(err)}`);
    }
    await res.body.dump();
    // Kong retries anything but a 2xx answer, and says so in these words (without the body,
    // which the receiver sizes).
    if (res.statusCode < 200 || res.statusCode > 299)
      throw new Error(`request to ${this.target} returned status code ${res.statusCode}`);
  }

  get stats() {
    return this.queue?.stats ?? null;
  }

  health(): DependencyHealth[] {
    return [queueHealth('http-log', `${this.url.origin}${this.url.pathname}`, this.queue as LogQueue<unknown> | null)];
  }

  async close(): Promise<void> {
    // One deadline for the last flush and the deliveries in flight together: a receiver that
    // never answers must not hold shutdown (or a retired config) for the plugin's `timeout`, nor
    // for the flush's 2 s and then 2 s more.
    const deadline = performance.now() + CLOSE_DEADLINE_MS;
    await this.queue?.close(CLOSE_DEADLINE_MS);
    const agent = this.agent;
    if (agent === undefined || agent === null) return;
    const left = Math.max(0, deadline - performance.now());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([agent.close(), new Promise((r) => (timer = setTimeout(r, left)))]);
    clearTimeout(timer);
    await agent.destroy().catch(() => undefined);
  }
}

/**
 * Kong Gateway 3.15's client_certificate, a foreign key to the file's `certificates` (`{id}`; null
 * or `{id: null}`, as decK dumps it, for none): the certificate and key the delivery presents. An id
 * naming no certificate is refused, as Kong refuses a foreign key to no entity; toward an http
 * endpoint there is no handshake to present it in, so it is said there.
 */
function clientCertificate(config: HttpLogConfig, context: PluginContext): CertificatePair | undefined {
  const id = config.client_certificate?.id ?? null;
  if (id === null) return undefined;
  const pair = context.services.certificates.get(id);
  if (pair === undefined)
    throw new PluginConfigError(
      'client_certificate',
      `invalid reference 'client_certificate: ${id}' (no such entry in 'certificates'): add the certificate (cert and key) to certificates with this id, or remove client_certificate`,
    );
  if (!/^https:/i.test(config.http_endpoint))
    context.warn(
      'client_certificate does nothing toward an http endpoint (no TLS handshake to present it in): use an https http_endpoint, or remove client_certificate',
      'client_certificate',
    );
  return pair;
}

export default definePlugin<HttpLogConfig>({
  name: 'http-log',
  version: '1.0.0',
  // Kong's priority for http-log.
  priority: 12,
  schema,
  create(config, context) {
    // Off, anyone on the path to an https endpoint can take the entries: said where it matters.
    if (!config.ssl_verify && /^https:/i.test(config.http_endpoint)) {
      context.warn(
        `ssl_verify is off: the certificate of ${new URL(config.http_endpoint).host} is not verified before log entries (and any credentials in http_endpoint or headers) are sent to it; anyone on the path can impersonate it`,
        'ssl_verify',
      );
    }
    for (const name of Object.keys(config.headers ?? {})) {
      // Kong's schema refuses them: the delivery sets these itself.
      const fixed = FIXED_HEADERS[name.toLowerCase()];
      if (fixed !== undefined) throw new PluginConfigError(`headers.${name}`, `cannot contain '${fixed}' header`);
    }
    // The others the HTTP client sets itself (Transfer-Encoding, Connection, ...) would fail every
    // delivery: left out with a warning. Kong sends them and breaks its own request framing.
    const headers = configuredRequestHeaders(config.headers, context.warn);
    const queue = withLegacyQueueFields(config.queue, config, context.warn);
    const warn = (msg: string) => context.log.warn(msg);
    return new HttpLog({ ...config, headers, queue }, warn, clientCertificate(config, context));
  },
});
