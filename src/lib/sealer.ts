/**
 * Sealed values for cookies that any gateway instance holding the same secret can read: a JSON
 * payload encrypted as a compact JWE (`dir` + `A256GCM`). Shared by the oidc and session plugins.
 *
 * Keys are derived with HKDF-SHA256 from each secret and a binding string (for oidc: client id,
 * issuer, cookie name), so a value sealed for another client or plugin instance simply fails to
 * decrypt. The first secret seals; every secret opens, which lets operators rotate secrets without
 * logging everyone out.
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

// Kept from when only oidc sealed sessions: changing it would log every oidc user out.
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
