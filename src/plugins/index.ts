/**
 * The built-in plugins. Each lives in its own folder and uses only the public plugin API
 * (`src/pipeline/plugin.ts`, re-exported from `tollgate`). Add one import and one list entry per plugin.
 */
import type { PluginDefinition } from '../pipeline/plugin.ts';
import jwt from './jwt/index.ts';
import jwtClaims from './jwt-claims/index.ts';
import keyAuth from './key-auth/index.ts';
import acl from './acl/index.ts';
import oidc from './oidc/index.ts';

const builtins: PluginDefinition[] = [
  jwt,
  jwtClaims,
  keyAuth,
  acl,
  oidc,
];

/** Built-in plugins by name. */
export const builtinPlugins: ReadonlyMap<string, PluginDefinition> = new Map(builtins.map((p) => [p.name, p]));
