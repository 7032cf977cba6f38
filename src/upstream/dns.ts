// Upstream name resolution for new upstream connections, after Kong's DNS client: answers are kept
// for their TTL, a stale answer keeps serving while a refresh runs (or fails) for up to
// `dns_stale_ttl`, one lookup per name is in flight at a time, and a failure is remembered for
// `dns_not_found_ttl` (no such name) or `dns_error_ttl` so a burst of connections does not hammer
// a dead server.
//
// Two resolvers. By default the system's (getaddrinfo: /etc/hosts, resolv.conf's search list, so
// Kubernetes short names work); it reports no TTL, so an answer is kept only under `dns_valid_ttl`,
// and otherwise each new connection asks again, falling back on the last answer when that fails.
// getaddrinfo blocks a libuv thread, the pool WebCrypto (token signatures) and file writes also run
// on, so at most two system lookups run at once. With `dns_resolver` set, the gateway asks those
// servers itself (c-ares: no thread, record TTLs, names queried as written, no search list), after
// the names of the hosts file (`dns_hostsfile`, /etc/hosts), one record type after another in
// `dns_order`, as Kong's client does.
import { ADDRCONFIG, type LookupOptions, lookup as systemLookup } from 'node:dns';
import { Resolver } from 'node:dns/promises';
import { open } from 'node:fs/promises';
import { isIP } from 'node:net';
import gatewaySchema from '../../schemas/gateway.schema.json' with { type: 'json' };
import type { TollgateSettings } from '../config/model.ts';

/** The `_tollgate` settings resolution reads (docs/upstreams.md#name-resolution). */
const DNS_SETTING_NAMES = [
  'dns_resolver',
  'dns_hostsfile',
  'dns_valid_ttl',
  'dns_stale_ttl',
  'dns_not_found_ttl',
  'dns_error_ttl',
  'dns_cache_size',
  'dns_order',
] as const;
export type DnsSettings = Readonly<Pick<TollgateSettings, (typeof DNS_SETTING_NAMES)[number]>>;

/** The defaults of `_tollgate`'s dns_* settings, as the gateway schema gives them (a config that sets none). */
export const DEFAULT_DNS_SETTINGS: DnsSettings = (() => {
  const props = gatewaySchema.definitions.settings.properties;
  const defaults: Record<string, unknown> = {};
  for (const name of DNS_SETTING_NAMES) defaults[name] = props[name].default;
  return Object.freeze(defaults) as unknown as DnsSettings;
})();

export interface Address {
  readonly address: string;
  readonly family: number;
}

/** getaddrinfo calls at once: two of libuv's four threads stay free for crypto and files. */
const SYSTEM_LOOKUPS_AT_ONCE = 2;
/**
 * c-ares: ms of the first try and tries per server (c-ares doubles the wait for the second), so a
 * silent server fails a lookup within about 6 s: the record types after it are not asked then.
 */
const QUERY_TIMEOUT_MS = 2000;
const QUERY_TRIES = 2;
/** Bytes of the hosts file read; a larger file is read up to here (its last line may be cut). */
const MAX_HOSTS_FILE_BYTES = 1024 * 1024;
/** The lifetime of a hosts-file answer: the file is read once per resolver, as Kong reads it (10 years). */
const HOSTS_TTL_SECONDS = 10 * 365 * 24 * 3600;
/**
 * `localhost` when the hosts file does not list it (or there is none): RFC 6761 section 6.3 keeps
 * it off the DNS servers, and Kong's client defines it so (127.0.0.1 and ::1).
 */
const LOCALHOST: readonly Address[] = [
  { address: '127.0.0.1', family: 4 },
  { address: '::1', family: 6 },
];
/** Aliases followed from one name (a CNAME chain longer than this, or a loop, is not found). */
const MAX_CNAME_DEPTH = 8;

/** The record types `dns_order` can ask for (Tollgate resolves no SRV). */
type RecordType = 'A' | 'AAAA' | 'CNAME';

interface Entry {
  addresses: readonly Address[] | null;
  /** performance.now() past which `addresses` must be refreshed. */
  freshUntil: number;
  /** performance.now() past which `addresses` are not used at all. */
  staleUntil: number;
  /**
   * The answer had a lifetime (a TTL or dns_valid_ttl): once expired it serves at once while the
   * refresh runs. Without one (the system resolver) each new connection waits for its own lookup
   * and falls back on the last answer only when that lookup fails.
   */
  hadLifetime: boolean;
  /** The last failure, while it is remembered (no usable answer). */
  error: NodeJS.ErrnoException | null;
  errorUntil: number;
  /** The lookup in flight: its addresses, or null when it failed. */
  pending: Promise<readonly Address[] | null> | null;
  /** The record type that answered last (`LAST` in dns_order). */
  lastType: RecordType | null;
  /** Lookups served from this entry: which address comes first in the next one. */
  turn: number;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | Address[], family?: number) => void;

/** net.connect's `lookup` over a cache; one per distinct set of settings (see `hostResolver`). */
export class HostResolver {
  readonly #settings: DnsSettings;
  readonly #resolver: Resolver | null;
  readonly #entries = new Map<string, Entry>();
  #systemRunning = 0;
  readonly #systemQueue: (() => void)[] = [];
  /** The hosts file's names, read at the first query (dns_resolver only). */
  #hosts: Promise<ReadonlyMap<string, readonly Address[]>> | null = null;
  /** dns_order's record types, without LAST and SRV. */
  readonly #order: readonly RecordType[];
  /** dns_order starts with LAST: the type that answered a name last is asked first. */
  readonly #lastFirst: boolean;

  constructor(settings: DnsSettings) {
    this.#settings = settings;
    this.#order = settings.dns_order.filter((t): t is RecordType => t !== 'LAST' && t !== 'SRV');
    this.#lastFirst = settings.dns_order[0] === 'LAST';
    if (settings.dns_resolver.length > 0) {
      this.#resolver = new Resolver({ timeout: QUERY_TIMEOUT_MS, tries: QUERY_TRIES });
      this.#resolver.setServers([...settings.dns_resolver]);
    } else {
      this.#resolver = null;
    }
  }

  /**
   * The `lookup` option of net.connect / tls.connect (both of its callback forms). A name with
   * several addresses gives them in turn, each lookup starting one further (Kong's round-robin
   * over a name's A records), so new connections spread over all of them.
   */
  readonly lookup = (hostname: string, family: LookupOptions | number, callback: LookupCallback): void => {
    // dgram sockets pass the family as a number, net and tls an options object.
    const options: LookupOptions = typeof family === 'number' ? { family } : family;
    this.resolve(hostname).then(
      (answer) => {
        const addresses = answer.length > 1 ? this.#inTurn(hostname, answer) : answer;
        const f = options.family;
        const wanted = f === 4 || f === 'IPv4' ? 4 : f === 6 || f === 'IPv6' ? 6 : 0;
        const usable = wanted === 0 ? addresses : addresses.filter((a) => a.family === wanted);
        if (usable.length === 0) return callback(notFound(hostname), options.all ? [] : '', 0);
        if (options.all) callback(null, [...usable]);
        else callback(null, usable[0]!.address, usable[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, options.all ? [] : '', 0),
    );
  };

  /**
   * `addresses` at the name's next turn: each family's addresses rotated among the places that
   * family holds, so the order of families (the resolver's preference, and what happy eyeballs
   * tries first) stays as it was.
   */
  #inTurn(hostname: string, addresses: readonly Address[]): readonly Address[] {
    const e = this.#entries.get(hostname.toLowerCase());
    if (e === undefined) return addresses;
    const turn = e.turn++;
    const out = addresses.slice();
    for (const family of [4, 6]) {
      const places: number[] = [];
      for (let i = 0; i < addresses.length; i++) if (addresses[i]!.family === family) places.push(i);
      const start = turn % Math.max(places.length, 1);
      for (let k = 0; k < places.length; k++) out[places[k]!] = addresses[places[(k + start) % places.length]!]!;
    }
    return out;
  }

  /** The addresses of `hostname`: a fresh answer, a stale one (refreshed behind), or a new lookup. */
  async resolve(hostname: string): Promise<readonly Address[]> {
    const name = hostname.toLowerCase();
    const family = isIP(name);
    if (family !== 0) return [{ address: name, family }];
    const now = performance.now();
    let e = this.#entries.get(name);
    if (e !== undefined) {
      // The most recently used last: past dns_cache_size names, the map's first one is evicted (LRU, as Kong's).
      this.#entries.delete(name);
      this.#entries.set(name, e);
    } else {
      if (this.#entries.size >= this.#settings.dns_cache_size) this.#entries.delete(this.#entries.keys().next().value!);
      e = {
        addresses: null,
        freshUntil: 0,
        staleUntil: 0,
        hadLifetime: false,
        error: null,
        errorUntil: 0,
        pending: null,
        lastType: null,
        turn: 0,
      };
      this.#entries.set(name, e);
    }
    if (e.addresses !== null && now < e.freshUntil) return e.addresses;
    if (e.error !== null && now < e.errorUntil) throw e.error;
    const refresh = (e.pending ??= this.#refresh(name, e));
    // Kong's stale-while-revalidate: an expired answer within dns_stale_ttl serves at once.
    if (e.addresses !== null && e.hadLifetime && now < e.staleUntil) return e.addresses;
    const answer = await refresh;
    if (answer !== null) return answer;
    if (e.addresses !== null && performance.now() < e.staleUntil) return e.addresses;
    throw e.error ?? notFound(name);
  }

  async #refresh(name: string, e: Entry): Promise<readonly Address[] | null> {
    try {
      const { addresses, ttlSeconds } = await (this.#resolver === null ? this.#system(name) : this.#query(name, e));
      const now = performance.now();
      const lifetime = (this.#settings.dns_valid_ttl ?? ttlSeconds) * 1000;
      e.addresses = addresses;
      e.hadLifetime = lifetime > 0;
      e.freshUntil = now + lifetime;
      e.staleUntil = e.freshUntil + this.#settings.dns_stale_ttl * 1000;
      e.error = null;
      return addresses;
    } catch (err) {
      // Within dns_stale_ttl the last answer goes on serving; past it the failure is remembered.
      if (e.addresses === null || performance.now() >= e.staleUntil) {
        e.error = err as NodeJS.ErrnoException;
        const remember = e.error.code === 'ENOTFOUND' ? this.#settings.dns_not_found_ttl : this.#settings.dns_error_ttl;
        e.errorUntil = performance.now() + remember * 1000;
      }
      return null;
    } finally {
      e.pending = null;
    }
  }

  /** getaddrinfo as net.connect calls it (ADDRCONFIG), at most SYSTEM_LOOKUPS_AT_ONCE at a time. No TTL is known. */
  async #system(name: string): Promise<{ addresses: Address[]; ttlSeconds: number }> {
    // A lookup that ends hands its slot to the next in line (the count does not change).
    if (this.#systemRunning < SYSTEM_LOOKUPS_AT_ONCE) this.#systemRunning++;
    else await new Promise<void>((resolve) => this.#systemQueue.push(resolve));
    try {
      const addresses = await new Promise<Address[]>((resolve, reject) =>
        systemLookup(name, { all: true, hints: ADDRCONFIG }, (err, list) => (err ? reject(err) : resolve(list))),
      );
      return { addresses, ttlSeconds: 0 };
    } finally {
      const next = this.#systemQueue.shift();
      if (next !== undefined) next();
      else this.#systemRunning--;
    }
  }

  /** The hosts file's addresses of a name (localhost's by default), else the first record type of dns_order the servers answer. */
  async #query(name: string, e: Entry): Promise<{ addresses: readonly Address[]; ttlSeconds: number }> {
    const path = this.#settings.dns_hostsfile;
    const listed =
      (path === null ? undefined : (await (this.#hosts ??= readHostsFile(path))).get(name)) ??
      (name === 'localhost' ? LOCALHOST : undefined);
    if (listed !== undefined) return { addresses: listed, ttlSeconds: HOSTS_TTL_SECONDS };
    const last = this.#lastFirst ? e.lastType : null;
    const order = last === null ? this.#order : [last, ...this.#order.filter((t) => t !== last)];
    const answer = await this.#ask(name, order, 0);
    e.lastType = answer.type;
    return answer;
  }

  /**
   * Kong's order: each type in turn until one has records; an alias (CNAME) is resolved in the same
   * order. Not found when every type was; a server failure otherwise.
   */
  async #ask(
    name: string,
    order: readonly RecordType[],
    depth: number,
  ): Promise<{ addresses: readonly Address[]; ttlSeconds: number; type: RecordType }> {
    const resolver = this.#resolver!;
    let failure: NodeJS.ErrnoException | null = null;
    for (const type of order) {
      try {
        if (type === 'CNAME') {
          if (depth >= MAX_CNAME_DEPTH) continue;
          const [alias] = await resolver.resolveCname(name);
          if (alias === undefined) continue;
          const target = await this.#ask(alias.toLowerCase(), this.#order, depth + 1);
          return { ...target, type };
        }
        const family = type === 'A' ? 4 : 6;
        const records = await (type === 'A'
          ? resolver.resolve4(name, { ttl: true })
          : resolver.resolve6(name, { ttl: true }));
        if (records.length === 0) continue;
        const addresses = records.map((r) => ({ address: r.address, family }));
        return { addresses, ttlSeconds: Math.min(...records.map((r) => r.ttl)), type };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // A server that did not answer one type will not answer the next: asking it would add
        // another full timeout per type in `dns_order` (12 s and more for the default order).
        if (code === 'ETIMEOUT') throw serverFailure(name, err as NodeJS.ErrnoException);
        if (code !== 'ENOTFOUND' && code !== 'ENODATA') failure ??= err as NodeJS.ErrnoException;
      }
    }
    throw failure === null ? notFound(name) : serverFailure(name, failure);
  }
}

/**
 * The names of a hosts file (hosts(5): an address, then names, `#` to the end of a line), every
 * address a name is listed with, in file order, IPv4 before IPv6. An unreadable file has no names
 * (Kong's client goes on without it too); at most MAX_HOSTS_FILE_BYTES are read.
 */
export async function readHostsFile(path: string): Promise<ReadonlyMap<string, readonly Address[]>> {
  let text: string;
  try {
    const file = await open(path, 'r');
    try {
      const buf = Buffer.alloc(MAX_HOSTS_FILE_BYTES);
      const { bytesRead } = await file.read(buf, 0, buf.length, 0);
      text = buf.toString('latin1', 0, bytesRead);
    } finally {
      await file.close();
    }
  } catch {
    return new Map();
  }
  return parseHosts(text);
}

/** hosts(5) text to names and their addresses (see readHostsFile). */
export function parseHosts(text: string): ReadonlyMap<string, readonly Address[]> {
  const names = new Map<string, Address[]>();
  for (const line of text.split('\n')) {
    const hash = line.indexOf('#');
    const fields = (hash < 0 ? line : line.slice(0, hash)).split(/[ \t\r]+/).filter((f) => f !== '');
    const family = fields.length >= 2 ? isIP(fields[0]!) : 0;
    if (family === 0) continue;
    const address: Address = { address: fields[0]!, family };
    for (let i = 1; i < fields.length; i++) {
      const name = fields[i]!.toLowerCase();
      const list = names.get(name);
      if (list === undefined) names.set(name, [address]);
      else if (!list.some((a) => a.address === address.address)) list.push(address);
    }
  }
  for (const list of names.values()) list.sort((a, b) => a.family - b.family);
  return names;
}

/**
 * The server did not answer, or failed (c-ares' ETIMEOUT, ESERVFAIL, EREFUSED, ...), reported as
 * getaddrinfo reports a temporary failure, so every lookup failure is ENOTFOUND or EAI_AGAIN.
 */
function serverFailure(name: string, cause: NodeJS.ErrnoException): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`getaddrinfo EAI_AGAIN ${name} (${cause.code})`, { cause });
  err.code = 'EAI_AGAIN';
  err.syscall = 'getaddrinfo';
  return err;
}

function notFound(name: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${name}`);
  err.code = 'ENOTFOUND';
  err.syscall = 'getaddrinfo';
  return err;
}

/** The resolver of the serving config's settings. */
let current: { key: string; resolver: HostResolver } | null = null;
/** The resolver of the config compiled last, when its settings differ from the serving ones. */
let candidate: { key: string; resolver: HostResolver } | null = null;

/**
 * The resolver for these settings. A reload with the same settings keeps the same one, and so its
 * answers (a stale answer must survive a reload while the DNS server is down). A config compiled
 * with other settings gets a resolver of its own, which `latestLookup` uses only once that config
 * serves (`useResolver`): a reload that fails never changes how the serving config's plugins resolve.
 */
export function hostResolver(settings: DnsSettings): HostResolver {
  const key = resolverKey(settings);
  if (current !== null && current.key === key) return current.resolver;
  if (candidate === null || candidate.key !== key) candidate = { key, resolver: new HostResolver(settings) };
  return candidate.resolver;
}

/** Makes the resolver of these settings the one `latestLookup` uses: called when a config starts serving. */
export function useResolver(settings: DnsSettings): void {
  const resolver = hostResolver(settings);
  if (current !== null && current.resolver === resolver) return;
  current = candidate;
  candidate = null;
}

/** Each settings object's key, made once: every service of a config asks with the same object. */
const resolverKeys = new WeakMap<DnsSettings, string>();

function resolverKey(settings: DnsSettings): string {
  let key = resolverKeys.get(settings);
  if (key === undefined) {
    key = JSON.stringify(DNS_SETTING_NAMES.map((name) => settings[name]));
    resolverKeys.set(settings, key);
  }
  return key;
}

/** What `latestLookup` uses when no config was compiled yet. */
let fallback: HostResolver | null = null;

/**
 * net.connect's `lookup` for clients that outlive one config (the plugins' HTTP client,
 * `services.http`: a JWKS, custom plugins' calls; the oidc plugin's IdP pool): the resolver of
 * the serving config, or before the first one serves, of the config being loaded. Public as
 * `dnsLookup` for plugins that open connections of their own.
 */
export const latestLookup: HostResolver['lookup'] = (hostname, options, callback) =>
  (current?.resolver ?? candidate?.resolver ?? (fallback ??= new HostResolver(DEFAULT_DNS_SETTINGS))).lookup(
    hostname,
    options,
    callback,
  );
