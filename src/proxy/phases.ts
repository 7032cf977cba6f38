// The phase runner: one loop runs a route's plugins for the access, response and log phases.
// It stays synchronous while every plugin answers synchronously (the common case costs no promise),
// and continues asynchronously from the first plugin that returns a promise.
//
// One rule for a plugin's failure, whatever the phase: a throw, a rejected promise or a step past
// its deadline is logged with the plugin's name and phase; the phase stops (later plugins of
// access and response build on the earlier ones; log plugins are independent observers, so the
// others still run); and if the client can still be answered it gets the catalogued error: the
// code of a ProxyError the plugin threw, PLUGIN_TIMEOUT for a deadline, PLUGIN_FAILED otherwise.
import { performance } from 'node:perf_hooks';
import { ProxyError, type ProxyErrorCode } from '../errors.ts';
import { inRequestLines, logCaptureActive, outsideRequestScope } from '../lib/log/capture.ts';
import type { LogEntry } from '../pipeline/plugin.ts';
import type { ResponseContext } from '../pipeline/response.ts';
import type { PipelineSlot, PluginInstance } from '../pipeline/runtime.ts';
import { clientWentAway, errInfo, type ProxyRequest } from './context.ts';
import { sendError, sendExit } from './reply.ts';

export type Phase = 'access' | 'response' | 'log';

/**
 * true: every plugin of the phase ran, go on. false: the phase stopped and the request is answered
 * (a plugin failed or called exit()) or gone. A promise of either once a plugin went asynchronous.
 */
export type PhaseResult = boolean | Promise<boolean>;

/**
 * The slot's instance for this request. Kong chooses it once per request, when its access iteration
 * reaches the plugin, with the consumer known at that moment (plugins_iterator.lua
 * get_next_and_collect), and its later phases run that choice: a consumer's instance of a plugin
 * that runs before the authenticating one is never chosen, and one plugin never runs two instances.
 */
export function pick(slot: PipelineSlot, rc: ProxyRequest, phase?: Phase): PluginInstance | null {
  let inst = slot.fallback;
  if (slot.byConsumer !== null) {
    const seen = rc.consumersSeen?.get(slot);
    const consumer = seen !== undefined ? seen : rc.consumer;
    if (phase === 'access') (rc.consumersSeen ??= new Map()).set(slot, consumer);
    if (consumer !== null) inst = slot.byConsumer.get(consumer.id) ?? slot.fallback;
  }
  if (inst === null) return null;
  if (rc.grpc) return (rc.scheme === 'http' ? inst.grpc : inst.grpcs) ? inst : null;
  return (rc.scheme === 'http' ? inst.http : inst.https) ? inst : null;
}

/** Runs the phase's handlers from slot `from` on. `arg` is the response (response phase) or the entry (log phase). */
export function runPhase(
  rc: ProxyRequest,
  phase: Phase,
  arg: ResponseContext | LogEntry | null,
  from = 0,
): PhaseResult {
  // The response and log phases run from callbacks of connections a request may share with
  // earlier ones (a pooled upstream connection keeps the async context of the request that
  // opened it): while OTLP log export captures, the handlers run in this request's own.
  if (logCaptureActive() && outsideRequestScope(rc)) return inRequestLines(rc, runPhase, rc, phase, arg, from);
  // Only the log phase runs without a route: the global plugins'.
  const slots = rc.pipeline.slots;
  for (let i = from; i < slots.length; i++) {
    const inst = pick(slots[i]!, rc, phase);
    if (inst === null) continue;
    const h = inst.handlers;
    let r: void | Promise<void>;
    try {
      if (phase === 'access') {
        if (h.access === undefined) continue;
        rc.accessPlugin = inst.name;
        r = h.access(rc);
      } else if (phase === 'response') {
        if (h.response === undefined) continue;
        const res = arg as ResponseContext;
        res.runningPlugin = inst.name;
        r = h.response(rc, res);
        res.runningPlugin = null;
      } else {
        if (h.log === undefined) continue;
        r = h.log(rc, arg as LogEntry) as void | Promise<void>;
      }
      // A thenable's `then` (a getter, or the call itself) is the plugin's code too: adopting it
      // here, inside the try, turns its throw into this plugin's failure. Outside, one thrown from
      // the log phase (run from the response's 'close' event) ended the process. A native promise
      // is returned as is.
      if (r != null && typeof (r as Promise<void>).then === 'function') r = Promise.resolve(r);
      else {
        r = undefined;
        if (phase === 'response') (arg as ResponseContext).settleHead();
      }
    } catch (err) {
      pluginFailed(rc, inst.name, phase, err);
      if (phase === 'log') continue;
      return false;
    }
    if (r !== undefined) {
      if (phase === 'log') {
        // The log phase never delays anything: its promise is not awaited, only its failure caught.
        watchLogPromise(rc, inst.name, r);
        continue;
      }
      return settle(rc, phase, arg, i, inst, r, performance.now());
    }
    if (phase === 'access' && (rc.exitStatus !== 0 || rc.finished)) return accessStopped(rc, inst);
  }
  return true;
}

async function settle(
  rc: ProxyRequest,
  phase: Phase,
  arg: ResponseContext | LogEntry | null,
  index: number,
  inst: PluginInstance,
  pending: Promise<void>,
  start: number,
): Promise<boolean> {
  try {
    await (inst.timeout > 0 ? withTimeout(pending, inst.timeout, rc) : pending);
    if (phase === 'response') (arg as ResponseContext).settleHead();
  } catch (err) {
    recordStep(rc, inst.name, phase, start);
    pluginFailed(rc, inst.name, phase, err);
    return false;
  }
  recordStep(rc, inst.name, phase, start);
  if (phase === 'access' && (rc.exitStatus !== 0 || rc.finished)) return accessStopped(rc, inst);
  return runPhase(rc, phase, arg, index + 1);
}

/** A handler that waited (its I/O, for tracing plugins' child spans); only asynchronous steps are timed. */
function recordStep(rc: ProxyRequest, plugin: string, phase: Phase, start: number): void {
  if (phase === 'log') return;
  (rc.pluginSteps ??= []).push({ plugin, phase, start, end: performance.now() });
}

/** An access handler called exit() (answered here) or the request is already over. */
function accessStopped(rc: ProxyRequest, inst: PluginInstance): PhaseResult {
  if (rc.finished || rc.exitStatus === 0) return false;
  const sending = sendExit(rc, inst.name);
  return sending === undefined ? false : sending.then(returnFalse);
}

function returnFalse(): false {
  return false;
}

function watchLogPromise(rc: ProxyRequest, plugin: string, p: Promise<void>): void {
  p.then(undefined, (err: unknown) => pluginFailed(rc, plugin, 'log', err));
}

/**
 * `p`, or PLUGIN_TIMEOUT after `ms`. While the plugin waits for the client's body (`readBody`),
 * the deadline is put off by another `ms`: an upload slower than plugin_timeout is the client's
 * pace, bounded by client_body_timeout (408), not a plugin that hangs (504).
 */
export function withTimeout(
  p: Promise<void>,
  ms: number,
  rc: { readonly bodyReads: number; readonly finished: boolean },
): Promise<void> {
  return new Promise((resolve, reject) => {
    let t: NodeJS.Timeout;
    const expire = (): void => {
      if (rc.bodyReads > 0 && !rc.finished) t = setTimeout(expire, ms);
      else reject(new ProxyError('PLUGIN_TIMEOUT'));
    };
    t = setTimeout(expire, ms);
    p.then(
      () => {
        clearTimeout(t);
        resolve();
      },
      (err: unknown) => {
        clearTimeout(t);
        reject(err);
      },
    );
  });
}

/**
 * The one rule for a plugin's failure (see the top of this file). `plugin` is null when the failing
 * code cannot be traced to a plugin. A ProxyError is the plugin's deliberate answer: logged at debug.
 */
export function pluginFailed(rc: ProxyRequest, plugin: string | null, phase: Phase, err: unknown): void {
  // The failing plugin ended the request (Kong's `source`), unless it only observed it.
  if (phase !== 'log' && plugin !== null && !rc.finished) rc.source = plugin;
  const code: ProxyErrorCode = err instanceof ProxyError ? err.code : 'PLUGIN_FAILED';
  const fields = { plugin: plugin ?? undefined, phase, request_id: rc.id, err: errInfo(err) };
  if (code === 'PLUGIN_TIMEOUT') rc.gw.log.error(fields, 'plugin timed out');
  else if (code !== 'PLUGIN_FAILED') rc.gw.log.debug(fields, 'plugin answered with a catalogued error');
  else if (clientWentAway(rc, err)) rc.gw.log.info(fields, 'the client went away while a plugin read its request');
  else rc.gw.log.error(fields, phase === 'log' ? 'log phase failed' : 'plugin failed');
  if (phase === 'log' || rc.finished) return;
  if (rc.res.headersSent) {
    // Too late for a status: a clean end would pass a cut response off as complete.
    rc.error ??= { code, message: err instanceof Error ? err.message : String(err) };
    rc.res.destroy();
    return;
  }
  sendError(rc, code);
}
