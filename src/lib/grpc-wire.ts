/**
 * The values a protobuf message holds on the wire, counted before protobufjs decodes it. A reply
 * message may be 4 MiB (MAX_FRAME), and decoding costs far more than its bytes: 4 MiB of empty
 * repeated strings (2 million values) held the gateway's event loop 0.25 to 0.4 s, and the JSON
 * made of it was 6 MB. The count is one pass over the bytes, without allocation: a field's tag is
 * one value, each element of a packed repeated field one, a map entry's key and value one each,
 * and a message field's (or a map's message value's) own values are counted in its type.
 */
import type { Field, MapField, Type } from 'protobufjs';

/** Bytes each element of a packed field of these types takes; varint types are counted by their last byte. */
const FIXED_WIDTH: Readonly<Record<string, number>> = {
  fixed32: 4,
  sfixed32: 4,
  float: 4,
  fixed64: 8,
  sfixed64: 8,
  double: 8,
};

const VARINT_TYPES: ReadonlySet<string> = new Set(['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'bool']);

function isMessageType(t: unknown): t is Type {
  return t !== null && typeof t === 'object' && 'fieldsArray' in t;
}

/** Where a varint starting at `pos` ends (past `end` when it is cut short), and its value up to 2^32. */
let varintValue = 0;
function varintEnd(buf: Uint8Array, pos: number, end: number): number {
  // Tags of fields 1 to 15 and short lengths are one byte.
  if (pos < end && buf[pos]! < 0x80) {
    varintValue = buf[pos]!;
    return pos + 1;
  }
  let value = 0;
  let shift = 0;
  while (pos < end) {
    const b = buf[pos++]!;
    if (shift < 32) value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) {
      varintValue = value;
      return pos;
    }
  }
  return end + 1;
}

/**
 * `budget` less the values of the `type` message in `buf[start, end)`; negative once more than
 * `budget` are found (the scan stops there) or messages nest deeper than `depth` more levels. A map
 * entry is scanned as a message with `type` null: its key (1) and value (2), the value a message of
 * `entryValue`'s type when it is one. Bytes that are no valid protobuf end the scan: the decoder
 * refuses them itself.
 */
function remaining(
  type: Type | null,
  entryValue: unknown,
  buf: Uint8Array,
  start: number,
  end: number,
  budget: number,
  depth: number,
): number {
  if (depth < 0) return -1;
  let pos = start;
  while (pos < end) {
    pos = varintEnd(buf, pos, end);
    if (pos > end) return budget;
    if (--budget < 0) return budget;
    const id = Math.floor(varintValue / 8);
    const wire = varintValue % 8;
    if (wire === 0) pos = varintEnd(buf, pos, end);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      pos = varintEnd(buf, pos, end);
      const stop = pos + varintValue;
      if (pos > end || stop > end) return budget;
      budget = lengthDelimited(type, entryValue, id, buf, pos, stop, budget, depth);
      if (budget < 0) return budget;
      pos = stop;
    }
    // Groups (3, 4): their fields follow as any other, and are counted as they come.
  }
  return budget;
}

/** `budget` less the values of field `id`'s length-delimited occurrence in `buf[start, stop)`. */
function lengthDelimited(
  type: Type | null,
  entryValue: unknown,
  id: number,
  buf: Uint8Array,
  start: number,
  stop: number,
  budget: number,
  depth: number,
): number {
  if (type === null)
    return id === 2 && isMessageType(entryValue)
      ? remaining(entryValue, null, buf, start, stop, budget, depth - 1)
      : budget;
  const field = type.fieldsById[id];
  return field === undefined ? budget : fieldRemaining(field, buf, start, stop, budget, depth);
}

/** `budget` less the values of one length-delimited occurrence of `field`, in `buf[start, stop)`. */
function fieldRemaining(
  field: Field,
  buf: Uint8Array,
  start: number,
  stop: number,
  budget: number,
  depth: number,
): number {
  // An entry is a message of its key (1) and value (2), and a message value holds more values.
  if (field.map) return remaining(null, (field as unknown as MapField).resolvedType, buf, start, stop, budget, depth);
  if (isMessageType(field.resolvedType))
    return remaining(field.resolvedType, null, buf, start, stop, budget, depth - 1);
  if (!field.repeated) return budget;
  const width = FIXED_WIDTH[field.type];
  if (width !== undefined) return budget - Math.floor((stop - start) / width);
  if (VARINT_TYPES.has(field.type) || field.resolvedType !== null) {
    // Packed varints (enums included): one value per byte without the continuation bit.
    for (let i = start; i < stop; i++) if (buf[i]! < 0x80 && --budget < 0) return budget;
  }
  return budget;
}

/**
 * Whether the `type` message in `buf` holds at most `max` values (see the file's comment) and
 * nests its messages at most `maxDepth` deep.
 */
export function wireValuesWithin(type: Type, buf: Uint8Array, max: number, maxDepth: number): boolean {
  return remaining(type, null, buf, 0, buf.length, max, maxDepth) >= 0;
}
