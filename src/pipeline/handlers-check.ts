// What `create()` returned, checked before the instance joins a runtime: a wrong shape is a
// located PLUGIN_CREATE error at load, never a failure (or a silent leak) at request time.
import type { PluginHandlers } from './plugin.ts';

const PHASES = ['access', 'response', 'log', 'open', 'checkFiles', 'health', 'close'] as const;

/** The problem with a `create()` result, or null when it is an object of phase handlers. */
export function handlersProblem(handlers: unknown): string | null {
  if (handlers === null || typeof handlers !== 'object')
    return `create() returned ${handlers === null ? 'null' : typeof handlers}, not an object of phase handlers`;
  const h = handlers as Record<keyof PluginHandlers, unknown>;
  for (const phase of PHASES) {
    if (h[phase] !== undefined && typeof h[phase] !== 'function')
      return `create() returned a '${phase}' that is not a function`;
  }
  // Names loggers redact: a string here ('x-api-key') was read letter by letter, and the header
  // it named went to every log receiver in the clear.
  for (const list of ['secretHeaders', 'secretQueryParams'] as const) {
    const v = h[list];
    if (v !== undefined && !(Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '')))
      return `create() returned a '${list}' that is not a list of names`;
  }
  return null;
}
