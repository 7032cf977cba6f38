/**
 * `tollgate/chunked-cookie`: a value too long for one cookie, stored in several. Browsers keep a
 * cookie's name and value up to 4096 bytes (RFC 6265 section 6.1 asks for at least that much,
 * RFC 6265bis section 5.6 makes it the limit), so a session that grows past it (many groups, long
 * tokens) is split into numbered cookies and joined again when it comes back. The session plugin
 * names them as lua-resty-session 4 does (`session`, `session2`, ...); oidc as it always has
 * (`oidc_session.0`, ...). The names and the size of each are fixed when the plugin loads, so a
 * request reads at most that many cookies, each at most its size, however many the client sends.
 */
import { trimAsciiSpace } from './header-value.ts';

/** The longest `name=value` a browser keeps (RFC 6265bis section 5.6). */
export const COOKIE_PAIR_LIMIT = 4096;

/** The cookies of one request that a `CookieReader` knows, by name (the first of each name). */
export type CookieJar = ReadonlyMap<string, string>;

/** What a header without any of the names reads as: shared, so that most requests allocate nothing. */
const NONE: { readonly jar: CookieJar; readonly rest: null } = Object.freeze({ jar: new Map(), rest: null });

/**
 * Reads a Cookie header for a fixed set of names: their values (the first of each name, as nginx's
 * `$cookie_NAME` and RFC 6265 section 5.4's order give it), and the header without them for the
 * upstream. Other cookies, look-alike names and a part that is one of the names without `=`
 * included, are kept as the client wrote them.
 */
export class CookieReader {
  readonly #names: ReadonlySet<string>;
  /** The names that no other name starts with: a header containing none of them holds none of ours. */
  readonly #stems: readonly string[];

  constructor(names: Iterable<string>) {
    const all = new Set(names);
    this.#names = all;
    this.#stems = [...all].filter((n) => ![...all].some((m) => m !== n && n.startsWith(m)));
  }

  /**
   * `jar`: our cookies the header has (at most one per name, so never more than the names given);
   * `rest`: the header without them (`''`: nothing else), or null when none of ours was there.
   */
  read(header: string | undefined): { readonly jar: CookieJar; readonly rest: string | null } {
    if (header === undefined || !this.#mayHold(header)) return NONE;
    const jar = new Map<string, string>();
    const kept: string[] = [];
    for (const part of header.split(';')) {
      const eq = part.indexOf('=');
      // A part without `=` is a cookie without a name whose value is that text (RFC 6265bis
      // section 5.6; a browser sends such a cookie as its value alone): never one of ours, it goes
      // upstream as the app's, whatever it reads.
      if (eq >= 0) {
        const name = trimAsciiSpace(part.slice(0, eq));
        if (this.#names.has(name)) {
          // Ours, the first of each name read; a repeated one does not go upstream either.
          if (!jar.has(name)) jar.set(name, trimAsciiSpace(part.slice(eq + 1)));
          continue;
        }
      }
      const other = trimAsciiSpace(part);
      if (other !== '') kept.push(other);
    }
    return jar.size === 0 ? NONE : { jar, rest: kept.join('; ') };
  }

  #mayHold(header: string): boolean {
    for (const stem of this.#stems) if (header.includes(stem)) return true;
    return false;
  }
}

/**
 * One value stored under a fixed list of cookie names. A value that fits in `single` goes there;
 * a longer one is split over `chunks`, in order, each filled up to its size. `single` may be the
 * first chunk too (lua-resty-session 4's `session`, `session2`, ...), or a cookie of its own
 * (oidc's `oidc_session` beside `oidc_session.0`, ...).
 */
export class ChunkedCookie {
  /** Every name of this value: `single`, then the chunks. */
  readonly names: readonly string[];
  readonly #single: string;
  readonly #singleLimit: number;
  readonly #chunks: readonly string[];
  readonly #limits: readonly number[];
  readonly #complete: ((joined: string) => boolean) | undefined;
  /** The longest value the chunks hold together. */
  readonly capacity: number;

  /**
   * @param limit the longest value the cookie of that name may hold (e.g. `COOKIE_PAIR_LIMIT` less
   * the name and its `=`); asked once per name, here.
   * @param complete whether the chunks joined so far make a whole value: when they do, no later
   * chunk is joined (one the client kept from a longer value is then no part of it).
   */
  constructor(
    single: string,
    chunks: readonly string[],
    limit: (name: string) => number,
    complete?: (joined: string) => boolean,
  ) {
    if (chunks.length === 0) throw new TypeError('at least one chunk name is required');
    this.#single = single;
    this.#singleLimit = Math.max(0, limit(single));
    this.#chunks = [...chunks];
    this.#limits = chunks.map((n) => Math.max(0, limit(n)));
    this.#complete = complete;
    this.names = chunks[0] === single ? [...chunks] : [single, ...chunks];
    // A chunk that holds nothing (a name near 4096 bytes) ends the list: a value never reaches past it.
    let capacity = 0;
    for (const l of this.#limits) {
      if (l === 0) break;
      capacity += l;
    }
    this.capacity = capacity;
  }

  /** Whether the client holds any cookie of this value (valid or not). */
  present(jar: CookieJar): boolean {
    for (const n of this.names) if (jar.has(n)) return true;
    return false;
  }

  /**
   * The value the cookies carry: `single` when it holds one on its own, else the chunks joined from
   * the first up to the first one missing or empty, or up to a whole value (`complete`). Null when there is none, or when a cookie is
   * longer than its size (no value of ours is: it is refused before it is read further).
   */
  join(jar: CookieJar): string | null {
    if (this.#single !== this.#chunks[0]) {
      const whole = jar.get(this.#single);
      if (whole !== undefined && whole !== '') return whole.length <= this.#singleLimit ? whole : null;
    }
    let out = '';
    for (let i = 0; i < this.#chunks.length; i++) {
      const part = jar.get(this.#chunks[i]!);
      if (part === undefined || part === '') break;
      if (part.length > this.#limits[i]!) return null;
      out += part;
      if (this.#complete?.(out)) break;
    }
    return out === '' ? null : out;
  }

  /**
   * The Set-Cookie values that store `value` (each `name=part` followed by `attributes`), then those
   * that expire every other cookie of this value the client holds (`name=` followed by `expired`):
   * a value that shrank leaves no stale chunk to be joined to it. Null when `value` is longer than
   * the chunks hold together: the caller decides (not storing it, expiring what the client holds).
   */
  write(value: string, attributes: string, expired: string, jar: CookieJar): string[] | null {
    const out: string[] = [];
    let written: ReadonlySet<string>;
    if (value.length <= this.#singleLimit) {
      out.push(`${this.#single}=${value}${attributes}`);
      written = new Set([this.#single]);
    } else {
      if (value.length > this.capacity) return null;
      const names = new Set<string>();
      for (let i = 0, off = 0; off < value.length; i++) {
        const name = this.#chunks[i]!;
        const end = off + this.#limits[i]!;
        out.push(`${name}=${value.slice(off, end)}${attributes}`);
        names.add(name);
        off = end;
      }
      written = names;
    }
    for (const n of this.names) if (!written.has(n) && jar.has(n)) out.push(`${n}=${expired}`);
    return out;
  }

  /** The Set-Cookie values that expire every cookie of this value the client holds. */
  clear(jar: CookieJar, expired: string): string[] {
    const out: string[] = [];
    for (const n of this.names) if (jar.has(n)) out.push(`${n}=${expired}`);
    return out;
  }
}
