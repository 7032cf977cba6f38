/**
 * Deterministic entity ids. An entity without `id` gets a UUIDv5 derived from its kind and its
 * natural key, the way Kong's declarative loader does it (same namespace, same two-level scheme),
 * so a consumer declared with a username gets the same id here as in Kong, on every instance
 * and across reloads: X-Consumer-ID stays stable.
 */
import { hash } from 'node:crypto';

/** Kong's namespace for declarative entity ids. */
const KONG_NAMESPACE = 'fd02801f-0957-4a15-a55a-c8d9606f30b5';

/** Namespace UUIDs as bytes, converted once: ids are derived for every entity of a large file. */
const namespaceBytes = new Map<string, Buffer>();

function uuidBytes(uuid: string): Buffer {
  let b = namespaceBytes.get(uuid);
  if (b === undefined) {
    b = Buffer.from(uuid.replace(/-/g, ''), 'hex');
    if (namespaceBytes.size < 64) namespaceBytes.set(uuid, b);
  }
  return b;
}

/** Namespace and name, hashed together; reused (ids are derived one at a time, synchronously). */
let input = Buffer.allocUnsafe(256);
/** The namespace whose bytes start `input`: consecutive ids of one kind share it. */
let inputNamespace = '';
/** Views of `input`'s first n bytes, by n: one Buffer object per length, not one per id. */
let views: Buffer[] = [];
/** The variant's hex digit (RFC 4122 4.1.1, `10xx`) for each hex digit of the hash. */
const VARIANT_DIGIT = '89ab89ab89ab89ab';

/**
 * RFC 4122 name-based (SHA-1) UUID. The one-shot `crypto.hash` over one reused buffer, not a Hash
 * object per id: ten thousand ids cost a third of the CPU. The version (5) and variant bits are
 * set in the hex digits.
 */
export function uuidv5(namespace: string, name: string): string {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  if (16 + name.length * 3 > input.length) {
    input = Buffer.allocUnsafe((16 + name.length * 3) * 2);
    inputNamespace = '';
    views = [];
  }
  if (namespace !== inputNamespace) {
    uuidBytes(namespace).copy(input, 0);
    inputNamespace = namespace;
  }
  const length = 16 + input.write(name, 16, 'utf8');
  let view = views[length];
  if (view === undefined) views[length] = view = input.subarray(0, length);
  const h = hash('sha1', view, 'hex');
  // Joined, not concatenated: `join` makes one flat string, where a template literal leaves a tree
  // of pieces that every entity keeps (about 280 bytes an id instead of 56).
  return [
    h.slice(0, 8),
    h.slice(8, 12),
    `5${h.slice(13, 16)}`,
    `${VARIANT_DIGIT[Number.parseInt(h[16]!, 16)]}${h.slice(17, 20)}`,
    h.slice(20, 32),
  ].join('-');
}

const kinds = new Map<string, string>();

/** The id of an entity of `kind` (Kong's entity name, e.g. `services`) whose natural key is `key`. */
export function entityId(kind: string, key: string): string {
  let ns = kinds.get(kind);
  if (!ns) {
    ns = uuidv5(KONG_NAMESPACE, kind);
    kinds.set(kind, ns);
  }
  return uuidv5(ns, key);
}
