// TLS at the edge: Kong `certificates` compiled into SecureContexts, picked per connection by SNI.
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { CertificateModel, GatewayConfig, TollgateSettings } from './config/model.ts';
import { type ConfigIssue, configIssue } from './errors.ts';

/**
 * Protocols and ciphers of every TLS listener: Kong's default `ssl_cipher_suite = intermediate`
 * (Mozilla's intermediate profile, kong/conf_loader/constants.lua): TLS 1.2 and 1.3, forward-secret
 * AEAD suites (ECDHE, and DHE-RSA over ffdhe2048 for TLS 1.2 clients without ECDHE), and the
 * client's order of preference (`prefer_server_ciphers off`: every suite is strong, and a client
 * without AES hardware puts ChaCha20 first).
 */
export const SERVER_TLS: Readonly<SecureContextOptions> = Object.freeze({
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
    'DHE-RSA-AES128-GCM-SHA256',
    'DHE-RSA-AES256-GCM-SHA384',
    'DHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  // OpenSSL's automatic DH parameters: the RFC 7919 group matching the key, ffdhe2048 for the
  // usual 2048-bit RSA key (Kong's `ssl_dhparam` for intermediate).
  dhparam: 'auto',
  honorCipherOrder: false,
});

/** The certificates of one config, ready to serve. Immutable; a reload compiles a new one. */
export class CertificateStore {
  /** Exact server name → context. */
  private readonly exact = new Map<string, SecureContext>();
  /** `*.example.com` → context, keyed by `example.com`. */
  private readonly leading = new Map<string, SecureContext>();
  /** `example.*` → context, keyed by `example`. */
  private readonly trailing = new Map<string, SecureContext>();
  /** Served to clients without SNI, and with a name no SNI matches when there is no `*`; null without certificates. */
  readonly fallback: SecureContext | null;
  /** The certificate of Kong's catch-all SNI `*`: served to a name no other SNI matches. */
  private readonly catchAll: SecureContext | null;
  /** Options the fallback context was built from (a listener's base context is built from options). */
  readonly fallbackOptions: SecureContextOptions | null;
  readonly size: number;

  constructor(
    entries: readonly { model: CertificateModel; context: SecureContext; options: SecureContextOptions }[],
    kongDefault: { context: SecureContext; options: SecureContextOptions } | null = null,
  ) {
    this.size = entries.length;
    // The default: Kong's `ssl_cert` (KONG_SSL_CERT) when given; else the first certificate without
    // SNIs (Kong's default certificate, from kong.conf, by intent), else the one with the catch-all
    // SNI `*`, else the first one.
    const star = entries.find((e) => e.model.snis.includes('*'));
    const def = kongDefault ?? entries.find((e) => e.model.snis.length === 0) ?? star ?? entries[0];
    this.fallback = def?.context ?? null;
    this.fallbackOptions = def?.options ?? null;
    this.catchAll = star?.context ?? null;
    for (const e of entries) {
      for (const name of e.model.snis) {
        if (name === '*') continue;
        if (name.startsWith('*.')) this.leading.set(name.slice(2), e.context);
        else if (name.endsWith('.*')) this.trailing.set(name.slice(0, -2), e.context);
        else this.exact.set(name, e.context);
      }
    }
  }

  /**
   * The context for a client's server name, in Kong's order: an exact SNI, then `*.rest` (one label,
   * as certificate name matching does, for names of three labels or more), then `first.*`, then the
   * SNI `*`, then the default. A client without a server name gets the default (Kong's is the one of
   * kong.conf, never an SNI's).
   */
  select(servername: string | undefined): SecureContext | null {
    if (servername === undefined || servername === '') return this.fallback;
    const name = servername.toLowerCase();
    const hit = this.exact.get(name);
    if (hit !== undefined) return hit;
    if (name.includes('*')) {
      // Kong's produce_wild_snis looks a name with a `*` up only as written, as the wildcard SNI it
      // spells (`*.example.com`), never with a label replaced: `x*.example.com` gets no `*.` SNI's.
      const spelled = name.startsWith('*.')
        ? this.leading.get(name.slice(2))
        : name.endsWith('.*')
          ? this.trailing.get(name.slice(0, -2))
          : undefined;
      return spelled ?? this.catchAll ?? this.fallback;
    }
    const dot = name.indexOf('.');
    if (dot > 0) {
      // Kong's produce_wild_snis builds `*.rest` only when the rest has two labels or more
      // (`a.example.com`, not `example.com`): an SNI `*.com` is never served to `example.com`.
      const rest = name.slice(dot + 1);
      const lead = rest.includes('.') ? this.leading.get(rest) : undefined;
      if (lead !== undefined) return lead;
      const last = name.lastIndexOf('.');
      const trail = this.trailing.get(name.slice(0, last));
      if (trail !== undefined) return trail;
    }
    return this.catchAll ?? this.fallback;
  }
}

/** Builds the SecureContext options of one certificate entity (both pairs when `cert_alt` is given). */
export function contextOptions(c: CertificateModel): SecureContextOptions {
  const certs = [c.cert];
  const keys = [c.key];
  if (c.cert_alt !== null && c.key_alt !== null) {
    certs.push(c.cert_alt);
    keys.push(c.key_alt);
  }
  return { ...SERVER_TLS, cert: certs, key: keys };
}

const stores = new WeakMap<GatewayConfig, CertificateStore>();

/** Whether OpenSSL takes these context options. */
function loads(options: SecureContextOptions): boolean {
  try {
    createSecureContext({ ...SERVER_TLS, ...options });
    return true;
  } catch {
    return false;
  }
}

/**
 * The field at fault when OpenSSL refuses a certificate entity, whose message never says which:
 * a chain it cannot read (a broken or truncated second certificate) is the `cert`'s fault, a pair
 * it will not serve (a key too small) the `key`'s; the main pair is tried on its own first, so an
 * alternative pair is blamed only when the main one serves.
 */
function faultyField(c: CertificateModel): 'cert' | 'key' | 'cert_alt' | 'key_alt' {
  if (!loads({ cert: c.cert })) return 'cert';
  if (c.cert_alt === null || c.key_alt === null || !loads({ cert: c.cert, key: c.key })) return 'key';
  return loads({ cert: c.cert_alt }) ? 'key_alt' : 'cert_alt';
}

/**
 * What to do about the refusals of OpenSSL's default security level (level 1 in OpenSSL 3, which
 * Kong's nginx and node both use), whose own words name no way out.
 */
const OPENSSL_ADVICE: readonly (readonly [string, string])[] = [
  [
    'ca md too weak',
    ': its issuer signed it with a digest OpenSSL no longer accepts (SHA-1 or MD5); have it reissued signed with SHA-256',
  ],
  [
    'ee key too small',
    ': its key is too small for OpenSSL (RSA under 1024 bits); reissue it with a 2048-bit RSA or a P-256 key',
  ],
];

function opensslAdvice(message: string): string {
  return OPENSSL_ADVICE.find(([reason]) => message.endsWith(reason))?.[1] ?? '';
}

/** Kong's `ssl_cert` / `ssl_cert_key` pairs (from KONG_SSL_CERT and KONG_SSL_CERT_KEY), PEM text, checked at start. */
export interface KongDefaultCertificate {
  readonly cert: readonly string[];
  readonly key: readonly string[];
}

/**
 * Compiles the config's certificates. Problems OpenSSL finds that the loader did not (it already
 * checks PEM syntax, key/cert match and duplicate SNIs) come back as located issues. `kongDefault`
 * is served where Kong serves its `ssl_cert`: to clients without SNI and to names no SNI matches.
 */
export function compileCertificates(
  config: GatewayConfig,
  kongDefault?: KongDefaultCertificate,
): { store: CertificateStore; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const entries: { model: CertificateModel; context: SecureContext; options: SecureContextOptions }[] = [];
  for (const c of config.certificates) {
    const options = contextOptions(c);
    try {
      entries.push({ model: c, context: createSecureContext(options), options });
    } catch (err) {
      const path = [...c.yaml_path, faultyField(c)];
      // OpenSSL's message names no key material; still, it never echoes the PEM.
      issues.push(
        configIssue(
          'SEMANTIC',
          `certificate cannot be served: ${(err as Error).message}${opensslAdvice((err as Error).message)}`,
          path,
          config.source.locate(path),
        ),
      );
    }
  }
  let fallback: { context: SecureContext; options: SecureContextOptions } | null = null;
  if (kongDefault !== undefined) {
    const options = { ...SERVER_TLS, cert: [...kongDefault.cert], key: [...kongDefault.key] };
    fallback = { context: createSecureContext(options), options };
  }
  const store = new CertificateStore(entries, fallback);
  if (issues.length === 0) stores.set(config, store);
  return { store, issues };
}

/** The compiled store of a config (compiled on first use when the compile step did not run). */
export function certificateStore(config: GatewayConfig): CertificateStore {
  let s = stores.get(config);
  if (s === undefined) {
    s = compileCertificates(config).store;
    stores.set(config, s);
  }
  return s;
}

const hstsValues = new WeakMap<TollgateSettings, string | null>();

/** The Strict-Transport-Security value of these settings, or null when `hsts` is not configured. */
export function hstsHeader(settings: TollgateSettings): string | null {
  let v = hstsValues.get(settings);
  if (v === undefined) {
    const h = settings.hsts;
    v =
      h == null
        ? null
        : `max-age=${h.max_age}${h.include_subdomains ? '; includeSubDomains' : ''}${h.preload ? '; preload' : ''}`;
    hstsValues.set(settings, v);
  }
  return v;
}

/**
 * Most ClientHello bytes read before choosing a certificate (a ClientHello is a few hundred bytes to
 * a few KiB; past this the name is read from what came, and OpenSSL gets the whole hello as usual).
 */
const HELLO_LIMIT = 16 * 1024;
/**
 * Most records a ClientHello is read from: clients that split one use a handful, and the records
 * are parsed again at every read, so a hello of thousands of tiny records is not followed further.
 */
const HELLO_RECORDS = 256;

/**
 * The ClientHello at the start of `buf`, joined from the handshake records it came in: a client may
 * split it over several records (RFC 8446 section 5.1; stacks that cap their record size, middle
 * boxes), and the server name may be in any of them. `done` once it is complete, once a record that
 * is not a handshake record follows, or once HELLO_LIMIT bytes or HELLO_RECORDS records have come
 * (a hello that claims more, or a stream of tiny records, is read no further).
 */
function helloRecords(buf: Buffer): { parts: Buffer[]; size: number; done: boolean } {
  const parts: Buffer[] = [];
  let size = 0;
  // The handshake message's length, once its 4-byte header has come (it may itself be split).
  let need = Number.POSITIVE_INFINITY;
  // Joined only by readServerName, once: this runs at every read of a hello that trickles in.
  const result = (done: boolean) => ({ parts, size, done });
  for (let p = 0; ; ) {
    if (p >= buf.length) return result(false);
    // Not a TLS handshake record: hand it to TLS as is (which refuses it, or reads a non-hello).
    if (buf[p] !== 0x16 || p >= HELLO_LIMIT) return result(true);
    if (buf.length < p + 5) return result(false);
    const len = buf.readUInt16BE(p + 3);
    const avail = Math.min(len, buf.length - p - 5);
    parts.push(buf.subarray(p + 5, p + 5 + avail));
    size += avail;
    if (need === Number.POSITIVE_INFINITY && size >= 4) {
      const head = parts[0]!.length >= 4 ? parts[0]! : Buffer.concat(parts, size);
      need = 4 + head.readUIntBE(1, 3);
    }
    if (size >= need) return result(true);
    // A record still arriving: wait for it, unless the limit is reached (a first record may claim
    // up to 64 KiB).
    if (avail < len) return result(p + 5 + avail >= HELLO_LIMIT);
    if (parts.length >= HELLO_RECORDS) return result(true);
    p += 5 + len;
  }
}

/** Whether `buf` holds enough of the ClientHello to choose a certificate from (or is no ClientHello). */
export function clientHelloRead(buf: Buffer): boolean {
  return buf.length > 0 && helloRecords(buf).done;
}

/**
 * The server name (SNI) of a ClientHello, lower-cased, or undefined when absent or unreadable. A
 * malformed hello gets the default certificate and fails in OpenSSL as usual.
 */
export function readServerName(buf: Buffer): string | undefined {
  const { parts, size } = helloRecords(buf);
  const hello = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
  try {
    let p = 0;
    if (hello[p] !== 0x01) return undefined; // handshake type client_hello
    const end = Math.min(hello.length, 4 + hello.readUIntBE(1, 3));
    p += 4 + 2 + 32; // handshake header, client_version, random
    p += 1 + hello[p]!; // session id
    p += 2 + hello.readUInt16BE(p); // cipher suites
    p += 1 + hello[p]!; // compression methods
    const extEnd = Math.min(end, p + 2 + hello.readUInt16BE(p));
    p += 2;
    while (p + 4 <= extEnd) {
      const type = hello.readUInt16BE(p);
      const len = hello.readUInt16BE(p + 2);
      p += 4;
      if (type === 0 /* server_name */) {
        let q = p + 2;
        const listEnd = Math.min(p + len, extEnd);
        while (q + 3 <= listEnd) {
          const nameType = hello[q]!;
          const nameLen = hello.readUInt16BE(q + 1);
          q += 3;
          if (nameType === 0 && q + nameLen <= listEnd) return hello.toString('latin1', q, q + nameLen).toLowerCase();
          q += nameLen;
        }
        return undefined;
      }
      p += len;
    }
  } catch {
    // a truncated hello reads past the buffer: no name
  }
  return undefined;
}
