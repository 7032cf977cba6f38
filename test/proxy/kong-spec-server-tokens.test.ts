// Kong's spec/02-integration/05-proxy/14-server_tokens_spec.lua (Kong commit 22246ef2): the
// Server, Via and X-Kong-*-Latency headers of the answers, ported against a real gateway.
// Tollgate adds none of them to any answer, whatever Kong's `headers` setting would say
// (docs/kong-differences.md, "No gateway headers on answers"): the gateway answers as Kong with
// `headers = off`, which this spec also pins, and each case below asserts that, with Kong's
// default-configuration answer beside it. Kong's `headers` setting itself is refused at load with
// the reason (the variants `Via`, `Server`, `server_tokens`, `latency_tokens`, ... have no
// counterpart). The Admin API cases (no Server, no X-Kong-Admin-Latency) are in
// src/admin/kong-spec-read.test.ts; the upstream's Via in kong-proxy-specs.test.ts (35-via_spec).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { definePlugin } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { type KongMock, type Sent, send, startKongMock } from '../support/kong-mock.ts';
import { refusedPort } from '../support/refused-port.ts';
import { validateText } from '../support/validate.ts';

/** Kong's `error-generator` fixture, its access-phase error. */
const errorGenerator = definePlugin({
  name: 'error-generator',
  version: '1.0.0',
  priority: 1_000_000,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create() {
    return {
      access() {
        throw new Error('[error-generator] access');
      },
    };
  },
});

const GATEWAY_HEADERS = [
  'via',
  'x-kong-proxy-latency',
  'x-kong-upstream-latency',
  'x-kong-response-latency',
  'x-kong-upstream-status',
];

let gw: TestGateway;
let mock: KongMock;
before(async () => {
  mock = await startKongMock();
  gw = await startGateway({
    plugins: [errorGenerator],
    config: {
      _format_version: '3.0',
      services: [
        { name: 'inspect', url: mock.url, routes: [{ hosts: ['headers-inspect.test'] }] },
        {
          name: 'wrong-port',
          url: `http://127.0.0.1:${await refusedPort()}`,
          retries: 0,
          routes: [{ hosts: ['502.test'] }],
        },
        {
          name: 'terminated',
          url: mock.url,
          routes: [
            {
              hosts: ['short-circuit.test'],
              plugins: [
                { name: 'request-termination', config: { status_code: 200, message: 'Terminated' } },
                // Kong's spec adds its own Server token as Via, and a Server of its own.
                { name: 'response-transformer', config: { add: { headers: ['Via:kong/3.9.0', 'Server:Demo'] } } },
              ],
            },
            { hosts: ['request-termination.test'], plugins: [{ name: 'request-termination' }] },
            { hosts: ['error-access.test'], plugins: [{ name: 'error-generator' }] },
          ],
        },
      ],
    },
  });
});
after(async () => {
  await gw?.close();
  await mock?.close();
});

const get = (host: string, path = '/request') => send(gw.url, 'GET', path, { host });

const noGatewayHeaders = (res: Sent, what: string) => {
  for (const name of GATEWAY_HEADERS) assert.equal(res.headers[name], undefined, `${what}: ${name}`);
};

test("a proxied answer keeps the upstream's Server and gets no Via or latency headers", async () => {
  // Kong by default: `Via: 1.1 kong/<version>` and X-Kong-Upstream-Latency, X-Kong-Proxy-Latency.
  const res = await get('headers-inspect.test', '/response-headers?Server=mock-server');
  assert.equal(res.status, 200);
  assert.equal(res.headers.server, 'mock-server');
  noGatewayHeaders(res, 'proxied');
});

test('no route matched: no Server, Via or X-Kong-Response-Latency', async () => {
  // Kong by default: `Server: kong/<version>` and X-Kong-Response-Latency; with `headers = off`, neither.
  const res = await get('404.test', '/get');
  assert.equal(res.status, 404);
  assert.equal(res.headers.server, undefined);
  noGatewayHeaders(res, '404');
});

test("a short-circuited answer carries the Via and Server a plugin adds, not the gateway's", async () => {
  const res = await get('short-circuit.test', '/get');
  assert.equal(res.status, 200);
  assert.equal(res.headers.via, 'kong/3.9.0');
  assert.equal(res.headers.server, 'Demo');
  const plain = await get('request-termination.test', '/get');
  assert.equal(plain.status, 503);
  assert.equal(plain.headers.server, undefined);
  noGatewayHeaders(plain, 'request-termination');
});

test("an upstream's error statuses are relayed as they are, without latency headers", async () => {
  // The statuses of nginx's error_page directive in Kong's template, 494 among them: the
  // upstream's answers, which no error page replaces.
  for (const code of [400, 404, 408, 411, 412, 413, 414, 417, 494, 500, 502, 503, 504]) {
    const res = await get('headers-inspect.test', `/status/${code}`);
    assert.equal(res.status, code);
    assert.equal(res.headers['content-type'], 'application/json');
    noGatewayHeaders(res, String(code));
  }
});

test("the gateway's own 502 and a plugin's access-phase failure (500) get no latency headers", async () => {
  const bad = await get('502.test', '/get');
  assert.equal(bad.status, 502);
  noGatewayHeaders(bad, '502');
  const failed = await get('error-access.test', '/get');
  assert.equal(failed.status, 500);
  noGatewayHeaders(failed, '500');
});

test("Kong's `headers` setting is refused at load, saying what the gateway sends instead", async () => {
  for (const value of ['off', 'Via', 'server_tokens, X-Kong-Proxy-Latency', 'serVer_TokEns, x-kOng-pRoXy-lAtency']) {
    const r = await validateText(`_format_version: "3.0"\n_tollgate:\n  headers: ${JSON.stringify(value)}\n`);
    assert.equal(r.code, 1, value);
    assert.match(
      r.out,
      /_tollgate\.headers {2}.*no Server, Via or X-Kong-\*-Latency headers are added to answers/,
      value,
    );
  }
});
