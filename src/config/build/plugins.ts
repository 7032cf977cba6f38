/**
 * The plugin checks: each plugin instance names an installed plugin, respects its consumer
 * scoping, and has a config its plugin's schema accepts (defaults applied in place).
 */
import { suggest, validatePluginConfig } from '../schema.ts';
import type { Build } from './state.ts';

export function pluginChecks(b: Build): void {
  for (const p of b.plugins) {
    const def = b.installed.get(p.model.name);
    if (!def) {
      const known = [...b.installed.keys()].sort();
      const hint = suggest(p.model.name, known);
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
        `plugin '${def.name}' cannot be applied to a consumer`,
        p.parent?.kind === 'consumer' ? p.path : [...p.path, 'consumer'],
      );
    }
    b.issues.push(...validatePluginConfig(def, p.model.config, [...p.path, 'config']));
  }
}
