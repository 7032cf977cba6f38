// Kong's own spec for request-size-limiting, case by case, as of Kong/kong commit 22246ef2:
// spec/03-plugins/12-request-size-limiting/01-access_spec.lua. Its routes, by host: `limit.test`
// (2 megabytes), `required.test` (2 megabytes, `require_content_length`) and one per size unit
// (`limit_megabytes.test`, ...: 2 of the unit). What the client observes is Kong's; what the
// upstream gets of a refused chunked body is not (docs/kong-compatibility.md: Tollgate streams it
// and cuts it past the limit, where Kong buffers it whole first), so only the let-through bodies
// are checked upstream, whole.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import type { TestGateway } from '../../testing/index.ts';

const TEST_SIZE = 2;
const UNITS = { megabytes: 2 ** 20, kilobytes: 2 ** 10, bytes: 1 } as const;
const MB = UNITS.megabytes;
const KB = UNITS.kilobytes;

let upstream: RecordingUpstream;
let gw: TestGateway;

before(async () => {
  upstream = await startRecordingUpstream();
  const limit = (host: string, config: Record<string, unknown>) => ({
    name: host,
    hosts: [host],
    plugins: [{ name: 'request-size-limiting', config: { allowed_payload_size: TEST_SIZE, ...config } }],
  });
  gw = await startServiceGateway(
    [
      limit('limit.test', {}),
      limit('required.test', { require_content_length: true }),
      ...Object.keys(UNITS).map((unit) => limit(`limit_${unit}.test`, { size_unit: unit })),
    ],
    { url: upstream.url },
  );
});
after(async () => {
  await gw?.close();
  await upstream?.close();
});

interface Sent {
  /** Sent with Content-Length (POST), or chunked in one chunk (GET, as Kong's client sends it). */
  chunked?: boolean;
  /** `Expect: 100-continue`: the body goes once the gateway says 100, and not at all if it answers first. */
  expect?: boolean;
}

/**
 * Sends `size` bytes of `a` to the route of `host`: the status, the JSON message of a refusal, and
 * for a request let through, how many body bytes the upstream got.
 */
async function send(
  host: string,
  size: number | null,
  opts: Sent = {},
): Promise<{ status: number; message?: string; upstreamBytes?: number }> {
  const seen = upstream.requests.length;
  const body = size === null ? null : Buffer.alloc(size, 'a');
  const headers: Record<string, string> = { host };
  if (body !== null && opts.chunked) headers['transfer-encoding'] = 'chunked';
  else if (body !== null) headers['content-length'] = String(body.length);
  if (opts.expect) headers.expect = '100-continue';
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      `${gw.url}/request`,
      {
        method: opts.chunked || body === null ? 'GET' : 'POST',
        headers,
        agent: false,
        signal: AbortSignal.timeout(20_000),
      },
      (res) => {
        let t = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (t += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: t }));
      },
    );
    // A refusal may close the connection before the client has written all it meant to.
    req.on('error', (err) => (req.writableFinished ? reject(err) : undefined));
    if (body === null) req.end();
    else if (opts.expect) {
      req.flushHeaders();
      req.once('continue', () => req.end(body));
    } else req.end(body);
  });
  if (status !== 200) return { status, message: JSON.parse(text).message };
  return { status, upstreamBytes: upstream.requests[seen]?.body.length };
}

/** Kong's refusal: the status and `Request size limit exceeded`, the upstream left alone when it can be. */
async function refused(host: string, size: number, opts: Sent, status: 413 | 417): Promise<void> {
  const seen = upstream.requests.length;
  const r = await send(host, size, opts);
  assert.equal(r.status, status, `${host} ${size} ${JSON.stringify(opts)}`);
  assert.match(r.message ?? '', /Request size limit exceeded/);
  // With Content-Length it is refused before anything goes upstream.
  if (!opts.chunked) assert.equal(upstream.requests.length, seen);
}

/** A body within the limit: 200, and the upstream got it whole. */
async function passed(host: string, size: number, opts: Sent): Promise<void> {
  const r = await send(host, size, opts);
  assert.equal(r.status, 200, `${host} ${size} ${JSON.stringify(opts)}: ${r.message}`);
  assert.equal(r.upstreamBytes, size);
}

describe('with Content-Length', () => {
  test('works if size is lower than limit', () => passed('limit.test', TEST_SIZE * MB, {}));
  test('works if size is lower than limit and Expect header', () =>
    passed('limit.test', TEST_SIZE * MB, { expect: true }));
  test('blocks if size is greater than limit', () => refused('limit.test', TEST_SIZE * MB + 1, {}, 413));
  test('blocks if size is greater than limit and Expect header', () =>
    refused('limit.test', TEST_SIZE * MB + 1, { expect: true }, 417));

  for (const [unit, factor] of Object.entries(UNITS)) {
    test(`blocks if size is greater than limit when unit in ${unit}`, () =>
      refused(`limit_${unit}.test`, TEST_SIZE * factor + 1, {}, 413));
    test(`works if size is less than limit when unit in ${unit}`, () =>
      passed(`limit_${unit}.test`, TEST_SIZE * factor - 1, {}));
  }
});

describe('without Content-Length (chunked request body)', () => {
  // Kong's two sizes: above nginx's client body buffer (a temp file there) and below it (memory).
  for (const [host, size] of [
    ['limit.test', TEST_SIZE * MB],
    ['limit_kilobytes.test', TEST_SIZE * KB],
  ] as const) {
    test(`${host}: works if size is lower than limit, with and without Expect header`, async () => {
      await passed(host, size, { chunked: true });
      await passed(host, size, { chunked: true, expect: true });
    });
    test(`${host}: blocks if size is greater than limit (413), and with Expect header (417)`, async () => {
      await refused(host, size + 1, { chunked: true }, 413);
      await refused(host, size + 1, { chunked: true, expect: true }, 417);
    });
  }

  for (const [unit, factor] of Object.entries(UNITS)) {
    test(`blocks if size is greater than limit when unit in ${unit}`, () =>
      refused(`limit_${unit}.test`, TEST_SIZE * factor + 1, { chunked: true }, 413));
    test(`works if size is less than limit when unit in ${unit}`, () =>
      passed(`limit_${unit}.test`, TEST_SIZE * factor, { chunked: true }));
  }
});

describe('Content-Length header required', () => {
  test('blocks if header is not provided', async () => {
    const r = await send('required.test', null);
    assert.equal(r.status, 411);
    assert.equal(r.message, 'A valid Content-Length header is required');
  });
});
