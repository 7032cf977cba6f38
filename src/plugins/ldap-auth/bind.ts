// One LDAP simple bind on a fresh connection, through ldapjs (imported on first use).
import type { Client } from 'ldapjs';

export interface BindSettings {
  readonly ldap_host: string;
  readonly ldap_port: number;
  readonly ldaps: boolean;
  readonly start_tls: boolean;
  readonly verify_ldap_host: boolean;
  readonly timeout: number;
}

type Ldapjs = typeof import('ldapjs');
let ldapjs: Promise<Ldapjs> | null = null;

/** ldapjs is CommonJS: through `import()` its API arrives as the default export. */
async function load(): Promise<Ldapjs> {
  const mod = (await import('ldapjs')) as Ldapjs & { default?: Ldapjs };
  return mod.default ?? mod;
}

/**
 * Escapes a user name for use as an RDN value (RFC 4514 2.4), so a name such as
 * `x,ou=admins` stays one value instead of changing the DN that is bound.
 */
export function escapeDnValue(value: string): string {
  let out = value.replace(/[\\,+"<>;=]/g, '\\$&').replace(/\0/g, '\\00');
  if (out.startsWith(' ') || out.startsWith('#')) out = `\\${out}`;
  // Tested on the value, not on `out`: a name ending in `\ ` must end `\\\ ` (an escaped backslash,
  // then an escaped space), else the server drops the space and binds another name. A lone space
  // is escaped as the leading one already.
  if (value.length > 1 && value.endsWith(' ')) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/** LDAP result codes that mean "wrong credentials" rather than "the directory failed". */
const REFUSED = new Set([
  'InvalidCredentialsError',
  'NoSuchObjectError',
  'InvalidDnSyntaxError',
  'InappropriateAuthenticationError',
  'UnwillingToPerformError',
]);

/** Resolves true when the bind succeeds, false when the server refuses the credentials; rejects when it cannot be asked. */
export async function bind(s: BindSettings, dn: string, password: string): Promise<boolean> {
  const { createClient } = await (ldapjs ??= load());
  const url = `${s.ldaps ? 'ldaps' : 'ldap'}://${s.ldap_host.includes(':') ? `[${s.ldap_host}]` : s.ldap_host}:${s.ldap_port}`;
  const tlsOptions = { rejectUnauthorized: s.verify_ldap_host, servername: s.ldap_host };
  const client: Client = createClient({
    url: [url],
    timeout: s.timeout,
    connectTimeout: s.timeout,
    ...(s.ldaps ? { tlsOptions } : {}),
    reconnect: false,
  });
  try {
    const failed = new Promise<never>((_, reject) => {
      client.on('error', reject);
      client.on('connectError', reject);
      client.on('connectTimeout', () => reject(new Error(`connecting to ${url} timed out`)));
    });
    // Settled by whichever comes first; a late connection error must not become an unhandled rejection.
    failed.catch(() => {});
    if (s.start_tls)
      await Promise.race([
        failed,
        new Promise<void>((resolve, reject) =>
          client.starttls(tlsOptions, [], (err) => (err ? reject(err) : resolve())),
        ),
      ]);
    return await Promise.race([
      failed,
      new Promise<boolean>((resolve, reject) =>
        client.bind(dn, password, (err) => {
          if (err === null || err === undefined) return resolve(true);
          if (REFUSED.has(err.name)) return resolve(false);
          reject(err);
        }),
      ),
    ]);
  } finally {
    client.destroy();
  }
}
