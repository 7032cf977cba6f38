/**
 * Deterministic entity ids. An entity without `id` gets a UUIDv5 derived from its kind and its
 * natural key, the way Kong's declarative loader does it (same namespace, same two-level scheme),
 * so a consumer declared with a username gets the same id here as in Kong, on every instance
 * and across reloads: X-Consumer-ID stays stable.
 */
import { createHash } from 'node:crypto';

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

/** RFC 4122 name-based (SHA-1) UUID. */
export function uuidv5(namespace: string, name: string): string {
  const b = createHash('sha1').update(uuidBytes(namespace)).update(name, 'utf8').digest();
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex', 0, 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
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
