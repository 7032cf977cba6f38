/**
 * Kong's secret references, `{vault://env/name}`: a whole string value naming a secret in a
 * vault. Kong's built-in `env` vault is the one a DB-less file can use without a `vaults` entity,
 * and the one Tollgate resolves, as Kong does (kong/vaults/env, kong/pdk/vault.lua):
 *
 * - `{vault://env/my-secret}` is the environment variable `MY_SECRET` (upper-cased, `-` → `_`);
 * - `{vault://env/my-secret/field}` is the `field` member of that variable's JSON object;
 * - `?prefix=app-` is put before the name (`APP_MY_SECRET`);
 * - `#2`, the previous version, is `MY_SECRET_PREVIOUS`.
 *
 * A `vaults` entity of the env vault (Kong OSS's only one) names it under its `prefix`, with its
 * `config.prefix` put before the variable's name (a reference's `?prefix=` wins, as in Kong's
 * get_vault_config_and_hash). Other vaults (aws, gcp, hcv, azure, conjur) are refused with the
 * way out: `${NAME}` or `${file:path}`.
 */
import { formatYamlPath } from '../errors.ts';
import type { RawIssue } from './yaml.ts';

export interface VaultToken {
  /** The reference as written, for messages. */
  vault: string;
  /** The environment variable it names. */
  env: string;
  /** The JSON member to take from the variable's value; null for the whole value. */
  key: string | null;
}

const PREFIX = '{vault://';

/** A vault's prefix → the variable-name prefix its references use ('' for none). */
export type EnvVaults = ReadonlyMap<string, string>;

/** `env` alone: what a file without `vaults` entities can name. */
const BUILT_IN: EnvVaults = new Map([['env', '']]);

/**
 * The env vaults a file's `vaults` entities declare, and what Kong's vaults schema
 * (kong/db/schema/entities/vaults.lua) refuses beyond the file schema's shape checks: another
 * vault, the prefix of a bundled vault, a prefix declared twice. Read before the references are
 * resolved, so entries of the wrong shape are skipped here: the schema reports them.
 */
export function envVaults(list: unknown): { vaults: EnvVaults; issues: RawIssue[] } {
  const vaults = new Map(BUILT_IN);
  const issues: RawIssue[] = [];
  if (!Array.isArray(list)) return { vaults, issues };
  const first = new Map<string, number>();
  list.forEach((v: unknown, i) => {
    if (v === null || typeof v !== 'object') return;
    const { name, prefix, config } = v as { name?: unknown; prefix?: unknown; config?: unknown };
    if (typeof name === 'string' && name !== 'env') {
      issues.push({
        code: 'SCHEMA',
        message: `vault '${name}' is not installed: Tollgate has Kong's env vault only; use \${NAME} or \${file:path} for other secrets`,
        path: ['vaults', i, 'name'],
      });
      return;
    }
    if (typeof prefix !== 'string' || name !== 'env') return;
    if (BUILT_IN.has(prefix)) {
      issues.push({
        code: 'SCHEMA',
        message: `must not be one of: ${[...BUILT_IN.keys()].join(', ')}`,
        path: ['vaults', i, 'prefix'],
      });
      return;
    }
    const seen = first.get(prefix);
    if (seen !== undefined) {
      issues.push({
        code: 'UNIQUENESS',
        message: `uniqueness violation: 'vaults' entity with prefix set to '${prefix}' already declared (at ${formatYamlPath(['vaults', seen])})`,
        path: ['vaults', i, 'prefix'],
      });
      return;
    }
    first.set(prefix, i);
    const settings = config !== null && typeof config === 'object' ? (config as Record<string, unknown>) : {};
    // Kong Gateway's env vault decodes base64 values when asked; decK writes its default, false.
    if (settings.base64_decode === true)
      issues.push({
        code: 'UNKNOWN_FIELD',
        message:
          "'base64_decode: true' is a Kong Gateway setting of the env vault that Tollgate does not support: put the decoded value in the variable, or read it from a file with ${file:path}",
        path: ['vaults', i, 'config', 'base64_decode'],
      });
    const own = settings.prefix;
    vaults.set(prefix, typeof own === 'string' ? own : '');
  });
  return { vaults, issues };
}

/** Whether a value is a reference (Kong's `is_reference`: the whole value, braces included). */
export function isVaultReference(v: string): boolean {
  return v.length > PREFIX.length + 1 && v.startsWith(PREFIX) && v.endsWith('}');
}

/** The variable a reference names, or why it cannot be resolved here. */
export function parseVaultReference(reference: string, vaults: EnvVaults = BUILT_IN): VaultToken | string {
  const shown = reference.length > 80 ? `${reference.slice(0, 80)}…` : reference;
  let url: URL;
  try {
    url = new URL(reference.slice(1, -1));
  } catch {
    return `invalid vault reference ${shown}: write {vault://env/<name>}`;
  }
  const vault = url.hostname;
  const configured = vaults.get(vault);
  if (configured === undefined) {
    return `vault '${vault}' is not available (${shown}): Tollgate resolves Kong's env vault only ({vault://env/<name>}); use \${NAME} or \${file:path} for other secrets`;
  }
  const parts = url.pathname.slice(1).split('/');
  const isDirectory = parts.length > 1 && parts.at(-1) === '';
  if (isDirectory) parts.pop();
  if (parts.length === 0 || parts[0] === '') return `vault reference ${shown} names no secret`;
  let resource: string;
  let key: string | null = null;
  try {
    if (parts.length === 1 || isDirectory) resource = decodeURIComponent(parts.join('/'));
    else {
      resource = decodeURIComponent(parts.slice(0, -1).join('/'));
      key = decodeURIComponent(parts.at(-1)!);
    }
  } catch {
    return `invalid vault reference ${shown}: bad percent-encoding`;
  }
  let prefix = configured;
  for (const [name, value] of url.searchParams) {
    if (name !== 'prefix') return `vault reference ${shown}: the env vault takes only 'prefix', not '${name}'`;
    prefix = value;
  }
  let version = 1;
  if (url.hash !== '') {
    version = Number(url.hash.slice(1));
    if (!Number.isInteger(version)) return `vault reference ${shown} has an invalid version`;
  }
  const env = `${prefix}${resource}`.toUpperCase().replaceAll('-', '_') + (version === 2 ? '_PREVIOUS' : '');
  return { vault: reference, env, key };
}

/** The referenced value, given the variable's: the variable itself, or its JSON object's member. */
export function vaultValue(token: VaultToken, raw: string): string | { error: string } {
  if (token.key === null) return raw;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // The value itself must not be quoted: it is a secret.
    return { error: `${token.vault}: environment variable ${token.env} is not a JSON object` };
  }
  const member =
    parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)[token.key]
      : undefined;
  if (typeof member === 'string') return member;
  if (typeof member === 'number' || typeof member === 'boolean') return String(member);
  return { error: `${token.vault}: environment variable ${token.env} has no '${token.key}' member` };
}
