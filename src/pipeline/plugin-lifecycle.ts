// What the gateway runs of a plugin instance besides its phases: a bounded create(), the
// validate-time checkFiles() and close(). A custom plugin's hook that never settles must not hold
// a load, a `gateway validate` run, a retired runtime or a shutdown.
import type { Logger } from '../log.ts';
import type { PluginHandlers } from './plugin.ts';
import type { PluginInstance } from './runtime.ts';

/**
 * `value`, or a rejection once `ms` have passed without it settling. Handlers that arrive after the
 * deadline belong to no runtime, so nothing else would ever close them: their `close()` runs at
 * once (a create() that opened a connection or a timer before its slow step would otherwise keep
 * it for the life of the process, one more with every reload that timed out).
 */
export function settleWithin(
  result: PluginHandlers | PromiseLike<PluginHandlers>,
  ms: number,
): Promise<PluginHandlers> {
  if (typeof (result as { then?: unknown } | null)?.then !== 'function') return Promise.resolve(result);
  const value = Promise.resolve(result);
  let late = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(new Error(`create() did not settle within ${ms} ms (_tollgate.plugin_create_timeout)`));
    }, ms);
  });
  value.then(
    (handlers) => {
      if (!late) return;
      const close = (handlers as Partial<PluginHandlers> | null)?.close;
      if (typeof close !== 'function') return;
      // A close() that throws or rejects has nowhere to report to: the reload was already refused.
      Promise.resolve()
        .then(() => close.call(handlers))
        .catch(() => {});
    },
    () => {}, // a rejection after the deadline is not an unhandled one
  );
  return Promise.race([value, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Runs an instance's `close()`: a throw or rejection is logged under the plugin's name (unawaited,
 * it ended the process at the next reload); a custom plugin's is bounded by `plugin_timeout` (one
 * that never settled held the runtime's pools and shared resources, and a shutdown, forever).
 */
export function closeInstance(inst: PluginInstance, log: Logger): Promise<void> | undefined {
  const close = inst.handlers.close;
  if (close === undefined) return;
  const failed = (err: unknown): void =>
    log.error({ plugin: inst.name, err: err instanceof Error ? err.message : String(err) }, 'plugin close failed');
  let result: unknown;
  try {
    result = close.call(inst.handlers);
  } catch (err) {
    failed(err);
    return;
  }
  if (typeof (result as { then?: unknown } | null)?.then !== 'function') return;
  const closing = Promise.resolve(result as PromiseLike<void>).then(() => undefined, failed);
  if (inst.timeout === 0) return closing;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      log.error({ plugin: inst.name, timeout_ms: inst.timeout }, 'plugin close timed out');
      resolve();
    }, inst.timeout);
  });
  return Promise.race([closing, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Runs an instance's `checkFiles()` for `gateway validate`, bounded by `ms`
 * (plugin_create_timeout): what it finds, it reports through `context.warn` while it runs. A
 * throw, a rejection or a check that does not settle is the plugin's error, as a failing create() is.
 */
export async function checkFilesWithin(handlers: PluginHandlers, ms: number): Promise<void> {
  const check = handlers.checkFiles;
  if (check === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`checkFiles() did not settle within ${ms} ms (_tollgate.plugin_create_timeout)`)),
      ms,
    );
  });
  try {
    await Promise.race([Promise.resolve().then(() => check.call(handlers)), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
