import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type LoadOptions, loadConfigText } from '../../src/config/load.ts';
import type { GatewayConfig } from '../../src/config/model.ts';
import { ConfigError, type ConfigIssue } from '../../src/errors.ts';
import { definePlugin, type PluginDefinition } from '../../src/pipeline/plugin.ts';
import acl from '../../src/plugins/acl/index.ts';
import jwt from '../../src/plugins/jwt/index.ts';
import keyAuth from '../../src/plugins/key-auth/index.ts';
import { tempDir } from '../support/temp.ts';

/** A plugin with a small closed schema, so tests do not depend on other engineers' plugins. */
export const testPlugin = definePlugin({
  name: 'test-limit',
  version: '1.0.0',
  priority: 900,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      minute: { type: 'integer', minimum: 1, maximum: 1000000 },
      header: { type: 'string', default: 'x-limit' },
    },
  },
  create: () => ({}),
});
export const authPlugin = definePlugin({
  name: 'test-auth',
  version: '1.0.0',
  priority: 1000,
  consumerScoped: false,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create: () => ({}),
});
/** The test plugins, plus the built-in plugins that own the credential and acl entities the tests declare. */
export const testPlugins: ReadonlyMap<string, PluginDefinition> = new Map([
  [testPlugin.name, testPlugin],
  [authPlugin.name, authPlugin],
  ...[jwt, keyAuth, acl].map((p) => [p.name, p] as const),
]);

export function tmpDir(): string {
  return tempDir('tollgate-config');
}

export function writeTmp(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

export async function load(text: string, opts: LoadOptions = {}, file = 'test.yaml'): Promise<GatewayConfig> {
  return loadConfigText(text, file, { env: {}, plugins: testPlugins, ...opts });
}

/** The issues a text fails with (throws if it loads). */
export async function issuesOf(text: string, opts: LoadOptions = {}, file = 'test.yaml'): Promise<ConfigIssue[]> {
  try {
    await load(text, opts, file);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  throw new Error('expected the config to be invalid');
}

/** `LINE:COL path message` lines, for compact assertions. */
export function brief(issues: ConfigIssue[]): string[] {
  return issues.map((i) => `${i.line}:${i.col} ${i.path} ${i.message}`);
}

export const V3 = '_format_version: "3.0"\n';
