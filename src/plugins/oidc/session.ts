/**
 * Stateless sessions for the oidc plugin: a JSON payload sealed as a compact JWE (`dir` +
 * `A256GCM`) in a cookie, split into numbered cookies when it would not fit in one.
 *
 * Keys are derived with HKDF-SHA256 from each `session_secret` and a binding string (client id,
 * issuer, cookie name), so any gateway instance holding the same secret reads the cookie, while a
 * cookie sealed for another client or plugin instance simply fails to decrypt. The first secret
 * seals; every secret opens, which lets operators rotate secrets without logging everyone out.
 */
import { hkdfSync } from 'node:crypto';
import { CompactEncrypt, type CompactJWEHeaderParameters, compactDecrypt } from 'jose';

interface SessionKey {
  readonly kid: string;
  readonly key: Uint8Array;
}

/** What `open()` returns for a cookie that decrypted. */
export interface Opened<T> {
  readonly payload: T;
  /** True when an older secret of the list opened it: the caller should re-seal it. */
  readonly stale: boolean;
}

const SALT = 'tollgate/oidc/session/v1';
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const DECRYPT_OPTIONS = { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] };

/** Seals and opens session payloads with keys derived from a list of secrets. */
export class SessionSealer {
  readonly #keys: readonly SessionKey[];
  readonly #byKid: ReadonlyMap<string, SessionKey>;
  readonly #resolve: (header: CompactJWEHeaderParameters) => Uint8Array;

  /**
   * @param secrets the first seals, all open (rotation).
   * @param binding what the session is bound to; a different binding derives different keys.
   */
  constructor(secrets: readonly string[], binding: string) {
    if (secrets.length === 0) throw new TypeError('at least one secret is required');
    this.#keys = secrets.map((secret) => {
      const key = new Uint8Array(hkdfSync('sha256', secret, SALT, `enc:${binding}`, 32));
      // The kid only selects the key; it is derived independently so it reveals nothing about it.
      const kid = Buffer.from(hkdfSync('sha256', secret, SALT, `kid:${binding}`, 9)).toString('base64url');
      return { kid, key };
    });
    this.#byKid = new Map(this.#keys.map((k) => [k.kid, k]));
    const byKid = this.#byKid;
    this.#resolve = (header) => {
      const k = header.kid === undefined ? undefined : byKid.get(header.kid);
      if (!k) throw new Error('unknown key');
      return k.key;
    };
  }

  /** Seals a payload with the first secret. */
  async seal(payload: unknown): Promise<string> {
    const k = this.#keys[0]!;
    return new CompactEncrypt(encoder.encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: k.kid })
      .encrypt(k.key);
  }

  /** Opens a sealed value; null for anything that is not a value this sealer's secrets sealed. */
  async open<T>(value: string): Promise<Opened<T> | null> {
    try {
      const { plaintext, protectedHeader } = await compactDecrypt(value, this.#resolve, DECRYPT_OPTIONS);
      const payload = JSON.parse(decoder.decode(plaintext)) as T;
      if (payload === null || typeof payload !== 'object') return null;
      return { payload, stale: protectedHeader.kid !== this.#keys[0]!.kid };
    } catch {
      return null;
    }
  }
}

/** Longest cookie value written in one cookie; browsers cap name + value + attributes near 4096 bytes. */
export const CHUNK_SIZE = 3800;
/** Upper bound of chunks read, so a hostile Cookie header cannot make us concatenate forever. */
const MAX_CHUNKS = 16;

/**
 * Parses a Cookie header, keeping only cookies whose name starts with `prefix`. Also returns the
 * header without those cookies (null when none of ours were present), for the upstream request.
 */
export function readCookies(
  header: string | undefined,
  prefix: string,
): { ours: Map<string, string>; rest: string | null } {
  const ours = new Map<string, string>();
  if (header === undefined || !header.includes(prefix)) return { ours, rest: null };
  const kept: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim();
    if (name.startsWith(prefix)) {
      if (eq >= 0 && !ours.has(name)) ours.set(name, part.slice(eq + 1).trim());
    } else if (part.trim() !== '') {
      kept.push(part.trim());
    }
  }
  return { ours, rest: ours.size === 0 ? null : kept.join('; ') };
}

/** Reassembles a possibly chunked cookie value: `name`, or `name.0`, `name.1`, ... in order. */
export function joinChunks(cookies: ReadonlyMap<string, string>, name: string): string | null {
  const whole = cookies.get(name);
  if (whole !== undefined && whole !== '') return whole;
  let out = '';
  for (let i = 0; i < MAX_CHUNKS; i++) {
    const part = cookies.get(`${name}.${i}`);
    if (part === undefined || part === '') break;
    out += part;
  }
  return out === '' ? null : out;
}

/** Attributes every cookie of the plugin carries. */
export interface CookieAttributes {
  readonly secure: boolean;
  /** Seconds; undefined for a browser-session cookie. */
  readonly maxAge?: number;
}

function serialize(name: string, value: string, attrs: CookieAttributes): string {
  let s = `${name}=${value}; Path=/; HttpOnly; SameSite=Lax`;
  if (attrs.maxAge !== undefined) s += `; Max-Age=${attrs.maxAge}`;
  if (attrs.secure) s += '; Secure';
  return s;
}

/** A Set-Cookie value that deletes `name`. */
export function clearCookie(name: string, secure: boolean): string {
  return `${name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure ? '; Secure' : ''}`;
}

/**
 * Set-Cookie values that store `value` under `name`, chunked when too long, and delete whatever
 * other chunk (or the unchunked cookie) the client currently holds.
 */
export function writeChunks(
  name: string,
  value: string,
  attrs: CookieAttributes,
  present: ReadonlyMap<string, string>,
): string[] {
  const out: string[] = [];
  const written = new Set<string>();
  if (value.length <= CHUNK_SIZE) {
    out.push(serialize(name, value, attrs));
    written.add(name);
  } else {
    for (let i = 0, off = 0; off < value.length; i++, off += CHUNK_SIZE) {
      const chunkName = `${name}.${i}`;
      out.push(serialize(chunkName, value.slice(off, off + CHUNK_SIZE), attrs));
      written.add(chunkName);
    }
  }
  for (const existing of present.keys()) {
    if (!written.has(existing) && isPartOf(existing, name)) out.push(clearCookie(existing, attrs.secure));
  }
  return out;
}

/** Set-Cookie values deleting `name` and all of its chunks the client holds. */
export function clearChunks(name: string, secure: boolean, present: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const existing of present.keys()) {
    if (isPartOf(existing, name)) out.push(clearCookie(existing, secure));
  }
  return out;
}

function isPartOf(cookieName: string, name: string): boolean {
  if (cookieName === name) return true;
  if (!cookieName.startsWith(name) || cookieName.charCodeAt(name.length) !== 46 /* . */) return false;
  const rest = cookieName.slice(name.length + 1);
  return rest !== '' && /^\d+$/.test(rest);
}
