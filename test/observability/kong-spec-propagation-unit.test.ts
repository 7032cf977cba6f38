// Kong's unit spec of its trace-context extractors, spec/01-unit/26-observability/
// 02-propagation_strategies_spec.lua at Kong commit 22246ef2, through a real gateway: every header
// set of its table is sent to a route whose opentelemetry instance extracts that one format, and
// what the extractor made of it is read where a user sees it, in the `traceparent` the upstream
// gets (the echo upstream answers with its headers): the trace id, padded to 16 bytes as Kong's
// W3C injector pads it, and the sampled flag Kong writes, 01 or 00. A set Kong's extractor refuses
// ("...; ignoring.") must start a new trace. The sampling rate is 1, so a context with no sampling
// decision is sampled. The client's span as the parent of the gateway's is checked by
// vendor-propagation.test.ts and trace-propagation.test.ts; the injector half of the spec (each
// format written from a context) is in kong-spec-propagation-inject.test.ts. Kong's "injector
// context is invalid" cases (a context without a trace or span id) have no counterpart: the
// gateway always injects its own span of a trace.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';

const DEAD = 'http://127.0.0.1:9/v1/traces';
const T16 = '0af7651916cd43dd8448eb211c80319c';
const T8 = '8448eb211c80319c';
const T8_DEC = '9532127138774266268';
const S1 = 'b7ad6b7169203331';
const S1_DEC = '13235353014750950193';
const S2 = 'b7ad6b7169203332';
const BIG_T8 = 'fffffffffffffff1';
const BIG_T16 = 'fffffffffffffffffffffffffffffff1';
const BIG_S = 'fffffffffffffff3';
const dec = (hex: string) => BigInt(`0x${hex}`).toString(10);
const LONG = '1234567890123456789012345678901234567890';
const PAD = '0000000000000000';
const FORMATS = ['w3c', 'b3', 'jaeger', 'ot', 'datadog', 'aws', 'gcp', 'instana'] as const;

/**
 * One row of Kong's table: the headers sent and what Kong extracts from them. `trace` is the
 * 16-byte trace id (hex) the trace continues with, or null for a new trace; `sampled` the decision
 * carried (undefined: none, so the sampler's, here yes). Several values of a header are its lines.
 */
interface Case {
  fmt: (typeof FORMATS)[number];
  name: string;
  headers: Record<string, string | string[]>;
  trace: string | null;
  sampled?: boolean;
}

const aws = (root: string, parent: string, sampled: string) => `Root=${root};Parent=${parent};Sampled=${sampled}`;
const root = (hex: string) => `1-${hex.slice(0, 8)}-${hex.slice(8)}`;

const CASES: Case[] = [
  // w3c
  { fmt: 'w3c', name: 'base case', headers: { traceparent: `00-${T16}-${S1}-01` }, trace: T16, sampled: true },
  { fmt: 'w3c', name: 'sampling mask (on)', headers: { traceparent: `00-${T16}-${S1}-09` }, trace: T16, sampled: true },
  {
    fmt: 'w3c',
    name: 'sampling mask (off)',
    headers: { traceparent: `00-${T16}-${S1}-08` },
    trace: T16,
    sampled: false,
  },
  { fmt: 'w3c', name: 'hex flags', headers: { traceparent: `00-${T16}-${S1}-ef` }, trace: T16, sampled: true },
  { fmt: 'w3c', name: 'sampled = false', headers: { traceparent: `00-${T16}-${S1}-00` }, trace: T16, sampled: false },
  { fmt: 'w3c', name: 'invalid header 1', headers: { traceparent: `vv-${T16}-${S1}-00` }, trace: null },
  { fmt: 'w3c', name: 'invalid header 2', headers: { traceparent: `00-${'v'.repeat(32)}-${S1}-00` }, trace: null },
  { fmt: 'w3c', name: 'invalid header 3', headers: { traceparent: `00-${T16}-${'v'.repeat(16)}-00` }, trace: null },
  { fmt: 'w3c', name: 'invalid header 4', headers: { traceparent: `00-${T16}-${S1}-vv` }, trace: null },
  { fmt: 'w3c', name: 'trace id too short', headers: { traceparent: `00-123-${S1}-00` }, trace: null },
  { fmt: 'w3c', name: 'trace id all zero', headers: { traceparent: `00-${'0'.repeat(32)}-${S1}-00` }, trace: null },
  { fmt: 'w3c', name: 'trace id too long', headers: { traceparent: `00-${LONG}-${S1}-00` }, trace: null },
  { fmt: 'w3c', name: 'parent id too short', headers: { traceparent: `00-${T16}-123-00` }, trace: null },
  { fmt: 'w3c', name: 'parent id too long', headers: { traceparent: `00-${T16}-${LONG}-00` }, trace: null },
  { fmt: 'w3c', name: 'parent id all zero', headers: { traceparent: `00-${T16}-${PAD}-00` }, trace: null },
  { fmt: 'w3c', name: 'invalid version', headers: { traceparent: `01-${T16}-${S1}-00` }, trace: null },
  { fmt: 'w3c', name: 'invalid flags 1', headers: { traceparent: `00-${T16}-${S1}-000` }, trace: null },
  { fmt: 'w3c', name: 'invalid flags 2', headers: { traceparent: `00-${T16}-${S1}-0` }, trace: null },
  // b3 multi
  {
    fmt: 'b3',
    name: 'base case',
    headers: { 'x-b3-traceid': T16, 'x-b3-spanid': S1, 'x-b3-parentspanid': S2, 'x-b3-sampled': '1' },
    trace: T16,
    sampled: true,
  },
  { fmt: 'b3', name: 'sampling decision only', headers: { 'x-b3-sampled': '0' }, trace: null, sampled: false },
  {
    fmt: 'b3',
    name: 'sampled set via flags',
    headers: { 'x-b3-traceid': T16, 'x-b3-spanid': S1, 'x-b3-parentspanid': S2, 'x-b3-flags': '1' },
    trace: T16,
    sampled: true,
  },
  {
    fmt: 'b3',
    name: 'sampled = false',
    headers: { 'x-b3-traceid': T16, 'x-b3-spanid': S1, 'x-b3-parentspanid': S2, 'x-b3-sampled': '0' },
    trace: T16,
    sampled: false,
  },
  {
    fmt: 'b3',
    name: '8-byte trace ID',
    headers: { 'x-b3-traceid': T8, 'x-b3-spanid': S1, 'x-b3-parentspanid': S2, 'x-b3-sampled': '1' },
    trace: PAD + T8,
    sampled: true,
  },
  {
    fmt: 'b3',
    name: 'invalid trace id',
    headers: { 'x-b3-traceid': 'x', 'x-b3-spanid': S1, 'x-b3-parentspanid': S2, 'x-b3-sampled': '0' },
    trace: null,
  },
  // b3 single
  { fmt: 'b3', name: '1-char header, sampled = true', headers: { b3: '1' }, trace: null, sampled: true },
  { fmt: 'b3', name: '1-char header, sampled = false', headers: { b3: '0' }, trace: null, sampled: false },
  { fmt: 'b3', name: '1-char header, debug', headers: { b3: 'd' }, trace: null, sampled: true },
  { fmt: 'b3', name: 'all fields', headers: { b3: `${T16}-${S1}-1-${S2}` }, trace: T16, sampled: true },
  {
    fmt: 'b3',
    name: 'all fields, sampled = false',
    headers: { b3: `${T16}-${S1}-0-${S2}` },
    trace: T16,
    sampled: false,
  },
  { fmt: 'b3', name: 'all fields, debug', headers: { b3: `${T16}-${S1}-d-${S2}` }, trace: T16, sampled: true },
  { fmt: 'b3', name: 'from tracestate', headers: { tracestate: `b3=${T16}-${S1}-d-${S2}` }, trace: T16, sampled: true },
  {
    fmt: 'b3',
    name: 'from tracestate multi-value',
    headers: { tracestate: ['test', `b3=${T16}-${S1}-1-${S2}`, 'test2'] },
    trace: T16,
    sampled: true,
  },
  { fmt: 'b3', name: 'trace id and span id only', headers: { b3: `${T16}-${S1}` }, trace: T16 },
  { fmt: 'b3', name: 'no parent', headers: { b3: `${T16}-${S1}-1` }, trace: T16, sampled: true },
  { fmt: 'b3', name: 'single 8-byte trace ID', headers: { b3: `${T8}-${S1}-1` }, trace: PAD + T8, sampled: true },
  { fmt: 'b3', name: 'big 16B trace ID', headers: { b3: `${BIG_T16}-${S1}-d-${S2}` }, trace: BIG_T16, sampled: true },
  { fmt: 'b3', name: 'single: trace ID non hex', headers: { b3: `xxx-${S1}-1-${S2}` }, trace: null },
  { fmt: 'b3', name: 'single: trace ID too long', headers: { b3: `${LONG}-${S1}-1-${S2}` }, trace: null },
  { fmt: 'b3', name: 'single: trace ID too short', headers: { b3: `123-${S1}-1-${S2}` }, trace: null },
  { fmt: 'b3', name: 'single: empty header', headers: { b3: '' }, trace: null },
  { fmt: 'b3', name: 'single: no span id', headers: { b3: `${T16}-` }, trace: null },
  { fmt: 'b3', name: 'single: non hex span id', headers: { b3: `${T16}-xxx` }, trace: null },
  { fmt: 'b3', name: 'single: span id too long', headers: { b3: `${T16}-${LONG}-1-${S2}` }, trace: null },
  { fmt: 'b3', name: 'single: span id too short', headers: { b3: `${T16}-123-1-${S2}` }, trace: null },
  { fmt: 'b3', name: 'single: invalid sampled', headers: { b3: `${T16}-${S1}-x` }, trace: null },
  { fmt: 'b3', name: 'single: invalid parent', headers: { b3: `${T16}-${S1}-d-xxx` }, trace: null },
  { fmt: 'b3', name: 'single: parent too long', headers: { b3: `${T16}-${S1}-d-${LONG}` }, trace: null },
  { fmt: 'b3', name: 'single: parent too short', headers: { b3: `${T16}-${S1}-d-123` }, trace: null },
  // jaeger
  {
    fmt: 'jaeger',
    name: 'base case',
    headers: { 'uber-trace-id': `${T16}:${S1}:${S2}:01`, 'uberctx-foo': 'bar' },
    trace: T16,
    sampled: true,
  },
  {
    fmt: 'jaeger',
    name: 'sampled = false',
    headers: { 'uber-trace-id': `${T16}:${S1}:${S2}:00` },
    trace: T16,
    sampled: false,
  },
  { fmt: 'jaeger', name: 'parent = 0', headers: { 'uber-trace-id': `${T16}:${S1}:0:01` }, trace: T16, sampled: true },
  {
    fmt: 'jaeger',
    name: '0-pad shorter span ID',
    headers: { 'uber-trace-id': `${T16}:123:${S2}:01` },
    trace: T16,
    sampled: true,
  },
  {
    fmt: 'jaeger',
    name: '0-pad shorter trace ID',
    headers: { 'uber-trace-id': `1234:${S1}:${S2}:01` },
    trace: '00000000000000000000000000001234',
    sampled: true,
  },
  {
    fmt: 'jaeger',
    name: '8B trace ID',
    headers: { 'uber-trace-id': `${T8}:${S1}:${S2}:01` },
    trace: PAD + T8,
    sampled: true,
  },
  { fmt: 'jaeger', name: 'invalid header 1', headers: { 'uber-trace-id': `vv:${S1}:${S2}:00` }, trace: null },
  { fmt: 'jaeger', name: 'invalid header 2', headers: { 'uber-trace-id': `${T8}:vv:${S2}:00` }, trace: null },
  { fmt: 'jaeger', name: 'invalid header 3', headers: { 'uber-trace-id': `${T8}:${S1}:vv:00` }, trace: null },
  { fmt: 'jaeger', name: 'invalid header 4', headers: { 'uber-trace-id': `${T8}:${S1}:${S2}:vv` }, trace: null },
  { fmt: 'jaeger', name: 'trace id too long', headers: { 'uber-trace-id': `${LONG}:${S1}:${S2}:00` }, trace: null },
  {
    fmt: 'jaeger',
    name: 'trace id all zero',
    headers: { 'uber-trace-id': `${'0'.repeat(32)}:${S1}:${S2}:00` },
    trace: null,
  },
  // Kong warns about a parent id of another length than 16 ("invalid jaeger parent ID") but keeps the
  // trace: the parent is Jaeger's optional field.
  {
    fmt: 'jaeger',
    name: 'parent id too short',
    headers: { 'uber-trace-id': `${T16}:${S1}:ff:00` },
    trace: T16,
    sampled: false,
  },
  {
    fmt: 'jaeger',
    name: 'parent id too long',
    headers: { 'uber-trace-id': `${T16}:${S1}:${LONG}:00` },
    trace: T16,
    sampled: false,
  },
  { fmt: 'jaeger', name: 'span id too long', headers: { 'uber-trace-id': `${T16}:${LONG}:${S1}:00` }, trace: null },
  {
    fmt: 'jaeger',
    name: 'span id all zero',
    headers: { 'uber-trace-id': `${T16}:${'0'.repeat(32)}:${S1}:00` },
    trace: null,
  },
  { fmt: 'jaeger', name: 'invalid flags', headers: { 'uber-trace-id': `${T16}:${S1}:${S2}:123` }, trace: null },
  // ot
  {
    fmt: 'ot',
    name: 'base case',
    headers: { 'ot-tracer-traceid': T16, 'ot-tracer-spanid': S1, 'ot-tracer-sampled': '1', 'ot-baggage-foo': 'bar' },
    trace: T16,
    sampled: true,
  },
  {
    fmt: 'ot',
    name: 'sampled = false',
    headers: { 'ot-tracer-traceid': T16, 'ot-tracer-spanid': S1, 'ot-tracer-sampled': '0' },
    trace: T16,
    sampled: false,
  },
  {
    fmt: 'ot',
    name: 'missing sampled flag',
    headers: { 'ot-tracer-traceid': T16, 'ot-tracer-spanid': S1 },
    trace: T16,
  },
  {
    fmt: 'ot',
    name: 'large trace and span ids',
    headers: { 'ot-tracer-traceid': BIG_T16, 'ot-tracer-spanid': BIG_S, 'ot-baggage-foo': 'bar' },
    trace: BIG_T16,
  },
  {
    fmt: 'ot',
    name: '8B trace id',
    headers: { 'ot-tracer-traceid': T8, 'ot-tracer-spanid': S1, 'ot-tracer-sampled': '0' },
    trace: PAD + T8,
    sampled: false,
  },
  {
    fmt: 'ot',
    name: 'invalid baggage',
    headers: { 'ot-tracer-traceid': T16, 'ot-tracer-spanid': S1, 'ot-tracer-sampled': '1', 'otttttbaggage-foo': 'bar' },
    trace: T16,
    sampled: true,
  },
  { fmt: 'ot', name: 'invalid header', headers: { 'ot-tracer-traceid': 'xx' }, trace: null },
  // datadog
  {
    fmt: 'datadog',
    name: 'base case',
    headers: { 'x-datadog-trace-id': T8_DEC, 'x-datadog-parent-id': S1_DEC, 'x-datadog-sampling-priority': '1' },
    trace: PAD + T8,
    sampled: true,
  },
  {
    fmt: 'datadog',
    name: 'sampled = false',
    headers: { 'x-datadog-trace-id': T8_DEC, 'x-datadog-parent-id': S1_DEC, 'x-datadog-sampling-priority': '0' },
    trace: PAD + T8,
    sampled: false,
  },
  {
    fmt: 'datadog',
    name: 'missing trace id ignores parent id',
    headers: { 'x-datadog-parent-id': S1_DEC, 'x-datadog-sampling-priority': '1' },
    trace: null,
    sampled: true,
  },
  {
    fmt: 'datadog',
    name: 'missing parent id',
    headers: { 'x-datadog-trace-id': T8_DEC, 'x-datadog-sampling-priority': '1' },
    trace: PAD + T8,
    sampled: true,
  },
  {
    fmt: 'datadog',
    name: 'missing sampled',
    headers: { 'x-datadog-trace-id': T8_DEC, 'x-datadog-parent-id': S1_DEC },
    trace: PAD + T8,
  },
  {
    fmt: 'datadog',
    name: 'big dec trace id',
    headers: { 'x-datadog-trace-id': dec(BIG_T8), 'x-datadog-parent-id': S1_DEC },
    trace: PAD + BIG_T8,
  },
  {
    fmt: 'datadog',
    name: 'big dec span id',
    headers: { 'x-datadog-trace-id': T8_DEC, 'x-datadog-parent-id': dec(BIG_S) },
    trace: PAD + T8,
  },
  {
    fmt: 'datadog',
    name: '(can extract invalid) big dec trace id 16',
    headers: { 'x-datadog-trace-id': dec(BIG_T16), 'x-datadog-parent-id': S1_DEC },
    trace: BIG_T16,
  },
  {
    fmt: 'datadog',
    name: 'invalid trace id',
    headers: { 'x-datadog-trace-id': T16, 'x-datadog-parent-id': S1_DEC, 'x-datadog-sampling-priority': '1' },
    trace: null,
    sampled: true,
  },
  {
    fmt: 'datadog',
    name: 'empty string trace id',
    headers: { 'x-datadog-trace-id': '', 'x-datadog-parent-id': S1_DEC, 'x-datadog-sampling-priority': '1' },
    trace: null,
    sampled: true,
  },
  // Kong warns about the parent id and drops it, but keeps the trace id and the decision.
  {
    fmt: 'datadog',
    name: 'invalid parent id',
    headers: { 'x-datadog-trace-id': T8_DEC, 'x-datadog-parent-id': S1, 'x-datadog-sampling-priority': '1' },
    trace: PAD + T8,
    sampled: true,
  },
  {
    fmt: 'datadog',
    name: 'empty string parent id',
    headers: { 'x-datadog-trace-id': T8_DEC, 'x-datadog-parent-id': '', 'x-datadog-sampling-priority': '1' },
    trace: PAD + T8,
    sampled: true,
  },
  // aws
  { fmt: 'aws', name: 'base case', headers: { 'x-amzn-trace-id': aws(root(T16), S1, '1') }, trace: T16, sampled: true },
  {
    fmt: 'aws',
    name: 'with spaces',
    headers: { 'x-amzn-trace-id': `  Root =   ${root(T16)}  ;  Parent= ${S1};  Sampled   =1` },
    trace: T16,
    sampled: true,
  },
  {
    fmt: 'aws',
    name: 'parent first',
    headers: { 'x-amzn-trace-id': `Parent=${S1};Root=${root(T16)};Sampled=1` },
    trace: T16,
    sampled: true,
  },
  {
    fmt: 'aws',
    name: 'extra fields',
    headers: { 'x-amzn-trace-id': `Foo=bar;${aws(root(T16), S1, '1')}` },
    trace: T16,
    sampled: true,
  },
  {
    fmt: 'aws',
    name: 'large id',
    headers: { 'x-amzn-trace-id': aws(root(BIG_T16), S1, '1') },
    trace: BIG_T16,
    sampled: true,
  },
  {
    fmt: 'aws',
    name: 'sampled = false',
    headers: { 'x-amzn-trace-id': aws(root(T16), S1, '0') },
    trace: T16,
    sampled: false,
  },
  {
    fmt: 'aws',
    name: 'invalid trace id 1',
    headers: { 'x-amzn-trace-id': aws(`0-${T8.slice(0, 8)}-${T8.slice(8)}`, S1, '0') },
    trace: null,
  },
  {
    fmt: 'aws',
    name: 'invalid trace id 2',
    headers: { 'x-amzn-trace-id': aws(`1-vv-${T8.slice(8)}`, S1, '0') },
    trace: null,
  },
  {
    fmt: 'aws',
    name: 'invalid trace id 3',
    headers: { 'x-amzn-trace-id': aws(`1-${T8.slice(0, 8)}-vv`, S1, '0') },
    trace: null,
  },
  { fmt: 'aws', name: 'trace id too short', headers: { 'x-amzn-trace-id': aws(root(T8), S1, '0') }, trace: null },
  { fmt: 'aws', name: 'trace id too long', headers: { 'x-amzn-trace-id': aws(root(LONG), S1, '0') }, trace: null },
  { fmt: 'aws', name: 'missing trace id', headers: { 'x-amzn-trace-id': aws('', S1, '0') }, trace: null },
  { fmt: 'aws', name: 'invalid parent id 1', headers: { 'x-amzn-trace-id': aws(root(T16), 'vv', '0') }, trace: null },
  { fmt: 'aws', name: 'parent id too long', headers: { 'x-amzn-trace-id': aws(root(T16), LONG, '0') }, trace: null },
  { fmt: 'aws', name: 'parent id too short', headers: { 'x-amzn-trace-id': aws(root(T16), '123', '0') }, trace: null },
  { fmt: 'aws', name: 'missing parent id', headers: { 'x-amzn-trace-id': aws(root(T16), '', '0') }, trace: null },
  { fmt: 'aws', name: 'invalid sampled flag', headers: { 'x-amzn-trace-id': aws(root(T16), S1, '2') }, trace: null },
  { fmt: 'aws', name: 'missing sampled flag', headers: { 'x-amzn-trace-id': aws(root(T16), S1, '') }, trace: null },
  // gcp
  {
    fmt: 'gcp',
    name: 'base case',
    headers: { 'x-cloud-trace-context': `${T16}/${S1_DEC};o=1` },
    trace: T16,
    sampled: true,
  },
  {
    fmt: 'gcp',
    name: 'sampled = false',
    headers: { 'x-cloud-trace-context': `${T16}/${S1_DEC};o=0` },
    trace: T16,
    sampled: false,
  },
  { fmt: 'gcp', name: 'no flag', headers: { 'x-cloud-trace-context': `${T16}/${S1_DEC}` }, trace: T16, sampled: false },
  { fmt: 'gcp', name: 'trace id too short', headers: { 'x-cloud-trace-context': `123/${S1_DEC};o=0` }, trace: null },
  { fmt: 'gcp', name: 'trace id too long', headers: { 'x-cloud-trace-context': `${LONG}/${S1_DEC};o=0` }, trace: null },
  { fmt: 'gcp', name: 'trace id no hex', headers: { 'x-cloud-trace-context': `vvv/${S1_DEC};o=0` }, trace: null },
  { fmt: 'gcp', name: 'missing span id', headers: { 'x-cloud-trace-context': `${T16}/;o=0` }, trace: null },
  { fmt: 'gcp', name: 'span id non digit', headers: { 'x-cloud-trace-context': `${T16}/${S1};o=0` }, trace: null },
  { fmt: 'gcp', name: 'span id too large', headers: { 'x-cloud-trace-context': `${T16}/${S1_DEC}0;o=0` }, trace: null },
  { fmt: 'gcp', name: 'sampling value 01', headers: { 'x-cloud-trace-context': `${T16}/${S1_DEC};o=01` }, trace: null },
  {
    fmt: 'gcp',
    name: 'sampling value missing',
    headers: { 'x-cloud-trace-context': `${T16}/${S1_DEC};o=` },
    trace: null,
  },
  {
    fmt: 'gcp',
    name: 'sampling value non digit',
    headers: { 'x-cloud-trace-context': `${T16}/${S1_DEC};o=v` },
    trace: null,
  },
  // instana
  {
    fmt: 'instana',
    name: 'base case',
    headers: { 'x-instana-t': T16, 'x-instana-s': S1, 'x-instana-l': '1' },
    trace: T16,
    sampled: true,
  },
  {
    fmt: 'instana',
    name: 'sampled = false',
    headers: { 'x-instana-t': T16, 'x-instana-s': S1, 'x-instana-l': '0' },
    trace: T16,
    sampled: false,
  },
  {
    fmt: 'instana',
    name: '8B trace id',
    headers: { 'x-instana-t': T8, 'x-instana-s': S1, 'x-instana-l': '0' },
    trace: PAD + T8,
    sampled: false,
  },
  // No X-Instana-L: Kong's should_sample is `level == "1"`, false.
  {
    fmt: 'instana',
    name: 'big 16B trace ID',
    headers: { 'x-instana-t': BIG_T16, 'x-instana-s': S1 },
    trace: BIG_T16,
    sampled: false,
  },
  // Kong warns and keeps the hex prefix `abcdef` as a trace id; Tollgate starts a new trace for an
  // Instana id of another length than 16 or 32 hex (docs/kong-compatibility.md, opentelemetry row).
  {
    fmt: 'instana',
    name: 'trace ID non hex',
    headers: { 'x-instana-t': 'abcdefghijklmnop', 'x-instana-s': S1 },
    trace: null,
  },
  { fmt: 'instana', name: 'trace ID too long', headers: { 'x-instana-t': LONG }, trace: null },
  { fmt: 'instana', name: 'trace ID too short', headers: { 'x-instana-t': 'abc' }, trace: null },
  { fmt: 'instana', name: 'empty header', headers: { 'x-instana-t': '' }, trace: null },
];

/** Every trace id written in a case's headers, so a new trace is told from a continued one. */
const GIVEN = [T16, T8, BIG_T16, BIG_T8, PAD + T8, PAD + BIG_T8, '00000000000000000000000000001234'];
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

describe("Kong's propagation extractors, as the upstream sees them", () => {
  let gw: TestGateway;

  before(async () => {
    gw = await startServiceGateway(
      FORMATS.map((fmt) => ({
        name: fmt,
        paths: [`/${fmt}`],
        plugins: [
          {
            name: 'opentelemetry',
            config: {
              traces_endpoint: DEAD,
              sampling_rate: 1,
              propagation: { extract: [fmt], inject: ['w3c'], default_format: 'w3c' },
            },
          },
        ],
      })),
    );
  });
  after(() => gw?.close());

  /** What the upstream received: the W3C trace id and sampled flag. */
  async function upstreamSees(c: Case): Promise<{ trace: string; sampled: boolean }> {
    const lines = Object.entries(c.headers).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).flatMap((x) => [k, x]));
    const res = await request(`${gw.url}/${c.fmt}`, { headers: lines });
    assert.equal(res.statusCode, 200, c.name);
    const { headers } = (await res.body.json()) as { headers: Record<string, string> };
    const m = TRACEPARENT.exec(headers.traceparent ?? '');
    assert.ok(m, `${c.fmt} ${c.name}: traceparent ${headers.traceparent}`);
    return { trace: m[1]!, sampled: m[3] === '01' };
  }

  test('"handles no incoming headers correctly": a new, sampled trace', async () => {
    for (const fmt of FORMATS) {
      const seen = await upstreamSees({ fmt, name: 'no headers', headers: {}, trace: null });
      assert.ok(!GIVEN.includes(seen.trace), fmt);
      assert.equal(seen.sampled, true, fmt);
    }
  });

  for (const fmt of FORMATS) {
    test(`${fmt}: each header set continues the trace Kong extracts, or starts a new one`, async () => {
      const wrong: string[] = [];
      for (const c of CASES.filter((x) => x.fmt === fmt)) {
        const seen = await upstreamSees(c);
        const problems: string[] = [];
        if (c.trace === null ? GIVEN.includes(seen.trace) : seen.trace !== c.trace)
          problems.push(`trace ${seen.trace}, want ${c.trace ?? 'a new one'}`);
        if (seen.sampled !== (c.sampled ?? true)) problems.push(`sampled ${seen.sampled}`);
        if (problems.length > 0) wrong.push(`${c.name}: ${problems.join(', ')}`);
      }
      assert.deepEqual(wrong, []);
    });
  }
});
