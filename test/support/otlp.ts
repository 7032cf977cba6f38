/**
 * A minimal decoder of OTLP/HTTP protobuf trace exports (ExportTraceServiceRequest), written from
 * the protobuf wire format and the field numbers of opentelemetry-proto's trace.proto, so tests
 * check what a collector would read without trusting the encoder under test.
 */

export type Field = { wire: number; bytes?: Buffer; num?: bigint };

function varint(buf: Buffer, pos: { i: number }): bigint {
  let out = 0n;
  let shift = 0n;
  for (;;) {
    if (pos.i >= buf.length) throw new Error('truncated varint');
    const b = buf[pos.i++]!;
    out |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return out;
    shift += 7n;
    if (shift > 63n) throw new Error('varint too long');
  }
}

/** Fields of one message by number, in order. */
export function fields(buf: Buffer): Map<number, Field[]> {
  const out = new Map<number, Field[]>();
  const pos = { i: 0 };
  while (pos.i < buf.length) {
    const key = Number(varint(buf, pos));
    const no = key >>> 3;
    const wire = key & 7;
    let f: Field;
    if (wire === 0) f = { wire, num: varint(buf, pos) };
    else if (wire === 1) {
      f = { wire, num: buf.readBigUInt64LE(pos.i), bytes: buf.subarray(pos.i, pos.i + 8) };
      pos.i += 8;
    } else if (wire === 2) {
      const len = Number(varint(buf, pos));
      f = { wire, bytes: buf.subarray(pos.i, pos.i + len) };
      pos.i += len;
    } else if (wire === 5) {
      f = { wire, num: BigInt(buf.readUInt32LE(pos.i)) };
      pos.i += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
    const list = out.get(no) ?? [];
    list.push(f);
    out.set(no, list);
  }
  return out;
}

const str = (f: Field | undefined): string => f?.bytes?.toString('utf8') ?? '';
const hex = (f: Field | undefined): string => f?.bytes?.toString('hex') ?? '';

export type AttrValue = string | number | boolean | null | AttrValue[];

export function attributes(list: Field[] | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const kv of list ?? []) {
    const m = fields(kv.bytes!);
    out[str(m.get(1)?.[0])] = anyValue(m.get(2)?.[0]?.bytes);
  }
  return out;
}

/** An AnyValue: string, bool, int (an integer number), double (a fractional one), array. */
function anyValue(any: Buffer | undefined): AttrValue {
  if (any === undefined) return null;
  const v = fields(any);
  if (v.has(1)) return str(v.get(1)![0]);
  if (v.has(2)) return v.get(2)![0]!.num === 1n;
  if (v.has(3)) return Number(BigInt.asIntN(64, v.get(3)![0]!.num!));
  if (v.has(4)) return v.get(4)![0]!.bytes!.readDoubleLE(0);
  if (v.has(5)) return (fields(v.get(5)![0]!.bytes!).get(1) ?? []).map((f) => anyValue(f.bytes));
  return null;
}

export interface DecodedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP numbering: 1 internal, 2 server, 3 client. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, AttrValue>;
  statusCode: number;
  resource: Record<string, AttrValue>;
  scope: string;
}

/** Every span of an ExportTraceServiceRequest body. */
export function decodeTraceExport(body: Buffer): DecodedSpan[] {
  const out: DecodedSpan[] = [];
  for (const rs of fields(body).get(1) ?? []) {
    const rsf = fields(rs.bytes!);
    const resourceMsg = rsf.get(1)?.[0]?.bytes;
    const resource = resourceMsg === undefined ? {} : attributes(fields(resourceMsg).get(1));
    for (const ss of rsf.get(2) ?? []) {
      const ssf = fields(ss.bytes!);
      const scopeMsg = ssf.get(1)?.[0]?.bytes;
      const scope = scopeMsg === undefined ? '' : str(fields(scopeMsg).get(1)?.[0]);
      for (const sp of ssf.get(2) ?? []) {
        const f = fields(sp.bytes!);
        const status = f.get(15)?.[0]?.bytes;
        out.push({
          traceId: hex(f.get(1)?.[0]),
          spanId: hex(f.get(2)?.[0]),
          parentSpanId: hex(f.get(4)?.[0]),
          name: str(f.get(5)?.[0]),
          kind: Number(f.get(6)?.[0]?.num ?? 0n),
          startNs: f.get(7)?.[0]?.num ?? 0n,
          endNs: f.get(8)?.[0]?.num ?? 0n,
          attributes: attributes(f.get(9)),
          statusCode: status === undefined ? 0 : Number(fields(status).get(3)?.[0]?.num ?? 0n),
          resource,
          scope,
        });
      }
    }
  }
  return out;
}

export interface DecodedLogRecord {
  timeNs: bigint;
  observedNs: bigint;
  severityNumber: number;
  severityText: string;
  body: string;
  attributes: Record<string, AttrValue>;
  flags: number;
  traceId: string;
  spanId: string;
  resource: Record<string, AttrValue>;
  scope: string;
}

/** Every record of an ExportLogsServiceRequest body (opentelemetry-proto's logs.proto field numbers). */
export function decodeLogsExport(body: Buffer): DecodedLogRecord[] {
  const out: DecodedLogRecord[] = [];
  for (const rl of fields(body).get(1) ?? []) {
    const rlf = fields(rl.bytes!);
    const resourceMsg = rlf.get(1)?.[0]?.bytes;
    const resource = resourceMsg === undefined ? {} : attributes(fields(resourceMsg).get(1));
    for (const sl of rlf.get(2) ?? []) {
      const slf = fields(sl.bytes!);
      const scopeMsg = slf.get(1)?.[0]?.bytes;
      const scope = scopeMsg === undefined ? '' : str(fields(scopeMsg).get(1)?.[0]);
      for (const lr of slf.get(2) ?? []) {
        const f = fields(lr.bytes!);
        const bodyAny = f.get(5)?.[0]?.bytes;
        out.push({
          timeNs: f.get(1)?.[0]?.num ?? 0n,
          observedNs: f.get(11)?.[0]?.num ?? 0n,
          severityNumber: Number(f.get(2)?.[0]?.num ?? 0n),
          severityText: str(f.get(3)?.[0]),
          body: bodyAny === undefined ? '' : str(fields(bodyAny).get(1)?.[0]),
          attributes: attributes(f.get(6)),
          flags: Number(f.get(8)?.[0]?.num ?? 0n),
          traceId: hex(f.get(9)?.[0]),
          spanId: hex(f.get(10)?.[0]),
          resource,
          scope,
        });
      }
    }
  }
  return out;
}
