/**
 * The cluster primary's Coordinator: what the admin and status APIs ask of "the gateway" answered
 * for all the workers. A reload is two-phase so that every worker runs the same config, or none
 * changes: the primary loads and compiles the file once (a bad file stops there), sends the exact
 * text to every worker to load and compile ("prepare"), and only when all of them succeeded with
 * the same config hash tells them to swap ("commit"); otherwise they drop what they built ("abort").
 * Connection counts, metrics, health and readiness are gathered from the workers that answer.
 */
import { AggregatorRegistry } from 'prom-client';
import { agreeOnTargetHealth, type GatewayMetrics } from '../admin/metrics.ts';
import { type ConfigIssue, configIssue } from '../errors.ts';
import { abandonPrepared as abandon, type TollgateInstance } from '../instance.ts';
import type { ConnectionStats, Coordinator, Readiness, ReloadOptions, ReloadResult } from '../instance-types.ts';
import { mergeDependencyReports } from '../pipeline/dependencies.ts';
import { type HealthReport, mergeUpstreamHealth } from '../upstream/health-report.ts';
import { setTargetHealth } from '../upstream/target-health.ts';
import { STATS_TIMEOUT_MS, UNRESPONSIVE_AFTER, type WorkerPool } from './worker-pool.ts';

/** The coordinator of a primary running `workers` workers in `pool`; `metrics` holds the primary's own series. */
export function primaryCoordinator(pool: WorkerPool, metrics: GatewayMetrics, workers: number): Coordinator {
  // The primary opens no plugin and sends no request (it serves nothing): the workers' plugin
  // instances reach the dependencies and their balancers keep the passive health counts.
  // A worker that has not answered in time is left out.
  const health = async (): Promise<HealthReport> => {
    const replies = await Promise.all(
      pool
        .alive()
        .map((s) => pool.ask(s, { t: 'tollgate:health', id: pool.nextId() }, STATS_TIMEOUT_MS).catch(() => null)),
    );
    const reports = replies.flatMap((r) => (r?.health === undefined ? [] : [r.health]));
    return {
      upstreams: mergeUpstreamHealth(reports.map((r) => r.upstreams)),
      dependencies: mergeDependencyReports(reports.map((r) => r.dependencies)),
    };
  };

  return {
    reload: async (inst: TollgateInstance, opts: ReloadOptions): Promise<ReloadResult> => {
      const at = new Date();
      const p = await inst.prepare(opts.text);
      if ('errors' in p) return inst.failed(p.errors, at, opts);
      if (inst.unchanged(p, opts)) return inst.keep(p, at, opts);
      const hash = p.config.source.hash;
      const id = pool.nextId();
      const targets = pool.alive();
      if (targets.length === 0) {
        // Nothing serves to apply it: the next worker to come up brings the gateway up to date with
        // the file. A posted config answered 503 here changed nothing, and stays so.
        pool.retryWhenReady ||= opts.text === undefined;
        await abandon(p);
        return inst.unavailable('no worker is serving to apply the config (all are starting)', opts);
      }
      const replies = await Promise.all(
        targets.map((s) =>
          pool.ask(s, { t: 'tollgate:prepare', id, text: p.text }).then(
            (r) => ({ s, r }),
            (e: unknown) => ({ s, r: null, e }),
          ),
        ),
      );
      const problems: ConfigIssue[] = [];
      for (const { s, r } of replies) {
        if (r === null) continue; // died meanwhile: its replacement starts on the serving text and is brought up to date
        if (!r.ok)
          problems.push(
            ...(r.errors ?? []).map((e) => ({ ...e, message: `worker ${s.worker.process.pid}: ${e.message}` })),
          );
        else if (r.hash !== hash) {
          problems.push(
            configIssue(
              'FILE',
              `worker ${s.worker.process.pid} read different files (a referenced file changed during the reload); nothing changed`,
              [],
              { file: inst.options.configFile, line: 0, col: 0 },
            ),
          );
        }
      }
      if (opts.abandoned?.() === true) {
        // Past its deadline (already reported failed) or stopping: nothing may change now.
        for (const { s } of replies) pool.send(s.worker, { t: 'tollgate:abort', id });
        await abandon(p);
        return { ok: false, at, hash: inst.runtime.config.source.hash, errors: [], trigger: opts.trigger };
      }
      if (problems.length > 0) {
        for (const { s } of replies) pool.send(s.worker, { t: 'tollgate:abort', id });
        await abandon(p);
        return inst.failed(problems, at, opts);
      }
      let applied = 0;
      await Promise.all(
        replies.map(({ s, r }) =>
          r === null
            ? undefined
            : pool.ask(s, { t: 'tollgate:commit', id, trigger: opts.trigger }).then(
                (c) => {
                  if (!c.ok) return;
                  s.hash = hash;
                  applied++;
                },
                () => undefined,
              ),
        ),
      );
      if (applied === 0) {
        // Every worker died or failed to swap: the primary keeps the old text, which their
        // replacements start from, and the next one up brings the gateway up to date (with the
        // file; a posted config answered 503 here changed nothing).
        pool.retryWhenReady ||= opts.text === undefined;
        await abandon(p);
        return inst.unavailable('no worker applied the config (they exited during the reload)', opts);
      }
      inst.commit(p);
      return inst.succeeded(hash, at, opts);
    },
    connections: async (): Promise<ConnectionStats> => {
      const sum: ConnectionStats = { accepted: 0, active: 0, in_flight: 0, idle: 0, requests: 0 };
      const replies = await Promise.all(
        pool
          .alive()
          .map((s) => pool.ask(s, { t: 'tollgate:stats', id: pool.nextId() }, STATS_TIMEOUT_MS).catch(() => null)),
      );
      for (const r of replies) {
        if (r?.stats === undefined) continue;
        sum.accepted += r.stats.accepted;
        sum.active += r.stats.active;
        sum.in_flight += r.stats.in_flight;
        sum.idle += r.stats.idle;
        sum.requests += r.stats.requests ?? 0;
      }
      return sum;
    },
    metricsText: async (): Promise<string> => {
      // Asked as the connection counts are (2 s at most): a stopped or stuck worker is left out of
      // the sums. prom-client's clusterMetrics() waits for every worker and fails the whole scrape
      // after 5 s, which lost every metric of the node exactly when one worker hung.
      const replies = await Promise.all(
        pool
          .alive()
          .map((s) => pool.ask(s, { t: 'tollgate:metrics', id: pool.nextId() }, STATS_TIMEOUT_MS).catch(() => null)),
      );
      const lists = replies.flatMap((r) => (r?.metrics === undefined ? [] : [r.metrics]));
      agreeOnTargetHealth(lists);
      const fromWorkers = await AggregatorRegistry.aggregate(lists).metrics();
      const own = await metrics.registry.metrics();
      return `${fromWorkers.trimEnd()}\n\n${own}`;
    },
    readiness: (inst: TollgateInstance): Readiness => {
      const ready = pool.alive();
      if (ready.length < workers)
        return { ready: false, message: `workers starting: ${ready.length} of ${workers} ready` };
      // Workers started with the proxy listeners off (`--proxy-listen off`, `proxy_listen: []`)
      // serve nothing: the same answer as one process without a proxy listener.
      if (ready.every((s) => s.listeners.length === 0)) return { ready: false, message: 'no proxy listener is open' };
      const stuck = ready.filter((s) => s.missed >= UNRESPONSIVE_AFTER);
      if (stuck.length > 0)
        return {
          ready: false,
          message: `worker ${stuck.map((s) => s.worker.process.pid).join(', ')} not responding`,
        };
      const current = inst.runtime.config.source.hash;
      const stale = ready.filter((s) => s.hash !== current).length;
      if (stale > 0)
        return {
          ready: false,
          message: `${stale} of ${workers} workers not yet serving the current config`,
        };
      return { ready: true, message: 'ready' };
    },
    // Checked against the primary's own copy of the config first (its balancers serve nothing),
    // then set in every worker, each keeping its own balancers. A worker that does not answer in
    // time is left out, as for /status; one started later starts with every target healthy.
    setTargetHealth: async (inst, upstream, target, healthy) => {
      const refused = setTargetHealth(inst.runtime, upstream, target, healthy);
      if (refused !== null) return refused;
      const ask = (s: Parameters<WorkerPool['ask']>[0]) =>
        pool.ask(s, { t: 'tollgate:target-health', id: pool.nextId(), upstream, target, healthy }, STATS_TIMEOUT_MS);
      await Promise.all(pool.alive().map((s) => ask(s).catch(() => null)));
      return null;
    },
    serving: () => pool.alive().some((s) => s.listeners.length > 0),
    // The primary listens on no proxy address: the workers' (shared, or one socket each on a port), each once.
    proxyListeners: () => [...new Map(pool.alive().flatMap((s) => s.listeners.map((l) => [l.listener, l]))).values()],
    status: async () => ({
      ...(await health()),
      workers: [...pool.states.values()].map((s) => ({
        pid: s.worker.process.pid,
        ready: s.ready,
        responding: s.missed < UNRESPONSIVE_AFTER,
        config_hash: s.hash,
      })),
      worker_restarts: metricsRestarts(metrics),
    }),
  };
}

function metricsRestarts(m: GatewayMetrics): number {
  return (m as unknown as { workers: { restarts: number } }).workers.restarts;
}
