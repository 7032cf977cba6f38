/**
 * Kong's listen addresses (`proxy_listen`, `admin_listen`, and the `--proxy-listen` /
 * `--admin-listen` flags): `HOST:PORT`, `[v6]:PORT` or `PORT`, followed by flags. One parser for
 * the file's check, the command line and the listeners, so that `gateway validate` accepts exactly
 * what `gateway start` can bind: Kong's own default (`0.0.0.0:8000 reuseport backlog=16384`) loads,
 * and a flag Tollgate cannot honour (`proxy_protocol`, or `ssl` on the admin listener, which would
 * then speak cleartext on the port meant for TLS) is refused with its reason instead of ignored.
 */

import { isIP, SocketAddress } from 'node:net';

export interface ListenAddress {
  host: string;
  port: number;
  ssl: boolean;
  /** Kong's `http2` flag: on a plain listener, HTTP/2 without TLS (h2c) beside HTTP/1.1; TLS listeners always offer h2. */
  http2: boolean;
  /** Kong's `backlog=N`: the listen queue length (the kernel caps it at somaxconn); undefined: node's default. */
  backlog?: number;
  /**
   * Kong's `ipv6only=on|off` (IPV6_V6ONLY), on by default as in nginx since 1.3.4: `[::]:8000` takes
   * IPv6 clients only, so Kong's pair `0.0.0.0:8000` and `[::]:8000` both bind. Off, an IPv6
   * wildcard is dual-stack and its IPv4 clients read `::ffff:1.2.3.4`. No effect on IPv4 addresses.
   */
  ipv6Only: boolean;
  /** The text as configured, for messages. */
  text: string;
}

/** Which listener an address is for: the admin and status APIs speak plain HTTP/1.1 only. */
export type ListenRole = 'proxy' | 'admin' | 'status';

export class ListenError extends Error {}

/** Kong's listen flags that Tollgate does not implement, with what to do instead. */
const KONG_ONLY: Record<string, string> = {
  proxy_protocol:
    'Tollgate does not read the PROXY protocol; have the load balancer send X-Forwarded-For and list it in trusted_ips',
  deferred: 'an nginx socket option Tollgate does not set; remove it',
  bind: 'an nginx socket option Tollgate does not need (every address is bound on its own); remove it',
  so_keepalive: 'an nginx socket option Tollgate does not set; remove it',
};

/** Parses one listen address; throws ListenError saying what is wrong. */
export function parseListen(text: string, role: ListenRole = 'proxy'): ListenAddress {
  const [addr = '', ...flags] = text.trim().split(/\s+/);
  let host = '0.0.0.0';
  let portText = addr;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(addr);
  if (v6 !== null) {
    host = v6[1]!;
    portText = v6[2]!;
  } else if (addr.includes(':')) {
    const i = addr.lastIndexOf(':');
    host = addr.slice(0, i);
    portText = addr.slice(i + 1);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535)
    throw new ListenError(`invalid listen address '${text}': expected HOST:PORT`);
  // An IPv4-mapped address (`[::ffff:127.0.0.1]`) takes IPv4 clients only: IPV6_V6ONLY would
  // refuse its bind (EINVAL), so it keeps the dual-stack socket it needs.
  const mapped = isIP(host) === 6 && isIP(canonicalHost(host)) === 4;
  const out: ListenAddress = { host, port, ssl: false, http2: false, ipv6Only: !mapped, text };
  for (const f of flags) {
    const [name = '', value] = f.split('=', 2) as [string, string | undefined];
    if (role !== 'proxy' && (name === 'ssl' || name === 'http2'))
      throw new ListenError(
        `the ${role} listener speaks plain HTTP/1.1 only: '${name}' in '${text}' is not supported (${role === 'admin' ? 'keep it on loopback, or put a TLS-terminating proxy in front of it' : 'probes and scrapes reach it in cleartext; put a TLS-terminating proxy in front of it if they must not'})`,
      );
    if (name === 'ssl' && value === undefined) out.ssl = true;
    else if (name === 'http2' && value === undefined) out.http2 = true;
    // SO_REUSEPORT is used wherever node offers it (docs/operations.md, Workers): nothing to do.
    else if (name === 'reuseport' && value === undefined) continue;
    else if (name === 'backlog' && (value === undefined || /^[1-9]\d{0,9}$/.test(value)))
      out.backlog = value === undefined ? undefined : Math.min(Number(value), 2 ** 31 - 1);
    else if (name === 'ipv6only' && (value === 'on' || value === 'off')) out.ipv6Only = value === 'on';
    else if (Object.hasOwn(KONG_ONLY, name))
      throw new ListenError(`Kong's listen flag '${f}' in '${text}' is not supported: ${KONG_ONLY[name]}`);
    else
      throw new ListenError(
        `invalid listen flag '${f}' in '${text}' (flags: ssl, http2, reuseport, backlog=N, ipv6only=on|off${role === 'proxy' ? '' : `; the ${role} listener takes reuseport, backlog=N and ipv6only=on|off only`})`,
      );
  }
  return out;
}

/**
 * Whether two listeners cannot both bind (EADDRINUSE): on one fixed port, the same address, a
 * wildcard and an address of its family (`0.0.0.0` and IPv4, `[::]` and IPv6), or a dual-stack
 * `[::]` (`ipv6only=off`) and any address. `0.0.0.0:P` and `[::]:P` bind together, as in nginx.
 */
export function listenersClash(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port !== b.port || a.port === 0) return false;
  const [x, y] = [canonicalHost(a.host), canonicalHost(b.host)];
  if (x === y) return true;
  // A host name is compared as IPv4: validate resolves no names.
  const [v6x, v6y] = [isIP(x) === 6, isIP(y) === 6];
  if ((x === '::' && !a.ipv6Only) || (y === '::' && !b.ipv6Only)) return true;
  if (v6x !== v6y) return false;
  return v6x ? x === '::' || y === '::' : x === '0.0.0.0' || y === '0.0.0.0';
}

/**
 * One spelling per address, as the kernel binds it: `[::0]` and `[0:0::0]` are `[::]`, and an
 * IPv4-mapped `[::ffff:7f00:1]` is `127.0.0.1` (it takes that IPv4 address's port). An address
 * with a zone (`fe80::1%eth0`) is left as written: SocketAddress drops the zone.
 */
function canonicalHost(host: string): string {
  if (isIP(host) !== 6 || host.includes('%')) return host.toLowerCase();
  const canonical = new SocketAddress({ address: host, family: 'ipv6' }).address;
  const v4 = canonical.startsWith('::ffff:') ? canonical.slice(7) : '';
  return isIP(v4) === 4 ? v4 : canonical;
}

/** A listener as Kong's `GET /` shows it in `configuration.proxy_listeners` and `admin_listeners`. */
export type KongListener = Record<string, boolean | string | number>;

/**
 * Kong's http listen flags, in the order kong/conf_loader/listeners.lua checks them: each becomes a
 * boolean of the listener, keyed by the flag as written when given (`backlog=511`), else by the
 * pattern (`backlog=%d+`: false).
 */
const KONG_FLAGS = [
  'ssl',
  'http2',
  'proxy_protocol',
  'deferred',
  'bind',
  'reuseport',
  'backlog=%d+',
  'ipv6only=on',
  'ipv6only=off',
  'so_keepalive=on',
  'so_keepalive=off',
  'so_keepalive=%w*:%w*:%d*',
] as const;
const BACKLOG_FLAG = /^backlog=\d+$/;

/**
 * The listener `text` (as configured) bound at `bound` (`ip:port` or `[v6]:port`, the address the
 * kernel gave: a configured port 0 shows the port taken) in Kong's shape: the flags, `ip`, `port`
 * and `listener` (the address and its flags but http2, as Kong writes it for nginx).
 */
export function kongListener(text: string, bound: string): KongListener {
  const written = text.trim().split(/\s+/).slice(1);
  const out: KongListener = {};
  const kept: string[] = [];
  for (const pattern of KONG_FLAGS) {
    const found =
      pattern === 'backlog=%d+' ? written.find((f) => BACKLOG_FLAG.test(f)) : written.find((f) => f === pattern);
    out[found ?? pattern] = found !== undefined;
    if (found !== undefined && found !== 'http2') kept.push(found);
  }
  const colon = bound.lastIndexOf(':');
  out.ip = kongIp(bound.slice(0, colon));
  out.port = Number(bound.slice(colon + 1));
  const address = `${out.ip}:${out.port}`;
  out.listener = kept.length === 0 ? address : `${address} ${kept.join(' ')}`;
  return out;
}

/**
 * An IPv6 address as Kong's normalize_ip writes it in a listener (kong/tools/ip.lua): eight groups
 * of four lower-case digits, in brackets (`[::1]` is `[0000:0000:0000:0000:0000:0000:0000:0001]`).
 * An IPv4 address, a name, an IPv4-mapped or a zoned address is left as bound.
 */
function kongIp(host: string): string {
  if (!host.startsWith('[') || host.includes('.') || host.includes('%')) return host;
  const [head = '', tail] = host.slice(1, -1).split('::', 2) as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `[${groups.map((g) => g.toLowerCase().padStart(4, '0')).join(':')}]`;
}
