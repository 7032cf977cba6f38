/**
 * The `udp-log` plugin: Kong 3's udp-log. Every request's Kong-shaped entry (tollgate/log) is sent
 * as one JSON datagram to `host:port`. Sending never waits: datagrams in flight are bounded (a
 * socket that cannot keep up drops and counts), and a dead receiver costs nothing but the drop.
 */
import { createSocket, type Socket, type SocketOptions } from 'node:dgram';
import schema from '../../../schemas/plugins/udp-log.schema.json' with { type: 'json' };
import type { DependencyHealth, GatewayRequest, LogEntry, PluginHandlers } from '../../index.ts';
import { definePlugin, dnsLookup } from '../../index.ts';
import { type CustomFields, compileCustomFields, serializeKong, withCustomFields } from '../../lib/log/index.ts';

export interface UdpLogConfig {
  host: string;
  port: number;
  timeout: number;
  custom_fields_by_lua: Record<string, string> | null;
  custom_fields: Record<string, string> | null;
}

/** Datagrams handed to the socket and not yet sent: past this, entries are dropped. */
const MAX_IN_FLIGHT = 1000;

class UdpLog implements PluginHandlers {
  private readonly fields: CustomFields | null;
  private socket: Socket | null = null;
  private inflight = 0;
  private sent = 0;
  dropped = 0;
  private lastError: string | null = null;
  private lastErrorAt: Date | null = null;
  private lastSuccess: Date | null = null;

  constructor(
    private readonly config: UdpLogConfig,
    private readonly warn: (msg: string) => void,
  ) {
    this.fields = compileCustomFields(config);
  }

  log(req: GatewayRequest, entry: LogEntry): void {
    if (this.inflight >= MAX_IN_FLIGHT) {
      this.dropped++;
      return;
    }
    if (this.socket === null) {
      // The gateway's resolver: cached answers, and at most two system lookups at once, so a
      // hung DNS server cannot fill libuv's threads with one lookup per datagram.
      this.socket = createSocket({
        type: this.config.host.includes(':') ? 'udp6' : 'udp4',
        lookup: dnsLookup as SocketOptions['lookup'],
      });
      this.socket.on('error', (err) => this.warn(`udp-log: ${err.message}`));
      this.socket.unref();
    }
    const data = Buffer.from(JSON.stringify(withCustomFields(serializeKong(req, entry), req, this.fields)));
    this.inflight++;
    this.socket.send(data, this.config.port, this.config.host, (err) => {
      this.inflight--;
      if (err) {
        this.dropped++;
        this.lastError = err.message;
        this.lastErrorAt = new Date();
      } else {
        this.sent++;
        this.lastSuccess = new Date();
      }
    });
  }

  /** UDP has no queue: the datagrams handed to the socket and not yet sent are its depth. */
  health(): DependencyHealth[] {
    const failing = this.lastErrorAt !== null && (this.lastSuccess === null || this.lastSuccess < this.lastErrorAt);
    return [
      {
        kind: 'udp-log',
        target: `${this.config.host}:${this.config.port}`,
        healthy: !failing,
        lastSuccess: this.lastSuccess,
        lastError: failing ? this.lastError : null,
        lastErrorAt: this.lastErrorAt,
        failures: this.dropped,
        queue: { depth: this.inflight, sent: this.sent, dropped: this.dropped },
      },
    ];
  }

  close(): void {
    this.socket?.close();
    this.socket = null;
  }
}

export default definePlugin<UdpLogConfig>({
  name: 'udp-log',
  version: '1.0.0',
  // Kong's priority for udp-log.
  priority: 8,
  schema,
  create(config, context) {
    return new UdpLog(config, (msg) => context.log.warn(msg));
  },
});
