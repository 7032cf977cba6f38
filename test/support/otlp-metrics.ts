/**
 * A minimal decoder of OTLP/HTTP protobuf metric exports (ExportMetricsServiceRequest), written
 * from the protobuf wire format and the field numbers of opentelemetry-proto's metrics.proto, so
 * tests check what a collector would read without trusting the encoder under test.
 */
import { type AttrValue, attributes, type Field, fields } from './otlp.ts';

export interface DecodedPoint {
  attributes: Record<string, AttrValue>;
  startNs: bigint;
  timeNs: bigint;
  /** A Sum's or Gauge's value (as_int or as_double). */
  value?: number;
  /** A Histogram's. */
  count?: number;
  sum?: number;
  bucketCounts?: number[];
  explicitBounds?: number[];
}

export interface DecodedMetric {
  name: string;
  unit: string;
  type: 'gauge' | 'sum' | 'histogram' | 'other';
  /** AggregationTemporality: 1 delta, 2 cumulative (0 for a gauge). */
  temporality: number;
  monotonic: boolean;
  points: DecodedPoint[];
  resource: Record<string, AttrValue>;
  scope: string;
}

const str = (f: Field | undefined): string => f?.bytes?.toString('utf8') ?? '';
const dbl = (f: Field | undefined): number | undefined => f?.bytes?.readDoubleLE(0);

/** A repeated fixed64 or double field, packed (proto3's default) or not. */
function packed(list: Field[] | undefined, read: (b: Buffer, at: number) => number): number[] {
  const out: number[] = [];
  for (const f of list ?? []) {
    if (f.wire === 2) for (let i = 0; i + 8 <= f.bytes!.length; i += 8) out.push(read(f.bytes!, i));
    else out.push(read(f.bytes!, 0));
  }
  return out;
}
const u64 = (b: Buffer, at: number) => Number(b.readBigUInt64LE(at));
const f64 = (b: Buffer, at: number) => b.readDoubleLE(at);

function numberPoint(buf: Buffer): DecodedPoint {
  const f = fields(buf);
  const asInt = f.get(6)?.[0];
  return {
    attributes: attributes(f.get(7)),
    startNs: f.get(2)?.[0]?.num ?? 0n,
    timeNs: f.get(3)?.[0]?.num ?? 0n,
    value: asInt !== undefined ? Number(BigInt.asIntN(64, asInt.num!)) : dbl(f.get(4)?.[0]),
  };
}

function histogramPoint(buf: Buffer): DecodedPoint {
  const f = fields(buf);
  return {
    attributes: attributes(f.get(9)),
    startNs: f.get(2)?.[0]?.num ?? 0n,
    timeNs: f.get(3)?.[0]?.num ?? 0n,
    count: Number(f.get(4)?.[0]?.num ?? 0n),
    sum: dbl(f.get(5)?.[0]),
    bucketCounts: packed(f.get(6), u64),
    explicitBounds: packed(f.get(7), f64),
  };
}

/** Every metric of an ExportMetricsServiceRequest body. */
export function decodeMetricsExport(body: Buffer): DecodedMetric[] {
  const out: DecodedMetric[] = [];
  for (const rm of fields(body).get(1) ?? []) {
    const rmf = fields(rm.bytes!);
    const resourceMsg = rmf.get(1)?.[0]?.bytes;
    const resource = resourceMsg === undefined ? {} : attributes(fields(resourceMsg).get(1));
    for (const sm of rmf.get(2) ?? []) {
      const smf = fields(sm.bytes!);
      const scopeMsg = smf.get(1)?.[0]?.bytes;
      const scope = scopeMsg === undefined ? '' : str(fields(scopeMsg).get(1)?.[0]);
      for (const m of smf.get(2) ?? []) {
        const f = fields(m.bytes!);
        const metric: DecodedMetric = {
          name: str(f.get(1)?.[0]),
          unit: str(f.get(3)?.[0]),
          type: 'other',
          temporality: 0,
          monotonic: false,
          points: [],
          resource,
          scope,
        };
        // Metric's data oneof: gauge 5, sum 7, histogram 9.
        const gauge = f.get(5)?.[0]?.bytes;
        const sum = f.get(7)?.[0]?.bytes;
        const hist = f.get(9)?.[0]?.bytes;
        if (gauge !== undefined) {
          metric.type = 'gauge';
          metric.points = (fields(gauge).get(1) ?? []).map((p) => numberPoint(p.bytes!));
        } else if (sum !== undefined) {
          const s = fields(sum);
          metric.type = 'sum';
          metric.temporality = Number(s.get(2)?.[0]?.num ?? 0n);
          metric.monotonic = s.get(3)?.[0]?.num === 1n;
          metric.points = (s.get(1) ?? []).map((p) => numberPoint(p.bytes!));
        } else if (hist !== undefined) {
          const h = fields(hist);
          metric.type = 'histogram';
          metric.temporality = Number(h.get(2)?.[0]?.num ?? 0n);
          metric.points = (h.get(1) ?? []).map((p) => histogramPoint(p.bytes!));
        }
        out.push(metric);
      }
    }
  }
  return out;
}
