/**
 * gRPC JSON transcoding, as Kong's grpc-gateway and grpc-web (with a `proto`) do it with
 * lua-protobuf: a .proto file read with protobufjs (loaded at the first use, not at start-up), its
 * services' methods by gRPC path, JSON to a protobuf message and back, and the reply's
 * length-prefixed frames decoded as they stream.
 *
 * JSON goes as Kong's does: fields by their names in the .proto file (`boolean_test`, not
 * `booleanTest`), every scalar field in a reply (its default when the service left it out), a
 * repeated field as `[]` when empty (Kong's `decode_default_array`), a message field only when set,
 * enums by name, and google.protobuf.Timestamp as a date-time string both ways (Kong's hook: the
 * reply's without a zone or fraction, `2024-05-01T10:00:00`).
 */
import type { Enum, Field, MapField, Method, NamespaceBase, Root, Type } from 'protobufjs';
import type { BodyFilter } from '../pipeline/plugin.ts';
import { wireValuesWithin } from './grpc-wire.ts';
import { parseRequestJson, setOwnField } from './json.ts';

/** A method of the file's services. */
export interface RpcMethod {
  /** The gRPC path: `/package.Service/Method`. */
  readonly path: string;
  readonly input: Type;
  readonly output: Type;
  /** protobufjs's method, with its options as parsed (`parsedOptions`). */
  readonly method: Method;
}

/** A .proto file as read: the methods of the services it declares (not those of its imports), in file order. */
export interface ProtoFile {
  readonly root: Root;
  readonly methods: readonly RpcMethod[];
}

type Protobuf = typeof import('protobufjs');
let protobuf: Promise<Protobuf> | null = null;

/** `nested` under package google.api, as a protobufjs JSON descriptor. */
const googleApi = (nested: Record<string, unknown>) => ({ nested: { google: { nested: { api: { nested } } } } });

/**
 * google/api/annotations.proto, http.proto and httpbody.proto (github.com/googleapis/googleapis,
 * Apache-2.0) as protobufjs JSON descriptors of their messages, so that a .proto importing them
 * loads without the files on disk (Kong installs them under /usr/local/kong/include).
 * annotations.proto declares only the `google.api.http` option, which protobufjs does not need
 * declared (it keeps the option as parsed). HttpBody's `extensions` (repeated google.protobuf.Any)
 * is read as repeated bytes, the same bytes on the wire: a JSON descriptor cannot import Any.
 */
const BUNDLED: Readonly<Record<string, unknown>> = {
  'google/api/annotations.proto': { nested: {} },
  'google/api/http.proto': googleApi({
    Http: {
      fields: {
        rules: { rule: 'repeated', type: 'HttpRule', id: 1 },
        fully_decode_reserved_expansion: { type: 'bool', id: 2 },
      },
    },
    HttpRule: {
      oneofs: { pattern: { oneof: ['get', 'put', 'post', 'delete', 'patch', 'custom'] } },
      fields: {
        selector: { type: 'string', id: 1 },
        get: { type: 'string', id: 2 },
        put: { type: 'string', id: 3 },
        post: { type: 'string', id: 4 },
        delete: { type: 'string', id: 5 },
        patch: { type: 'string', id: 6 },
        custom: { type: 'CustomHttpPattern', id: 8 },
        body: { type: 'string', id: 7 },
        response_body: { type: 'string', id: 12 },
        additional_bindings: { rule: 'repeated', type: 'HttpRule', id: 11 },
      },
    },
    CustomHttpPattern: { fields: { kind: { type: 'string', id: 1 }, path: { type: 'string', id: 2 } } },
  }),
  'google/api/httpbody.proto': googleApi({
    HttpBody: {
      fields: {
        content_type: { type: 'string', id: 1 },
        data: { type: 'bytes', id: 2 },
        extensions: { rule: 'repeated', type: 'bytes', id: 3 },
      },
    },
  }),
};

function load(): Promise<Protobuf> {
  protobuf ??= import('protobufjs').then((m) => {
    const pb = ((m as { default?: Protobuf }).default ?? m) as Protobuf;
    for (const [name, json] of Object.entries(BUNDLED)) pb.common(name, json as never);
    return pb;
  });
  return protobuf;
}

/**
 * Reads and parses `file` (its imports beside it; google/protobuf and google/api built in) and
 * lists its services' methods; rejects with why the file cannot be used.
 */
export async function loadProtoFile(file: string): Promise<ProtoFile> {
  const pb = await load();
  const root: Root = new pb.Root();
  const resolve = pb.util.path.resolve;
  // The bundled files by their import names; others beside the importing file, as protoc's
  // include path (Kong adds the file's own directory).
  root.resolvePath = (origin, target) =>
    Object.hasOwn(BUNDLED, target) || target.startsWith('google/protobuf/') ? target : resolve(origin, target);
  // protobufjs resolves the file's types itself once its last file is read, in its own read
  // callback: a type that does not exist (`returns (Typo)`) throws there, out of any promise, and
  // the exception would end the process. Its resolving is put off until here, where it rejects.
  const resolveAll = root.resolveAll;
  root.resolveAll = () => root;
  try {
    await root.load(file, { keepCase: true });
  } finally {
    root.resolveAll = resolveAll;
  }
  root.resolveAll();
  const methods: RpcMethod[] = [];
  const main = root.files[0];
  const visit = (ns: NamespaceBase): void => {
    for (const child of ns.nestedArray) {
      if (child instanceof pb.Service) {
        // Kong serves the services of the file it was given, not those of the files it imports.
        if (child.filename !== main) continue;
        const pkg = child.parent && child.parent !== root ? child.parent.fullName.slice(1) : '';
        for (const m of child.methodsArray) {
          m.resolve();
          const path = `/${pkg === '' ? '' : `${pkg}.`}${child.name}/${m.name}`;
          methods.push({ path, input: m.resolvedRequestType!, output: m.resolvedResponseType!, method: m });
        }
      } else if ('nestedArray' in child) visit(child as NamespaceBase);
    }
  };
  visit(root);
  return { root, methods };
}

/** A gRPC frame: flag, 4-byte big-endian length, the message. */
export function grpcFrame(flag: number, message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = flag;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** Deepest nesting of messages either way (protobuf's own default recursion limit). */
export const MAX_MESSAGE_DEPTH = 100;

const TIMESTAMP = '.google.protobuf.Timestamp';

/** A JSON value that cannot go into the field it names: Kong answers `failed to encode payload`. */
export class EncodeError extends Error {}

const INT32 = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32 = new Set(['uint32', 'fixed32']);
const INT64 = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);
const FLOAT = new Set(['double', 'float']);

/** A number from a JSON number or a numeric string (a query argument; lua-protobuf takes both). */
function numeric(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    if (!Number.isNaN(n)) return n;
  }
  throw new EncodeError('not a number');
}

const DIGITS = /^-?\d{1,20}$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** Standard or URL-safe base64, padded or not, as proto3's JSON mapping takes `bytes`. */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function isBase64(v: string): boolean {
  if (!BASE64.test(v)) return false;
  const padded = v.endsWith('=');
  return padded ? v.length % 4 === 0 : v.length % 4 !== 1;
}

function scalarIn(t: string, v: unknown): unknown {
  if (t === 'string') {
    if (typeof v !== 'string') throw new EncodeError('not a string');
    return v;
  }
  if (t === 'bool') {
    if (typeof v === 'boolean') return v;
    // Kong's encode_fix for query arguments: anything but "0" and "false" is true.
    if (typeof v === 'string') return v !== '0' && v !== 'false';
    throw new EncodeError('not a boolean');
  }
  if (INT32.has(t) || UINT32.has(t)) {
    const n = numeric(v);
    if (!Number.isInteger(n)) throw new EncodeError('not an integer');
    if (INT32.has(t) ? n < -2147483648 || n > 2147483647 : n < 0 || n > 4294967295)
      throw new EncodeError('out of range');
    return n;
  }
  if (INT64.has(t)) {
    // protobufjs wraps a value past 64 bits silently (`99999999999999999999` would reach the
    // service as 7766279631452241919, 1e300 as 0): refused, as Lua's integers cannot hold it either.
    const unsigned = t === 'uint64' || t === 'fixed64';
    // As a string, to keep every digit (a JSON number past 2^53 has lost them already).
    if (typeof v === 'string' && DIGITS.test(v)) {
      const b = BigInt(v);
      if (unsigned ? b < 0n || b > UINT64_MAX : b < INT64_MIN || b > INT64_MAX) throw new EncodeError('out of range');
      return v;
    }
    const n = numeric(v);
    if (!Number.isInteger(n)) throw new EncodeError('not an integer');
    if (unsigned ? n < 0 || n >= 2 ** 64 : n < -(2 ** 63) || n >= 2 ** 63) throw new EncodeError('out of range');
    return n;
  }
  if (FLOAT.has(t)) return numeric(v);
  if (t === 'bytes') {
    // Node's base64 decoder skips what is not base64 (`not base64 !!` would reach the service as
    // the bytes of `notbase6`): a value that is not base64 does not fit the field.
    if (typeof v !== 'string' || !isBase64(v)) throw new EncodeError('not a base64 string');
    return Buffer.from(v, 'base64');
  }
  throw new EncodeError(`unknown type ${t}`);
}

function enumIn(e: Enum, v: unknown): number {
  if (typeof v === 'string' && Object.hasOwn(e.values, v)) return e.values[v]!;
  const n = typeof v === 'string' && DIGITS.test(v) ? Number(v) : v;
  // An enum is an int32 on the wire: protobufjs would wrap a larger number into another value.
  if (typeof n === 'number' && Number.isInteger(n) && n >= -2147483648 && n <= 2147483647) return n;
  throw new EncodeError('not a value of the enum');
}

// 2024-05-01T10:00:00, with a fraction and a zone or not: Kong's date() reads it as UTC without one.
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;

function timestampIn(v: unknown): { seconds: number; nanos: number } {
  const m = typeof v === 'string' ? DATE_TIME.exec(v) : null;
  if (m === null) throw new EncodeError('not a date-time');
  // Date.UTC would take years 0-99 as 1900-1999 and roll a 13th month or a 30 February over into
  // another date: the fields are set literally and checked instead.
  const year = +m[1]!;
  const month = +m[2]! - 1;
  const day = +m[3]!;
  const d = new Date(0);
  d.setUTCFullYear(year, month, day);
  d.setUTCHours(+m[4]!, +m[5]!, +m[6]!, 0);
  const zoneMinutes = m[11] === undefined ? 0 : +m[11];
  if (
    d.getUTCFullYear() !== year ||
    d.getUTCMonth() !== month ||
    d.getUTCDate() !== day ||
    +m[4]! > 23 ||
    +m[5]! > 59 ||
    +m[6]! > 59 ||
    zoneMinutes > 59
  )
    throw new EncodeError('not a date-time');
  let seconds = d.getTime() / 1000;
  if (m[9] !== undefined) seconds -= (m[9] === '-' ? -1 : 1) * (+m[10]! * 3600 + +m[11]! * 60);
  const nanos = m[7] === undefined ? 0 : Number(m[7].padEnd(9, '0'));
  return { seconds, nanos };
}

function valueIn(field: Field, v: unknown, depth: number): unknown {
  if (v === null) throw new EncodeError('null');
  const rt = field.resolvedType;
  if (rt === null) return scalarIn(field.type, v);
  if ('fieldsArray' in rt) {
    const type = rt as Type;
    if (type.fullName === TIMESTAMP) return timestampIn(v);
    return messageIn(type, v, depth + 1);
  }
  return enumIn(rt as Enum, v);
}

/**
 * Messages (a map's entries each count: each is one on the wire) one JSON value may make. Each
 * costs protobufjs an allocation-heavy encode: 8 MiB of `[{},{},...]` (2.7 million messages) held
 * the event loop for seconds and took a gigabyte. Kong reads no body past its 8 KiB buffer, so no
 * more than a few thousand ever reach its encoder.
 */
export const MAX_MESSAGES = 10_000;
/**
 * Values of repeated fields one JSON value may hold, in all: 8 MiB of `[0,0,...]` (4 million
 * numbers) cost protobufjs seconds and 400 MB to encode.
 */
export const MAX_ELEMENTS = 100_000;
/**
 * A request's JSON, parsed for `messageIn`: refused before parsing past the values the caps above
 * allow in all (each message and each repeated value one), so that the caps, not the general
 * request-JSON bound, are what a client meets.
 */
export function parseMessageJson(text: string): unknown {
  return parseRequestJson(text, MAX_MESSAGES + MAX_ELEMENTS);
}
/** Messages and repeated values made so far by the messageIn under way (it runs to its end synchronously). */
let messagesIn = 0;
let elementsIn = 0;

/**
 * The object protobufjs encodes as message `type` from a JSON value (a body, or the path and
 * query values set into one); fields it does not know are left out, as Kong leaves them.
 * Throws an EncodeError for a value that does not fit its field.
 */
export function messageIn(type: Type, json: unknown, depth = 0): Record<string, unknown> {
  if (depth > MAX_MESSAGE_DEPTH) throw new EncodeError('nested too deep');
  if (depth === 0) messagesIn = elementsIn = 0;
  if (++messagesIn > MAX_MESSAGES) throw new EncodeError('too many messages');
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new EncodeError('not an object');
  const src = json as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(src)) {
    const field = Object.hasOwn(type.fields, key) ? type.fields[key] : undefined;
    if (field === undefined) continue;
    const v = src[key];
    if (field.map) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new EncodeError('not an object');
      const m: Record<string, unknown> = {};
      // Keys are the client's: `__proto__` is a key like any other, not the object's prototype.
      const keyType = (field as unknown as MapField).keyType;
      for (const k of Object.keys(v)) {
        // A JSON key is a string: one for an integer key must be a number that fits it.
        if (keyType !== 'string') scalarIn(keyType, k);
        if (++messagesIn > MAX_MESSAGES) throw new EncodeError('too many messages');
        setOwnField(m, k, valueIn(field, (v as Record<string, unknown>)[k], depth));
      }
      out[key] = m;
    } else if (field.repeated) {
      // A single query argument for a repeated field is a list of one.
      const list = Array.isArray(v) ? v : [v];
      if ((elementsIn += list.length) > MAX_ELEMENTS) throw new EncodeError('too many repeated values');
      out[key] = list.map((x) => valueIn(field, x, depth));
    } else out[key] = valueIn(field, Array.isArray(v) && typeof v[0] === 'string' ? v[0] : v, depth);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
  toString(): string;
  toNumber(): number;
}

function longOut(v: unknown): number | string {
  if (typeof v === 'number') return v;
  const l = v as LongLike;
  const n = l.toNumber();
  // Kong's cjson writes a number; one past 2^53 would lose digits as a JSON number, so a string.
  return Number.isSafeInteger(n) ? n : l.toString();
}

/**
 * A 64-bit map key as protobufjs decodes it (its 8-character hash: the value's bytes, little-endian)
 * written in decimal, as JSON writes map keys.
 */
function longKey(hash: string, keyType: string): string {
  if (hash.length !== 8) return hash;
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(hash.charCodeAt(i) & 0xff);
  if (!keyType.startsWith('u') && !keyType.startsWith('fixed') && v >= 1n << 63n) v -= 1n << 64n;
  return v.toString();
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

function timestampOut(m: Record<string, unknown>): string {
  const seconds = Number(longOut(m.seconds ?? 0));
  const d = new Date(seconds * 1000);
  if (Number.isNaN(d.getTime())) return String(seconds);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
}

function valueOut(field: Field, v: unknown, depth: number): unknown {
  const rt = field.resolvedType;
  if (rt === null) {
    if (field.long) return longOut(v);
    if (field.type === 'bytes') return Buffer.from(v as Uint8Array).toString('base64');
    if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
    return v;
  }
  if ('fieldsArray' in rt) {
    const type = rt as Type;
    if (type.fullName === TIMESTAMP) return timestampOut(v as Record<string, unknown>);
    return messageOut(type, v as Record<string, unknown>, depth + 1);
  }
  const name = (rt as Enum).valuesById[v as number];
  return name ?? v;
}

/** A decoded message as Kong's JSON reply has it. Throws past MAX_MESSAGE_DEPTH. */
export function messageOut(type: Type, msg: Record<string, unknown>, depth = 0): Record<string, unknown> {
  if (depth > MAX_MESSAGE_DEPTH) throw new Error('a reply message nested too deep');
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const name = field.name;
    const v = msg[name];
    if (field.map) {
      const m: Record<string, unknown> = {};
      const longKeys = INT64.has((field as unknown as MapField).keyType);
      if (v != null)
        for (const k of Object.keys(v))
          setOwnField(
            m,
            longKeys ? longKey(k, (field as unknown as MapField).keyType) : k,
            valueOut(field, (v as Record<string, unknown>)[k], depth),
          );
      out[name] = m;
    } else if (field.repeated) {
      out[name] = v == null ? [] : (v as unknown[]).map((x) => valueOut(field, x, depth));
    } else if (field.resolvedType !== null && 'fieldsArray' in field.resolvedType) {
      if (v != null) out[name] = valueOut(field, v, depth);
    } else if (field.partOf !== null) {
      // A oneof member or a proto3 `optional` field: only when it was sent.
      if (Object.hasOwn(msg, name) && v != null) out[name] = valueOut(field, v, depth);
    } else out[name] = valueOut(field, v, depth);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

/**
 * The service's reply, frame by frame, as JSON: each length-prefixed message is decoded and
 * written out as one JSON object as soon as it is whole (Kong's body_filter; a server-streaming
 * method's messages follow each other, `{...}{...}`, as Kong writes them). Only the frame being
 * read is held, and never more than MAX_FRAME bytes of it.
 */
/** Largest reply message (gRPC's default limit on a message a client receives: 4 MiB). */
export const MAX_FRAME = 4 * 1024 * 1024;
/**
 * Most values a reply message may hold (src/lib/grpc-wire.ts counts them before decoding): twice
 * what a request's JSON may make. A 4 MiB message of 2 million values cost protobufjs 0.2 to 0.5 s
 * to decode before its JSON was written; Kong's lua-protobuf decodes any, in its worker too.
 */
export const MAX_REPLY_VALUES = 2 * (MAX_MESSAGES + MAX_ELEMENTS);

const EMPTY = Buffer.alloc(0);

export class ReplyDecoder implements BodyFilter {
  /** Each message's JSON in a gRPC frame of its own (gRPC-Web's `+json`), else one after another. */
  private readonly framed: boolean;
  private readonly type: Type;
  /** The chunks of the frame being read (its head included), not yet whole, and their bytes. */
  private parts: Buffer[] = [];
  private bytes = 0;
  /** The bytes the frame being read needs to be whole (5, its head, while the head is not). */
  private need = 5;

  constructor(type: Type, framed = false) {
    this.type = type;
    this.framed = framed;
  }

  chunk(data: Buffer): string | Buffer {
    this.parts.push(data);
    this.bytes += data.length;
    // Joined only once the frame is whole: a large message arriving in small chunks is copied once.
    if (this.bytes < this.need) return '';
    let buf = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.bytes);
    let out = '';
    let frames: Buffer[] | null = null;
    this.need = 5;
    while (buf.length >= 5) {
      // A frame this gateway cannot read ends the answer (a failure of the plugin: the client's
      // transfer is cut), rather than holding a huge message or sending protobuf as JSON.
      if ((buf[0]! & 1) !== 0) throw new Error('the service sent a compressed message');
      const size = buf.readUInt32BE(1);
      if (size > MAX_FRAME) throw new Error(`the service sent a message of ${size} bytes, more than ${MAX_FRAME}`);
      if (buf.length < 5 + size) {
        this.need = 5 + size;
        break;
      }
      const message = buf.subarray(5, 5 + size);
      if (!wireValuesWithin(this.type, message, MAX_REPLY_VALUES, MAX_MESSAGE_DEPTH))
        throw new Error(
          `the service sent a message of more than ${MAX_REPLY_VALUES} values or nested deeper than ${MAX_MESSAGE_DEPTH}`,
        );
      const decoded = this.type.decode(message) as unknown as Record<string, unknown>;
      const json = JSON.stringify(messageOut(this.type, decoded));
      if (this.framed) (frames ??= []).push(grpcFrame(0, Buffer.from(json)));
      else out += json;
      buf = buf.subarray(5 + size);
    }
    // Copied, so that a small rest does not keep a large chunk alive.
    this.parts = buf.length === 0 ? [] : [Buffer.from(buf)];
    this.bytes = buf.length;
    return frames === null ? out : frames.length === 1 ? frames[0]! : Buffer.concat(frames);
  }

  end(): Buffer {
    // Kong's answer for what it could not decode at the end: the bytes as they came.
    const rest = this.bytes === 0 ? EMPTY : Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    return rest;
  }
}
