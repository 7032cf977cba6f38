/**
 * The `syslog` plugin: Kong 3's syslog. Every request's Kong-shaped entry (tollgate/log) is sent as
 * an RFC 5424 message from app `kong`, with Kong's severity choice: `server_errors_severity` for a
 * 5xx, `client_errors_severity` for a 4xx, `successful_severity` otherwise; entries less severe
 * than `log_level` are not sent. Kong writes to the local syslog socket; Node.js has no Unix
 * datagram sockets, so Tollgate sends to a syslog server (`host`, `port`, `protocol`: UDP, or TCP
 * with RFC 6587 octet counting), 127.0.0.1:514 over UDP by default. Deliveries are queued
 * (bounded, dropped and counted when the server is slow or down) and never delay a response.
 */
import { createSocket, type Socket, type SocketOptions } from 'node:dgram';
import schema from '../../../schemas/plugins/syslog.schema.json' with { type: 'json' };
import type { DependencyHealth, GatewayRequest, LogEntry, PluginHandlers } from '../../index.ts';
import { definePlugin, dnsLookup } from '../../index.ts';
import {
  type CustomFields,
  compileCustomFields,
  LogQueue,
  PartlyDelivered,
  QUEUE_DEFAULTS,
  queueHealth,
  StreamSender,
  SYSLOG_HOSTNAME,
  SYSLOG_SEVERITY,
  type SyslogSeverity,
  serializeKong,
  statusSeverity,
  withCustomFields,
} from '../../lib/log/index.ts';

export interface SyslogConfig {
  log_level: SyslogSeverity;
  successful_severity: SyslogSeverity;
  client_errors_severity: SyslogSeverity;
  server_errors_severity: SyslogSeverity;
  facility: string;
  host: string;
  port: number;
  protocol: 'udp' | 'tcp';
  custom_fields_by_lua: Record<string, string> | null;
  custom_fields: Record<string, string> | null;
}

/** RFC 5424 facility codes. */
const FACILITY: Record<string, number> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

class Syslog implements PluginHandlers {
  private readonly fields: CustomFields | null;
  private readonly threshold: number;
  private readonly facility: number;
  private queue: LogQueue<string> | null = null;
  private udp: Socket | null = null;
  private tcp: StreamSender | null = null;

  constructor(
    private readonly config: SyslogConfig,
    private readonly warn: (msg: string) => void,
  ) {
    this.fields = compileCustomFields(config);
    this.threshold = SYSLOG_SEVERITY[config.log_level];
    this.facility = FACILITY[config.facility] ?? 1;
  }

  log(req: GatewayRequest, entry: LogEntry): void {
    const severity = statusSeverity(this.config, entry.status);
    if (severity > this.threshold) return;
    const msg = JSON.stringify(withCustomFields(serializeKong(req, entry), req, this.fields));
    const line = `<${this.facility * 8 + severity}>1 ${new Date().toISOString()} ${SYSLOG_HOSTNAME} kong ${process.pid} - - ${msg}`;
    this.queue ??= new LogQueue<string>(
      'syslog',
      { ...QUEUE_DEFAULTS, max_batch_size: 100, max_coalescing_delay: 0.01, max_retry_time: 10 },
      (lines) => this.send(lines),
      this.warn,
    );
    this.queue.add(line);
  }

  private async send(lines: string[]): Promise<void> {
    const c = this.config;
    if (c.protocol === 'tcp') {
      this.tcp ??= new StreamSender({ host: c.host, port: c.port, tls: false, timeoutMs: 10_000, keepaliveMs: 60_000 });
      // RFC 6587 octet counting: each message is preceded by its length in bytes.
      await this.tcp.write(lines.map((l) => `${Buffer.byteLength(l)} ${l}`).join(''));
      return;
    }
    if (this.udp === null) {
      this.udp = createSocket({
        type: c.host.includes(':') ? 'udp6' : 'udp4',
        lookup: dnsLookup as SocketOptions['lookup'],
      });
      this.udp.on('error', (err) => this.warn(`syslog: ${err.message}`));
      this.udp.unref();
    }
    const udp = this.udp;
    const failed = await Promise.all(
      lines.map((l) => new Promise<Error | null>((resolve) => udp.send(l, c.port, c.host, (err) => resolve(err)))),
    );
    // Each message is a datagram of its own: only those that failed may be sent again, and one
    // larger than a datagram can hold (a request with a huge head) never will be.
    const left: string[] = [];
    let undeliverable = 0;
    let first: Error | null = null;
    for (let i = 0; i < lines.length; i++) {
      const err = failed[i];
      if (err == null) continue;
      first ??= err;
      if ((err as NodeJS.ErrnoException).code === 'EMSGSIZE') undeliverable++;
      else left.push(lines[i]!);
    }
    if (first === null) return;
    if (left.length === lines.length) throw first;
    throw new PartlyDelivered(left, undeliverable, first.message);
  }

  health(): DependencyHealth[] {
    const c = this.config;
    return [queueHealth('syslog', `${c.host}:${c.port}`, this.queue as LogQueue<unknown> | null)];
  }

  async close(): Promise<void> {
    await this.queue?.close();
    this.udp?.close();
    this.udp = null;
    this.tcp?.close();
  }
}

export default definePlugin<SyslogConfig>({
  name: 'syslog',
  version: '1.0.0',
  // Kong's priority for syslog.
  priority: 4,
  schema,
  create(config, context) {
    return new Syslog(config, (msg) => context.log.warn(msg));
  },
});
