/**
 * One worker of `gateway start --workers N`: it serves the proxy listeners it shares with the
 * other workers, starts from the config text its primary sends, and answers the primary's
 * questions (prepare, commit or abort a reload; connection counts, metrics, health; shutdown).
 * The primary's side is workers.ts.
 */
import cluster from 'node:cluster';
import { GatewayMetrics } from '../admin/metrics.ts';
import { abandonPrepared as abandon, TollgateInstance, toIssues } from '../instance.ts';
import type { Prepared } from '../instance-types.ts';
import { localHealth } from '../upstream/health-report.ts';
import { setTargetHealth } from '../upstream/target-health.ts';
import { onStopSignals, type StartArgs, startFailed } from './start.ts';
import type { FromWorker, ToWorker } from './worker-messages.ts';

const ignoreSendError = (): void => undefined;

export async function runWorker(args: StartArgs): Promise<number> {
  // With a callback: a primary killed a moment ago is still "connected" until this worker reads
  // the channel's end, and the write's EPIPE would otherwise be an 'error' event that ends this
  // worker at once, instead of the drain its 'disconnect' handler below runs.
  const reply = (m: FromWorker): void => {
    if (process.connected) process.send!(m, undefined, undefined, ignoreSendError);
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
      configString: args.configString,
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
      case 'tollgate:target-health': {
        const refused = setTargetHealth(inst.runtime, m.upstream, m.target, m.healthy);
        reply({ t: 'tollgate:reply', id: m.id, ok: refused === null, refused });
        return;
      }
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
