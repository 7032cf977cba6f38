// Running a route's plugins in a phase: which instance runs (consumer-specific or not, protocols),
// the deadline of an async step, and what a plugin's failure turns into.
import { ProxyError } from '../errors.ts';
import { LogEntryImpl, type ResponseContext } from '../pipeline/request.ts';
import type { PipelineSlot, PluginInstance } from '../pipeline/runtime.ts';
import { errInfo, type ProxyRequest } from './context.ts';
import { sendError } from './reply.ts';

export function pick(slot: PipelineSlot, rc: ProxyRequest): PluginInstance | null {
  const inst =
    slot.byConsumer !== null && rc.consumer !== null
      ? (slot.byConsumer.get(rc.consumer.id) ?? slot.fallback)
      : slot.fallback;
  if (inst === null) return null;
  return (rc.scheme === 'http' ? inst.http : inst.https) ? inst : null;
}

export function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new ProxyError('PLUGIN_TIMEOUT')), ms);
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

export function pluginFailed(rc: ProxyRequest, inst: PluginInstance, err: unknown): void {
  const timedOut = err instanceof ProxyError && err.code === 'PLUGIN_TIMEOUT';
  rc.gw.log.error(
    { plugin: inst.name, request_id: rc.id, err: errInfo(err) },
    timedOut ? 'plugin timed out' : 'plugin failed',
  );
  sendError(rc, timedOut ? 'PLUGIN_TIMEOUT' : 'PLUGIN_FAILED');
}

/** A plugin's phase failed: carries the plugin so the log line and the status can name it. */
export class PhaseError extends Error {
  constructor(
    readonly inst: PluginInstance,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

export function runResponsePhase(rc: ProxyRequest, res: ResponseContext): Promise<void> | null {
  const slots = rc.compiled!.pipeline.slots;
  for (let i = 0; i < slots.length; i++) {
    const inst = pick(slots[i]!, rc);
    if (inst === null || inst.handlers.response === undefined) continue;
    let r: void | Promise<void>;
    try {
      r = inst.handlers.response(rc, res);
    } catch (err) {
      throw new PhaseError(inst, err);
    }
    if (r !== undefined) return continueResponsePhase(rc, res, i, r, inst);
  }
  return null;
}

async function continueResponsePhase(
  rc: ProxyRequest,
  res: ResponseContext,
  index: number,
  pending: Promise<void>,
  inst: PluginInstance,
): Promise<void> {
  try {
    await (inst.timeout > 0 ? withTimeout(pending, inst.timeout) : pending);
  } catch (err) {
    throw new PhaseError(inst, err);
  }
  const slots = rc.compiled!.pipeline.slots;
  for (let i = index + 1; i < slots.length; i++) {
    const next = pick(slots[i]!, rc);
    if (next === null || next.handlers.response === undefined) continue;
    try {
      const r = next.handlers.response(rc, res);
      if (r !== undefined) await (next.timeout > 0 ? withTimeout(r, next.timeout) : r);
    } catch (err) {
      throw new PhaseError(next, err);
    }
  }
}

export function runLogPhase(rc: ProxyRequest, latency: number): void {
  const slots = rc.compiled!.pipeline.slots;
  const entry = new LogEntryImpl(rc.status, rc.bytesSent, rc.bytesReceived, latency, rc.upstreamLatency, rc.error);
  for (let i = 0; i < slots.length; i++) {
    const inst = pick(slots[i]!, rc);
    if (inst === null || inst.handlers.log === undefined) continue;
    try {
      inst.handlers.log(rc, entry);
    } catch (err) {
      rc.gw.log.error({ plugin: inst.name, request_id: rc.id, err: errInfo(err) }, 'log phase failed');
    }
  }
}
