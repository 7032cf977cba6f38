/**
 * The `statsd` plugin: Kong 3's statsd. Per request, Kong's metrics under `prefix` (default
 * `kong`) and the service's scope: `kong.service.orders.request.count:1|c`,
 * `kong.service.orders.latency:12|ms`, `kong.service.orders.status.200:1|c`,
 * `kong.service.orders.user.alice.request.count:1|c`, ... (`global.unmatched` without a service),
 * sent to a StatsD server over UDP (or TCP with `use_tcp`), through a bounded queue that drops and
 * counts when the server is slow. With `tag_style`, Kong's tagged formats: the request's
 * service, route, consumer, ... as tags instead of in the name (`kong.request.count:1|c|#service:orders,...`).
 * Its one workspace is Kong DB-less's default (its id, or `default` by name); `shdict_usage` and the
 * `cache_datastore_*` metrics measure nginx internals and are not sent.
 */
import { hostname } from 'node:os';
import schema from '../../../schemas/plugins/statsd.schema.json' with { type: 'json' };
import type { DependencyHealth, GatewayRequest, LogEntry, PluginHandlers } from '../../index.ts';
import { definePlugin, PluginConfigError } from '../../index.ts';
import {
  DEFAULT_WORKSPACE,
  type KongLogEntry,
  type LegacyQueueFields,
  type QueueConfig,
  serializeKong,
  withLegacyQueueFields,
} from '../../lib/log/index.ts';
import {
  type ConsumerIdentifier as ConsumerId,
  consumerIdentifier as consumerId,
  ENTRY_METRICS as PLAIN,
  STAT_TYPE_CODES,
  StatsdSink,
  sampleSuffix,
} from '../../lib/statsd.ts';

type StatType = Exclude<keyof typeof STAT_TYPE_CODES, 'distribution'>;
type ServiceId = 'service_id' | 'service_name' | 'service_host' | 'service_name_or_host';
type TagStyle = 'dogstatsd' | 'influxdb' | 'librato' | 'signalfx';

interface MetricConfig {
  name: string;
  stat_type: StatType;
  sample_rate?: number | null;
  consumer_identifier?: ConsumerId | null;
  service_identifier?: ServiceId | null;
  workspace_identifier?: WorkspaceId | null;
}

type WorkspaceId = 'workspace_id' | 'workspace_name';

export interface StatsdConfig extends LegacyQueueFields {
  host: string;
  port: number;
  prefix: string;
  metrics?: MetricConfig[];
  allow_status_codes: string[] | null;
  udp_packet_size: number;
  use_tcp: boolean;
  hostname_in_prefix: boolean;
  consumer_identifier_default: ConsumerId;
  service_identifier_default: ServiceId;
  workspace_identifier_default: WorkspaceId;
  tag_style: TagStyle | null;
  queue: QueueConfig;
}

/** Kong 3's default metric list. */
const DEFAULT_METRICS: MetricConfig[] = [
  { name: 'request_count', stat_type: 'counter', sample_rate: 1 },
  { name: 'latency', stat_type: 'timer' },
  { name: 'request_size', stat_type: 'counter', sample_rate: 1 },
  { name: 'status_count', stat_type: 'counter', sample_rate: 1 },
  { name: 'response_size', stat_type: 'counter', sample_rate: 1 },
  { name: 'unique_users', stat_type: 'set' },
  { name: 'request_per_user', stat_type: 'counter', sample_rate: 1 },
  { name: 'upstream_latency', stat_type: 'timer' },
  { name: 'kong_latency', stat_type: 'timer' },
  { name: 'status_count_per_user', stat_type: 'counter', sample_rate: 1 },
  { name: 'status_count_per_workspace', stat_type: 'counter', sample_rate: 1 },
  { name: 'status_count_per_user_per_route', stat_type: 'counter', sample_rate: 1 },
];

const dots = (s: string) => s.replaceAll('.', '_');
const HOSTNAME = dots(hostname());
/** What would end a tag or a line in any of the tagged formats; Kong sends values as they are. */
const TAG_BREAKERS = /[\s,:|#=[\]]/g;

/**
 * One line in a tagged format (Kong's statsd_logger): `tags` is `k=v,...` for influxdb, librato
 * and signalfx, `k:v,...` for dogstatsd.
 */
function taggedLine(style: TagStyle, name: string, value: number, kind: string, tags: [string, string][]): string {
  if (style === 'dogstatsd') return `${name}:${value}|${kind}|#${tags.map(([k, v]) => `${k}:${v}`).join(',')}`;
  const list = tags.map(([k, v]) => `${k}=${v}`).join(',');
  if (style === 'influxdb') return `${name},${list}:${value}|${kind}`;
  if (style === 'librato') return `${name}#${list}:${value}|${kind}`;
  return `${name}[${list}]:${value}|${kind}`;
}

function serviceId(m: KongLogEntry, how: ServiceId): string | null {
  const s = m.service as { id: string; name: string | null; host: string } | null;
  if (s === null) return null;
  if (how === 'service_id') return s.id;
  if (how === 'service_name') return s.name;
  if (how === 'service_host') return s.host;
  return s.name ?? s.host;
}

function parseRanges(list: string[] | null): [number, number][] | null {
  if (list === null || list.length === 0) return null;
  return list.map((r, i) => {
    const [a, b] = r.split('-').map(Number) as [number, number];
    if (a > b) throw new PluginConfigError(`allow_status_codes[${i}]`, `${r}: the range starts after it ends`);
    return [a, b];
  });
}

class Statsd implements PluginHandlers {
  private readonly metrics: MetricConfig[];
  private readonly ranges: [number, number][] | null;
  private readonly prefix: string;
  private readonly sink: StatsdSink;

  constructor(
    private readonly config: StatsdConfig,
    warn: (msg: string) => void,
  ) {
    const target = { host: config.host, port: config.port, useTcp: config.use_tcp, packetSize: config.udp_packet_size };
    this.sink = new StatsdSink('statsd', target, config.queue, warn);
    this.metrics = config.metrics ?? DEFAULT_METRICS;
    this.ranges = parseRanges(config.allow_status_codes);
    // Kong: the node is a tag in the tagged styles, never in the prefix.
    this.prefix =
      config.hostname_in_prefix && config.tag_style === null ? `${config.prefix}.node.${HOSTNAME}` : config.prefix;
  }

  log(req: GatewayRequest, entry: LogEntry): void {
    const status = entry.status;
    if (this.ranges !== null && !this.ranges.some(([a, b]) => status >= a && status <= b)) return;
    const m = serializeKong(req, entry);
    this.sink.add(this.config.tag_style === null ? this.lines(m) : this.taggedLines(m, this.config.tag_style));
  }

  /** The StatsD lines for one request. */
  private lines(m: KongLogEntry): string[] {
    const c = this.config;
    const out: string[] = [];
    for (const metric of this.metrics) {
      const svc = serviceId(m, metric.service_identifier ?? c.service_identifier_default);
      const scope = m.service === null ? 'global.unmatched' : `service.${svc === null ? 'unnamed' : dots(svc)}`;
      const who = consumerId(m, metric.consumer_identifier ?? c.consumer_identifier_default);
      const plain = PLAIN[metric.name];
      if (plain !== undefined) {
        const value = plain[1](m);
        if (value !== -1) this.stat(out, `${scope}.${plain[0]}`, value, metric);
        continue;
      }
      switch (metric.name) {
        case 'status_count':
          this.stat(out, `${scope}.status.${m.response.status}`, 1, metric);
          break;
        case 'unique_users':
          // Kong sends every consumer to the set, its sample_rate unused: a set counts distinct
          // members, which leaving some requests out would undercount, not scale.
          if (who !== null) this.stat(out, `${scope}.user.uniques`, who, metric, 1);
          break;
        case 'request_per_user':
          if (who !== null) this.stat(out, `${scope}.user.${dots(who)}.request.count`, 1, metric);
          break;
        case 'status_count_per_user':
          if (who !== null) this.stat(out, `${scope}.user.${dots(who)}.status.${m.response.status}`, 1, metric);
          break;
        case 'status_count_per_workspace':
          this.stat(out, `${scope}.workspace.${this.workspace(metric)}.status.${m.response.status}`, 1, metric);
          break;
        case 'status_count_per_user_per_route': {
          const route = m.route as { id: string } | null;
          if (who !== null && route !== null)
            this.stat(out, `route.${route.id}.user.${dots(who)}.status.${m.response.status}`, 1, metric);
          break;
        }
      }
    }
    return out;
  }

  /** One plain line into `out`, unless its sample rate leaves it out. */
  private stat(
    out: string[],
    name: string,
    value: number | string,
    metric: MetricConfig,
    rate = metric.sample_rate,
  ): void {
    const suffix = sampleSuffix(rate);
    if (suffix === null) return;
    out.push(`${this.prefix}.${name}:${value}|${STAT_TYPE_CODES[metric.stat_type]}${suffix}`);
  }

  /**
   * Kong's tagged mode: the metrics with a value of their own (request_count, the sizes and
   * latencies) named without scope, tagged; the per-status and per-user ones are not sent.
   */
  private taggedLines(m: KongLogEntry, style: TagStyle): string[] {
    const out: string[] = [];
    for (const metric of this.metrics) {
      const plain = PLAIN[metric.name];
      if (plain === undefined) continue;
      const value = plain[1](m);
      if (value === -1) continue;
      const suffix = sampleSuffix(metric.sample_rate);
      if (suffix === null) continue;
      const kind = `${STAT_TYPE_CODES[metric.stat_type]}${suffix}`;
      const name = `${this.prefix}.${plain[0]}`;
      const tags = this.tags(m, metric);
      // Kong: without a service the line goes untagged.
      out.push(tags === null ? `${name}:${value}|${kind}` : taggedLine(style, name, value, kind, tags));
    }
    return out;
  }

  /** Kong's get_workspace_id or get_workspace_name, by the metric's identifier (Kong's default: the id). */
  private workspace(metric: MetricConfig): string {
    const by = metric.workspace_identifier ?? this.config.workspace_identifier_default;
    return by === 'workspace_name' ? DEFAULT_WORKSPACE.name : DEFAULT_WORKSPACE.id;
  }

  /** Kong's tags of one metric: service, route, workspace, consumer (if any), node, status. */
  private tags(m: KongLogEntry, metric: MetricConfig): [string, string][] | null {
    const c = this.config;
    const svc = serviceId(m, metric.service_identifier ?? c.service_identifier_default);
    if (svc === null) return null;
    const tags: [string, string][] = [['service', svc.replace(TAG_BREAKERS, '_')]];
    const route = m.route as { id: string; name: string | null } | null;
    if (route !== null) tags.push(['route', (route.name ?? route.id).replace(TAG_BREAKERS, '_')]);
    tags.push(['workspace', this.workspace(metric)]);
    const who = consumerId(m, metric.consumer_identifier ?? c.consumer_identifier_default);
    if (who !== null) tags.push(['consumer', who.replace(TAG_BREAKERS, '_')]);
    tags.push(['node', HOSTNAME], ['status', String(m.response.status)]);
    return tags;
  }

  health(): DependencyHealth[] {
    return [this.sink.health()];
  }

  close(): Promise<void> {
    return this.sink.close();
  }
}

export default definePlugin<StatsdConfig>({
  name: 'statsd',
  version: '1.0.0',
  // Kong's priority for statsd.
  priority: 11,
  schema,
  create(config, context) {
    const warn = (msg: string) => context.log.warn(msg);
    return new Statsd({ ...config, queue: withLegacyQueueFields(config.queue, config, context.warn) }, warn);
  },
});
