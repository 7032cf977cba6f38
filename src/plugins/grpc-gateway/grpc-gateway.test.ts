// grpc-gateway against a real gRPC server (@grpc/grpc-js over cleartext HTTP/2, a `grpc`
// service) behind a real gateway, called as Kong's spec (spec/03-plugins/28-grpc-gateway) calls
// it: REST with JSON, the service seeing the gRPC call the .proto's google.api.http rules name.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { request } from 'undici';
import { GREETER_METHODS, GREETER_PROTO, greeterType } from '../../../test/support/greeter.ts';
import { rawMethod } from '../../../test/support/grpc.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const PROTO = GREETER_PROTO;
// Parses, but names a type it never declares.
const UNRESOLVED = fileURLToPath(new URL('../../../test/fixtures/grpc-gateway/unresolved.proto', import.meta.url));
const HelloRequest = greeterType('HelloRequest');
const HelloReply = greeterType('HelloReply');
const Body = greeterType('Body');
const M = GREETER_METHODS;
const SERVICE = {
  sayHello: rawMethod(`${M}SayHello`),
  echo: rawMethod(`${M}Echo`),
  fail: rawMethod(`${M}Fail`),
  grow: rawMethod(`${M}Grow`),
  count: rawMethod(`${M}Count`, true),
  huge: rawMethod(`${M}Huge`),
  numbers: rawMethod(`${M}Numbers`),
};

type Unary = grpc.ServerUnaryCall<Buffer, Buffer>;
type Done = grpc.sendUnaryData<Buffer>;
const enc = (t: protobuf.Type, v: Record<string, unknown>): Buffer => Buffer.from(t.encode(t.fromObject(v)).finish());
const dec = (t: protobuf.Type, b: Buffer) => t.toObject(t.decode(b), { longs: String, enums: String });

let server: grpc.Server;
let page: Server;
let gw: TestGateway;
let seen: { path: string; method: string; te: unknown; type: unknown } | null = null;

async function call(path: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}) {
  const res = await request(`${gw.url}${path}`, {
    method: (init.method ?? 'GET') as 'GET',
    headers: init.body === undefined ? init.headers : { 'content-type': 'application/json', ...init.headers },
    body: init.body,
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

describe('grpc-gateway', () => {
  before(async () => {
    server = new grpc.Server();
    server.addService(SERVICE, {
      sayHello: (c: Unary, done: Done) => {
        const r = dec(HelloRequest, c.request);
        done(null, enc(HelloReply, { reply: `hello ${r.greeting}`, boolean_test: r.boolean_test }));
      },
      // The message as it came: its bytes are an EchoMsg.
      echo: (c: Unary, done: Done) => done(null, c.request),
      numbers: (c: Unary, done: Done) => done(null, c.request),
      fail: (_c: Unary, done: Done) => done({ code: grpc.status.NOT_FOUND, details: 'no such greeting' }),
      grow: (c: Unary, done: Done) => {
        const b = dec(Body, c.request) as { tail?: { count?: number } };
        const tail = { ...b.tail, count: (b.tail?.count ?? 0) + 1 };
        done(null, enc(Body, { ...b, tail }));
      },
      count: (c: grpc.ServerWritableStream<Buffer, Buffer>) => {
        for (let i = 1; i <= 3; i++) c.write(enc(HelloReply, { reply: `${i}` }));
        c.end();
      },
      // A reply larger than any the gateway decodes (4 MiB): 5 MiB in one string field.
      huge: (_c: Unary, done: Done) => done(null, enc(HelloReply, { reply: 'x'.repeat(5 * 1024 * 1024) })),
    });
    const http2 = (server as unknown as { http2Servers: Map<unknown, unknown> }).http2Servers;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    for (const s of http2.keys())
      (s as import('node:http2').Http2Server).prependListener('stream', (_st, h) => {
        seen = { path: String(h[':path']), method: String(h[':method']), te: h.te, type: h['content-type'] };
      });
    // A service that is no gRPC server: answers an HTML page.
    page = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<!DOCTYPE html><p>not here</p>');
    });
    await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
    gw = await startGateway({
      config: `_format_version: "3.0"
services:
  - name: greeter
    url: grpc://127.0.0.1:${port}
    routes:
      - name: rest
        protocols: [http, https]
        paths: [/v1]
        strip_path: false
        plugins:
          - name: grpc-gateway
            config: { proto: ${JSON.stringify(PROTO)} }
      - name: no-proto
        paths: [/none]
        plugins:
          - name: grpc-gateway
      - name: bad-proto
        paths: [/bad]
        plugins:
          - name: grpc-gateway
            config: { proto: /nonexistent/greeter.proto }
      - name: unresolved-proto
        paths: [/unresolved]
        plugins:
          - name: grpc-gateway
            config: { proto: ${JSON.stringify(UNRESOLVED)} }
  - name: html
    url: http://127.0.0.1:${(page.address() as AddressInfo).port}
    routes:
      - name: html
        hosts: [html.example]
        plugins:
          - name: grpc-gateway
            config: { proto: ${JSON.stringify(PROTO)} }
`,
    });
  });
  after(async () => {
    await gw?.close();
    server?.forceShutdown();
    page?.close();
  });

  test('GET with a path variable: the gRPC call its rule names, the reply as JSON with every scalar field', async () => {
    const r = await call('/v1/messages/john_doe?ignored=1');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.deepEqual(JSON.parse(r.text), { reply: 'hello john_doe', boolean_test: false });
    assert.deepEqual(seen, { path: `${M}SayHello`, method: 'POST', te: 'trailers', type: 'application/grpc' });
  });

  test('an additional binding with {var=**}, and a boolean query argument Kong-style', async () => {
    const yes = await call('/v1/messages/legacy/a/b%20c?boolean_test=1');
    assert.deepEqual(JSON.parse(yes.text), { reply: 'hello a/b c', boolean_test: true });
    const no = await call('/v1/messages/legacy/john?boolean_test=false');
    assert.deepEqual(JSON.parse(no.text), { reply: 'hello john', boolean_test: false });
  });

  test('query arguments fill nested and repeated fields; unknown ones are left out', async () => {
    const r = await call(
      '/v1/shelves/lizard/grow?hands.count=0&hands.endings=fingers&tail.count=0&tail.endings=tip&tags=a&tags=b&nope.x=1',
    );
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(JSON.parse(r.text), {
      name: 'lizard',
      hands: { count: 0, endings: 'fingers' },
      tail: { count: 1, endings: 'tip' },
      tags: ['a', 'b'],
    });
  });

  test('POST with body "*": every field from the JSON, and back (enum by name, int64, Timestamp, map, [] for empty)', async () => {
    const sent = {
      array: [],
      nullable: '',
      mood: 'HAPPY',
      big: '9007199254740993',
      limb: { count: 2, endings: 'toes' },
      when: '2024-05-01T10:00:00Z',
      counts: { a: 1 },
      names: { '9007199254740993': 'big', '-1': 'minus one' },
      blob: 'aGVsbG8=',
    };
    const r = await call('/v1/echo', { method: 'POST', body: JSON.stringify(sent) });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(JSON.parse(r.text), { ...sent, when: '2024-05-01T10:00:00' });
    assert.match(r.text, /"array":\[\]/);
    const small = await call('/v1/echo', { method: 'POST', body: '{"big":5}' });
    assert.equal(JSON.parse(small.text).big, 5);
    // An enum by number, or its number as a string (a query argument); one the enum does not name
    // goes through as its number.
    for (const [mood, want] of [
      ['1', 'HAPPY'],
      ['"1"', 'HAPPY'],
      ['2147483647', 2147483647],
      ['-2147483648', -2147483648],
    ] as const) {
      const r = await call('/v1/echo', { method: 'POST', body: `{"mood":${mood}}` });
      assert.equal(r.status, 200, `${mood}: ${r.text}`);
      assert.equal(JSON.parse(r.text).mood, want, mood);
    }
  });

  test("an integer past its bits, or bytes not in base64, are Kong's 400, not garbage sent on", async () => {
    for (const big of ['"9223372036854775807"', '"-9223372036854775808"', '9007199254740992']) {
      const r = await call('/v1/echo', { method: 'POST', body: `{"big":${big}}` });
      assert.equal(r.status, 200, big);
      assert.equal(String(JSON.parse(r.text).big), JSON.parse(big).toString());
    }
    const over = [
      '{"big":"99999999999999999999"}',
      '{"big":"9223372036854775808"}',
      '{"big":"-9223372036854775809"}',
      '{"big":1e300}',
      '{"big":9223372036854775808}',
      '{"names":{"99999999999999999999":"x"}}',
      '{"names":{"abc":"x"}}',
      // bytes that are not base64
      '{"blob":"not base64 !!"}',
      '{"blob":"aGVsb"}',
      // an enum number past int32, or not an integer
      '{"mood":4294967297}',
      '{"mood":"99999999999999999999"}',
      '{"mood":2147483648}',
      '{"mood":-2147483649}',
      '{"mood":1.5}',
      '{"mood":true}',
    ];
    for (const body of over) {
      seen = null;
      const r = await call('/v1/echo', { method: 'POST', body });
      assert.equal(r.status, 400, body);
      assert.equal(r.text, 'failed to encode payload');
      assert.equal(seen, null);
    }
  });

  test("each integer type's own range, numeric strings, a float, a boolean as a query argument reads", async () => {
    const fits: [string, unknown][] = [
      ['{"u32":4294967295}', 4294967295],
      ['{"u32":"7"}', 7],
      ['{"s32":-2147483648}', -2147483648],
      ['{"s32":2147483647}', 2147483647],
      ['{"u64":"18446744073709551615"}', '18446744073709551615'],
      ['{"u64":0}', 0],
      ['{"f64":"9007199254740993"}', '9007199254740993'],
      ['{"s64":"-9223372036854775808"}', '-9223372036854775808'],
      ['{"s64":-5}', -5],
      ['{"real":"1.5"}', 1.5],
      ['{"real":-0.25}', -0.25],
      ['{"flag":"false"}', false],
      ['{"flag":"0"}', false],
      ['{"flag":"yes"}', true],
      ['{"flag":true}', true],
    ];
    for (const [body, want] of fits) {
      const r = await call('/v1/numbers', { method: 'POST', body });
      assert.equal(r.status, 200, `${body}: ${r.text}`);
      const [field] = Object.keys(JSON.parse(body));
      assert.deepEqual(JSON.parse(r.text)[field!], want, body);
    }
    const refused = [
      '{"u32":-1}',
      '{"u32":4294967296}',
      '{"u32":1.5}',
      '{"u32":"abc"}',
      '{"u32":" "}',
      '{"s32":2147483648}',
      '{"s32":-2147483649}',
      '{"u64":"-1"}',
      '{"u64":"18446744073709551616"}',
      '{"u64":-1}',
      '{"u64":18446744073709551616}',
      '{"f64":-1}',
      '{"s64":9223372036854775808}',
      '{"s64":-9223372036854777856}',
      '{"s64":1.5}',
      '{"real":"abc"}',
      '{"real":true}',
      '{"flag":1}',
    ];
    for (const body of refused) {
      seen = null;
      const r = await call('/v1/numbers', { method: 'POST', body });
      assert.equal(r.status, 400, body);
      assert.equal(r.text, 'failed to encode payload', body);
      assert.equal(seen, null, body);
    }
  });

  test("a non-OK grpc-status is Kong's HTTP status; UNIMPLEMENTED is 500", async () => {
    const r = await call('/v1/fail/x');
    assert.equal(r.status, 404);
    assert.equal(r.headers['grpc-status'], '5');
    // As the service sent it (percent-encoded, gRPC's wire format), as Kong passes it.
    assert.equal(r.headers['grpc-message'], 'no%20such%20greeting');
    const u = await call('/v1/missing/x');
    assert.equal(u.status, 500);
    assert.equal(u.headers['grpc-status'], '12');
  });

  test("a server-streaming method's messages come one JSON object after another, as Kong writes them", async () => {
    const r = await call('/v1/count/x:stream');
    assert.equal(r.status, 200);
    assert.equal(
      r.text,
      '{"reply":"1","boolean_test":false}{"reply":"2","boolean_test":false}{"reply":"3","boolean_test":false}',
    );
  });

  test('a {var=**} takes up to 256 path segments in all; a longer path matches no rule', async () => {
    const within = await call(`/v1/messages/legacy/${'a/'.repeat(252)}b`);
    assert.equal(within.status, 200, within.text);
    assert.equal(JSON.parse(within.text).reply, `hello ${'a/'.repeat(252)}b`);
    const over = await call(`/v1/messages/legacy/${'a/'.repeat(253)}b`);
    assert.equal(over.status, 400);
    assert.match(over.text, /^failed to transcode \.proto file Unknown path/);
  });

  test("an unknown path or method is Kong's 400, the service not called", async () => {
    seen = null;
    const p = await call('/v1/messages/john_doe/bai');
    assert.equal(p.status, 400);
    assert.equal(p.text, 'failed to transcode .proto file Unknown path "/v1/messages/john_doe/bai"');
    const m = await call('/v1/echo', { method: 'PUT', body: '{}' });
    assert.equal(m.status, 400);
    assert.equal(m.text, 'failed to transcode .proto file Unknown method "put"');
    assert.equal(seen, null);
  });

  test("malformed JSON, a non-object body, null and a value of the wrong type are Kong's 400s", async () => {
    const bad = await call('/v1/echo', { method: 'POST', body: '{"nullable":"invalid}' });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /^decode json err: /);
    const scalar = await call('/v1/echo', { method: 'POST', body: '"x"' });
    assert.equal(scalar.status, 400);
    assert.equal(scalar.text, 'body must be a table');
    for (const body of [
      '{"nullable":null}',
      '{"nullable":1}',
      '{"limb":{"count":"many"}}',
      '{"mood":"constructor"}',
      // a message or a map that is no JSON object
      '{"limb":"x"}',
      '{"limb":[{"count":1}]}',
      '{"counts":"7"}',
      '{"counts":[1]}',
    ]) {
      const r = await call('/v1/echo', { method: 'POST', body });
      assert.equal(r.status, 400, body);
      assert.equal(r.text, 'failed to encode payload', body);
    }
  });

  test('a body holding more than 100,000 repeated values is refused, not encoded', async () => {
    const array = (n: number) => `{"array":[${'"",'.repeat(n - 1)}""]}`;
    const ok = await call('/v1/echo', { method: 'POST', body: array(100_000) });
    assert.equal(ok.status, 200, ok.text.slice(0, 100));
    assert.equal(JSON.parse(ok.text).array.length, 100_000);
    seen = null;
    const r = await call('/v1/echo', { method: 'POST', body: array(100_001) });
    assert.equal(r.status, 400);
    assert.equal(r.text, 'failed to encode payload');
    assert.equal(seen, null);
    // Past what the caps allow in all, the body is refused before it is parsed.
    const past = await call('/v1/echo', { method: 'POST', body: array(110_000) });
    assert.deepEqual([past.status, past.text], [400, 'decode json err: JSON of more than 110000 values']);
    assert.equal(seen, null);
  });

  test('a Timestamp is read literally: year 99 is not 1999, and a date that does not exist is a 400', async () => {
    const r = await call('/v1/echo', { method: 'POST', body: '{"when":"0099-02-28T23:59:59Z"}' });
    assert.equal(r.status, 200, r.text);
    assert.equal(JSON.parse(r.text).when, '0099-02-28T23:59:59');
    const leap = await call('/v1/echo', { method: 'POST', body: '{"when":"2024-02-29T00:00:00+01:00"}' });
    assert.equal(JSON.parse(leap.text).when, '2024-02-28T23:00:00');
    // A zone with minutes, and a fraction (the reply has neither, as Kong's).
    const zoned = await call('/v1/echo', { method: 'POST', body: '{"when":"2024-05-01T10:00:00.123456789+05:30"}' });
    assert.equal(JSON.parse(zoned.text).when, '2024-05-01T04:30:00');
    const west = await call('/v1/echo', { method: 'POST', body: '{"when":"2024-05-01T10:00:00-0259"}' });
    assert.equal(JSON.parse(west.text).when, '2024-05-01T12:59:00');
    for (const when of [
      '2024-13-01T00:00:00Z',
      '2023-02-29T00:00:00Z',
      '2024-01-01T24:00:00Z',
      '2024-01-01T00:60:00',
      '2024-01-01T00:00:60Z',
      '2024-01-01T00:00:00+01:60',
      'x2024-01-01T00:00:00Z',
      '2024-01-01T00:00:00Zx',
      '2024-01-01T00:00:00.1234567890Z',
      '2024-01-01T00:00:00.Z',
    ]) {
      const bad = await call('/v1/echo', { method: 'POST', body: JSON.stringify({ when }) });
      assert.equal(bad.status, 400, when);
      assert.equal(bad.text, 'failed to encode payload');
    }
  });

  test('a body making more than 10,000 messages is refused, not encoded', async () => {
    // A map's entries are messages on the wire; the request message is one more.
    const counts = (n: number) =>
      JSON.stringify({ counts: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])) });
    const ok = await call('/v1/echo', { method: 'POST', body: counts(9_999) });
    assert.equal(ok.status, 200, ok.text.slice(0, 100));
    assert.equal(Object.keys(JSON.parse(ok.text).counts).length, 9_999);
    seen = null;
    const r = await call('/v1/echo', { method: 'POST', body: counts(10_000) });
    assert.equal(r.status, 400);
    assert.equal(r.text, 'failed to encode payload');
    assert.equal(seen, null);
    // A message field after the map counts too, up to exactly 10,000 messages.
    const withLimb = (n: number) => `${counts(n).slice(0, -1)},"limb":{"count":1}}`;
    const last = await call('/v1/echo', { method: 'POST', body: withLimb(9_998) });
    assert.equal(last.status, 200, last.text.slice(0, 100));
    const past = await call('/v1/echo', { method: 'POST', body: withLimb(9_999) });
    assert.equal(past.status, 400);
    assert.equal(past.text, 'failed to encode payload');
  });

  test('a body nested deeper than any message is refused, not walked', async () => {
    const nested = (n: number) => `{"node":${'{"next":'.repeat(n)}{}${'}'.repeat(n + 1)}`;
    const ok = await call('/v1/echo', { method: 'POST', body: nested(50) });
    assert.equal(ok.status, 200, ok.text);
    const r = await call('/v1/echo', { method: 'POST', body: nested(500) });
    assert.equal(r.status, 400);
    assert.equal(r.text, 'failed to encode payload');
  });

  test('an answer that is no gRPC one goes as it came, not read as frames', async () => {
    const r = await call('/v1/messages/x', { headers: { host: 'html.example' } });
    assert.equal(r.status, 404);
    // Labelled as every unlabelled text answer is (nginx_http_charset, Kong's nginx charset).
    assert.equal(r.headers['content-type'], 'text/html; charset=UTF-8');
    assert.equal(r.text, '<!DOCTYPE html><p>not here</p>');
  });

  test('OPTIONS is answered as Kong answers a CORS preflight', async () => {
    const r = await call('/v1/echo', { method: 'OPTIONS' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-methods'], 'GET,POST,PATCH,DELETE');
  });

  test('without a proto, and with a proto that cannot be read: 400 and 500, the process up', async () => {
    const none = await call('/none/x');
    assert.equal(none.status, 400);
    assert.equal(none.text, 'transcoding requests require a .proto file defining the service');
    for (let i = 0; i < 2; i++) {
      const bad = await call('/bad/x');
      assert.equal(bad.status, 500);
    }
    assert.ok(gw.logs.some((l) => String(l.msg ?? l.message).includes('/nonexistent/greeter.proto')));
  });

  test('a proto naming a type it does not declare is a 500, the process up', async () => {
    // protobufjs throws that in its own file-read callback: uncaught, it would end the gateway.
    const bad = await call('/unresolved/v1/broken');
    assert.equal(bad.status, 500);
    assert.ok(gw.logs.some((l) => String(l.msg ?? l.message).includes('no such type: Missing')));
    assert.equal((await call('/v1/messages/alive')).status, 200);
  });

  test('a reply message over 4 MiB is not held: the answer is cut', async () => {
    // The head may or may not have left before the frame's: either way the client's transfer fails.
    const cut = await request(`${gw.url}/v1/huge`).then(
      (res) =>
        res.body.text().then(
          (text) => `answered ${res.statusCode}: ${text.slice(0, 40)}`,
          () => 'cut',
        ),
      () => 'cut',
    );
    assert.equal(cut, 'cut');
    assert.ok(gw.logs.some((l) => JSON.stringify(l).includes('more than 4194304')));
  });
});
