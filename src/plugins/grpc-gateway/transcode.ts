/**
 * JSON to protobuf and back, the way Kong's grpc-gateway (lua-protobuf) does it: fields by their
 * names in the .proto file (`boolean_test`, not `booleanTest`), every scalar field in a reply
 * (its default when the service left it out), a repeated field as `[]` when empty (Kong's
 * `decode_default_array`), a message field only when set, enums by name, and
 * google.protobuf.Timestamp as a date-time string both ways (Kong's hook: the reply's without a
 * zone or fraction, `2024-05-01T10:00:00`).
 */
import type { Enum, Field, Type } from 'protobufjs';
import { setOwnField } from '../../index.ts';

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

function scalarIn(field: Field, v: unknown): unknown {
  const t = field.type;
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
    // As a string, to keep every digit (a JSON number past 2^53 has lost them already).
    if (typeof v === 'string' && DIGITS.test(v)) return v;
    const n = numeric(v);
    if (!Number.isInteger(n)) throw new EncodeError('not an integer');
    return n;
  }
  if (FLOAT.has(t)) return numeric(v);
  if (t === 'bytes') {
    if (typeof v !== 'string') throw new EncodeError('not a base64 string');
    return Buffer.from(v, 'base64');
  }
  throw new EncodeError(`unknown type ${t}`);
}

function enumIn(e: Enum, v: unknown): number {
  if (typeof v === 'string') {
    if (Object.hasOwn(e.values, v)) return e.values[v]!;
    if (DIGITS.test(v)) return Number(v);
  }
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new EncodeError('not a value of the enum');
}

// 2024-05-01T10:00:00, with a fraction and a zone or not: Kong's date() reads it as UTC without one.
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;

function timestampIn(v: unknown): { seconds: number; nanos: number } {
  const m = typeof v === 'string' ? DATE_TIME.exec(v) : null;
  if (m === null) throw new EncodeError('not a date-time');
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  if (Number.isNaN(ms)) throw new EncodeError('not a date-time');
  let seconds = ms / 1000;
  if (m[9] !== undefined) seconds -= (m[9] === '-' ? -1 : 1) * (+m[10]! * 3600 + +m[11]! * 60);
  const nanos = m[7] === undefined ? 0 : Number(m[7].padEnd(9, '0'));
  return { seconds, nanos };
}

function valueIn(field: Field, v: unknown, depth: number): unknown {
  if (v === null) throw new EncodeError('null');
  const rt = field.resolvedType;
  if (rt === null) return scalarIn(field, v);
  if ('fieldsArray' in rt) {
    const type = rt as Type;
    if (type.fullName === TIMESTAMP) return timestampIn(v);
    return messageIn(type, v, depth + 1);
  }
  return enumIn(rt as Enum, v);
}

/**
 * The object protobufjs encodes as message `type` from a JSON value (a body, or the path and
 * query values set into one); fields it does not know are left out, as Kong leaves them.
 * Throws an EncodeError for a value that does not fit its field.
 */
export function messageIn(type: Type, json: unknown, depth = 0): Record<string, unknown> {
  if (depth > MAX_MESSAGE_DEPTH) throw new EncodeError('nested too deep');
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
      for (const k of Object.keys(v)) setOwnField(m, k, valueIn(field, (v as Record<string, unknown>)[k], depth));
      out[key] = m;
    } else if (field.repeated) {
      // A single query argument for a repeated field is a list of one.
      const list = Array.isArray(v) ? v : [v];
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
      if (v != null)
        for (const k of Object.keys(v)) setOwnField(m, k, valueOut(field, (v as Record<string, unknown>)[k], depth));
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
