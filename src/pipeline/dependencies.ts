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
}

/** Every dependency the instances report, once per kind and target (instances often share one). */
export function dependencyHealth(plugins: readonly PluginInstance[]): { plugin: string; health: DependencyHealth }[] {
  const seen = new Set<string>();
  const out: { plugin: string; health: DependencyHealth }[] = [];
  for (const inst of plugins) {
    const report = inst.handlers.health;
    if (report === undefined) continue;
    let list: readonly DependencyHealth[];
    try {
      list = report.call(inst.handlers);
    } catch {
      continue;
    }
    for (const h of list) {
      const key = `${h.kind}\u0000${h.target}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ plugin: inst.name, health: h });
    }
  }
  return out;
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
  }));
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
