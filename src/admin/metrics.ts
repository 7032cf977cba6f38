/**
 * Prometheus metrics, named after Kong's prometheus plugin (`kong_*` → `tollgate_*`, see
 * docs/operations.md) so that Kong's Grafana dashboards map onto them.
 *
 * The request path never touches prom-client: each (service, route) pair gets a plain counters
 * object when a runtime is compiled (found per request through a WeakMap keyed by the compiled
 * route), requests bump numbers in it, and prom-client reads those numbers at scrape time through
 * custom collectors. Label strings are built once per route, never per request; status, method and
 * source are folded into one integer key.
 */

import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import type { UpstreamModel } from '../config/model.ts';
import { nodeId } from '../lib/node-id.ts';
import { stdoutLinesDropped } from '../log.ts';
import { dependencyHealth } from '../pipeline/dependencies.ts';
import type { DependencyHealth } from '../pipeline/plugin.ts';
import { answerSource, type RequestContext } from '../pipeline/request.ts';
import { responseHeadBytes } from '../pipeline/response-size.ts';
import type { CompiledRoute, CompiledService, PipelineSlot, PluginInstance, Runtime } from '../pipeline/runtime.ts';
import type { TargetHealth } from '../upstream/balancer.ts';
import { VERSION } from '../version.ts';
import { checksOff } from './entities.ts';
import {
  Counts,
  collector,
  type Histo,
  METHOD_INDEX,
  METHOD_OTHER,
  type MetricJson,
  NOT_UPSTREAM,
  pushBandwidth,
  pushRequests,
  Series,
  UPSTREAM_ERROR_KIND,
  UPSTREAM_ERROR_LABEL,
  UPSTREAM_ERROR_OTHER,
} from './metric-series.ts';

/** Label sets whose counters are carried across reloads (a bound against configs that rename targets on every reload). */
const MAX_CARRIED_COUNTERS = 10_000;
export interface GatewayMetricsOptions {
  /** Request, connection and upstream metrics (a process that serves traffic). */
  traffic?: boolean;
  /** Config reload metrics (the process that applies reloads: the only one, or the cluster primary). */
  reloads?: boolean;
  /** Node's default process metrics. */
  process?: boolean;
}

// prom-client (and the @opentelemetry/api it loads, ~120 modules) is CommonJS: required synchronously
// at the first scrape, so a gateway that is never scraped never loads it.
const require = createRequire(import.meta.url);

export class GatewayMetrics {
  #registry: Registry | null = null;
  readonly #opts: GatewayMetricsOptions;
  /** Per-request observer for `Gateway.observers`. */
  readonly observe: (rc: RequestContext) => void;
  private readonly series = new Map<string, Series>();
  private readonly byRoute = new WeakMap<CompiledRoute, Series>();
  /** Balancers of the newest prepared runtime by upstream name, for the target health gauge. */
  private balancers = new Map<string, NonNullable<CompiledService['balancer']>>();
  /** The `upstreams:` entries of the newest prepared runtime, named by a service or not. */
  private upstreams: readonly UpstreamModel[] = [];
  /** Plugin instances of the newest prepared runtime, for the dependency gauges. */
  private plugins: readonly PluginInstance[] = [];
  private readonly unmatched: Series;
  /** A pipeline's prometheus slot (null: none), found once per pipeline. */
  private readonly prometheusSlots = new WeakMap<RequestContext['pipeline'], PipelineSlot | null>();
  private readonly reloads = { success: 0, failure: 0 };
  private loadedAt = 0;
  private readonly workers = { restarts: 0, alive: 0 };
  /** Connection counts of the proxy listeners (set by the instance). */
  connectionCounts: () => { accepted: number; active: number; in_flight: number; idle: number } = () => ({
    accepted: 0,
    active: 0,
    in_flight: 0,
    idle: 0,
  });

  constructor(opts: GatewayMetricsOptions = {}) {
    this.#opts = opts;
    this.unmatched = this.seriesFor('', '');
    this.observe = (rc) => this.record(rc);
  }

  /**
   * The prom-client registry, built at first use (a scrape, or a cluster worker joining the
   * aggregator). The counters it reads are kept from the start, so nothing is lost by then;
   * Node's default process metrics (event-loop lag, GC) observe from that moment on.
   */
  get registry(): Registry {
    if (this.#registry === null) {
      const prom = require('prom-client') as typeof import('prom-client');
      this.#registry = new prom.Registry();
      if (this.#opts.traffic ?? true) this.registerTraffic();
      if (this.#opts.reloads ?? true) this.registerReloads();
      if (this.#workers) this.registerWorkerMetrics();
      if (this.#opts.process ?? true) prom.collectDefaultMetrics({ register: this.#registry });
    }
    return this.#registry;
  }

  /**
   * Takes the settings of a freshly compiled runtime (done before it is swapped in). A route's
   * counters are bound at its first request (`lateBind`), not here: a series without requests is
   * not exported anyway, and binding 10,000 routes up front (three histograms each) held the event
   * loop for a quarter second at the swap.
   */
  prepare(rt: Runtime): void {
    // One balancer per upstream: services naming the same upstream share its health (one series each).
    const balancers = new Map<string, NonNullable<CompiledService['balancer']>>();
    for (const svc of rt.services.values()) {
      const b = svc.balancer;
      if (b?.fromUpstream === true && !balancers.has(b.name)) balancers.set(b.name, b);
    }
    this.balancers = balancers;
    this.upstreams = rt.config.upstreams;
    this.plugins = rt.plugins;
  }

  reloaded(ok: boolean, loadedAt: Date | null): void {
    if (ok) this.reloads.success++;
    else this.reloads.failure++;
    if (loadedAt !== null) this.loadedAt = loadedAt.getTime() / 1000;
  }

  configLoaded(at: Date): void {
    this.loadedAt = at.getTime() / 1000;
  }

  workerStarted(alive: number): void {
    this.workers.alive = alive;
  }

  workerDied(alive: number): void {
    this.workers.restarts++;
    this.workers.alive = alive;
  }

  private seriesFor(service: string, route: string): Series {
    const key = `${service}\u0000${route}`;
    let s = this.series.get(key);
    if (s === undefined) this.series.set(key, (s = new Series(service, route)));
    return s;
  }

  /** Kong reads `per_consumer` from the prometheus instance that applies to the request. */
  private perConsumer(rc: RequestContext): boolean {
    let slot = this.prometheusSlots.get(rc.pipeline);
    if (slot === undefined)
      this.prometheusSlots.set(rc.pipeline, (slot = rc.pipeline.slots.find((x) => x.name === 'prometheus') ?? null));
    if (slot === null) return false;
    const inst = (rc.consumer !== null ? slot.byConsumer?.get(rc.consumer.id) : undefined) ?? slot.fallback;
    return inst !== null && (inst.model.config as { per_consumer?: unknown }).per_consumer === true;
  }

  private record(rc: RequestContext): void {
    const route = rc.compiled;
    const s = route === null ? this.unmatched : (this.byRoute.get(route) ?? this.lateBind(route));
    const method = METHOD_INDEX.get(rc.method) ?? METHOD_OTHER;
    const source = rc.exitStatus === 0 && answerSource(rc) === 'upstream' ? 0 : 1;
    const key = (rc.status * 16 + method) * 4 + source;
    const ingress = rc.bytesReceived;
    // Kong's egress is the log entry's response.size, nginx's $bytes_sent: head and body.
    const egress = rc.bytesSent + responseHeadBytes(rc);
    let c = s.all;
    if (rc.consumer !== null && this.perConsumer(rc)) {
      const name = rc.consumer.username ?? rc.consumer.id;
      let m = s.byConsumer;
      if (m === null) s.byConsumer = m = new Map();
      let cc = m.get(name);
      if (cc === undefined) m.set(name, (cc = new Counts()));
      c = cc;
    }
    c.requests.set(key, (c.requests.get(key) ?? 0) + 1);
    c.ingress += ingress;
    c.egress += egress;
    const total = performance.now() - rc.startedAt;
    s.request.observe(total);
    if (rc.upstreamStartedAt > 0) {
      if (rc.upstreamLatency >= 0) s.upstream.observe(rc.upstreamLatency);
      s.gateway.observe(rc.upstreamStartedAt - rc.startedAt);
    } else if (rc.upstreamLatency >= 0) {
      // A plugin's call in the service's place (aws-lambda's recordUpstreamLatency), as Kong counts it.
      s.upstream.observe(rc.upstreamLatency);
      s.gateway.observe(Math.max(0, total - rc.upstreamLatency));
    } else {
      s.gateway.observe(total);
    }
    const err = rc.error;
    if (err !== null && rc.upstreamStartedAt > 0 && rc.upstreamLatency < 0 && !NOT_UPSTREAM.has(err.code)) {
      s.upstreamErrors[UPSTREAM_ERROR_KIND.get(err.cause ?? err.code) ?? UPSTREAM_ERROR_OTHER]!++;
    }
  }

  /** A route's first request: bind its counters (kept by label, so they survive reloads). */
  private lateBind(route: CompiledRoute): Series {
    // Kong's exporter labels a service by its name, else its host (not its id, as the access log does).
    const svc = route.service;
    const s = this.seriesFor(svc === null ? '' : (svc.info.name ?? svc.info.host), route.label);
    this.byRoute.set(route, s);
    return s;
  }

  private registerTraffic(): void {
    const r = this.registry;
    collector(
      r,
      'tollgate_http_requests_total',
      'HTTP requests, by service, route, method, status code, source and consumer (kong_http_requests_total)',
      'counter',
      () => {
        const out: MetricJson['values'] = [];
        for (const s of this.series.values()) {
          pushRequests(out, s, s.all, '');
          if (s.byConsumer !== null) for (const [name, c] of s.byConsumer) pushRequests(out, s, c, name);
        }
        return out;
      },
    );
    const histo = (name: string, help: string, pick: (s: Series) => Histo): void =>
      collector(r, name, help, 'histogram', () => {
        const out: MetricJson['values'] = [];
        for (const s of this.series.values()) {
          const h = pick(s);
          if (h.count === 0) continue;
          let cum = 0;
          for (let i = 0; i < h.buckets.length; i++) {
            cum += h.counts[i]!;
            out.push({
              metricName: `${name}_bucket`,
              labels: { service: s.service, route: s.route, le: h.buckets[i]! },
              value: cum,
            });
          }
          out.push({
            metricName: `${name}_bucket`,
            labels: { service: s.service, route: s.route, le: '+Inf' },
            value: h.count,
          });
          out.push({ metricName: `${name}_sum`, labels: { service: s.service, route: s.route }, value: h.sum });
          out.push({ metricName: `${name}_count`, labels: { service: s.service, route: s.route }, value: h.count });
        }
        return out;
      });
    histo(
      'tollgate_request_latency_ms',
      'Time from the first byte of the request to the end of the response, in ms (kong_request_latency_ms)',
      (s) => s.request,
    );
    histo(
      'tollgate_upstream_latency_ms',
      'Time the upstream took to answer with headers, in ms (kong_upstream_latency_ms)',
      (s) => s.upstream,
    );
    histo(
      'tollgate_gateway_latency_ms',
      'Time the gateway added before the upstream was called (routing and plugins), in ms (kong_kong_latency_ms)',
      (s) => s.gateway,
    );
    collector(
      r,
      'tollgate_bandwidth_bytes',
      'Bytes received from clients (ingress: request line, headers and body) and sent to them (egress: response head and body) (kong_bandwidth_bytes)',
      'counter',
      () => {
        const out: MetricJson['values'] = [];
        for (const s of this.series.values()) {
          pushBandwidth(out, s, s.all, '');
          if (s.byConsumer !== null) for (const [name, c] of s.byConsumer) pushBandwidth(out, s, c, name);
        }
        return out;
      },
    );
    collector(
      r,
      'tollgate_upstream_target_health',
      'Health of each upstream target as this gateway sees it: 1 for its current state (kong_upstream_target_health)',
      'gauge',
      () => {
        const out: MetricJson['values'] = [];
        for (const u of this.upstreams) {
          // As Kong's /upstreams/{u}/health (entities.ts): an upstream without checks, or a target of
          // weight 0, is healthchecks_off; one no service names has no balancer, its targets up.
          const off = checksOff(u.healthchecks);
          const targets = this.balancers.get(u.name)?.health().targets ?? u.targets;
          for (const t of targets) {
            const h = t as Partial<TargetHealth>;
            const current =
              h.dns_error === true
                ? 'dns_error'
                : off || t.weight === 0
                  ? 'healthchecks_off'
                  : h.healthy === false
                    ? 'unhealthy'
                    : 'healthy';
            for (const state of TARGET_STATES) {
              out.push({
                labels: { upstream: u.name, target: t.target, address: t.target, state },
                value: state === current ? 1 : 0,
              });
            }
          }
        }
        return out;
      },
      'max',
    );
    collector(
      r,
      'tollgate_upstream_connection_errors_total',
      'Requests whose upstream could not be reached or failed before answering, by service and kind of error',
      'counter',
      () => {
        const out: MetricJson['values'] = [];
        for (const s of this.series.values()) {
          for (let i = 0; i < s.upstreamErrors.length; i++) {
            if (s.upstreamErrors[i]! > 0)
              out.push({
                labels: { service: s.service, error: UPSTREAM_ERROR_LABEL[i]! },
                value: s.upstreamErrors[i]!,
              });
          }
        }
        return out;
      },
    );
    collector(
      r,
      'tollgate_connections',
      'Client connections by state: active (open), writing (a request in flight), waiting (idle keep-alive) (kong_nginx_connections_total)',
      'gauge',
      () => {
        const c = this.connectionCounts();
        return [
          { labels: { state: 'active' }, value: c.active },
          { labels: { state: 'writing' }, value: c.in_flight },
          { labels: { state: 'waiting' }, value: c.idle },
        ];
      },
    );
    this.registerDependencies();
    collector(r, 'tollgate_connections_accepted_total', 'Client connections accepted', 'counter', () => [
      { labels: {}, value: this.connectionCounts().accepted },
    ]);
    collector(
      r,
      'tollgate_stdout_lines_dropped_total',
      'Log lines (access and others) dropped because stdout was not being read and its buffer was full',
      'counter',
      () => [{ labels: {}, value: stdoutLinesDropped() }],
    );
  }

  /** Per counter and label set: the last value a plugin reported, and what earlier instances had counted. */
  private readonly counterCarry = new Map<string, { last: number; base: number }>();

  /**
   * A plugin's counters start at 0 in the instance a reload makes: a value lower than the last
   * one seen carries the last one over, so the exported counter never goes backwards (Prometheus
   * would read a reset). Keyed by the config's plugins and targets: bounded by the configs served.
   */
  private monotonic(name: string, labels: Record<string, string>, value: number): number {
    const key = `${name}\u0000${labels.plugin}\u0000${labels.kind}\u0000${labels.target}`;
    let c = this.counterCarry.get(key);
    if (c === undefined) {
      if (this.counterCarry.size >= MAX_CARRIED_COUNTERS) this.counterCarry.clear();
      c = { last: 0, base: 0 };
      this.counterCarry.set(key, c);
    }
    if (value < c.last) c.base += c.last;
    c.last = value;
    return c.base + value;
  }

  /** The plugins' outside dependencies (JWKS, IdP discovery, Redis), as their `health()` reports them. */
  private registerDependencies(): void {
    const r = this.registry;
    const gauge = (
      name: string,
      help: string,
      value: (h: DependencyHealth) => number | null,
      aggregator: MetricJson['aggregator'],
      type: MetricJson['type'] = 'gauge',
    ): void =>
      collector(
        r,
        name,
        help,
        type,
        () => {
          const out: MetricJson['values'] = [];
          for (const { plugin, health } of dependencyHealth(this.plugins)) {
            const v = value(health);
            if (v === null) continue;
            const labels = { plugin, kind: health.kind, target: health.target };
            out.push({ labels, value: type === 'counter' ? this.monotonic(name, labels, v) : v });
          }
          return out;
        },
        aggregator,
      );
    gauge(
      'tollgate_dependency_up',
      "1 when the dependency's last fetch or connection succeeded, 0 when it failed",
      (h) => (h.healthy ? 1 : 0),
      'min',
    );
    gauge(
      'tollgate_dependency_last_success_timestamp_seconds',
      'Unix time of the last successful fetch from the dependency',
      (h) => (h.lastSuccess === null ? null : h.lastSuccess.getTime() / 1000),
      'max',
    );
    gauge(
      'tollgate_dependency_failures_total',
      'Failed fetches or connections to the dependency',
      (h) => h.failures,
      'sum',
      'counter',
    );
    gauge('tollgate_dependency_keys', 'Keys held from the last good JWKS', (h) => h.keys ?? null, 'max');
    gauge(
      'tollgate_log_queue_depth',
      "Entries waiting in a log or trace plugin's delivery queue towards its receiver",
      (h) => h.queue?.depth ?? null,
      'sum',
    );
    gauge(
      'tollgate_log_sent_total',
      'Entries (log entries, spans, metric lines) delivered to the receiver',
      (h) => h.queue?.sent ?? null,
      'sum',
      'counter',
    );
    gauge(
      'tollgate_log_dropped_total',
      'Entries dropped on the way to the receiver: queue full, or retries exhausted',
      (h) => h.queue?.dropped ?? null,
      'sum',
      'counter',
    );
  }

  private registerReloads(): void {
    const r = this.registry;
    collector(
      r,
      'tollgate_config_reloads_total',
      'Config reloads, by result (success: swapped in; failure: rejected, the last good config kept serving)',
      'counter',
      () => [
        { labels: { result: 'success' }, value: this.reloads.success },
        { labels: { result: 'failure' }, value: this.reloads.failure },
      ],
    );
    collector(
      r,
      'tollgate_config_loaded_timestamp_seconds',
      'Unix time the serving config was loaded',
      'gauge',
      () => [{ labels: {}, value: this.loadedAt }],
      'max',
    );
    // Kong's kong_node_info (node id and version, always 1): what a dashboard shows to tell which
    // build each node runs. Kept with the reload metrics so that with --workers the primary alone
    // exports it, once.
    const info = [{ labels: { node_id: nodeId(), version: VERSION }, value: 1 }];
    collector(
      r,
      'tollgate_node_info',
      'Tollgate node metadata information (kong_node_info)',
      'gauge',
      () => info,
      'max',
    );
  }

  #workers = false;

  /** Worker metrics (cluster primary only). */
  registerWorkers(): void {
    this.#workers = true;
    if (this.#registry !== null) this.registerWorkerMetrics();
  }

  private registerWorkerMetrics(): void {
    const r = this.registry;
    collector(r, 'tollgate_workers', 'Worker processes alive', 'gauge', () => [
      { labels: {}, value: this.workers.alive },
    ]);
    collector(r, 'tollgate_worker_restarts_total', 'Workers that died and were replaced', 'counter', () => [
      { labels: {}, value: this.workers.restarts },
    ]);
  }
}

/**
 * The states of `tollgate_upstream_target_health`, Kong's (kong_upstream_target_health), from the
 * least to the most severe: a target is in exactly one.
 */
const TARGET_STATES = ['healthchecks_off', 'healthy', 'unhealthy', 'dns_error'] as const;

/**
 * Workers' `tollgate_upstream_target_health` samples made to agree before they are aggregated
 * (the gauge's aggregator is `max`): each worker keeps its own passive health counts, and a target
 * one worker marked down but another not would read 1 for both `healthy` and `unhealthy`. As in
 * `/status`, a target is healthy only when every worker finds it so: the most severe state any
 * worker reports is the target's.
 */
export function agreeOnTargetHealth(workers: readonly object[][]): void {
  const gauges = workers.flatMap((list) =>
    (list as MetricJson[]).filter((m) => m.name === 'tollgate_upstream_target_health'),
  );
  const key = (l: Record<string, string | number>): string => `${l.upstream}\u0000${l.target}`;
  const severity = (state: string | number | undefined): number =>
    TARGET_STATES.indexOf(state as (typeof TARGET_STATES)[number]);
  const worst = new Map<string, number>();
  for (const g of gauges)
    for (const v of g.values)
      if (v.value === 1) worst.set(key(v.labels), Math.max(worst.get(key(v.labels)) ?? 0, severity(v.labels.state)));
  for (const g of gauges)
    for (const v of g.values) v.value = severity(v.labels.state) === (worst.get(key(v.labels)) ?? 0) ? 1 : 0;
}
