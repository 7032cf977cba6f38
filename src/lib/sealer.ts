/**
 * Sealed values for cookies that any gateway instance holding the same secret can read: a JSON
 * payload encrypted as a compact JWE (`dir` + `A256GCM`). Shared by the oidc and session plugins.
 *
 * Keys are derived with HKDF-SHA256 from each secret and a binding string (for oidc: client id,
 * issuer, cookie name), so a value sealed for another client or plugin instance simply fails to
 * decrypt. The first secret seals; every secret opens, which lets operators rotate secrets without
 * logging everyone out. A sealer may deflate large payloads before it encrypts them (the session
 * plugin does, as lua-resty-session 4 does); it inflates them with a hard bound when it opens them.
 */
import { hkdfSync } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { CompactEncrypt, type CompactJWEHeaderParameters, compactDecrypt } from 'jose';

interface SessionKey {
  readonly kid: string;
  readonly key: Uint8Array;
}

/** How a sealer compresses what it seals. */
export interface SealerOptions {
  /**
   * A payload whose JSON is longer than this many bytes is deflated before it is encrypted, when
   * that makes it shorter (lua-resty-session 4's `compression_threshold`); 0 (the default): never.
   */
  readonly deflateAbove?: number;
  /**
   * The most bytes a deflated payload may inflate to (default 64 KiB): past it, or when it does not
   * inflate, the value does not open. A payload longer than this is sealed as it is, never deflated,
   * so that whatever a sealer seals it opens.
   */
  readonly maxInflated?: number;
}

/** What `open()` returns for a cookie that decrypted. */
export interface Opened<T> {
  readonly payload: T;
  /** True when an older secret of the list opened it: the caller should re-seal it. */
  readonly stale: boolean;
}

// Kept from when only oidc sealed sessions: changing it would log every oidc user out.
const SALT = 'tollgate/oidc/session/v1';
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/**
 * jose's own `zip: DEF` (RFC 7516 section 4.1.3) is refused (a limit of 0): nothing is sealed with
 * it, and jose would inflate it on web streams with its own limit. A deflated payload is marked with
 * DEFLATED below and inflated here, with `maxInflated` as zlib's hard output bound.
 */
const DECRYPT_OPTIONS = {
  keyManagementAlgorithms: ['dir'],
  contentEncryptionAlgorithms: ['A256GCM'],
  maxDecompressedLength: 0,
};
/**
 * The protected header's mark of a deflated payload: the value of RFC 7516's `zip` (raw DEFLATE,
 * RFC 1951, as lua-resty-session 4 deflates), under a private name jose leaves alone. The header is
 * authenticated, so the mark cannot be added or removed without the key. Values sealed without it
 * (all of those sealed before deflating existed) open as they did.
 */
const DEFLATED = 'tzip';
const DEFAULT_MAX_INFLATED = 64 * 1024;

/** Seals and opens session payloads with keys derived from a list of secrets. */
export class SessionSealer {
  readonly #keys: readonly SessionKey[];
  readonly #byKid: ReadonlyMap<string, SessionKey>;
  readonly #resolve: (header: CompactJWEHeaderParameters) => Uint8Array;
  readonly #deflateAbove: number;
  readonly #maxInflated: number;
  readonly #inflateOptions: { readonly maxOutputLength: number };
  readonly #header: CompactJWEHeaderParameters;
  readonly #deflatedHeader: CompactJWEHeaderParameters;

  /**
   * @param secrets the first seals, all open (rotation).
   * @param binding what the session is bound to; a different binding derives different keys.
   * @param options when to deflate what is sealed, and how far a sealed value may inflate.
   */
  constructor(secrets: readonly string[], binding: string, options: SealerOptions = {}) {
    if (secrets.length === 0) throw new TypeError('at least one secret is required');
    const deflateAbove = options.deflateAbove ?? 0;
    const maxInflated = options.maxInflated ?? DEFAULT_MAX_INFLATED;
    if (!Number.isSafeInteger(deflateAbove) || deflateAbove < 0)
      throw new TypeError('deflateAbove must be a whole number of bytes, 0 or more');
    if (!Number.isSafeInteger(maxInflated) || maxInflated < 1)
      throw new TypeError('maxInflated must be a whole number of bytes, 1 or more');
    this.#deflateAbove = deflateAbove;
    this.#maxInflated = maxInflated;
    this.#inflateOptions = { maxOutputLength: maxInflated };
    this.#keys = secrets.map((secret) => {
      const key = new Uint8Array(hkdfSync('sha256', secret, SALT, `enc:${binding}`, 32));
      // The kid only selects the key; it is derived independently so it reveals nothing about it.
      const kid = Buffer.from(hkdfSync('sha256', secret, SALT, `kid:${binding}`, 9)).toString('base64url');
      return { kid, key };
    });
    const kid = this.#keys[0]!.kid;
    this.#header = { alg: 'dir', enc: 'A256GCM', kid };
    this.#deflatedHeader = { alg: 'dir', enc: 'A256GCM', kid, [DEFLATED]: 'DEF' };
    this.#byKid = new Map(this.#keys.map((k) => [k.kid, k]));
    const byKid = this.#byKid;
    this.#resolve = (header) => {
      const k = header.kid === undefined ? undefined : byKid.get(header.kid);
      if (!k) throw new Error('unknown key');
      return k.key;
    };
  }

  /**
   * Whether chunks joined so far make a whole sealed value, for `ChunkedCookie`'s `complete`: a
   * compact JWE (RFC 7516 section 7.1) has five parts, the last the A256GCM tag of 16 bytes (22
   * base64url characters). A chunk past it, one a client kept from a longer session, is then not
   * joined to the value (lua-resty-session 4 reads the chunks its header counts, and no more).
   */
  static whole(joined: string): boolean {
    let dots = 0;
    let last = -1;
    for (let i = joined.indexOf('.'); i !== -1; i = joined.indexOf('.', i + 1)) {
      // More parts than a JWE has: it will not open, however much more is joined.
      if (++dots > 4) return true;
      last = i;
    }
    return dots === 4 && joined.length - last - 1 >= 22;
  }

  /** Seals a payload with the first secret, deflated first past `deflateAbove` when that makes it shorter. */
  async seal(payload: unknown): Promise<string> {
    const k = this.#keys[0]!;
    let plaintext: Uint8Array = encoder.encode(JSON.stringify(payload));
    let header = this.#header;
    // As lua-resty-session 4 does: past the threshold, deflated, and kept only when shorter.
    const size = plaintext.byteLength;
    if (this.#deflateAbove > 0 && size > this.#deflateAbove && size <= this.#maxInflated) {
      const deflated = deflateRawSync(plaintext);
      if (deflated.byteLength < size) {
        plaintext = deflated;
        header = this.#deflatedHeader;
      }
    }
    return new CompactEncrypt(plaintext).setProtectedHeader(header).encrypt(k.key);
  }

  /**
   * Opens a sealed value; null for anything that is not a value this sealer's secrets sealed, and
   * for a deflated one that does not inflate, or would inflate past `maxInflated`.
   */
  async open<T>(value: string): Promise<Opened<T> | null> {
    try {
      const { plaintext, protectedHeader } = await compactDecrypt(value, this.#resolve, DECRYPT_OPTIONS);
      const mark = protectedHeader[DEFLATED];
      if (mark !== undefined && mark !== 'DEF') return null;
      // zlib stops at maxOutputLength and throws (caught below): a leaked secret cannot make a
      // small cookie into a large allocation.
      const json = mark === undefined ? plaintext : inflateRawSync(plaintext, this.#inflateOptions);
      const payload = JSON.parse(decoder.decode(json)) as T;
      if (payload === null || typeof payload !== 'object') return null;
      return { payload, stale: protectedHeader.kid !== this.#keys[0]!.kid };
    } catch {
      return null;
    }
  }
}
