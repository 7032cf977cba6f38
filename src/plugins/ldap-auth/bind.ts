// One LDAP simple bind on a fresh connection, through ldapjs (imported on first use).
import { isIP, type Socket } from 'node:net';
import type { Client } from 'ldapjs';
import { dnsLookup } from '../../index.ts';
import { BerFraming } from './ber-framing.ts';

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

/**
 * The server's address through the gateway's resolver (dns_resolver, dns_hostsfile, cached
 * answers, at most two system lookups at once), within `timeoutMs`. ldapjs takes no lookup and
 * would ask getaddrinfo for every bind: a name only the configured DNS server knows (Kong resolves
 * it through its DNS client) failed, and a hung system DNS held one of libuv's threads per bind.
 */
function address(host: string, timeoutMs: number): Promise<string> {
  if (isIP(host) !== 0) return Promise.resolve(host);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`resolving ${host} timed out`)), timeoutMs);
    // ldapjs connects to one address: an IPv4 one when there is one (Kong's dns_order asks A
    // records first), so a `localhost` that also lists ::1 reaches a server bound to 127.0.0.1.
    dnsLookup(host, { all: true }, (err, found) => {
      clearTimeout(timer);
      const list = (err ? [] : found) as { address: string; family: number }[];
      const pick = list.find((a) => a.family === 4) ?? list[0];
      if (pick !== undefined) resolve(pick.address);
      else reject(err ?? new Error(`${host} has no address`));
    });
  });
}

/** Resolves true when the bind succeeds, false when the server refuses the credentials; rejects when it cannot be asked. */
export async function bind(s: BindSettings, dn: string, password: string): Promise<boolean> {
  const [{ createClient }, ip] = await Promise.all([(ldapjs ??= load()), address(s.ldap_host, s.timeout)]);
  const url = `${s.ldaps ? 'ldaps' : 'ldap'}://${ip.includes(':') ? `[${ip}]` : ip}:${s.ldap_port}`;
  // The certificate is checked against the configured name, not the address it resolved to. An
  // address is no server name (RFC 6066: SNI carries host names only; node warns): it is given as
  // the host the certificate is checked against (STARTTLS's connect has no host of its own).
  const tlsOptions = {
    rejectUnauthorized: s.verify_ldap_host,
    ...(isIP(s.ldap_host) === 0 ? { servername: s.ldap_host } : { host: s.ldap_host }),
  };
  const client: Client = createClient({
    url: [url],
    timeout: s.timeout,
    connectTimeout: s.timeout,
    ...(s.ldaps ? { tlsOptions } : {}),
    reconnect: false,
  });
  // The directory's bytes, checked as they come (see ber-framing.ts). ldapjs hands out the socket
  // on 'connect'; after StartTLS it reads the TLS socket it keeps as `_socket` (and drops the
  // plain socket's readers), so the check moves there.
  const framing = new BerFraming();
  const read = (chunk: Buffer) => framing.write(chunk);
  client.on('connect', (socket: Socket) => socket.on('data', read));
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
    if (s.start_tls) (client as unknown as { _socket: Socket | null })._socket?.on('data', read);
    const bound = await Promise.race([
      failed,
      new Promise<boolean>((resolve, reject) =>
        client.bind(dn, password, (err) => {
          if (err === null || err === undefined) return resolve(true);
          if (REFUSED.has(err.name)) return resolve(false);
          reject(err);
        }),
      ),
    ]);
    // Checked once ldapjs has answered: its reader runs before this one on each chunk.
    if (framing.broken) throw new Error('the directory answered with a malformed LDAP message');
    return bound;
  } finally {
    client.destroy();
  }
}
