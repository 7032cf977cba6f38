// Kong's own request-termination specs, ported: spec/03-plugins/14-request-termination/
// 01-schema_spec.lua, 02-access_spec.lua and 03-integration_spec.lua at Kong commit 22246ef2. The
// cases here are those request-termination.test.ts and the shared tests do not already cover:
// Kong's configs, Host-routed as in Kong's spec, and what a client observes.
//
// Left out on purpose (docs/kong-compatibility.md): `status_code: null` loads with the default
// (Kong: "required field missing"); the `Server` header (Tollgate names no software on answers); a
// `body` without `content_type` is typed application/json (Kong leaves it untyped).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect as h2Connect } from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { refusedPort } from '../../../test/support/refused-port.ts';
import { tempDir } from '../../../test/support/temp.ts';
import { validateText } from '../../../test/support/validate.ts';
import { startFromFile } from '../../../test/tls/support.ts';
import type { TollgateInstance } from '../../instance.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

/** `gateway validate` of one request-termination instance with `config` (YAML flow): exit code and output. */
async function validate(config: string): Promise<{ code: number; out: string }> {
  const v = await validateText(
    `_format_version: "3.0"\nplugins:\n  - name: request-termination\n    config: ${config}\n`,
  );
  return { code: v.code, out: v.out + v.err };
}

describe("Kong's 01-schema_spec", () => {
  test('accepts a status, a message, a body with or without content_type, echo with a trigger', async () => {
    for (const config of [
      '{ status_code: 404 }',
      '{ message: "Not found" }',
      '{ content_type: text/html, body: "<body><h1>Not found</h1>" }',
      '{ body: "<body><h1>Not found</h1>" }',
      '{ echo: true, trigger: header_name }',
    ]) {
      const { code, out } = await validate(config);
      assert.equal(code, 0, `${config}: ${out}`);
    }
  });

  test("status_code only accepts integers, from 100 to 599, in Kong's words", async () => {
    const cases: [string, RegExp][] = [
      ['abcd', /config\.status_code {2}expected an integer/],
      ['99', /config\.status_code {2}value should be between 100 and 599/],
      ['600', /config\.status_code {2}value should be between 100 and 599/],
    ];
    for (const [status, message] of cases) {
      const { code, out } = await validate(`{ status_code: ${status} }`);
      assert.equal(code, 1, out);
      assert.match(out, message);
    }
  });

  test("message with content_type, or with both, and echo with both are refused in Kong's words", async () => {
    const cases: [string, RegExp][] = [
      ['{ message: error, content_type: text/html, body: test }', /message cannot be used with content_type or body/],
      ['{ message: error, content_type: text/html }', /message cannot be used with content_type or body/],
      [
        '{ echo: true, content_type: text/html, body: "<body><h1>Not found</h1>" }',
        /echo cannot be used with content_type and body/,
      ],
    ];
    for (const [config, message] of cases) {
      const { code, out } = await validate(config);
      assert.equal(code, 1, out);
      assert.match(out, message);
    }
  });
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET as Kong's spec client sends it: Host, User-Agent and, with a body, Content-Length only. */
function send(gw: TestGateway, host: string, path: string, extra: string[] = [], body?: string): Promise<Answer> {
  const u = new URL(gw.url);
  const headers = ['host', host, 'user-agent', 'kong-spec', ...extra];
  if (body !== undefined) headers.push('content-length', String(Buffer.byteLength(body)));
  return new Promise((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, path, method: 'GET', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

const HOST = (n: number): string => `api${n}.request-termination.test`;

describe("Kong's 02-access_spec and 03-integration_spec", () => {
  let gw: TestGateway;
  const term = (n: number, config: Record<string, unknown>, route: Record<string, unknown> = {}) => ({
    name: `r${n}`,
    hosts: [HOST(n)],
    ...route,
    plugins: [{ name: 'request-termination', config }],
  });
  before(async () => {
    gw = await startGateway({
      config: {
        _format_version: '3.0',
        // Kong's route7: a route without a service.
        routes: [term(7, {})],
        services: [
          {
            name: 'echo',
            url: 'echo://',
            routes: [
              term(2, { status_code: 404 }),
              term(3, { status_code: 406, message: 'Invalid' }),
              term(4, { body: '<html><body><h1>Service is down for maintenance</h1></body></html>' }),
              term(6, { status_code: 503, body: '{"code": 1, "message": "Service unavailable"}' }),
              term(8, { status_code: 204 }),
              term(9, { echo: true, status_code: 404 }, { strip_path: false, paths: ['~/(?<parameter>[^#?/]+)/200'] }),
              term(10, { echo: true, trigger: 'gimme-an-echo', status_code: 404 }),
              { name: 'keyed', hosts: [HOST(1)], plugins: [{ name: 'key-auth' }] },
            ],
          },
        ],
        consumers: [
          {
            username: 'bob',
            keyauth_credentials: [{ key: 'kong' }],
            // 03-integration_spec: the plugin on a consumer, with Kong's defaults.
            plugins: [{ name: 'request-termination' }],
          },
        ],
      },
    });
  });
  after(() => gw?.close());

  test('default status code and message on a route without a service', async () => {
    const r = await send(gw, HOST(7), '/status/200');
    assert.equal(r.status, 503);
    assert.deepEqual(JSON.parse(r.body), { message: 'Service unavailable' });
  });

  test("status code with Kong's default message, and with a custom message", async () => {
    const notFound = await send(gw, HOST(2), '/status/200');
    assert.equal(notFound.status, 404);
    assert.deepEqual(JSON.parse(notFound.body), { message: 'Not found' });
    const invalid = await send(gw, HOST(3), '/status/200');
    assert.equal(invalid.status, 406);
    assert.deepEqual(JSON.parse(invalid.body), { message: 'Invalid' });
  });

  test('returns 204 without a Content-Length header', async () => {
    const r = await send(gw, HOST(8), '/status/204');
    assert.equal(r.status, 204);
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(r.body, '');
  });

  test('a body is sent as configured, with the default status, or a custom one', async () => {
    const html = await send(gw, HOST(4), '/status/200');
    assert.equal(html.status, 503);
    assert.equal(html.body, '<html><body><h1>Service is down for maintenance</h1></body></html>');
    const json = await send(gw, HOST(6), '/status/200');
    assert.equal(json.status, 503);
    assert.deepEqual(JSON.parse(json.body), { code: 1, message: 'Service unavailable' });
  });

  /** The echo's `request`, the client-dependent headers left out as Kong's spec clears them. */
  function echoed(r: Answer): Record<string, unknown> {
    const out = JSON.parse(r.body);
    delete out.request.headers['user-agent'];
    delete out.request.headers.connection;
    return out;
  }

  test('echoes a request if no trigger is set, with the regex path captures', async () => {
    const r = await send(gw, HOST(9), '/status/200?hello=there', [], 'cool body');
    assert.equal(r.status, 404);
    const out = echoed(r) as { matched_route: { hosts: string[] }; request: unknown };
    assert.equal(out.matched_route.hosts[0], HOST(9));
    // No Content-Type: Kong's get_body() gives nothing, so `body` is left out.
    assert.deepEqual(out.request, {
      headers: { 'content-length': '9', host: HOST(9) },
      host: HOST(9),
      method: 'GET',
      path: '/status/200',
      port: Number(new URL(gw.url).port),
      query: { hello: 'there' },
      raw_body: 'cool body',
      scheme: 'http',
      uri_captures: { named: { parameter: 'status' }, unnamed: ['status'] },
    });
  });

  test("doesn't echo a request if the trigger is set but not sent: it is proxied", async () => {
    const r = await send(gw, HOST(10), '/status/200');
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).path, '/status/200', "the echo service's answer");
  });

  test('echoes a request if the trigger is sent as a header', async () => {
    const r = await send(gw, HOST(10), '/status/200?hello=there', ['Gimme-An-Echo', 'anything will do'], 'cool body');
    assert.equal(r.status, 404);
    const out = echoed(r) as { matched_route: { hosts: string[] }; request: unknown };
    assert.equal(out.matched_route.hosts[0], HOST(10));
    assert.deepEqual(out.request, {
      headers: { 'content-length': '9', 'gimme-an-echo': 'anything will do', host: HOST(10) },
      host: HOST(10),
      method: 'GET',
      path: '/status/200',
      port: Number(new URL(gw.url).port),
      query: { hello: 'there' },
      raw_body: 'cool body',
      scheme: 'http',
      uri_captures: { named: {}, unnamed: [] },
    });
  });

  test('echoes a request if the trigger is sent as a query argument', async () => {
    const r = await send(gw, HOST(10), '/status/200?hello=there&gimme-an-echo=anything%20will%20do', [], 'cool body');
    assert.equal(r.status, 404);
    const out = echoed(r) as { request: { headers: unknown; query: unknown; raw_body: unknown } };
    assert.deepEqual(out.request.headers, { 'content-length': '9', host: HOST(10) });
    assert.deepEqual(out.request.query, { hello: 'there', 'gimme-an-echo': 'anything will do' });
    assert.equal(out.request.raw_body, 'cool body');
  });

  test("on a consumer, with Kong's defaults: the consumer's requests get 503 and the default message", async () => {
    const r = await send(gw, HOST(1), '/request', ['apikey', 'kong']);
    assert.equal(r.status, 503);
    assert.deepEqual(JSON.parse(r.body), { message: 'Service unavailable' });
    assert.equal((await send(gw, HOST(1), '/request')).status, 401, 'key-auth still asks the others for a key');
  });
});

describe("Kong's 02-access_spec on a gRPC route", () => {
  let inst: TollgateInstance;
  before(async () => {
    const dir = tempDir('tollgate-rt-kong-spec');
    // The upstream is never reached: the plugin answers in the access phase.
    writeFileSync(
      join(dir, 'gateway.yaml'),
      `_format_version: "3.0"
services:
  - name: grpc
    url: grpc://127.0.0.1:${await refusedPort()}
    routes:
      - protocols: [grpc]
        paths: [/hello.HelloService/]
        plugins: [{ name: request-termination, config: { status_code: 503 } }]
`,
    );
    inst = await startFromFile(join(dir, 'gateway.yaml'), { proxyListen: ['127.0.0.1:0 http2'] });
  });
  after(() => inst?.close(0));

  test('a gRPC call is answered with the status as a gRPC code: Unavailable', async () => {
    const session = h2Connect(`http://${inst.proxyAddresses[0]}`);
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/hello.HelloService/SayHello',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const head = new Promise<Record<string, unknown>>((r) => stream.once('response', (h) => r(h)));
      const trailers = new Promise<Record<string, unknown>>((r) => {
        stream.once('trailers', (t) => r(t));
        stream.once('end', () => r({}));
      });
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
      stream.resume();
      const h = await head;
      const t = await trailers;
      // Kong's kong.response.exit keeps the HTTP status and adds grpc-status (14 is UNAVAILABLE),
      // the JSON body's message as grpc-message, in the head (Trailers-Only).
      assert.equal(h[':status'], 503);
      assert.equal(h['grpc-status'] ?? t['grpc-status'], '14');
      assert.equal(h['grpc-message'] ?? t['grpc-message'], 'Service unavailable');
    } finally {
      session.close();
    }
  });
});
