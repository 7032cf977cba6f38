/**
 * The plugin checks: each plugin instance names an installed plugin, respects its consumer
 * scoping, and has a config its plugin's schema accepts (defaults applied in place).
 */

import type { PluginConfigIssue } from '../../errors.ts';
import { HTTP_PROTOCOLS } from '../../lib/kong-config.ts';
import type { PluginDefinition } from '../../pipeline/plugin.ts';
import { kongPluginRefusal } from '../kong-plugins.ts';
import { validatePluginConfig } from '../schema.ts';
import { knownSecrets } from '../secrets.ts';
import { suggest } from '../suggest.ts';
import { type Build, drain, type PendingPlugin, type Steps } from './state.ts';

export function pluginChecks(b: Build): void {
  drain(pluginChecksSteps(b));
}

export function* pluginChecksSteps(b: Build): Steps {
  for (const p of b.plugins) {
    yield;
    const def = b.installed.get(p.model.name);
    if (!def) {
      const refusal = kongPluginRefusal(p.model.name);
      if (refusal !== null) {
        b.err('UNKNOWN_PLUGIN', refusal, [...p.path, 'name']);
        continue;
      }
      const known = [...b.installed.keys()].sort();
      // A name from a secret gets no "did you mean": the suggestion would tell what it is close to.
      const secret = knownSecrets().scrub(p.model.name) !== p.model.name;
      const hint = secret ? null : suggest(p.model.name, known);
      // Kong's words first (its plugins entity's subschema_error, "plugin '%s' not enabled; add it
      // to the 'plugins' configuration property"), then where Tollgate enables one.
      b.err(
        'UNKNOWN_PLUGIN',
        `plugin '${p.model.name}' not enabled${hint ? ` (did you mean '${hint}'?)` : ''}: it is neither built in nor listed in _tollgate.custom_plugins (Kong's 'plugins' configuration property); ${known.length ? `known plugins: ${known.join(', ')}` : 'no plugins are installed'}`,
        [...p.path, 'name'],
      );
      continue;
    }
    if (p.model.consumer && def.consumerScoped === false) {
      b.err(
        'SEMANTIC',
        // Kong's no_consumer plugins have a consumer field that must be null (typedefs.no_consumer).
        `value must be null: plugin '${def.name}' cannot be applied to a consumer`,
        p.parent?.kind === 'consumer' ? p.path : [...p.path, 'consumer'],
      );
    }
    if (def.protocols !== undefined) protocolIssues(b, p, def.name, def.protocols);
    if (def.configIssues !== undefined && pluginConfigIssues(b, p, def)) continue;
    b.issues.push(...validatePluginConfig(def, p.model.config, [...p.path, 'config'], b.plain));
  }
}

/**
 * Each protocol of the instance the plugin does not list, refused at its place: Kong's plugin
 * schemas restrict `protocols` (`typedefs.protocols_http` for the plugins that work on HTTP
 * requests), and an instance with only other protocols would be loaded and never run.
 */
function protocolIssues(b: Build, p: PendingPlugin, name: string, accepted: readonly string[]): void {
  const what = accepted.every((x) => HTTP_PROTOCOLS.includes(x))
    ? 'works on HTTP requests only'
    : 'does not work on this protocol';
  p.model.protocols.forEach((proto, i) => {
    if (!accepted.includes(proto))
      b.err('SCHEMA', `plugin '${name}' ${what}: expected one of: ${accepted.join(', ')}`, [...p.path, 'protocols', i]);
  });
}

/**
 * The plugin's own issues with its config as written, located under `config`; true when one is
 * an error (the config is refused, and its schema not checked: the field would be refused twice).
 * A plugin's bug (a throw, a malformed issue) is the plugin's located error, never the load's crash.
 */
function pluginConfigIssues(b: Build, p: PendingPlugin, def: PluginDefinition): boolean {
  const config = p.model.config;
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return false;
  let issues: readonly unknown[];
  try {
    issues = def.configIssues!(config as Record<string, unknown>);
    if (!Array.isArray(issues) || !issues.every(wellFormed))
      throw new Error('it must return a list of { at, message, severity }');
  } catch (err) {
    b.err(
      'PLUGIN_CREATE',
      `plugin '${def.name}': its configIssues failed: ${err instanceof Error ? err.message : String(err)}`,
      p.path,
    );
    return true;
  }
  let refused = false;
  for (const { at, message, severity } of issues as PluginConfigIssue[]) {
    const path = [...p.path, 'config', ...at];
    if (severity === 'warning') b.warn('PLUGIN_CONFIG', message, path);
    else {
      b.err('PLUGIN_CONFIG', message, path);
      refused = true;
    }
  }
  return refused;
}

/** An issue of the shape PluginConfigIssue promises: a JavaScript plugin's result is checked, not trusted. */
function wellFormed(i: unknown): i is PluginConfigIssue {
  const { at, message, severity } = (i ?? {}) as Partial<PluginConfigIssue>;
  return (
    Array.isArray(at) &&
    at.every((x) => typeof x === 'string' || (Number.isInteger(x) && x >= 0)) &&
    typeof message === 'string' &&
    (severity === 'error' || severity === 'warning')
  );
}
