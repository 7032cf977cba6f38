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
 * Other vaults (aws, gcp, hcv, azure, conjur, or a `vaults` entity's prefix) are refused with the
 * way out: `${NAME}` or `${file:path}`.
 */

export interface VaultToken {
  /** The reference as written, for messages. */
  vault: string;
  /** The environment variable it names. */
  env: string;
  /** The JSON member to take from the variable's value; null for the whole value. */
  key: string | null;
}

const PREFIX = '{vault://';

/** Whether a value is a reference (Kong's `is_reference`: the whole value, braces included). */
export function isVaultReference(v: string): boolean {
  return v.length > PREFIX.length + 1 && v.startsWith(PREFIX) && v.endsWith('}');
}

/** The variable a reference names, or why it cannot be resolved here. */
export function parseVaultReference(reference: string): VaultToken | string {
  const shown = reference.length > 80 ? `${reference.slice(0, 80)}…` : reference;
  let url: URL;
  try {
    url = new URL(reference.slice(1, -1));
  } catch {
    return `invalid vault reference ${shown}: write {vault://env/<name>}`;
  }
  const vault = url.hostname;
  if (vault !== 'env') {
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
  let prefix = '';
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
