/**
 * Keeps the generated parts of schemas/gateway.schema.json in step with the plugin registry: for
 * every built-in plugin that has `schemas/plugins/<name>.schema.json`, the plugin entity gets
 * `if name is <name> then config is that schema`, and `name` lists the known names; the entity
 * kinds the plugins declare (credentials, acls) get their definitions and lists
 * (src/config/entity-schema.ts).
 *
 *   node --import tsx src/config/plugin-schema-refs.ts          # rewrite the schema
 *   node --import tsx src/config/plugin-schema-refs.ts --check  # exit 1 when it is stale
 *
 * test/config/plugin-schema-refs.test.ts runs the check, so registering a plugin without
 * regenerating fails the suite with the command to run.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PluginDefinition } from '../pipeline/plugin.ts';
import { withEntities } from './entity-schema.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const schemaFile = `${root}schemas/gateway.schema.json`;

/** The gateway schema text as it should be for these plugins. */
export function expectedSchemaText(plugins: Iterable<PluginDefinition>): string {
  const defs = [...plugins];
  const file = JSON.parse(readFileSync(schemaFile, 'utf8')) as { definitions: Record<string, Record<string, any>> };
  const schema = withEntities(
    file,
    defs.flatMap((p) => p.entities ?? []),
  );
  const names = [...new Set(defs.map((p) => p.name))]
    .filter((n) => existsSync(`${root}schemas/plugins/${n}.schema.json`))
    .sort();
  const plugin = schema.definitions.plugin!;
  plugin.allOf = names.map((n) => ({
    if: { properties: { name: { const: n } }, required: ['name'] },
    then: { properties: { config: { $ref: `plugins/${n}.schema.json` } } },
  }));
  // `examples` drive completion; any name stays valid (custom plugins are checked at load).
  plugin.properties.name = { type: 'string', minLength: 1, ...(names.length ? { examples: names } : {}) };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

export async function currentPlugins(): Promise<PluginDefinition[]> {
  const { builtinPlugins } = await import('../plugins/index.ts');
  return [...builtinPlugins.values()];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const want = expectedSchemaText(await currentPlugins());
  const have = readFileSync(schemaFile, 'utf8');
  if (process.argv.includes('--check')) {
    if (want !== have) {
      process.stderr.write(
        'schemas/gateway.schema.json is stale: run node --import tsx src/config/plugin-schema-refs.ts\n',
      );
      process.exitCode = 1;
    }
  } else if (want !== have) {
    writeFileSync(schemaFile, want);
    process.stdout.write('schemas/gateway.schema.json updated\n');
  }
}
