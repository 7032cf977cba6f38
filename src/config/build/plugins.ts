/**
 * The plugin checks: each plugin instance names an installed plugin, respects its consumer
 * scoping, and has a config its plugin's schema accepts (defaults applied in place).
 */
import {
  HTTP_ONLY_PLUGINS,
  HTTP_PROTOCOLS,
  kongFieldIssues,
  kongPluginRefusal,
  redisShorthandConflicts,
} from '../kong-plugins.ts';
import { suggest, validatePluginConfig } from '../schema.ts';
import { knownSecrets } from '../secrets.ts';
import { type Build, drain, type Steps } from './state.ts';

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
      b.err(
        'UNKNOWN_PLUGIN',
        `plugin '${p.model.name}' is not installed${hint ? ` (did you mean '${hint}'?)` : ''}; ${known.length ? `known plugins: ${known.join(', ')}` : 'no plugins are installed'}`,
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
    if (HTTP_ONLY_PLUGINS.has(def.name)) {
      p.model.protocols.forEach((proto, i) => {
        if (!HTTP_PROTOCOLS.includes(proto))
          b.err(
            'SCHEMA',
            `plugin '${def.name}' works on HTTP requests only: expected one of: ${HTTP_PROTOCOLS.join(', ')}`,
            [...p.path, 'protocols', i],
          );
      });
    }
    let refused = false;
    for (const [at, message, severity] of kongFieldIssues(def.name, p.model.config)) {
      if (severity === 'warning') b.warn('PLUGIN_CONFIG', message, [...p.path, 'config', ...at]);
      else {
        b.err('PLUGIN_CONFIG', message, [...p.path, 'config', ...at]);
        refused = true;
      }
    }
    if (refused) continue;
    for (const [field, message] of redisShorthandConflicts(def.name, p.model.config))
      b.err('PLUGIN_CONFIG', message, [...p.path, 'config', field]);
    b.issues.push(...validatePluginConfig(def, p.model.config, [...p.path, 'config'], b.plain));
  }
}
