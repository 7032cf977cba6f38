/**
 * Posting span batches to a collector (OTLP/HTTP, Zipkin) from the delivery queue: one keep-alive
 * pool per exporter, Kong's three timeouts (connect, send, read), and anything but a 2xx answer is
 * a failure the queue retries. Credentials in the URL (`https://user:pass@host/`) become Basic
 * authorization, as in Kong's http-log.
 */
import { Agent, request } from 'undici';
import { latestLookup } from '../../upstream/dns.ts';

export interface ExportTarget {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Milliseconds. */
  readonly connectTimeout: number;
  readonly sendTimeout: number;
  readonly readTimeout: number;
}

/**
 * A failed export's cause in OpenResty's cosocket words, which Kong's reporters log
 * (`zipkin request failed: timeout`, `... connection refused`); null for a collector's answer.
 */
export function socketReason(err: unknown): string | null {
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown } | null;
  if (e === null || typeof e !== 'object') return String(err);
  const code = typeof e.code === 'string' ? e.code : '';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET') return 'connection reset by peer';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'could not be resolved';
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || code.endsWith('_TIMEOUT') || code === 'ETIMEDOUT') {
    return 'timeout';
  }
  if (e.cause !== undefined && e.cause !== err) return socketReason(e.cause);
  if (err instanceof CollectorAnswer) return null;
  return typeof e.message === 'string' ? e.message : String(err);
}

/** A collector's answer outside 2xx. */
export class CollectorAnswer extends Error {
  constructor(readonly status: number) {
    super(`the collector answered ${status}`);
  }
}

/** At most this much of a collector's answer is read (and thrown away). */
const MAX_ANSWER = 64 * 1024;

export class HttpExporter {
  private readonly url: URL;
  private readonly headers: Record<string, string>;
  private agent: Agent | null = null;

  constructor(
    private readonly target: ExportTarget,
    contentType: string,
  ) {
    const url = new URL(target.url);
    const headers: Record<string, string> = { 'content-type': contentType };
    for (const [k, v] of Object.entries(target.headers)) headers[k.toLowerCase()] = v;
    if (url.username !== '' || url.password !== '') {
      const basic = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`);
      headers.authorization ??= `Basic ${basic.toString('base64')}`;
      url.username = '';
      url.password = '';
    }
    this.url = url;
    this.headers = headers;
  }

  /** Where spans go, without credentials or query (for /status and logs). */
  get label(): string {
    return `${this.url.origin}${this.url.pathname}`;
  }

  async send(body: Uint8Array | string): Promise<void> {
    const t = this.target;
    // Names resolve as the gateway's own do (dns_resolver, dns_hostsfile).
    const connect = { timeout: t.connectTimeout || 10_000, lookup: latestLookup };
    this.agent ??= new Agent({ connect, connections: 4 });
    const res = await request(this.url, {
      method: 'POST',
      headers: this.headers,
      body,
      dispatcher: this.agent,
      headersTimeout: t.sendTimeout + t.readTimeout || 10_000,
      bodyTimeout: t.readTimeout || 10_000,
      // The whole exchange has a deadline too: a collector that trickles its answer cannot hold the queue.
      signal: AbortSignal.timeout(t.connectTimeout + t.sendTimeout + t.readTimeout || 30_000),
    });
    let seen = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      seen += chunk.length;
      if (seen > MAX_ANSWER) {
        res.body.destroy();
        break;
      }
    }
    if (res.statusCode < 200 || res.statusCode > 299) throw new CollectorAnswer(res.statusCode);
  }

  /** Called after the queue's last flush (which has its own deadline): a collector still hanging is cut off. */
  async close(): Promise<void> {
    await this.agent?.destroy();
  }
}
