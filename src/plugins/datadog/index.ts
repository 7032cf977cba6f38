/**
 * The `datadog` plugin: Kong 3's datadog. Per request, each configured metric as one DogStatsD
 * line, sent to the Datadog agent over UDP (one datagram a line, as Kong sends them) through
 * Kong 3's queue:
 *
 *   kong.request.count:1|c|#name:orders,status:200,consumer:alice-1,app:kong
 *   kong.latency:12|ms|#name:orders,status:200,consumer:alice-1,app:kong
 *
 * Tags in Kong's order (kong/plugins/datadog/handler.lua, compose_tags): the service's name (its
 * host without one, dots as `_`; empty without a service) under `service_name_tag`, the status
 * under `status_tag`, the route's name (or id) under Kong Gateway 3.13's `route_name_tag` when it
 * is set, the consumer by the metric's `consumer_identifier` under `consumer_tag`, then the
 * metric's own tags as written.
 */
import schema from '../../../schemas/plugins/datadog.schema.json' with { type: 'json' };
import type { DependencyHealth, GatewayRequest, LogEntry, PluginHandlers } from '../../index.ts';
import { definePlugin, luaNumber, PluginConfigError } from '../../index.ts';
import {
  type KongLogEntry,
  type LegacyQueueFields,
  type QueueConfig,
  serializeKong,
  withLegacyQueueFields,
} from '../../lib/log/index.ts';
import {
  type ConsumerIdentifier,
  consumerIdentifier,
  ENTRY_METRICS,
  STAT_TYPE_CODES,
  StatsdSink,
  type StatType,
  sampleSuffix,
} from '../../lib/statsd.ts';

interface MetricConfig {
  name: keyof typeof ENTRY_METRICS;
  stat_type: StatType;
  tags?: string[] | null;
  sample_rate?: number | null;
  consumer_identifier?: ConsumerIdentifier | null;
}

export interface DatadogConfig extends LegacyQueueFields {
  host?: string | null;
  port?: number | null;
  prefix: string;
  service_name_tag: string;
  route_name_tag?: string | null;
  status_tag: string;
  consumer_tag: string;
  metrics: MetricConfig[];
  queue: QueueConfig;
}

/** One metric, with everything that does not depend on the request worked out at load. */
interface Metric {
  /** `kong.request.count:` */
  head: string;
  value: (m: KongLogEntry) => number;
  /** `|c` */
  kind: string;
  rate: number | null;
  consumer: ConsumerIdentifier | null;
  /** The metric's own tags, each after a comma (`,app:kong`), or ''. */
  tail: string;
}

/**
 * What would end a tag, or the line, in a consumer's or service's name: Kong sends them as they
 * are, which lets a username with a comma add a tag of its own; here such a character is `_`.
 */
const TAG_BREAKERS = /[\r\n|,]/g;
/** Kong's dots as `_` in the service's name, and the breakers above. */
const SERVICE_BREAKERS = /[.\r\n|,]/g;
const DASHES = /-/g;
const DEFAULT_HOST = 'localhost';
const DEFAULT_PORT = 8125;

/**
 * The agent's host and port: the config's, else Kong's environment variables, else `localhost` and
 * 8125. Kong's statsd_logger reads `conf.host or KONG_DATADOG_AGENT_HOST` (likewise the port), so
 * its variables apply where the file sets the field to null; here null means unset, as for every
 * plugin field, so they apply wherever the file leaves the field out. `problem` names a variable
 * that holds no port.
 */
function agentTarget(config: DatadogConfig): { host: string; port: number; problem: string | null } {
  const host = config.host ?? (process.env.KONG_DATADOG_AGENT_HOST || DEFAULT_HOST);
  if (config.port != null) return { host, port: config.port, problem: null };
  const env = process.env.KONG_DATADOG_AGENT_PORT;
  if (env === undefined || env === '') return { host, port: DEFAULT_PORT, problem: null };
  const port = luaNumber(env);
  if (port !== undefined && Number.isInteger(port) && port >= 0 && port <= 65535) return { host, port, problem: null };
  return {
    host,
    port: DEFAULT_PORT,
    problem: `KONG_DATADOG_AGENT_PORT '${env.slice(0, 20)}' is not a port: ${DEFAULT_PORT} is used`,
  };
}

class Datadog implements PluginHandlers {
  private readonly metrics: Metric[];
  private readonly serviceTag: string;
  private readonly statusTag: string;
  /** `,<route_name_tag>:`, or null without one. */
  private readonly routeTag: string | null;
  private readonly consumerTag: string;

  constructor(
    config: DatadogConfig,
    private readonly sink: StatsdSink,
  ) {
    this.metrics = config.metrics.map((metric) => ({
      head: `${config.prefix}.${ENTRY_METRICS[metric.name]![0]}:`,
      value: ENTRY_METRICS[metric.name]![1],
      kind: `|${STAT_TYPE_CODES[metric.stat_type]}`,
      rate: metric.sample_rate ?? null,
      consumer: metric.consumer_identifier ?? null,
      tail: (metric.tags ?? []).map((t) => `,${t}`).join(''),
    }));
    this.serviceTag = `|#${config.service_name_tag}:`;
    this.statusTag = `,${config.status_tag}:`;
    this.routeTag = config.route_name_tag ? `,${config.route_name_tag}:` : null;
    this.consumerTag = `,${config.consumer_tag}:`;
  }

  log(req: GatewayRequest, entry: LogEntry): void {
    const m = serializeKong(req, entry);
    const service = m.service as { name: string | null; host: string } | null;
    // Kong: the name, else the host, dots as `_`; '' without a service (a route without one, the router's 404).
    const name = service === null ? '' : (service.name ?? service.host).replace(SERVICE_BREAKERS, '_');
    let tags = `${this.serviceTag}${name}${this.statusTag}${m.response.status}`;
    // Kong Gateway 3.13's route_name_tag: the route's name, or its id when it has none.
    const route = m.route as { id: string; name: string | null } | null;
    if (this.routeTag !== null && route !== null)
      tags += `${this.routeTag}${(route.name || route.id).replace(TAG_BREAKERS, '_')}`;
    const lines: string[] = [];
    for (const metric of this.metrics) {
      const suffix = sampleSuffix(metric.rate);
      if (suffix === null) continue;
      let line = `${metric.head}${metric.value(m)}${metric.kind}${suffix}${tags}`;
      const who = metric.consumer === null ? null : consumerIdentifier(m, metric.consumer);
      if (who !== null) {
        // Kong's consumer_id identifier replaces the id's dashes with underscores (replace_dashes).
        const id = metric.consumer === 'consumer_id' ? who.replace(DASHES, '_') : who;
        line += `${this.consumerTag}${id.replace(TAG_BREAKERS, '_')}`;
      }
      lines.push(line + metric.tail);
    }
    this.sink.add(lines);
  }

  health(): DependencyHealth[] {
    return [this.sink.health()];
  }

  close(): Promise<void> {
    return this.sink.close();
  }
}

export default definePlugin<DatadogConfig>({
  name: 'datadog',
  version: '1.0.0',
  // Kong's priority for datadog.
  priority: 10,
  schema,
  create(config, context) {
    // Kong's schema requires stat_type, but its entity check on it (sample_rate for a counter or a
    // gauge) answers first, in its own words: 02-schema_spec.lua pins them. The JSON Schema leaves
    // it out of `required` so that this is the refusal.
    for (let i = 0; i < config.metrics.length; i++)
      if (config.metrics[i]!.stat_type == null)
        throw new PluginConfigError(`metrics[${i}].stat_type`, 'field required for entity check');
    const queue = withLegacyQueueFields(config.queue, config, context.warn);
    const { problem, ...target } = agentTarget(config);
    if (problem !== null) context.warn(problem, 'port');
    const warn = (msg: string) => context.log.warn(msg);
    return new Datadog(config, new StatsdSink('datadog', target, queue, warn));
  },
});
