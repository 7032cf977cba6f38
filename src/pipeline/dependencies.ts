// The plugins' outside dependencies: opened once a runtime will serve, reported in /status and metrics.
import type { Logger } from '../log.ts';
import type { DependencyHealth } from './plugin.ts';
import type { PluginInstance } from './runtime.ts';

/** One dependency as `GET /status` shows it. */
export interface DependencyReport {
  readonly plugin: string;
  readonly kind: string;
  readonly target: string;
  readonly healthy: boolean;
  readonly last_success: string | null;
  readonly last_error: string | null;
  readonly last_error_at: string | null;
  readonly failures: number;
  readonly keys: number | null;
  /** A delivery queue towards it (log receivers, trace collectors): entries waiting, delivered, dropped. */
  readonly queue_depth?: number;
  readonly sent?: number;
  readonly dropped?: number;
}

/**
 * Every dependency the instances report, once per kind and target (instances often share one),
 * an unhealthy report over a healthy one; the queues of several instances towards one receiver
 * (http-log on two routes) are added up.
 */
export function dependencyHealth(plugins: readonly PluginInstance[]): { plugin: string; health: DependencyHealth }[] {
  const seen = new Map<string, number>();
  const out: { plugin: string; health: DependencyHealth }[] = [];
  for (const inst of plugins) {
    const report = inst.handlers.health;
    if (report === undefined) continue;
    let list: unknown;
    try {
      list = report.call(inst.handlers);
    } catch {
      continue;
    }
    // A custom plugin's report is checked: a wrong shape (no list, a null entry, a date that is
    // no Date) failed GET /status and /metrics for the whole gateway, probes and scrapes included.
    if (!Array.isArray(list)) continue;
    for (const reported of list) {
      const h = wellFormed(reported);
      if (h === null) continue;
      const key = `${h.kind}\u0000${h.target}`;
      const at = seen.get(key);
      if (at === undefined) {
        seen.set(key, out.length);
        out.push({ plugin: inst.name, health: h });
        continue;
      }
      const prev = out[at]!.health;
      // Two clients of one target can differ (another Redis password or database): a failing one
      // must not hide behind a healthy one, so the unhealthy report is the one shown.
      if (prev.healthy && !h.healthy && (prev.queue === undefined || h.queue === undefined)) {
        out[at] = { plugin: inst.name, health: h };
        continue;
      }
      if (prev.queue !== undefined && h.queue !== undefined) {
        out[at]!.health = {
          ...prev,
          healthy: prev.healthy && h.healthy,
          failures: prev.failures + h.failures,
          queue: {
            depth: prev.queue.depth + h.queue.depth,
            sent: prev.queue.sent + h.queue.sent,
            dropped: prev.queue.dropped + h.queue.dropped,
          },
        };
      }
    }
  }
  return out;
}

/** A report as `DependencyHealth` says, optional parts dropped when malformed; null without kind, target or state. */
function wellFormed(r: unknown): DependencyHealth | null {
  if (r === null || typeof r !== 'object') return null;
  const h = r as Record<string, unknown>;
  if (typeof h.kind !== 'string' || typeof h.target !== 'string' || typeof h.healthy !== 'boolean') return null;
  const count = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null);
  const date = (v: unknown): Date | null => (v instanceof Date && !Number.isNaN(v.getTime()) ? v : null);
  const q = h.queue as Record<string, unknown> | null | undefined;
  const queue =
    q != null && typeof q === 'object' && count(q.depth) !== null && count(q.sent) !== null && count(q.dropped) !== null
      ? { depth: count(q.depth)!, sent: count(q.sent)!, dropped: count(q.dropped)! }
      : undefined;
  const keys = count(h.keys);
  return {
    kind: h.kind,
    target: h.target,
    healthy: h.healthy,
    lastSuccess: date(h.lastSuccess),
    lastError: typeof h.lastError === 'string' ? h.lastError : null,
    lastErrorAt: date(h.lastErrorAt),
    failures: count(h.failures) ?? 0,
    ...(keys === null ? null : { keys }),
    ...(queue === undefined ? null : { queue }),
  };
}

/** The dependencies as JSON for `GET /status`. */
export function dependencyReport(plugins: readonly PluginInstance[]): DependencyReport[] {
  return dependencyHealth(plugins).map(({ plugin, health: h }) => ({
    plugin,
    kind: h.kind,
    target: h.target,
    healthy: h.healthy,
    last_success: h.lastSuccess?.toISOString() ?? null,
    last_error: h.lastError,
    last_error_at: h.lastErrorAt?.toISOString() ?? null,
    failures: h.failures,
    keys: h.keys ?? null,
    ...(h.queue === undefined ? null : { queue_depth: h.queue.depth, sent: h.queue.sent, dropped: h.queue.dropped }),
  }));
}

/**
 * The reports of several processes (the workers of `--workers`) as one: per kind and target,
 * healthy only when every process's last attempt succeeded, counts and queues added up, the most
 * recent success and error.
 */
export function mergeDependencyReports(lists: readonly (readonly DependencyReport[])[]): DependencyReport[] {
  const byKey = new Map<string, DependencyReport>();
  const later = (a: string | null, b: string | null): string | null => (a === null ? b : b === null || a > b ? a : b);
  for (const list of lists) {
    for (const d of list) {
      const key = `${d.kind}\u0000${d.target}`;
      const prev = byKey.get(key);
      if (prev === undefined) {
        byKey.set(key, d);
        continue;
      }
      const newerError = d.last_error_at !== null && later(d.last_error_at, prev.last_error_at) === d.last_error_at;
      byKey.set(key, {
        plugin: prev.plugin,
        kind: prev.kind,
        target: prev.target,
        healthy: prev.healthy && d.healthy,
        last_success: later(prev.last_success, d.last_success),
        last_error: newerError ? d.last_error : prev.last_error,
        last_error_at: later(prev.last_error_at, d.last_error_at),
        failures: prev.failures + d.failures,
        keys: prev.keys === null ? d.keys : d.keys === null ? prev.keys : Math.min(prev.keys, d.keys),
        ...(prev.queue_depth === undefined && d.queue_depth === undefined
          ? null
          : {
              queue_depth: (prev.queue_depth ?? 0) + (d.queue_depth ?? 0),
              sent: (prev.sent ?? 0) + (d.sent ?? 0),
              dropped: (prev.dropped ?? 0) + (d.dropped ?? 0),
            }),
      });
    }
  }
  return [...byKey.values()];
}

/** Runs every instance's `open()`; a failure is logged and never stops the others or the runtime. */
export function openPlugins(plugins: readonly PluginInstance[], log: Logger): void {
  for (const inst of plugins) {
    const open = inst.handlers.open;
    if (open === undefined) continue;
    const failed = (err: unknown): void =>
      log.warn({ plugin: inst.name, error: err instanceof Error ? err.message : String(err) }, 'plugin open failed');
    try {
      const r = open.call(inst.handlers);
      if (r !== undefined && typeof (r as Promise<void>).then === 'function') (r as Promise<void>).catch(failed);
    } catch (err) {
      failed(err);
    }
  }
}
