/**
 * Addresses a client wrote (X-Forwarded-For entries, X-Real-IP, Forwarded's for=), read the way
 * nginx's realip module reads them (ngx_parse_addr_port in src/core/ngx_inet.c), so Kong's and
 * Tollgate's client address agree, and written back in one spelling, as nginx writes
 * `$remote_addr` from the parsed address (ngx_sock_ntop): `010.0.0.1` is `10.0.0.1` (nginx's IPv4
 * octets are decimal, leading zeros and all, where inet_aton would read octal),
 * `0:0:0:0:0:0:0:1` is `::1`, `::FFFF:10.0.0.1` is `::ffff:10.0.0.1`. Every spelling of one
 * address is then one client for the logs, X-Real-IP, ip-restriction and rate-limiting keys.
 *
 * Accepted: an IPv4 address; an IPv6 address (hex groups in any case, one `::`, a dotted IPv4 tail);
 * either in brackets; an IPv4 address, or a bracketed one, followed by `:PORT` (1 to 65535). Not
 * accepted, where nginx is laxer: empty IPv4 octets (`1..2.3`, nginx's 1.0.2.3) and a single
 * leading colon (`:1::2`). IPv6 is written as RFC 5952 section 4 says, IPv4-mapped addresses in
 * its section 5 mixed notation (`::ffff:10.0.0.1`, as node shows such a peer). Linear, no regex.
 */

import { isIPv6 } from 'node:net';

/** The canonical text of the address `s[from, to)` names (a port allowed), or null when it is none. */
export function readIp(s: string, from = 0, to = s.length): string | null {
  if (from >= to) return null;
  if (s.charCodeAt(from) === 91 /* [ */) {
    const close = s.indexOf(']', from);
    if (close < 0 || close >= to) return null;
    if (close + 1 < to && !isPort(s, close + 1, to)) return null;
    return readBare(s, from + 1, close);
  }
  const bare = readBare(s, from, to);
  if (bare !== null) return bare;
  // An unbracketed address with a port is an IPv4 one: an IPv6 address has colons of its own.
  const colon = s.indexOf(':', from);
  if (colon < 0 || colon >= to || !isPort(s, colon, to)) return null;
  return readIpv4(s, from, colon);
}

/** An address without brackets or port. */
function readBare(s: string, from: number, to: number): string | null {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) === 58 /* : */) return readIpv6(s, from, to);
  return readIpv4(s, from, to);
}

/** Whether `s[at, to)` is `:` and a port nginx accepts (ngx_atoi, 1 to 65535). */
function isPort(s: string, at: number, to: number): boolean {
  if (s.charCodeAt(at) !== 58 /* : */ || at + 1 >= to) return false;
  let port = 0;
  for (let i = at + 1; i < to; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    port = port * 10 + d;
    if (port > 65535) return false;
  }
  return port >= 1;
}

/** The four octets of a dotted IPv4 address as one number, or -1. Octets are decimal, leading zeros allowed. */
function ipv4Value(s: string, from: number, to: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      continue;
    }
    const d = c - 48;
    if (d < 0 || d > 9) return -1;
    octet = octet * 10 + d;
    digits++;
    if (octet > 255) return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

function readIpv4(s: string, from: number, to: number): string | null {
  const v = ipv4Value(s, from, to);
  return v < 0 ? null : dotted(v);
}

function dotted(v: number): string {
  return `${Math.floor(v / 0x1000000)}.${Math.floor(v / 0x10000) % 256}.${Math.floor(v / 0x100) % 256}.${v % 256}`;
}

/** Eight 16-bit words, reused: the request path is single-threaded and each call finishes before the next. */
const words = new Uint16Array(8);

function readIpv6(s: string, from: number, to: number): string | null {
  // Groups before `::` fill words from the front; those after it are collected at the front too
  // and moved to the back once their count is known.
  let n = 0;
  let gap = -1;
  let i = from;
  if (s.charCodeAt(i) === 58 /* : */) {
    if (i + 1 >= to || s.charCodeAt(i + 1) !== 58) return null;
    gap = 0;
    i += 2;
  }
  while (i < to) {
    let word = 0;
    let digits = 0;
    const start = i;
    for (; i < to; i++) {
      const h = hexValue(s.charCodeAt(i));
      if (h < 0) break;
      word = word * 16 + h;
      if (++digits > 4) return null;
    }
    if (i < to && s.charCodeAt(i) === 46 /* . */) {
      // A dotted IPv4 tail: the last 32 bits, after at most six groups.
      const v = ipv4Value(s, start, to);
      if (v < 0 || n > 6) return null;
      words[n++] = Math.floor(v / 0x10000);
      words[n++] = v % 0x10000;
      i = to;
      break;
    }
    if (digits === 0 || n === 8) return null;
    words[n++] = word;
    if (i === to) break;
    if (s.charCodeAt(i) !== 58 /* : */) return null;
    i++;
    if (i < to && s.charCodeAt(i) === 58 /* : */) {
      if (gap >= 0) return null;
      gap = n;
      i++;
    } else if (i === to) return null;
  }
  if (gap < 0) {
    if (n !== 8) return null;
  } else {
    if (n > 7) return null;
    const tail = n - gap;
    for (let k = 1; k <= tail; k++) words[8 - k] = words[n - k]!;
    for (let k = gap; k < 8 - tail; k++) words[k] = 0;
  }
  return ipv6Text();
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** RFC 5952 section 4: lower-case, no leading zeros, the longest run of two or more zero words (the first of equals) as `::`. */
function ipv6Text(): string {
  let best = -1;
  let bestLen = 1;
  for (let k = 0; k < 8; ) {
    if (words[k] !== 0) {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && words[e] === 0) e++;
    if (e - k > bestLen) {
      best = k;
      bestLen = e - k;
    }
    k = e;
  }
  // Section 5: an IPv4-mapped address ends in its IPv4 address.
  if (best === 0 && bestLen === 5 && words[5] === 0xffff) return `::ffff:${dotted(words[6]! * 0x10000 + words[7]!)}`;
  let out = '';
  for (let k = 0; k < 8; k++) {
    if (k === best) {
      out += '::';
      k += bestLen - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += words[k]!.toString(16);
  }
  return out;
}

/**
 * A host as a URL or a `host:port` writes it: an IPv6 address in brackets (RFC 3986 3.2.2), any
 * other host as it is. Every IPv6 address has a colon, so most hosts skip the address check.
 */
export function urlHost(host: string): string {
  return host.includes(':') && isIPv6(host) ? `[${host}]` : host;
}
