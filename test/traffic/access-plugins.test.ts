// ip-restriction, request-size-limiting and cors (server side), end to end through the gateway.

import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';
import { rawRequest } from '../support/raw.ts';

/** Parsed JSON body; tests read what they assert on. */
async function json(r: Response): Promise<any> {
  return r.json();
}

let gw: TestGateway;
before(async () => {
  gw = await startServiceGateway(
    [
      {
        name: 'deny',
        paths: ['/deny'],
        plugins: [{ name: 'ip-restriction', config: { deny: ['10.0.0.0/8', '2001:db8::/32'] } }],
      },
      {
        name: 'allow',
        paths: ['/allow'],
        plugins: [
          {
            name: 'ip-restriction',
            config: { allow: ['192.168.1.1', '127.0.0.1'], status: 401, message: 'Forbidden' },
          },
        ],
      },
      {
        name: 'small',
        paths: ['/small'],
        plugins: [{ name: 'request-size-limiting', config: { allowed_payload_size: 10, size_unit: 'bytes' } }],
      },
      {
        name: 'needlen',
        paths: ['/needlen'],
        plugins: [{ name: 'request-size-limiting', config: { allowed_payload_size: 1, require_content_length: true } }],
      },
      { name: 'cors-default', paths: ['/cors-default'], plugins: [{ name: 'cors' }] },
      {
        name: 'cors-list',
        paths: ['/cors-list'],
        plugins: [
          {
            name: 'cors',
            config: {
              origins: ['http://example.com', 'https://(.*)\\.example\\.org', 'example\\.net'],
              methods: ['GET', 'POST'],
              headers: ['x-one', 'x-two'],
              exposed_headers: ['x-exposed'],
              max_age: 23,
              credentials: true,
              private_network: true,
            },
          },
        ],
      },
      {
        name: 'cors-single',
        paths: ['/cors-single'],
        plugins: [{ name: 'cors', config: { origins: ['http://example.com'] } }],
      },
      {
        name: 'cors-star-cred',
        paths: ['/cors-star-cred'],
        plugins: [{ name: 'cors', config: { credentials: true } }],
      },
      {
        name: 'cors-continue',
        paths: ['/cors-continue'],
        plugins: [{ name: 'cors', config: { preflight_continue: true } }],
      },
    ],
    {
      extra: {
        _tollgate: { trusted_ips: ['127.0.0.1'] },
      },
    },
  );
});
after(() => gw?.close());

test('ip-restriction denies a client in a denied CIDR with Kong 403 message, IPv4 and IPv6', async () => {
  let r = await fetch(`${gw.url}/deny`, { headers: { 'x-forwarded-for': '10.1.2.3' } });
  assert.equal(r.status, 403);
  assert.deepEqual(await json(r), {
    message: 'IP address not allowed: 10.1.2.3',
    request_id: r.headers.get('x-request-id'),
  });
  r = await fetch(`${gw.url}/deny`, { headers: { 'x-forwarded-for': '2001:db8::1' } });
  assert.equal(r.status, 403);
  r = await fetch(`${gw.url}/deny`, { headers: { 'x-forwarded-for': '11.1.2.3' } });
  assert.equal(r.status, 200);
});

test('ip-restriction allow list admits only listed clients, with the configured status and message', async () => {
  let r = await fetch(`${gw.url}/allow`);
  assert.equal(r.status, 200);
  r = await fetch(`${gw.url}/allow`, { headers: { 'x-forwarded-for': '192.168.1.2' } });
  assert.equal(r.status, 401);
  assert.deepEqual(await json(r), { message: 'Forbidden', request_id: r.headers.get('x-request-id') });
  r = await fetch(`${gw.url}/allow`, { headers: { 'x-forwarded-for': '192.168.1.1' } });
  assert.equal(r.status, 200);
});

test('ip-restriction rejects an invalid CIDR at load, located', async () => {
  await assert.rejects(
    startGateway({
      config: { _format_version: '3.0', plugins: [{ name: 'ip-restriction', config: { allow: ['10.0.0.0/33'] } }] },
    }),
    (err: Error & { issues?: { path: string; message: string }[] }) =>
      err.issues?.some((i) => i.path === 'plugins[0].config.allow[0]' && i.message.includes('invalid ip or cidr')) ===
      true,
  );
});

test('request-size-limiting answers 413 on a declared Content-Length over the limit, before reading the body', async () => {
  // Only the head is sent: the gateway must answer without waiting for the 1 MB it announces.
  const raw = await rawRequest(gw.url, 'POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n');
  assert.equal(raw.status, 413);
  assert.deepEqual(JSON.parse(raw.body), {
    message: 'Request size limit exceeded',
    request_id: raw.headers['x-request-id'],
  });
  const ok = await fetch(`${gw.url}/small`, { method: 'POST', body: '0123456789' });
  assert.equal(ok.status, 200);
  assert.equal((await json(ok)).body, '0123456789');
});

test('request-size-limiting answers 417 to a client expecting 100-continue', async () => {
  const raw = await rawRequest(
    gw.url,
    'POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n',
  );
  assert.equal(raw.status, 417);
});

test('request-size-limiting counts a chunked body as it streams and refuses it past the limit', async () => {
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(
      `${gw.url}/small`,
      { method: 'POST', headers: { 'transfer-encoding': 'chunked' } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    // 12 bytes, then the stream stays open: the answer must come without the end of the body.
    req.write('0123456789ab');
  });
  assert.equal(status, 413);
  const small = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(
      `${gw.url}/small`,
      { method: 'POST', headers: { 'transfer-encoding': 'chunked' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.write('01234');
    req.end('56789');
  });
  assert.equal(small.status, 200);
  assert.equal(JSON.parse(small.body).body, '0123456789');
});

test('request-size-limiting with require_content_length answers 411 without a Content-Length', async () => {
  const raw = await rawRequest(gw.url, 'GET /needlen HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(raw.status, 411);
  assert.deepEqual(JSON.parse(raw.body), {
    message: 'A valid Content-Length header is required',
    request_id: raw.headers['x-request-id'],
  });
});

test('cors default config answers a preflight with * and every method', async () => {
  const r = await fetch(`${gw.url}/cors-default`, {
    method: 'OPTIONS',
    headers: {
      origin: 'http://a.test',
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'x-a, x-b',
    },
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  assert.equal(r.headers.get('access-control-allow-methods'), 'GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT');
  assert.equal(r.headers.get('access-control-allow-headers'), 'x-a, x-b');
  assert.equal(r.headers.get('access-control-allow-credentials'), null);
  assert.equal(r.headers.get('vary'), null);
  const g = await fetch(`${gw.url}/cors-default`, { headers: { origin: 'http://a.test' } });
  assert.equal(g.headers.get('access-control-allow-origin'), '*');
});

test('cors with an origin list: exact and regex matches echo the origin with Vary: Origin, others get none', async () => {
  const pre = await fetch(`${gw.url}/cors-list`, {
    method: 'OPTIONS',
    headers: {
      origin: 'http://example.com',
      'access-control-request-method': 'POST',
      'access-control-request-private-network': 'true',
    },
  });
  assert.equal(pre.status, 200);
  assert.equal(pre.headers.get('access-control-allow-origin'), 'http://example.com');
  assert.equal(pre.headers.get('access-control-allow-methods'), 'GET,POST');
  assert.equal(pre.headers.get('access-control-allow-headers'), 'x-one,x-two');
  assert.equal(pre.headers.get('access-control-max-age'), '23');
  assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
  assert.equal(pre.headers.get('access-control-allow-private-network'), 'true');
  assert.equal(pre.headers.get('vary'), 'Origin');

  const re = await fetch(`${gw.url}/cors-list`, { headers: { origin: 'https://sub.example.org' } });
  assert.equal(re.headers.get('access-control-allow-origin'), 'https://sub.example.org');
  assert.equal(re.headers.get('access-control-expose-headers'), 'x-exposed');
  assert.equal(re.headers.get('access-control-allow-credentials'), 'true');
  assert.match(re.headers.get('vary') ?? '', /Origin/);

  // A host-only regex matches the origin's host, whatever the scheme; anchored, so no suffix tricks.
  const host = await fetch(`${gw.url}/cors-list`, { headers: { origin: 'https://example.net' } });
  assert.equal(host.headers.get('access-control-allow-origin'), 'https://example.net');
  const evil = await fetch(`${gw.url}/cors-list`, { headers: { origin: 'https://example.org.evil.test' } });
  assert.equal(evil.headers.get('access-control-allow-origin'), null);
  const other = await fetch(`${gw.url}/cors-list`, { headers: { origin: 'http://example.com:8080' } });
  assert.equal(other.headers.get('access-control-allow-origin'), null);
  const defPort = await fetch(`${gw.url}/cors-list`, { headers: { origin: 'http://example.com:80' } });
  assert.equal(defPort.headers.get('access-control-allow-origin'), 'http://example.com');
});

test('cors with one plain origin always sends that origin', async () => {
  const r = await fetch(`${gw.url}/cors-single`, { headers: { origin: 'http://other.test' } });
  assert.equal(r.headers.get('access-control-allow-origin'), 'http://example.com');
  assert.equal(r.headers.get('vary'), 'Origin');
});

test('cors never combines credentials with a literal *: the request origin is echoed instead', async () => {
  const r = await fetch(`${gw.url}/cors-star-cred`, { headers: { origin: 'http://a.test' } });
  assert.equal(r.headers.get('access-control-allow-origin'), 'http://a.test');
  assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
  assert.equal(r.headers.get('vary'), 'Origin');
  const pre = await fetch(`${gw.url}/cors-star-cred`, {
    method: 'OPTIONS',
    headers: { origin: 'http://a.test', 'access-control-request-method': 'GET' },
  });
  assert.equal(pre.headers.get('access-control-allow-origin'), 'http://a.test');
  assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
});

test('cors preflight_continue proxies the preflight to the upstream without adding headers', async () => {
  const r = await fetch(`${gw.url}/cors-continue`, {
    method: 'OPTIONS',
    headers: { origin: 'http://a.test', 'access-control-request-method': 'GET' },
  });
  assert.equal(r.status, 200);
  const echo = await json(r);
  assert.equal(echo.method, 'OPTIONS');
  assert.equal(r.headers.get('access-control-allow-origin'), null);
});

test('cors headers are added to the gateway own error answers too', async () => {
  const r = await fetch(`${gw.url}/deny`, { headers: { origin: 'http://a.test', 'x-forwarded-for': '10.0.0.1' } });
  assert.equal(r.status, 403);
  // no cors on /deny: a route without the plugin gets nothing
  assert.equal(r.headers.get('access-control-allow-origin'), null);
});
