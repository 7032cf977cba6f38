/**
 * The `udp-log` plugin: Kong 3's udp-log. Every request's Kong-shaped entry (tollgate/log) is sent
 * as one JSON datagram to `host:port`. Sending never waits: datagrams in flight are bounded (a
 * socket that cannot keep up drops and counts), and a dead receiver costs nothing but the drop.
 */
import schema from '../../../schemas/plugins/udp-log.schema.json' with { type: 'json' };
import type { DependencyHealth, GatewayRequest, LogEntry, PluginHandlers } from '../../index.ts';
import { definePlugin } from '../../index.ts';
import {
  type CustomFields,
  compileCustomFields,
  DatagramSender,
  serializeKong,
  withCustomFields,
} from '../../lib/log/index.ts';

export interface UdpLogConfig {
  host: string;
  port: number;
  timeout: number;
  custom_fields_by_lua: Record<string, string> | null;
  custom_fields: Record<string, string> | null;
}

class UdpLog implements PluginHandlers {
  private readonly fields: CustomFields | null;
  private readonly sender: DatagramSender;

  constructor(config: UdpLogConfig, warn: (msg: string) => void) {
    this.fields = compileCustomFields(config);
    this.sender = new DatagramSender('udp-log', config.host, config.port, warn);
  }

  log(req: GatewayRequest, entry: LogEntry): void {
    if (this.sender.full()) return;
    this.sender.send(Buffer.from(JSON.stringify(withCustomFields(serializeKong(req, entry), req, this.fields))));
  }

  health(): DependencyHealth[] {
    return [this.sender.health()];
  }

  close(): void {
    this.sender.close();
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
