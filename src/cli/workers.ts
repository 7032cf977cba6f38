/**
 * `gateway start --workers N`: N processes share the proxy listeners through node:cluster.
 *
 * This file is the primary's lifecycle: it serves no traffic, holds the admin and status
 * listeners, the config watcher and the reload protocol (primary-coordinator.ts); it forks the
 * workers (worker-process.ts), waits for them to serve, pings them (a worker that stops answering
 * is reported, then killed), replaces one that dies (counted, with a growing delay when they die
 * young; the replacement starts from the serving text) and stops them in order.
 */
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { SocketAddress } from 'node:net';
import { GatewayMetrics } from '../admin/metrics.ts';
import { restartOnlySettings } from '../config/restart-settings.ts';
import type { ConfigIssue } from '../errors.ts';
import { TollgateInstance } from '../instance.ts';
import { ensureRunSeed } from '../lib/run-secret.ts';
import { TREE, VERSION } from '../version.ts';
import { STOP_SIGNALS } from './kong-signals.ts';
import { primaryCoordinator } from './primary-coordinator.ts';
import { onStopSignals, type StartArgs, startFailed, warnKongIgnored } from './start.ts';
import type { FromWorker } from './worker-messages.ts';
import {
  HEARTBEAT_MS,
  KILL_AFTER,
  newWorkerState,
  UNRESPONSIVE_AFTER,
  WorkerPool,
  type WorkerState,
} from './worker-pool.ts';

const READY_TIMEOUT_MS = 60_000;

export async function runPrimary(
  args: StartArgs,
  onHangup: (reload: () => void) => void,
  handOverStop: () => void,
): Promise<number> {
  const metrics = new GatewayMetrics({ traffic: false, reloads: true, process: false });
  metrics.registerWorkers();
  // Set once the instance is up; workers talk to the primary only after that.
  let inst!: TollgateInstance;
  let stopping = false;
  let quickDeaths = 0;

  const pool = new WorkerPool();
  const { states } = pool;
  const alive = (): WorkerState[] => pool.alive();
  const send = pool.send.bind(pool);
  const coordinator = primaryCoordinator(pool, metrics, args.workers);

  // Before any fork: workers inherit the run's seed, so keys generated for this run agree.
  ensureRunSeed();
  try {
    inst = await TollgateInstance.start({
      configFile: args.config,
      configString: args.configString,
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
  // SIGTERM, SIGINT or SIGQUIT while the workers start: by default it ended the primary at once (exit 143),
  // and the starting workers printed EPIPE traces as their channel broke. Stop them in order instead.
  // Installed before the line below says workers start: a signal is handled from the next turn on,
  // when `cancelStart` is set.
  let cancelStart: (signal: NodeJS.Signals) => void = () => undefined;
  const earlyStop = (signal: NodeJS.Signals): void => cancelStart(signal);
  handOverStop();
  for (const s of STOP_SIGNALS) process.on(s, earlyStop);
  // The admin listener answers from here on: /ready says 503 until every worker serves.
  log.info({ pid: process.pid, admin: inst.adminAddresses, workers: args.workers }, 'starting workers');
  const fork = (): WorkerState => {
    const worker = cluster.fork();
    const s = newWorkerState(worker);
    states.set(worker.id, s);
    worker.on('message', (m: FromWorker) => {
      if (m.t === 'tollgate:reply') pool.answered(worker, m);
      else if (m.t === 'tollgate:hello') {
        // The worker listens for messages only once its modules have loaded: it asks when it can hear.
        send(worker, { t: 'tollgate:init', text: inst.configText });
      } else if (m.t === 'tollgate:ready') {
        s.ready = true;
        s.answeredAt = Date.now();
        s.hash = m.hash;
        s.listeners = m.listeners;
        metrics.workerStarted(alive().length);
        if (pool.retryWhenReady) {
          pool.retryWhenReady = false;
          void inst.reload({ trigger: 'api' }).catch(() => undefined);
        } else if (m.hash !== inst.runtime.config.source.hash) {
          // It started on the text serving when it asked, and another was swapped in since (a
          // POST /config among them, which the file does not have): the serving text, not the file.
          void inst.reload({ trigger: 'api', serving: true }).catch(() => undefined);
        }
      }
    });
    worker.once('exit', (code, signal) => {
      pool.exited(worker);
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
    pool.ask(s, { t: 'tollgate:stats', id: pool.nextId() }, HEARTBEAT_MS).then(
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
      proxy: (alive()[0]?.listeners ?? []).map((l) => `${boundIp(String(l.ip))}:${l.port}`),
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
  for (const s of STOP_SIGNALS) process.off(s, earlyStop);
  if (heldSignal !== null) process.kill(process.pid, heldSignal);
  return stopped;
}

/**
 * The address a worker's listener is bound at, as --workers 1 logs it: GET /'s listener shows an
 * IPv6 one in Kong's expanded form (`[0000:...:0001]`), the log line the short one (`[::1]`).
 */
function boundIp(ip: string): string {
  if (!ip.startsWith('[')) return ip;
  return `[${new SocketAddress({ address: ip.slice(1, -1), family: 'ipv6' }).address}]`;
}
