/**
 * The `tcp-log` plugin: Kong 3's tcp-log. Every request's Kong-shaped entry (tollgate/log) is sent
 * as one JSON line over a kept-alive TCP connection (TLS with `tls`, `tls_sni`, `ssl_verify`). Lines go through a
 * bounded queue (10,000 entries; the oldest dropped and counted when the receiver is slow or down)
 * and are written after the response, never delaying it.
 */
import schema from '../../../schemas/plugins/tcp-log.schema.json' with { type: 'json' };
import type { DependencyHealth, GatewayRequest, LogEntry, PluginHandlers } from '../../index.ts';
import { definePlugin } from '../../index.ts';
import {
  type CustomFields,
  compileCustomFields,
  LogQueue,
  QUEUE_DEFAULTS,
  queueHealth,
  StreamSender,
  serializeKong,
  withCustomFields,
} from '../../lib/log/index.ts';

export interface TcpLogConfig {
  host: string;
  port: number;
  timeout: number;
  keepalive: number;
  tls: boolean;
  tls_sni: string | null;
  ssl_verify: boolean;
  custom_fields_by_lua: Record<string, string> | null;
  custom_fields: Record<string, string> | null;
}

class TcpLog implements PluginHandlers {
  private readonly fields: CustomFields | null;
  private queue: LogQueue<string> | null = null;
  private sender: StreamSender | null = null;

  constructor(
    private readonly config: TcpLogConfig,
    private readonly warn: (msg: string) => void,
  ) {
    this.fields = compileCustomFields(config);
  }

  log(req: GatewayRequest, entry: LogEntry): void {
    this.queue ??= new LogQueue<string>(
      'tcp-log',
      { ...QUEUE_DEFAULTS, max_batch_size: 100, max_coalescing_delay: 0.01, max_retry_time: 10 },
      (lines) => this.send(lines),
      this.warn,
    );
    this.queue.add(`${JSON.stringify(withCustomFields(serializeKong(req, entry), req, this.fields))}\n`);
  }

  private send(lines: string[]): Promise<void> {
    const c = this.config;
    this.sender ??= new StreamSender({
      host: c.host,
      port: c.port,
      tls: c.tls,
      servername: c.tls_sni,
      verify: c.ssl_verify,
      timeoutMs: c.timeout,
      keepaliveMs: c.keepalive,
    });
    return this.sender.write(lines.join(''));
  }

  health(): DependencyHealth[] {
    const c = this.config;
    return [queueHealth('tcp-log', `${c.host}:${c.port}`, this.queue as LogQueue<unknown> | null)];
  }

  async close(): Promise<void> {
    await this.queue?.close();
    this.sender?.close();
  }
}

export default definePlugin<TcpLogConfig>({
  name: 'tcp-log',
  version: '1.0.0',
  // Kong's priority for tcp-log.
  priority: 7,
  schema,
  create(config, context) {
    // Kong 3.13's ssl_verify: off, anyone on the path can take the entries; said where it matters.
    if (config.tls && !config.ssl_verify) {
      context.warn(
        `ssl_verify is off: the certificate of ${config.host}:${config.port} is not verified before log entries are sent to it; anyone on the path can impersonate it`,
        'ssl_verify',
      );
    }
    return new TcpLog(config, (msg) => context.log.warn(msg));
  },
});
