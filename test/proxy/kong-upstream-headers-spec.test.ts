// Kong's spec/02-integration/05-proxy/03-upstream_headers_spec.lua (Kong commit 22246ef2): what the
// upstream and the client receive, one gateway per Kong configuration, a real upstream echoing the
// head it got. Only the cases no other test covers are here (core.test.ts, forwarded.test.ts,
// port-maps.test.ts and transformers.test.ts have the rest). Kong's `trusted_ips` is
// `_tollgate.trusted_ips`; its `real_ip_header = X-Forwarded-For` with `real_ip_recursive = on` is
// how Tollgate always reads the client address (docs/kong-differences.md). Where Tollgate differs
// on purpose (the client's Proxy-Authorization and TE, X-Forwarded-For entries with ports, an
// upstream's Trailer), the assertion says what Tollgate does and why. The spec's Content-Type
// cases turn Kong's `nginx_http_charset` off; what Kong's default (UTF-8) does is tested beside them.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { type Listening, listen } from '../support/upstream.ts';

type Head = Record<string, string | string[] | undefined>;

/** A GET with exactly these headers (fetch would refuse Host, Connection and the hop-by-hop ones). */
function get(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Head; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false, signal: AbortSignal.timeout(10_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Kong's mock upstream: `/hop-by-hop` answers with hop-by-hop headers and no Content-Length,
 * `/nocharset` and `/charset` with a text Content-Type, `/typed?type=T&status=S` with that
 * Content-Type and status, anything else with the head it received.
 */
function mockUpstream(): Promise<Listening> {
  return listen((req, res) => {
    if (req.url === '/hop-by-hop') {
      res.setHeader('Keep-Alive', 'timeout=5, max=1000');
      res.setHeader('Proxy', 'Remove-Me');
      res.setHeader('Proxy-Connection', 'close');
      res.setHeader('Proxy-Authenticate', 'Basic');
      res.setHeader('Proxy-Authorization', 'Basic YWxhZGRpbjpvcGVuc2VzYW1l');
      res.setHeader('TE', 'trailers, deflate;q=0.5');
      res.setHeader('Trailer', 'Expires');
      res.setHeader('Upgrade', 'example/1, foo/2');
      res.end('hello\r\n\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n');
      return;
    }
    if (req.url === '/nocharset' || req.url === '/charset') {
      res.setHeader('Content-Type', req.url === '/charset' ? 'text/plain; charset=utf-8' : 'text/plain');
      res.end('Hello World!\n');
      return;
    }
    if (req.url?.startsWith('/typed?') === true) {
      const q = new URL(req.url, 'http://x').searchParams;
      res.writeHead(Number(q.get('status') ?? 200), { 'Content-Type': q.get('type') ?? '' });
      res.end('Hello World!\n');
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ headers: req.headers, url: req.url }));
  });
}

/** Kong's routes for this spec, each on its own service (here one service: the upstream is the same). */
function routesConfig(upstreamUrl: string, tollgate: Record<string, unknown>): Record<string, unknown> {
  return {
    _format_version: '3.0',
    _tollgate: tollgate,
    services: [
      {
        name: 'mock',
        url: upstreamUrl,
        routes: [
          { name: 'inspect', protocols: ['http'], hosts: ['headers-inspect.test'] },
          { name: 'preserved', protocols: ['http'], hosts: ['preserved.test'], preserve_host: true },
          { name: 'foo', protocols: ['http'], paths: ['/foo'], strip_path: true },
          { name: 'status', protocols: ['http'], paths: ['/status/200'], strip_path: false },
          { name: 'root', protocols: ['http'], paths: ['/'], strip_path: true },
          // Answers through a response plugin, and made by one.
          {
            name: 'transformed',
            paths: ['/transformed'],
            plugins: [{ name: 'response-transformer', config: { add: { headers: ['x-transformed:1'] } } }],
          },
          {
            name: 'terminated',
            paths: ['/terminated'],
            plugins: [
              { name: 'request-termination', config: { status_code: 200, content_type: 'text/plain', body: 'made' } },
            ],
          },
        ],
      },
    ],
  };
}

/** One Kong start: a gateway with `tollgate` settings in front of the mock upstream. */
function kongStart(tollgate: Record<string, unknown>) {
  const s = {
    gw: undefined as unknown as TestGateway,
    up: undefined as unknown as Listening,
    /** The listener's port, as Kong's `helpers.get_proxy_port(false)`. */
    port: '',
    /** The head the upstream received for a GET of `path` with `headers`. */
    async upstreamHead(headers: Record<string, string>, path = '/'): Promise<Head> {
      const r = await get(`${s.gw.url}${path}`, headers);
      assert.equal(r.status, 200, r.body);
      return (JSON.parse(r.body) as { headers: Head }).headers;
    },
  };
  before(async () => {
    s.up = await mockUpstream();
    s.gw = await startGateway({ config: routesConfig(s.up.url, tollgate) });
    s.port = new URL(s.gw.url).port;
  });
  after(async () => {
    await s.gw.close();
    await s.up.close();
  });
  return s;
}

const INSPECT = { host: 'headers-inspect.test' };

describe('(using the default configuration values)', () => {
  const k = kongStart({});

  describe('hop-by-hop headers', () => {
    test('are removed from request', async () => {
      const h = await k.upstreamHead({
        connection: 'X-Foo, X-Bar',
        host: 'headers-inspect.test',
        'keep-alive': 'timeout=5, max=1000',
        proxy: 'Remove-Me',
        'proxy-connection': 'close',
        'proxy-authenticate': 'Basic',
        'proxy-authorization': 'Basic YWxhZGRpbjpvcGVuc2VzYW1l',
        te: 'trailers, deflate;q=0.5',
        upgrade: 'example/1, foo/2',
        'x-foo': 'Remove-Me',
        'x-bar': 'Remove-Me',
        'x-foo-bar': 'Keep-Me',
        close: 'Keep-Me',
      });
      for (const name of ['keep-alive', 'proxy', 'proxy-connection', 'upgrade', 'x-foo', 'x-bar'])
        assert.equal(h[name], undefined, name);
      assert.equal(h['x-foo-bar'], 'Keep-Me');
      assert.equal(h.close, 'Keep-Me');
      // Kong passes these three on. The client's Proxy-Authorization is the gateway's credential
      // (RFC 9110 11.7.2), Proxy-Authenticate a response header, and TE: trailers would offer
      // trailers the gateway never relays (docs/kong-differences.md).
      assert.equal(h['proxy-authorization'], undefined);
      assert.equal(h['proxy-authenticate'], undefined);
      assert.equal(h.te, undefined);
    });

    test('are removed from response', async () => {
      for (const te of [undefined, 'trailers']) {
        const r = await get(`${k.gw.url}/hop-by-hop`, { ...INSPECT, ...(te === undefined ? {} : { te }) });
        assert.equal(r.status, 200);
        assert.equal(r.headers['keep-alive'], undefined);
        assert.equal(r.headers.upgrade, undefined);
        assert.equal(r.headers['transfer-encoding'], 'chunked');
        // Kong keeps the Trailer header for a client whose TE lists trailers ("keeps trailer when
        // requested"), though nginx's HTTP/1.1 proxy never sends them: no trailers are relayed
        // here either, so none are announced (docs/kong-differences.md).
        assert.equal(r.headers.trailer, undefined, `TE: ${te}`);
        // Kong relays these; they are hop-by-hop (RFC 9110 7.6.1, 11.7.1).
        for (const name of ['proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te'])
          assert.equal(r.headers[name], undefined, name);
        // Only a request's Proxy is httpoxy's; an answer's is relayed, as in Kong.
        assert.equal(r.headers.proxy, 'Remove-Me');
        assert.equal(r.body, 'hello\r\n\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n');
      }
    });

    test('keeps upgrade when upgrading', async () => {
      const h = await k.upstreamHead({ ...INSPECT, connection: 'keep-alive, Upgrade', upgrade: 'websocket' }, '/get');
      assert.equal(h.upgrade, 'websocket');
      // Kong writes `keep-alive, Upgrade`; undici writes `upgrade` for a WebSocket handshake. The
      // token that matters, upgrade, is there either way (RFC 9110 7.8).
      assert.equal(h.connection, 'upgrade');
    });
  });

  test('X-Real-IP should be replaced if present in request', async () => {
    assert.equal((await k.upstreamHead({ ...INSPECT, 'x-real-ip': '10.0.0.1' }))['x-real-ip'], '127.0.0.1');
  });

  test('X-Forwarded-Proto and X-Forwarded-Host should be added if not present in request', async () => {
    const h = await k.upstreamHead(INSPECT);
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], 'headers-inspect.test');
  });

  test('X-Forwarded-Port should be added, or replaced if present in request', async () => {
    assert.equal((await k.upstreamHead(INSPECT))['x-forwarded-port'], k.port);
    assert.equal((await k.upstreamHead({ ...INSPECT, 'x-forwarded-port': '80' }))['x-forwarded-port'], k.port);
  });

  test('X-Forwarded-Path should be added, or replaced if present in request', async () => {
    assert.equal((await k.upstreamHead(INSPECT))['x-forwarded-path'], '/');
    assert.equal((await k.upstreamHead({ ...INSPECT, 'x-forwarded-path': '/replaced' }))['x-forwarded-path'], '/');
  });

  test('X-Forwarded-Prefix should be replaced if present in request and path was stripped; not added if not stripped', async () => {
    assert.equal((await k.upstreamHead({ 'x-forwarded-prefix': '/replaced' }, '/foo'))['x-forwarded-prefix'], '/foo');
    assert.equal((await k.upstreamHead({}, '/status/200'))['x-forwarded-prefix'], undefined);
  });

  describe('with the downstream host preserved', () => {
    test('should be added if not present in request while preserving the downstream host', async () => {
      const h = await k.upstreamHead({ host: 'preserved.test' });
      assert.equal(h.host, 'preserved.test');
      assert.equal(h['x-real-ip'], '127.0.0.1');
      assert.equal(h['x-forwarded-for'], '127.0.0.1');
      assert.equal(h['x-forwarded-proto'], 'http');
      assert.equal(h['x-forwarded-host'], 'preserved.test');
      assert.equal(h['x-forwarded-path'], '/');
      assert.equal(h['x-forwarded-port'], k.port);
    });

    test('should be added if present in request while preserving the downstream host', async () => {
      const h = await k.upstreamHead({
        host: 'preserved.test',
        'x-real-ip': '10.0.0.1',
        'x-forwarded-for': '10.0.0.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'example.test',
        'x-forwarded-port': '80',
      });
      assert.equal(h.host, 'preserved.test');
      assert.equal(h['x-real-ip'], '127.0.0.1');
      assert.equal(h['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
      assert.equal(h['x-forwarded-proto'], 'http');
      assert.equal(h['x-forwarded-host'], 'preserved.test');
      assert.equal(h['x-forwarded-port'], k.port);
      assert.equal(h['x-forwarded-path'], '/');
    });
  });

  describe('with the downstream host discarded', () => {
    test('should be added if not present in request while discarding the downstream host', async () => {
      const h = await k.upstreamHead(INSPECT);
      assert.equal(h.host, `127.0.0.1:${k.up.port}`);
      assert.equal(h['x-real-ip'], '127.0.0.1');
      assert.equal(h['x-forwarded-for'], '127.0.0.1');
      assert.equal(h['x-forwarded-proto'], 'http');
      assert.equal(h['x-forwarded-host'], 'headers-inspect.test');
      assert.equal(h['x-forwarded-port'], k.port);
      assert.equal(h['x-forwarded-path'], '/');
    });

    test('if present in request while discarding the downstream host', async () => {
      const h = await k.upstreamHead({
        ...INSPECT,
        'x-real-ip': '10.0.0.1',
        'x-forwarded-for': '10.0.0.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'example.test',
        'x-forwarded-port': '80',
      });
      assert.equal(h.host, `127.0.0.1:${k.up.port}`);
      assert.equal(h['x-real-ip'], '127.0.0.1');
      assert.equal(h['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
      assert.equal(h['x-forwarded-proto'], 'http');
      assert.equal(h['x-forwarded-host'], 'headers-inspect.test');
      assert.equal(h['x-forwarded-port'], k.port);
      assert.equal(h['x-forwarded-path'], '/');
    });
  });
});

describe('(response from upstream) Content-Type, with nginx_http_charset: off', () => {
  const k = kongStart({ nginx_http_charset: 'off' });

  test('does not add charset if the response from upstream contains no charset when charset is turned off', async () => {
    const r = await get(`${k.gw.url}/nocharset`, { host: 'headers-charset.test' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/plain');
  });

  test('charset remains unchanged if the response from upstream contains charset when charset is turned off', async () => {
    const r = await get(`${k.gw.url}/charset`, { host: 'headers-charset.test' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  });
});

// Kong's default (`nginx_http_charset = UTF-8`, the spec turns it off above): nginx's charset filter
// labels a text answer that names no charset, so a browser decodes it as UTF-8.
describe('(response from upstream) Content-Type, with the default nginx_http_charset', () => {
  const k = kongStart({});
  const typed = async (type: string, status = 200) => {
    const r = await get(`${k.gw.url}/typed?${new URLSearchParams({ type, status: String(status) })}`, {});
    assert.equal(r.status, status);
    return r.headers['content-type'];
  };

  test('adds charset=UTF-8 to the text types of nginx that name no charset, in any case', async () => {
    for (const type of ['text/plain', 'text/html', 'text/xml', 'application/javascript', 'application/rss+xml'])
      assert.equal(await typed(type), `${type}; charset=UTF-8`);
    assert.equal(await typed('Text/HTML'), 'Text/HTML; charset=UTF-8');
    assert.equal(await typed('text/plain', 404), 'text/plain; charset=UTF-8');
  });

  test('labels an answer a response plugin saw, one a plugin made, and a declined handshake, as nginx labels every answer', async () => {
    const transformed = await get(`${k.gw.url}/transformed/typed?type=text/html`, {});
    assert.equal(transformed.headers['x-transformed'], '1');
    assert.equal(transformed.headers['content-type'], 'text/html; charset=UTF-8');
    const made = await get(`${k.gw.url}/terminated`, {});
    assert.equal(made.body, 'made');
    assert.equal(made.headers['content-type'], 'text/plain; charset=UTF-8');
    // An upstream that declines a WebSocket handshake: its answer goes to the client as any other.
    const declined = await get(`${k.gw.url}/typed?type=text/html`, { connection: 'Upgrade', upgrade: 'websocket' });
    assert.equal(declined.status, 200);
    assert.equal(declined.headers['content-type'], 'text/html; charset=UTF-8');
  });

  test('leaves a charset, another parameter, another type and a redirect as they came', async () => {
    assert.equal(await typed('text/plain; charset=iso-8859-1'), 'text/plain; charset=iso-8859-1');
    assert.equal(await typed('text/plain; format=flowed'), 'text/plain; format=flowed');
    assert.equal(await typed('application/json'), 'application/json');
    assert.equal(await typed('text/css'), 'text/css');
    assert.equal(await typed('image/png'), 'image/png');
    // ngx_http_set_charset sets none on a 301 or 302.
    assert.equal(await typed('text/html', 302), 'text/html');
  });
});

describe('(using the trusted configuration values)', () => {
  const k = kongStart({ trusted_ips: ['127.0.0.1'] });

  test('X-Real-IP, X-Forwarded-For, -Host, -Port and -Path should be added if not present in request', async () => {
    const h = await k.upstreamHead(INSPECT);
    assert.equal(h['x-real-ip'], '127.0.0.1');
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], 'headers-inspect.test');
    assert.equal(h['x-forwarded-port'], k.port);
    assert.equal(h['x-forwarded-path'], '/');
  });

  test('X-Forwarded-Path should be forwarded if present in request', async () => {
    const h = await k.upstreamHead({ ...INSPECT, 'x-forwarded-path': '/original-path' });
    assert.equal(h['x-forwarded-path'], '/original-path');
  });

  test('X-Forwarded-Prefix should be preserved whether or not the path was stripped', async () => {
    for (const path of ['/foo/status/200', '/status/200'])
      assert.equal(
        (await k.upstreamHead({ 'x-forwarded-prefix': '/preserved' }, path))['x-forwarded-prefix'],
        '/preserved',
        path,
      );
  });
});

describe('(using the non-trusted configuration values)', () => {
  const k = kongStart({ trusted_ips: ['10.0.0.1'] });

  test('X-Real-IP and X-Forwarded-For should be added if not present in request', async () => {
    const h = await k.upstreamHead(INSPECT);
    assert.equal(h['x-real-ip'], '127.0.0.1');
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
  });

  test('X-Forwarded-Proto, -Host, -Port and -Path should be added, or replaced if present in request', async () => {
    const added = await k.upstreamHead(INSPECT);
    const replaced = await k.upstreamHead({
      ...INSPECT,
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'example.test',
      'x-forwarded-port': '80',
      'x-forwarded-path': '/untrusted',
    });
    for (const h of [added, replaced]) {
      assert.equal(h['x-forwarded-proto'], 'http');
      assert.equal(h['x-forwarded-host'], 'headers-inspect.test');
      assert.equal(h['x-forwarded-port'], k.port);
      assert.equal(h['x-forwarded-path'], '/');
    }
  });

  test('X-Forwarded-Prefix should be added if the path was stripped, replaced if present, not added otherwise', async () => {
    assert.equal((await k.upstreamHead({}, '/foo/status/200'))['x-forwarded-prefix'], '/foo');
    assert.equal((await k.upstreamHead({ 'x-forwarded-prefix': '/replaced' }, '/foo'))['x-forwarded-prefix'], '/foo');
    assert.equal((await k.upstreamHead({}, '/status/200'))['x-forwarded-prefix'], undefined);
    assert.equal((await k.upstreamHead({}, '/'))['x-forwarded-prefix'], undefined);
  });
});

// X-Forwarded-For entries with ports: Kong passes the client's header on as it came; Tollgate sends
// each address in nginx's $remote_addr spelling, without its port (docs/kong-differences.md).
const XFF_PORTS = '127.0.0.1:14, 10.0.0.1:15, 192.168.0.1:16, 127.0.0.1:17, 172.16.0.1:18';
const XFF_PORTS_SENT = '127.0.0.1, 10.0.0.1, 192.168.0.1, 127.0.0.1, 172.16.0.1, 127.0.0.1';

describe('(using the recursive trusted configuration values)', () => {
  const k = kongStart({ trusted_ips: ['127.0.0.1', '172.16.0.1', '192.168.0.1'] });

  test('X-Real-IP and X-Forwarded-For should be changed according to rules if present in request', async () => {
    const h = await k.upstreamHead({
      ...INSPECT,
      'x-forwarded-for': '127.0.0.1, 10.0.0.1, 192.168.0.1, 127.0.0.1, 172.16.0.1',
      'x-real-ip': '10.0.0.2',
    });
    assert.equal(h['x-real-ip'], '10.0.0.1');
    assert.equal(h['x-forwarded-for'], '127.0.0.1, 10.0.0.1, 192.168.0.1, 127.0.0.1, 172.16.0.1, 127.0.0.1');
  });

  test('X-Forwarded-Port should be forwarded even if X-Forwarded-For header has a port in it', async () => {
    const h = await k.upstreamHead({
      ...INSPECT,
      'x-forwarded-for': XFF_PORTS,
      'x-real-ip': '10.0.0.2',
      'x-forwarded-port': '14',
    });
    assert.equal(h['x-real-ip'], '10.0.0.1');
    assert.equal(h['x-forwarded-for'], XFF_PORTS_SENT);
    assert.equal(h['x-forwarded-port'], '14');
  });
});

describe('(using the recursive non-trusted configuration values)', () => {
  const k = kongStart({ trusted_ips: ['10.0.0.1', '172.16.0.1', '192.168.0.1'] });

  test('X-Real-IP and X-Forwarded-For should be changed according to rules if present in request', async () => {
    const h = await k.upstreamHead({
      ...INSPECT,
      'x-forwarded-for': '10.0.0.1, 127.0.0.2, 10.0.0.1, 192.168.0.1, 172.16.0.1',
      'x-real-ip': '10.0.0.2',
    });
    assert.equal(h['x-real-ip'], '127.0.0.1');
    assert.equal(h['x-forwarded-for'], '10.0.0.1, 127.0.0.2, 10.0.0.1, 192.168.0.1, 172.16.0.1, 127.0.0.1');
  });

  test('X-Forwarded-Port should be replaced, and not taken from X-Forwarded-For, even if they have a port in it', async () => {
    for (const port of [{ 'x-forwarded-port': '14' }, {}] as Record<string, string>[]) {
      const h = await k.upstreamHead({ ...INSPECT, 'x-forwarded-for': XFF_PORTS, 'x-real-ip': '10.0.0.2', ...port });
      assert.equal(h['x-real-ip'], '127.0.0.1');
      assert.equal(h['x-forwarded-for'], XFF_PORTS_SENT);
      assert.equal(h['x-forwarded-port'], k.port);
    }
  });
});

describe('host_header should be set correctly', () => {
  let gw: TestGateway;
  let target: Listening;
  let requests = 0;
  before(async () => {
    // Every other request is dropped without an answer (Kong's mock: ngx.exit(ngx.HTTP_CLOSE)), so
    // the first try fails and the retry goes out; the upstream answers with the Host it got.
    target = await listen((req, res) => {
      requests++;
      if (requests % 2 !== 0) req.socket.destroy();
      else res.end(String(req.headers.host));
    });
    gw = await startGateway({
      config: {
        _format_version: '3.0',
        upstreams: [
          { name: 'foo', host_header: 'foo.com', targets: [{ target: `127.0.0.1:${target.port}`, weight: 50 }] },
        ],
        services: [
          {
            name: 'retry_service',
            host: 'foo',
            retries: 5,
            routes: [{ name: 'hello', paths: ['/hello'], strip_path: false }],
          },
        ],
      },
    });
  });
  after(async () => {
    await gw.close();
    await target.close();
  });

  test('when retries to upstream happen', async () => {
    const res = await fetch(`${gw.url}/hello`);
    assert.equal(res.status, 200);
    // Kong's upstream prints nginx's $host, the Host without its port: the header is host_header
    // with the target's port, as Kong sends it (docs/upstreams.md).
    assert.equal(await res.text(), `foo.com:${target.port}`);
    assert.equal(requests, 2, 'the first try was dropped and retried');
  });
});
