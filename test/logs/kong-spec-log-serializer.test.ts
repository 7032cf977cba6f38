// Kong's own log serializer spec, as Tollgate's log entry shows it: spec/01-unit/10-log_serializer_spec.lua
// of Kong/kong at commit 22246ef2 (its #http cases). Kong's spec calls kong.log.serialize() on a
// hand-made ngx; here the same request goes through a real gateway to a real upstream, and the
// entry is what http-log delivers to a real receiver. Left out: the #stream cases (Tollgate proxies
// no TCP or TLS streams), the deep copies of the route, service and consumer and json.null/cdata
// values (Lua internals), the port map (src/lib/log/serializer-url.test.ts) and the tries of a
// retried request (src/lib/log/serializer.test.ts). Differences the compatibility pages list, asserted
// as Tollgate answers: route, service, consumer and authenticated_entity are null and tries is []
// when there are none (Kong leaves the keys out), a plugin's exit names the plugin as `source`
// (Kong's "kong"), and the response's set-cookie is REDACTED (Kong logs it).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';
import { send } from '../support/kong-mock.ts';
import { type HttpMessage, httpReceiver, type Receiver } from '../support/receivers.ts';
import { type Listening, listen } from '../support/upstream.ts';

const CONSUMER_ID = '6a1c7a4e-3a5d-4f4e-9f36-2c4b7a0f2d11';
const CREDENTIAL_ID = '7b2d8b5f-3a5d-4f4e-9f36-2c4b7a0f2d11';

describe("the log entry: Kong's 10-log_serializer_spec.lua (#http)", () => {
  let gw: TestGateway;
  let upstream: Listening;
  let receiver: Receiver<HttpMessage>;
  let port: string;

  before(async () => {
    receiver = await httpReceiver();
    upstream = await listen((req, res) => {
      req.resume();
      res.writeHead(200, { header1: 'respheader1', header2: 'respheader2', 'set-cookie': 'delicious=delicacy' });
      res.end('ok');
    });
    const log = { name: 'http-log', config: { http_endpoint: `http://127.0.0.1:${receiver.port}/` } };
    gw = await startServiceGateway(
      [
        {
          id: '0e5c5b4a-1111-4f4e-9f36-2c4b7a0f2d11',
          name: 'my_route',
          paths: ['/request_uri'],
          strip_path: false,
          plugins: [log],
        },
        { name: 'keyed', paths: ['/keyed'], plugins: [log, { name: 'key-auth' }] },
        {
          name: 'exit',
          paths: ['/exit'],
          plugins: [log, { name: 'request-termination', config: { status_code: 200, message: 'OK' } }],
        },
      ],
      {
        name: 'my_service',
        url: upstream.url,
        extra: {
          consumers: [
            { id: CONSUMER_ID, username: 'someconsumer', keyauth_credentials: [{ id: CREDENTIAL_ID, key: 'k' }] },
          ],
          plugins: [log],
        },
      },
    );
    port = new URL(gw.url).port;
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
    await receiver?.close();
  });

  async function entry(
    method: string,
    path: string,
    headers: Record<string, string> = {},
  ): Promise<Record<string, any>> {
    await send(gw.url, method, path, { host: 'test.test', ...headers });
    return JSON.parse((await receiver.next()).body);
  }

  test('serializes without API, Consumer or Authenticated entity', async () => {
    const before = Date.now();
    const res = await entry('POST', '/request_uri?arg1&arg2', {
      header1: 'header1',
      header2: 'header2',
      authorization: 'authorization',
    });
    assert.equal(res.client_ip, '127.0.0.1');
    assert.ok(Number.isInteger(res.started_at) && res.started_at >= before - 1000, String(res.started_at));
    for (const k of ['kong', 'proxy', 'request', 'receive']) assert.equal(typeof res.latencies[k], 'number', k);
    assert.equal(res.request.headers.header1, 'header1');
    assert.equal(res.request.headers.header2, 'header2');
    assert.equal(res.request.headers.authorization, 'REDACTED');
    assert.equal(res.request.method, 'POST');
    assert.deepEqual(res.request.querystring, { arg1: true, arg2: true });
    assert.equal(res.request.url, `http://test.test:${port}/request_uri?arg1&arg2`);
    assert.equal(res.request.uri, '/request_uri?arg1&arg2');
    assert.equal(res.upstream_uri, '/request_uri?arg1&arg2');
    assert.equal(res.upstream_status, '200');
    assert.ok(res.request.size > 0);
    assert.ok(typeof res.request.id === 'string' && res.request.id !== '', res.request.id);
    assert.equal(res.response.headers.header1, 'respheader1');
    assert.equal(res.response.headers.header2, 'respheader2');
    // Kong logs it as sent; Tollgate redacts it (docs/logging.md: credentials never leave in an entry).
    assert.equal(res.response.headers['set-cookie'], 'REDACTED');
    assert.ok(res.response.size > 0);
    assert.equal('api' in res, false);
    assert.equal(res.consumer, null);
    assert.equal(res.authenticated_entity, null);
    assert.equal(res.tries.length, 1);
    assert.equal(res.source, 'upstream');
  });

  test('serializes the matching Route and Services', async () => {
    const res = await entry('GET', '/request_uri');
    assert.equal(res.route.id, '0e5c5b4a-1111-4f4e-9f36-2c4b7a0f2d11');
    assert.equal(res.route.name, 'my_route');
    assert.equal(res.service.name, 'my_service');
    assert.equal(typeof res.service.id, 'string');
    assert.equal(res.consumer, null);
    assert.equal(res.authenticated_entity, null);
  });

  test('serializes the Consumer object and the Authenticated Entity object', async () => {
    const res = await entry('GET', '/keyed', { apikey: 'k' });
    assert.equal(res.consumer.id, CONSUMER_ID);
    assert.deepEqual(res.authenticated_entity, { id: CREDENTIAL_ID, consumer_id: CONSUMER_ID });
    assert.equal('api' in res, false);
  });

  test("serializes the response.source: the gateway's own answer is kong; a plugin's exit names the plugin", async () => {
    // Kong's "kong" for an exit; Tollgate says which plugin answered (docs/kong-differences.md, "Who answered").
    const exited = await entry('GET', '/exit');
    assert.equal(exited.source, 'request-termination');
    const unmatched = await entry('GET', '/nowhere');
    assert.equal(unmatched.response.status, 404);
    assert.equal(unmatched.source, 'kong');
  });

  test("does not fail when no balancer ran: tries is empty (Kong's has none)", async () => {
    const res = await entry('GET', '/exit');
    assert.deepEqual(res.tries, []);
    assert.equal(res.upstream_status, '');
  });

  test('includes query args in upstream_uri', async () => {
    const res = await entry('GET', '/request_uri?arg1=foo&arg2=bar');
    assert.equal(res.upstream_uri, '/request_uri?arg1=foo&arg2=bar');
    assert.deepEqual(res.request.querystring, { arg1: 'foo', arg2: 'bar' });
  });

  test("keeps a request's empty query ('/request_uri?') in request.uri, request.url and upstream_uri, as Kong's request_uri", async () => {
    // node:http's request() with `path` sends the target as written (a URL would lose the `?`).
    const { hostname } = new URL(gw.url);
    await new Promise<void>((resolve, reject) =>
      request({ host: hostname, port, path: '/request_uri?', headers: { host: 'test.test' } }, (r) =>
        r.resume().on('end', resolve),
      )
        .on('error', reject)
        .end(),
    );
    const res = JSON.parse((await receiver.next()).body);
    assert.equal(res.request.uri, '/request_uri?');
    assert.equal(res.request.url, `http://test.test:${port}/request_uri?`);
    assert.equal(res.upstream_uri, '/request_uri?');
    assert.deepEqual(res.request.querystring, {});
  });
});
