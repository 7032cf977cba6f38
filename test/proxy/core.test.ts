import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { rawRequest } from '../support/raw.ts';

/** A real upstream on loopback that answers with what it received, unless the test's handler says otherwise. */
async function upstream(
  handler?: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; port: number; server: Server; seen: IncomingMessage[] }> {
  const seen: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    seen.push(req);
    if (handler) return handler(req, res);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({
        method: req.method,
        url: req.url,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString(),
      });
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port, server, seen };
}

let up: Awaited<ReturnType<typeof upstream>>;
let gw: TestGateway;

before(async () => {
  up = await upstream();
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        { name: 'echo', url: 'echo://', routes: [{ name: 'echo', paths: ['/echo'] }] },
        {
          name: 'real',
          url: `${up.url}/base`,
          routes: [
            { name: 'strip', paths: ['/strip'] },
            { name: 'nostrip', paths: ['/nostrip'], strip_path: false },
            { name: 'preserve', paths: ['/preserve'], preserve_host: true },
            { name: 'public', paths: ['/public'] },
            { name: 'admin', paths: ['/admin'] },
            { name: 'root', hosts: ['root.test'], paths: ['/'] },
          ],
        },
      ],
    },
  });
});

after(async () => {
  await gw.close();
  up.server.close();
});

test('the echo upstream answers with the request the upstream would see, with X-Forwarded-For and the request id', async () => {
  const res = await fetch(`${gw.url}/echo/hello?a=1&a=2`, { headers: { 'x-demo': 'yes' } });
  assert.equal(res.status, 200);
  const echo = (await res.json()) as {
    method: string;
    path: string;
    query: Record<string, unknown>;
    headers: Record<string, string>;
  };
  assert.equal(echo.method, 'GET');
  assert.equal(echo.path, '/hello');
  assert.deepEqual(echo.query, { a: ['1', '2'] });
  assert.equal(echo.headers['x-demo'], 'yes');
  assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
  const rid = res.headers.get('x-request-id');
  assert.match(rid ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(echo.headers['x-request-id'], rid);
});

test('no route answers 404 with Kong body and a request id', async () => {
  const res = await fetch(`${gw.url}/nowhere`);
  assert.equal(res.status, 404);
  const body = (await res.json()) as { message: string; request_id: string };
  assert.equal(body.message, 'no Route matched with those values');
  assert.equal(body.request_id, res.headers.get('x-request-id'));
});

test('strip_path joins the service path as Kong does; strip_path false keeps the route prefix', async () => {
  const a = (await (await fetch(`${gw.url}/strip/x?q=1`)).json()) as { url: string; headers: Record<string, string> };
  assert.equal(a.url, '/base/x?q=1');
  assert.equal(a.headers['x-forwarded-prefix'], '/strip');
  assert.equal(a.headers['x-forwarded-path'], '/strip/x');
  const b = (await (await fetch(`${gw.url}/nostrip/x`)).json()) as { url: string };
  assert.equal(b.url, '/base/nostrip/x');
});

test('an empty query is kept upstream, as Kong keeps it', async () => {
  const res = await rawRequest(gw.url, 'GET /strip/x? HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
  assert.equal((JSON.parse(res.body) as { url: string }).url, '/base/x?');
  const b = (await (await fetch(`${gw.url}/strip/x`)).json()) as { url: string };
  assert.equal(b.url, '/base/x');
});

test('a stripped prefix of `/` sends no X-Forwarded-Prefix, as Kong', async () => {
  const res = await rawRequest(gw.url, 'GET /x HTTP/1.1\r\nHost: root.test\r\nConnection: close\r\n\r\n');
  const echo = JSON.parse(res.body) as { url: string; headers: Record<string, string> };
  assert.equal(echo.url, '/base/x');
  assert.equal(echo.headers['x-forwarded-prefix'], undefined);
});

test('Via names the version of the request received: 1.0, 1.1 (RFC 9110 7.6.3)', async () => {
  for (const [version, via] of [
    ['1.0', '1.0 tollgate'],
    ['1.1', '1.1 tollgate'],
  ]) {
    const res = await rawRequest(gw.url, `GET /strip/v HTTP/${version}\r\nHost: t\r\nConnection: close\r\n\r\n`);
    const echo = JSON.parse(res.body) as { headers: Record<string, string> };
    assert.equal(echo.headers.via, via, version);
  }
  const res = await rawRequest(
    gw.url,
    'GET /strip/v HTTP/1.0\r\nHost: t\r\nVia: 1.1 edge\r\nConnection: close\r\n\r\n',
  );
  assert.equal((JSON.parse(res.body) as { headers: Record<string, string> }).headers.via, '1.1 edge, 1.0 tollgate');
});

test('preserve_host sends the client Host upstream; otherwise the service host', async () => {
  const a = JSON.parse(
    (await rawRequest(gw.url, 'GET /preserve/x HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n')).body,
  ) as { headers: Record<string, string> };
  assert.equal(a.headers.host, 'api.example.com');
  const b = JSON.parse(
    (await rawRequest(gw.url, 'GET /strip/x HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n')).body,
  ) as { headers: Record<string, string> };
  assert.equal(b.headers.host, `127.0.0.1:${up.port}`);
  assert.equal(b.headers['x-forwarded-host'], 'api.example.com');
});

test('dot segments and encoded dots cannot reach another route than the normalized path matches', async () => {
  for (const p of [
    '/public/../admin/x',
    '/public/%2e%2e/admin/x',
    '/public/%2E%2E/admin/x',
    '//admin/x',
    '/public/./../admin/x',
  ]) {
    const res = await rawRequest(gw.url, `GET ${p} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
    assert.equal(res.status, 200, p);
    const echo = JSON.parse(res.body) as { url: string };
    assert.equal(echo.url, '/base/x', p);
  }
});

test('an encoded slash is refused with 400 and never reaches the upstream', async () => {
  const before = up.seen.length;
  const res = await rawRequest(gw.url, `GET /public%2F..%2Fadmin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
  assert.equal(res.status, 400);
  assert.equal(up.seen.length, before);
});

test('a dot segment with path parameters is refused with 400 and never reaches the upstream', async () => {
  const before = up.seen.length;
  // A servlet upstream reads /public/..;/admin as /admin: routed as /public, it would skip /admin's plugins.
  for (const p of ['/public/..;/admin', '/public/%2e%2e;/admin', '/public/.;/../admin']) {
    const res = await rawRequest(gw.url, `GET ${p} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
    assert.equal(res.status, 400, p);
    assert.equal((JSON.parse(res.body) as { message: string }).message, 'Bad request: invalid path', p);
  }
  assert.equal(up.seen.length, before);
});

test('hop-by-hop headers and headers named in Connection are removed; a client cannot delete the headers the gateway adds', async () => {
  const res = await rawRequest(
    gw.url,
    'GET /strip/h HTTP/1.1\r\nHost: t\r\nConnection: close, X-Secret, X-Forwarded-For, X-Request-Id\r\nKeep-Alive: timeout=5\r\nX-Secret: s\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nX-Keep: k\r\n\r\n',
  );
  const echo = JSON.parse(res.body) as { headers: Record<string, string> };
  assert.equal(echo.headers['x-secret'], undefined);
  assert.equal(echo.headers['keep-alive'], undefined);
  assert.equal(echo.headers.te, undefined);
  assert.equal(echo.headers['proxy-connection'], undefined);
  assert.equal(echo.headers['x-keep'], 'k');
  assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
  assert.match(echo.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(echo.headers.via, '1.1 tollgate');
});

test('a client Proxy header never reaches the upstream (httpoxy), as Kong clears it', async () => {
  const res = await rawRequest(
    gw.url,
    'GET /strip/p HTTP/1.1\r\nHost: t\r\nProxy: http://attacker.example:8080\r\nConnection: close\r\n\r\n',
  );
  assert.equal(res.status, 200);
  const echo = JSON.parse(res.body) as { headers: Record<string, string> };
  assert.equal(echo.headers.proxy, undefined);
});

test('client-sent identity headers never reach the upstream', async () => {
  const echo = (await (
    await fetch(`${gw.url}/strip/id`, {
      headers: {
        'x-consumer-id': 'forged',
        'x-consumer-username': 'admin',
        'x-consumer-groups': 'admins',
        'x-credential-identifier': 'forged',
        'x-credential-username': 'admin',
        'x-anonymous-consumer': 'false',
        'x-userinfo': 'e30=',
        'x-access-token': 'forged',
        'x-id-token': 'forged',
      },
    })
  ).json()) as { headers: Record<string, string> };
  for (const h of [
    'x-consumer-id',
    'x-consumer-username',
    'x-consumer-groups',
    'x-credential-identifier',
    'x-credential-username',
    'x-anonymous-consumer',
    'x-userinfo',
    'x-access-token',
    'x-id-token',
  ]) {
    assert.equal(echo.headers[h], undefined, h);
  }
});

test('client X-Forwarded-* values are not believed from an untrusted peer, X-Forwarded-For is appended to', async () => {
  const echo = (await (
    await fetch(`${gw.url}/strip/xf`, {
      headers: {
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example',
        'x-request-id': 'client-chosen',
      },
    })
  ).json()) as { headers: Record<string, string> };
  assert.equal(echo.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  assert.equal(echo.headers['x-forwarded-proto'], 'http');
  assert.notEqual(echo.headers['x-forwarded-host'], 'evil.example');
  assert.equal(echo.headers['x-real-ip'], '127.0.0.1');
  assert.notEqual(echo.headers['x-request-id'], 'client-chosen');
});

test('a duplicate Host header gets 400 and never reaches the upstream', async () => {
  const before = up.seen.length;
  const res = await rawRequest(gw.url, 'GET /strip/x HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n');
  assert.equal(res.status, 400);
  assert.equal(up.seen.length, before);
});

test('a Host or absolute-form authority with an empty name gets 400, as nginx refuses it ("client sent invalid host header")', async () => {
  const before = up.seen.length;
  for (const [line, host] of [
    ['/strip/x HTTP/1.1', 'Host:\r\n'],
    ['/strip/x HTTP/1.1', 'Host: :80\r\n'],
    ['/strip/x HTTP/1.1', 'Host: .\r\n'],
    ['/strip/x HTTP/1.0', 'Host:\r\n'],
    ['http:///strip/x HTTP/1.1', 'Host:\r\n'],
    ['http:///strip/x HTTP/1.0', ''],
  ] as const) {
    const res = await rawRequest(gw.url, `GET ${line}\r\n${host}Connection: close\r\n\r\n`);
    assert.equal(res.status, 400, `${line} ${host}`);
    assert.equal(JSON.parse(res.body).message, 'Bad request');
  }
  assert.equal(up.seen.length, before);
  // HTTP/1.0 may leave Host out altogether.
  assert.equal((await rawRequest(gw.url, 'GET /strip/x HTTP/1.0\r\n\r\n')).status, 200);
});

test("HTTP/1.0 without Host: X-Forwarded-Host is nginx's $host, Kong's server name `kong`; Host is the service's, preserve_host or not", async () => {
  for (const path of ['/strip/x', '/preserve/x']) {
    const res = await rawRequest(gw.url, `GET ${path} HTTP/1.0\r\n\r\n`);
    assert.equal(res.status, 200, path);
    const { headers } = JSON.parse(res.body) as { headers: Record<string, string> };
    assert.equal(headers['x-forwarded-host'], 'kong', path);
    assert.equal(headers.host, `127.0.0.1:${up.port}`, path);
  }
  // A request that names its host keeps it.
  const named = await rawRequest(gw.url, 'GET /strip/x HTTP/1.0\r\nHost: Api.Example.\r\n\r\n');
  assert.equal(
    (JSON.parse(named.body) as { headers: Record<string, string> }).headers['x-forwarded-host'],
    'api.example',
  );
});

test('an absolute-form target that disagrees with Host gets 400', async () => {
  const before = up.seen.length;
  const res = await rawRequest(
    gw.url,
    'GET http://other.example/strip/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
  );
  assert.equal(res.status, 400);
  assert.equal(up.seen.length, before);
  const ok = await rawRequest(gw.url, 'GET http://t/strip/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
  assert.equal(ok.status, 200);
  // The scheme's default port may be left out of either (RFC 3986 6.2.3): the same authority.
  for (const [target, host, status] of [
    ['http://t:80/strip/x', 't', 200],
    ['HTTP://T/strip/x', 't:80', 200],
    ['https://t:443/strip/x', 't', 200],
    ['https://t/strip/x', 'T:443', 200],
    ['http://t:443/strip/x', 't', 400],
    ['https://t/strip/x', 't:80', 400],
    ['http://t:8080/strip/x', 't', 400],
  ] as const) {
    const res = await rawRequest(gw.url, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    assert.equal(res.status, status, `${target} with Host ${host}`);
  }
});

test('Content-Length with Transfer-Encoding (a smuggling shape) never reaches the upstream', async () => {
  const before = up.seen.length;
  const res = await rawRequest(
    gw.url,
    'POST /strip/x HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: t\r\n\r\n',
  );
  assert.equal(res.status, 400);
  assert.equal(up.seen.length, before);
});

test('a request line other than HTTP/1.0 or 1.1 is refused', async () => {
  const before = up.seen.length;
  // Node's parser takes 0.9 and 2.0 request lines (and refuses 1.2 itself); HTTP/2 is only real on a TLS stream.
  for (const version of ['2.0', '0.9']) {
    const res = await rawRequest(gw.url, `GET /strip/x HTTP/${version}\r\nHost: t\r\n\r\n`);
    assert.equal(res.status, 505, version);
    assert.equal(JSON.parse(res.body).message, 'HTTP Version Not Supported', version);
  }
  assert.equal(up.seen.length, before);
});

test('too many request headers get 431', async () => {
  const many = Array.from({ length: 150 }, (_, i) => `X-H${i}: v`).join('\r\n');
  const res = await rawRequest(gw.url, `GET /strip/x HTTP/1.1\r\nHost: t\r\n${many}\r\nConnection: close\r\n\r\n`);
  assert.equal(res.status, 431);
});

test('header names with underscores are dropped by default', async () => {
  const res = await rawRequest(gw.url, 'GET /strip/x HTTP/1.1\r\nHost: t\r\nX_Api_Key: k\r\nConnection: close\r\n\r\n');
  const echo = JSON.parse(res.body) as { headers: Record<string, string> };
  assert.equal(echo.headers.x_api_key, undefined);
});

test('an h2c upgrade offer is ignored, as nginx ignores it: the request is served over HTTP/1.1, the offer not forwarded', async () => {
  // What `curl --http2 http://...` and Java's HttpClient send on a new cleartext connection.
  const offer = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n';
  for (const extra of ['', 'Content-Length: 0\r\n']) {
    const res = await rawRequest(gw.url, `GET /strip/x HTTP/1.1\r\nHost: t\r\n${offer}${extra}\r\n`);
    assert.equal(res.status, 200, extra);
    assert.match(res.raw, /^HTTP\/1\.1 200 /);
    const echo = JSON.parse(res.body) as { url: string; headers: Record<string, string> };
    assert.equal(echo.url, '/base/x');
    assert.equal(echo.headers.upgrade, undefined);
    assert.equal(echo.headers['http2-settings'], undefined);
    assert.equal(echo.headers.connection, 'keep-alive');
  }
  // node's parser leaves the body of an upgrade request unread: refused, never sent upstream without it.
  const withBody = await rawRequest(
    gw.url,
    `POST /strip/x HTTP/1.1\r\nHost: t\r\n${offer}Content-Length: 5\r\n\r\nhello`,
  );
  assert.equal(withBody.status, 400);
  assert.match(withBody.body, /h2c upgrade is not supported/);
  // Without `Connection: Upgrade` it is an ordinary request: served with its body.
  const plain = await rawRequest(
    gw.url,
    'POST /strip/x HTTP/1.1\r\nHost: t\r\nUpgrade: h2c\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
  );
  assert.equal(plain.status, 200);
  assert.equal((JSON.parse(plain.body) as { body: string }).body, 'hello');
});

test('Expect: 100-continue gets an interim 100, then the upstream answer', async () => {
  const res = await rawRequest(
    gw.url,
    'POST /strip/x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
  );
  assert.match(res.raw, /^HTTP\/1\.1 100 Continue/);
  assert.match(res.raw, /HTTP\/1\.1 200 OK/);
  assert.match(res.raw, /"body":"hello"/);
});

test('an Expect other than 100-continue gets 417', async () => {
  const res = await rawRequest(
    gw.url,
    'POST /strip/x HTTP/1.1\r\nHost: t\r\nExpect: something\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
  );
  assert.equal(res.status, 417);
});

test('a request body is forwarded and the access log has one JSON line per request', async () => {
  const res = await fetch(`${gw.url}/strip/post`, {
    method: 'POST',
    body: 'payload',
    headers: { 'content-type': 'text/plain' },
  });
  const echo = (await res.json()) as { body: string; method: string };
  assert.equal(echo.body, 'payload');
  const rid = res.headers.get('x-request-id');
  const line = gw.logs.find((l) => l.type === 'access' && l.request_id === rid);
  assert.ok(line, 'access log line');
  assert.equal(line.method, 'POST');
  assert.equal(line.path, '/strip/post');
  assert.equal(line.route, 'strip');
  assert.equal(line.service, 'real');
  assert.equal(line.status, 200);
  assert.equal(typeof line.latency_ms, 'number');
  assert.equal(typeof line.upstream_latency_ms, 'number');
});

test('from a trusted proxy, X-Forwarded-* and the request id are believed, and the client ip comes from X-Forwarded-For', async () => {
  const trusted = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { trusted_ips: ['127.0.0.1/32'], hsts: { max_age: 100 } },
      services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'echo', paths: ['/echo'] }] }],
    },
  });
  try {
    const res = await fetch(`${trusted.url}/echo/t`, {
      headers: {
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'api.example.com',
        'x-request-id': 'lb-123',
      },
    });
    const echo = (await res.json()) as { headers: Record<string, string>; client: { ip: string } };
    assert.equal(res.headers.get('x-request-id'), 'lb-123');
    assert.equal(echo.headers['x-forwarded-proto'], 'https');
    assert.equal(echo.headers['x-forwarded-host'], 'api.example.com');
    assert.equal(echo.headers['x-real-ip'], '203.0.113.7');
    assert.equal(echo.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    // The request counts as https: HSTS is sent (it never is over http).
    assert.equal(res.headers.get('strict-transport-security'), 'max-age=100');
    // X-Forwarded-Proto alone (no X-Forwarded-For) is believed too.
    const onlyRes = await fetch(`${trusted.url}/echo/t`, { headers: { 'x-forwarded-proto': 'https' } });
    const only = (await onlyRes.json()) as { headers: Record<string, string> };
    assert.equal(only.headers['x-forwarded-proto'], 'https');
    assert.equal(onlyRes.headers.get('strict-transport-security'), 'max-age=100');
    const plain = await fetch(`${trusted.url}/echo/t`);
    await plain.arrayBuffer();
    assert.equal(plain.headers.get('strict-transport-security'), null, 'plain http');
  } finally {
    await trusted.close();
  }
});

test('with trusted_ips set, a peer outside them is not believed: its X-Forwarded-*, X-Real-IP and request id are not', async () => {
  const elsewhere = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { trusted_ips: ['192.0.2.0/24'] },
      services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'echo', paths: ['/echo'] }] }],
    },
  });
  try {
    const res = await fetch(`${elsewhere.url}/echo/t`, {
      headers: {
        'x-forwarded-for': '203.0.113.7',
        'x-real-ip': '203.0.113.8',
        'x-forwarded-proto': 'https',
        'x-request-id': 'lb-123',
      },
    });
    const echo = (await res.json()) as { headers: Record<string, string> };
    assert.notEqual(res.headers.get('x-request-id'), 'lb-123');
    assert.equal(echo.headers['x-forwarded-proto'], 'http');
    assert.equal(echo.headers['x-real-ip'], '127.0.0.1');
    assert.equal(echo.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
  } finally {
    await elsewhere.close();
  }
});

test('X-Forwarded-Host is the Host without its port or trailing dot, lower-case; a bracketed IPv6 host keeps its brackets', async () => {
  const forwardedHost = async (host: string) =>
    (
      JSON.parse(
        (await rawRequest(gw.url, `GET /strip/h HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)).body,
      ) as { headers: Record<string, string> }
    ).headers['x-forwarded-host'];
  assert.equal(await forwardedHost('API.Example.com:8443'), 'api.example.com');
  // nginx's $host: a fully qualified name's trailing dot is not part of the host.
  assert.equal(await forwardedHost('API.Example.com.:8443'), 'api.example.com');
  assert.equal(await forwardedHost('[2001:DB8::1]:8443'), '[2001:db8::1]');
  assert.equal(await forwardedHost('[2001:db8::1]'), '[2001:db8::1]');
});

test('absolute-form targets: http or https in any case, authority and Host compared case-insensitively; other schemes and fragments are refused', async () => {
  const send = (target: string, host = 'Host: t\r\n', version = '1.1') =>
    rawRequest(gw.url, `GET ${target} HTTP/${version}\r\n${host}Connection: close\r\n\r\n`);
  const https = await send('HTTPS://T/strip/x?q=1');
  assert.equal(https.status, 200);
  assert.equal((JSON.parse(https.body) as { url: string }).url, '/base/x?q=1');
  assert.equal((await send('Http://t/strip/y')).status, 200);
  // Nothing after the authority, or only a query: the path is '/', which no route here serves.
  for (const target of ['http://t', 'http://t?q=1']) {
    const root = await send(target);
    assert.equal(root.status, 404, target);
    assert.match(root.body, /no Route matched/, target);
  }
  for (const target of ['ftp://t/strip/x', 'http:/t/strip/x', 'http://t/strip/x#frag']) {
    const res = await send(target);
    assert.equal(res.status, 400, target);
    // Refused as a target, not compared with Host as an authority read at the wrong place.
    assert.equal(JSON.parse(res.body).message, 'Bad request', target);
  }
  // HTTP/1.0 may omit Host: the authority names the host.
  assert.equal((await send('http://t/strip/z', '', '1.0')).status, 200);
});

test('Transfer-Encoding: chunked in any case is re-framed; other codings (501) and HTTP/1.0 with Transfer-Encoding (400) are refused', async () => {
  const post = (te: string, version = '1.1') =>
    rawRequest(
      gw.url,
      `POST /strip/te HTTP/${version}\r\nHost: t\r\nTransfer-Encoding: ${te}\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    );
  const ok = await post('Chunked');
  assert.equal(ok.status, 200);
  assert.equal((JSON.parse(ok.body) as { body: string }).body, 'hello');
  const before = up.seen.length;
  for (const te of ['gzip, chunked', 'identity']) assert.equal((await post(te)).status, 501, te);
  assert.equal((await post('chunked', '1.0')).status, 400, 'HTTP/1.0 has no chunked coding');
  assert.equal(up.seen.length, before);
});

test('max_request_headers counts every header line: that many pass, one more gets 431', async () => {
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `X-H${i}: v`).join('\r\n');
  // Host and Connection are two of the 100 (the default).
  const at = await rawRequest(gw.url, `GET /strip/n HTTP/1.1\r\nHost: t\r\n${lines(98)}\r\nConnection: close\r\n\r\n`);
  assert.equal(at.status, 200);
  const over = await rawRequest(
    gw.url,
    `GET /strip/n HTTP/1.1\r\nHost: t\r\n${lines(99)}\r\nConnection: close\r\n\r\n`,
  );
  assert.equal(over.status, 431);
});
