/**
 * `gateway start --workers N`: N processes share the proxy listeners through node:cluster.
 *
 * The primary serves no traffic: it holds the admin and status listeners, the config watcher and
 * the reload protocol. A reload is two-phase so that every worker runs the same config, or none
 * changes: the primary loads and compiles the file once (a bad file stops there), sends the exact
 * text to every worker to load and compile ("prepare"), and only when all of them succeeded with
 * the same config hash tells them to swap ("commit"); otherwise they drop what they built ("abort").
 * A worker that dies is replaced (and counted); the replacement starts from the serving text.
 */
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { AggregatorRegistry } from 'prom-client';
import { agreeOnTargetHealth, GatewayMetrics } from '../admin/metrics.ts';
import { restartOnlySettings } from '../config/restart-settings.ts';
import { type ConfigIssue, configIssue } from '../errors.ts';
import { abandonPrepared, TollgateInstance, toIssues } from '../instance.ts';
import type {
  ConnectionStats,
  Coordinator,
  Prepared,
  Readiness,
  ReloadOptions,
  ReloadResult,
} from '../instance-types.ts';
import { ensureRunSeed } from '../lib/run-secret.ts';
import { mergeDependencyReports } from '../pipeline/dependencies.ts';
import { type HealthReport, localHealth, mergeUpstreamHealth } from '../upstream/health-report.ts';
import { TREE, VERSION } from '../version.ts';
import { onStopSignals, type StartArgs, startFailed, warnKongIgnored } from './start.ts';
import type { FromWorker, ToWorker } from './worker-messages.ts';

const ASK_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 60_000;
/** `/status` waits this long for a worker's connection counts; one that has not answered is left out. */
const STATS_TIMEOUT_MS = 2_000;
/**
 * The primary pings every serving worker this often. A worker stopped (SIGSTOP, a debugger) or
 * spinning in a loop still holds its share of the listening socket: connections handed to it hang,
 * and nothing else would notice. After UNRESPONSIVE_AFTER pings in a row without an answer `/ready`
 * says 503 (the balancer in front sends new connections elsewhere); after KILL_AFTER the worker is
 * killed and replaced. A worker busy for seconds (a reload compiling a large file) misses a ping or
 * two, not ten.
 */
const HEARTBEAT_MS = 2_000;
const UNRESPONSIVE_AFTER = 3;
const KILL_AFTER = 10;

interface WorkerState {
  worker: Worker;
  ready: boolean;
  hash: string | null;
  listeners: TollgateInstance['proxyListeners'];
  startedAt: number;
  /**
   * Heartbeat periods since the worker last answered (see HEARTBEAT_MS), counted from the clock: a
   * ping that times out just after the interval's tick skips that tick, and counting pings would
   * then stretch KILL_AFTER to twice its time on a loaded machine.
   */
  missed: number;
  /** When the worker last answered a ping, or became ready. */
  answeredAt: number;
  pinging: boolean;
}

// ---------------------------------------------------------------------------------------------
// Primary

export async function runPrimary(
  args: StartArgs,
  onHangup: (reload: () => void) => void,
  handOverStop: () => void,
): Promise<number> {
  const metrics = new GatewayMetrics({ traffic: false, reloads: true, process: false });
  metrics.registerWorkers();
  // Set once the instance is up; workers talk to the primary only after that.
  let inst!: TollgateInstance;
  const states = new Map<number, WorkerState>();
  const waiting = new Map<
    string,
    { resolve: (m: FromWorker & { t: 'tollgate:reply' }) => void; reject: (e: Error) => void }
  >();
  let seq = 0;
  let stopping = false;
  let quickDeaths = 0;
  /** A reload found no worker to apply it: the next worker that comes up triggers it again. */
  let retryWhenReady = false;

  const alive = (): WorkerState[] => [...states.values()].filter((s) => s.ready && s.worker.isConnected());
  const send = (w: Worker, m: ToWorker): void => {
    if (w.isConnected()) w.send(m);
  };
  const ask = (
    s: WorkerState,
    m: ToWorker & { id: number },
    timeoutMs = ASK_TIMEOUT_MS,
  ): Promise<FromWorker & { t: 'tollgate:reply' }> =>
    new Promise((resolve, reject) => {
      const key = `${s.worker.id}:${m.id}`;
      const timer = setTimeout(() => {
        waiting.delete(key);
        reject(new Error(`worker ${s.worker.process.pid} did not answer`));
      }, timeoutMs);
      waiting.set(key, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      send(s.worker, m);
    });

  // Reloads are two-phase across the workers; counts, metrics and status are gathered from them.
  // The primary opens no plugin and sends no request (it serves nothing): the workers' plugin
  // instances reach the dependencies and their balancers keep the passive health counts.
  // A worker that has not answered in time is left out.
  const health = async (): Promise<HealthReport> => {
    const replies = await Promise.all(
      alive().map((s) => ask(s, { t: 'tollgate:health', id: ++seq }, STATS_TIMEOUT_MS).catch(() => null)),
    );
    const reports = replies.flatMap((r) => (r?.health === undefined ? [] : [r.health]));
    return {
      upstreams: mergeUpstreamHealth(reports.map((r) => r.upstreams)),
      dependencies: mergeDependencyReports(reports.map((r) => r.dependencies)),
    };
  };

  const coordinator: Coordinator = {
    reload: async (inst: TollgateInstance, opts: ReloadOptions): Promise<ReloadResult> => {
      const at = new Date();
      const p = await inst.prepare(opts.text);
      if ('errors' in p) return inst.failed(p.errors, at, opts);
      if (inst.unchanged(p, opts)) return inst.keep(p, at, opts);
      const hash = p.config.source.hash;
      const id = ++seq;
      const targets = alive();
      if (targets.length === 0) {
        // Nothing serves to apply it: the next worker to come up brings the gateway up to date with
        // the file. A posted config answered 503 here changed nothing, and stays so.
        retryWhenReady ||= opts.text === undefined;
        await abandon(p);
        return inst.unavailable('no worker is serving to apply the config (all are starting)', opts);
      }
      const replies = await Promise.all(
        targets.map((s) =>
          ask(s, { t: 'tollgate:prepare', id, text: p.text }).then(
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
        for (const { s } of replies) send(s.worker, { t: 'tollgate:abort', id });
        await abandon(p);
        return { ok: false, at, hash: inst.runtime.config.source.hash, errors: [], trigger: opts.trigger };
      }
      if (problems.length > 0) {
        for (const { s } of replies) send(s.worker, { t: 'tollgate:abort', id });
        await abandon(p);
        return inst.failed(problems, at, opts);
      }
      let applied = 0;
      await Promise.all(
        replies.map(({ s, r }) =>
          r === null
            ? undefined
            : ask(s, { t: 'tollgate:commit', id, trigger: opts.trigger }).then(
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
        retryWhenReady ||= opts.text === undefined;
        await abandon(p);
        return inst.unavailable('no worker applied the config (they exited during the reload)', opts);
      }
      inst.commit(p);
      return inst.succeeded(hash, at, opts);
    },
    connections: async (): Promise<ConnectionStats> => {
      const sum: ConnectionStats = { accepted: 0, active: 0, in_flight: 0, idle: 0, requests: 0 };
      const replies = await Promise.all(
        alive().map((s) => ask(s, { t: 'tollgate:stats', id: ++seq }, STATS_TIMEOUT_MS).catch(() => null)),
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
        alive().map((s) => ask(s, { t: 'tollgate:metrics', id: ++seq }, STATS_TIMEOUT_MS).catch(() => null)),
      );
      const lists = replies.flatMap((r) => (r?.metrics === undefined ? [] : [r.metrics]));
      agreeOnTargetHealth(lists);
      const fromWorkers = await AggregatorRegistry.aggregate(lists).metrics();
      const own = await metrics.registry.metrics();
      return `${fromWorkers.trimEnd()}\n\n${own}`;
    },
    readiness: (inst: TollgateInstance): Readiness => {
      const ready = alive();
      if (ready.length < args.workers)
        return { ready: false, message: `workers starting: ${ready.length} of ${args.workers} ready` };
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
          message: `${stale} of ${args.workers} workers not yet serving the current config`,
        };
      return { ready: true, message: 'ready' };
    },
    serving: () => alive().some((s) => s.listeners.length > 0),
    // The primary listens on no proxy address: the workers' (shared, or one socket each on a port), each once.
    proxyListeners: () => [...new Map(alive().flatMap((s) => s.listeners.map((l) => [l.listener, l]))).values()],
    status: async () => ({
      ...(await health()),
      workers: [...states.values()].map((s) => ({
        pid: s.worker.process.pid,
        ready: s.ready,
        responding: s.missed < UNRESPONSIVE_AFTER,
        config_hash: s.hash,
      })),
      worker_restarts: metricsRestarts(metrics),
    }),
  };

  // Before any fork: workers inherit the run's seed, so keys generated for this run agree.
  ensureRunSeed();
  try {
    inst = await TollgateInstance.start({
      configFile: args.config,
      kongDefaultCertificate: args.kongDefaultCertificate,
      proxyListen: [],
      adminListen: args.adminListen,
      // Kong's status API answers for the whole node, as the admin API does: here, beside it.
      statusListen: args.statusListen,
      logLevel: args.logLevel,
      accessLog: args.accessLog,
      watch: false,
      metrics,
      coordinator,
      // The primary opens no proxy listener; the workers open the file's unless the flag says otherwise.
      restartSettings: restartOnlySettings(args),
    });
  } catch (err) {
    return startFailed(err, args.config, args.kongIgnored);
  }
  const log = inst.log;
  // SIGTERM or SIGINT while the workers start: by default it ended the primary at once (exit 143),
  // and the starting workers printed EPIPE traces as their channel broke. Stop them in order instead.
  // Installed before the line below says workers start: a signal is handled from the next turn on,
  // when `cancelStart` is set.
  let cancelStart: (signal: NodeJS.Signals) => void = () => undefined;
  const earlyStop = (signal: NodeJS.Signals): void => cancelStart(signal);
  handOverStop();
  process.on('SIGTERM', earlyStop);
  process.on('SIGINT', earlyStop);
  // The admin listener answers from here on: /ready says 503 until every worker serves.
  log.info({ pid: process.pid, admin: inst.adminAddresses, workers: args.workers }, 'starting workers');
  const fork = (): WorkerState => {
    const worker = cluster.fork();
    const s: WorkerState = {
      worker,
      ready: false,
      hash: null,
      listeners: [],
      startedAt: Date.now(),
      missed: 0,
      answeredAt: Date.now(),
      pinging: false,
    };
    states.set(worker.id, s);
    worker.on('message', (m: FromWorker) => {
      if (m.t === 'tollgate:reply') {
        const key = `${worker.id}:${m.id}`;
        const w = waiting.get(key);
        waiting.delete(key);
        w?.resolve(m);
      } else if (m.t === 'tollgate:hello') {
        // The worker listens for messages only once its modules have loaded: it asks when it can hear.
        send(worker, { t: 'tollgate:init', text: inst.configText });
      } else if (m.t === 'tollgate:ready') {
        s.ready = true;
        s.answeredAt = Date.now();
        s.hash = m.hash;
        s.listeners = m.listeners;
        metrics.workerStarted(alive().length);
        if (retryWhenReady) {
          retryWhenReady = false;
          void inst.reload({ trigger: 'api' }).catch(() => undefined);
        } else if (m.hash !== inst.runtime.config.source.hash) {
          // It started on the text serving when it asked, and another was swapped in since (a
          // POST /config among them, which the file does not have): the serving text, not the file.
          void inst.reload({ trigger: 'api', serving: true }).catch(() => undefined);
        }
      }
    });
    worker.once('exit', (code, signal) => {
      states.delete(worker.id);
      for (const [key, w] of waiting) {
        if (key.startsWith(`${worker.id}:`)) {
          waiting.delete(key);
          w.reject(new Error('worker exited'));
        }
      }
      if (stopping) return;
      metrics.workerDied(alive().length);
      quickDeaths = Date.now() - s.startedAt < 2000 ? quickDeaths + 1 : 0;
      const delay = Math.min(5000, quickDeaths === 0 ? 0 : 100 * 2 ** quickDeaths);
      log.warn({ pid: worker.process.pid, code, signal, restart_in_ms: delay }, 'worker died; starting a new one');
      setTimeout(() => {
        if (!stopping) fork();
      }, delay).unref();
    });
    return s;
  };

  const n = args.workers;
  const ready = new Promise<void>((resolve, reject) => {
    cancelStart = (signal) => reject(Object.assign(new Error('stopped while starting'), { signal }));
    const check = (): void => {
      if (alive().length >= n) {
        cluster.off('message', onMsg);
        resolve();
      }
    };
    const onMsg = (_w: Worker, m: FromWorker): void => {
      if (m.t === 'tollgate:failed') {
        cluster.off('message', onMsg);
        reject(Object.assign(new Error('a worker could not start'), { issues: m.errors }));
      } else if (m.t === 'tollgate:ready') setImmediate(check);
    };
    cluster.on('message', onMsg);
    setTimeout(() => reject(new Error('workers did not start in time')), READY_TIMEOUT_MS).unref();
  });
  for (let i = 0; i < n; i++) fork();
  try {
    await ready;
  } catch (err) {
    stopping = true;
    const exits = [...states.values()].map((s) => once(s.worker, 'exit'));
    for (const s of states.values()) s.worker.kill();
    await Promise.all(exits);
    await inst.close(0);
    const signal = (err as { signal?: NodeJS.Signals }).signal;
    if (signal !== undefined) {
      log.info({ signal }, 'stopped while starting');
      return 0;
    }
    const issues = (err as { issues?: ConfigIssue[] }).issues;
    return startFailed(
      issues !== undefined ? new (await import('../errors.ts')).ConfigError(issues) : err,
      args.config,
      args.kongIgnored,
    );
  }
  // From here until the drain handler below is in place (the file watcher starts first), a stop
  // signal is held and raised again once that handler can take it.
  let heldSignal: NodeJS.Signals | null = null;
  cancelStart = (signal) => {
    heldSignal ??= signal;
  };
  if (args.watch) await inst.startWatching();
  const heartbeat = (s: WorkerState): void => {
    s.pinging = true;
    ask(s, { t: 'tollgate:stats', id: ++seq }, HEARTBEAT_MS).then(
      () => {
        if (s.missed >= UNRESPONSIVE_AFTER) log.info({ pid: s.worker.process.pid }, 'worker responding again');
        s.missed = 0;
        s.answeredAt = Date.now();
        s.pinging = false;
      },
      () => {
        s.pinging = false;
        if (stopping || s.worker.isDead()) return;
        const before = s.missed;
        s.missed = Math.max(before + 1, Math.floor((Date.now() - s.answeredAt) / HEARTBEAT_MS));
        const pid = s.worker.process.pid;
        if (before < UNRESPONSIVE_AFTER && s.missed >= UNRESPONSIVE_AFTER)
          log.warn({ pid, missed: s.missed }, 'worker not responding');
        if (s.missed >= KILL_AFTER) {
          log.error({ pid, missed: s.missed }, 'worker not responding; killing it');
          s.worker.process.kill('SIGKILL');
        }
      },
    );
  };
  setInterval(() => {
    for (const s of alive()) if (!s.pinging) heartbeat(s);
  }, HEARTBEAT_MS).unref();
  log.info(
    {
      version: VERSION,
      tree: TREE,
      pid: process.pid,
      proxy: (alive()[0]?.listeners ?? []).map((l) => `${l.ip}:${l.port}`),
      admin: inst.adminAddresses,
      status: inst.statusAddresses,
      config: inst.options.configFile,
      routes: inst.runtime.routes.length,
      watch: args.watch,
      workers: n,
    },
    'listening',
  );
  warnKongIgnored(log, args);
  onHangup(() => void inst.reload({ trigger: 'signal' }));
  const grace = (): number => inst.runtime.config.settings.shutdown_grace_period;
  const stopped = onStopSignals(
    log,
    async (signal) => {
      stopping = true;
      inst.beginDrain();
      log.info({ signal, grace_ms: grace(), workers: states.size }, 'shutting down');
      await inst.watcher?.close();
      const exits = [...states.values()].map(
        (s) => new Promise<void>((r) => (s.worker.isDead() ? r() : s.worker.once('exit', () => r()))),
      );
      for (const s of states.values()) send(s.worker, { t: 'tollgate:shutdown' });
      // Workers drain for the grace period themselves; past it (and a margin), stop waiting.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(exits), new Promise<void>((r) => (timer = setTimeout(r, grace() + 2000)))]);
      clearTimeout(timer);
      for (const s of states.values()) if (!s.worker.isDead()) s.worker.process.kill('SIGKILL');
      await inst.close(0);
    },
    () => {
      for (const s of states.values()) s.worker.process.kill('SIGKILL');
    },
  );
  process.off('SIGTERM', earlyStop);
  process.off('SIGINT', earlyStop);
  if (heldSignal !== null) process.kill(process.pid, heldSignal);
  return stopped;
}

function metricsRestarts(m: GatewayMetrics): number {
  return (m as unknown as { workers: { restarts: number } }).workers.restarts;
}

const abandon = abandonPrepared;

// ---------------------------------------------------------------------------------------------
// Worker

export async function runWorker(args: StartArgs): Promise<number> {
  const reply = (m: FromWorker): void => {
    if (process.connected) process.send!(m);
  };
  const init = await new Promise<string>((resolve) => {
    const on = (m: ToWorker): void => {
      if (m.t === 'tollgate:init') {
        process.off('message', on);
        resolve(m.text);
      }
    };
    process.on('message', on);
    reply({ t: 'tollgate:hello' });
  });
  const metrics = new GatewayMetrics({ traffic: true, reloads: false, process: true });
  let inst: TollgateInstance;
  try {
    inst = await TollgateInstance.start({
      configFile: args.config,
      configText: init,
      proxyListen: args.proxyListen,
      adminListen: [],
      statusListen: [],
      kongDefaultCertificate: args.kongDefaultCertificate,
      logLevel: args.logLevel,
      accessLog: args.accessLog,
      watch: false,
      metrics,
      // The primary reports restart-only changes once for all workers.
      restartSettings: [],
    });
  } catch (err) {
    const errors = toIssues(err, args.config);
    const code = startFailed(err, args.config);
    // The IPC channel alone keeps a worker alive: a replacement that cannot start (a referenced
    // file gone since) would otherwise stay, never serving and never replaced, and keep /ready at
    // 503. Exit once the primary has the reason; it restarts the worker with its growing delay.
    // (Disconnecting instead would exit 0: node's cluster child takes that for a lost primary.)
    if (process.connected)
      await new Promise<void>((r) => process.send!({ t: 'tollgate:failed', errors } satisfies FromWorker, () => r()));
    process.exit(code);
  }
  // Built now, so Node's process metrics (event-loop lag, GC) observe from the start; the primary
  // asks for them with `tollgate:metrics` only once this worker serves.
  void metrics.registry;
  const pending = new Map<number, Prepared>();
  let closing: Promise<void> | null = null;
  const shutdown = (): Promise<void> => (closing ??= inst.close());
  process.on('message', (m: ToWorker) => {
    switch (m.t) {
      case 'tollgate:prepare':
        void inst.prepare(m.text).then(async (p) => {
          if ('errors' in p) return reply({ t: 'tollgate:reply', id: m.id, ok: false, errors: p.errors });
          const refusal = inst.refusal(p);
          if (refusal !== null) {
            await abandon(p);
            return reply({ t: 'tollgate:reply', id: m.id, ok: false, errors: [refusal] });
          }
          pending.set(m.id, p);
          reply({ t: 'tollgate:reply', id: m.id, ok: true, hash: p.config.source.hash });
        });
        return;
      case 'tollgate:commit': {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (p !== undefined) {
          inst.commit(p);
          inst.succeeded(p.config.source.hash, new Date(), { trigger: m.trigger });
        }
        reply({ t: 'tollgate:reply', id: m.id, ok: p !== undefined });
        return;
      }
      case 'tollgate:abort': {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (p !== undefined) void abandon(p);
        return;
      }
      case 'tollgate:stats':
        reply({ t: 'tollgate:reply', id: m.id, ok: true, stats: inst.localConnections() });
        return;
      case 'tollgate:metrics':
        void metrics.registry
          .getMetricsAsJSON()
          .then((json) => reply({ t: 'tollgate:reply', id: m.id, ok: true, metrics: json }));
        return;
      case 'tollgate:health':
        reply({ t: 'tollgate:reply', id: m.id, ok: true, health: localHealth(inst.runtime) });
        return;
      case 'tollgate:shutdown':
        void shutdown().then(() => inst.log.flush(() => process.exit(0)));
        return;
    }
  });
  // The primary owns the config: a hangup of the terminal must not reload one worker alone.
  process.on('SIGHUP', () => undefined);
  // Losing the primary means nobody coordinates reloads or replaces workers: drain and leave.
  // node's cluster child calls process.exit() on a disconnect it did not ask for, before this
  // listener runs, which cut every request in flight: marking the exit as expected stops that.
  cluster.worker!.exitedAfterDisconnect = true;
  process.on('disconnect', () => void shutdown().then(() => inst.log.flush(() => process.exit(0))));
  reply({ t: 'tollgate:ready', listeners: inst.proxyListeners, hash: inst.runtime.config.source.hash });
  return onStopSignals(inst.log, () => shutdown());
}
