// Error bodies follow the request's Accept header, as Kong's error handler and kong.response.error
// choose them: the gateway's own errors and every built-in plugin's errors.
import assert from 'node:assert/strict';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { errorFormat } from '../../src/proxy/error-body.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';
import { rawRequest } from '../support/raw.ts';
import { refusedPort } from '../support/refused-port.ts';
import { startOfMinute } from '../support/wait.ts';

let gw: TestGateway;
before(async () => {
  gw = await startServiceGateway(
    [
      { name: 'keyed', paths: ['/keyed'], plugins: [{ name: 'key-auth' }] },
      {
        name: 'small',
        paths: ['/small'],
        plugins: [{ name: 'request-size-limiting', config: { allowed_payload_size: 1, size_unit: 'bytes' } }],
      },
      {
        name: 'limited',
        paths: ['/limited'],
        plugins: [{ name: 'rate-limiting', config: { minute: 1, error_message: 'Slow <down> & retry' } }],
      },
      {
        name: 'terminated',
        paths: ['/terminated'],
        plugins: [{ name: 'request-termination', config: { status_code: 403, message: 'Closed' } }],
      },
    ],
    { extra: { consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] }] } },
  );
});
after(() => gw.close());

const get = (path: string, accept?: string, init: RequestInit = {}) =>
  fetch(`${gw.url}${path}`, {
    ...init,
    headers: { ...(accept === undefined ? {} : { accept }), ...(init.headers as Record<string, string>) },
    signal: AbortSignal.timeout(10_000),
  });

test('a gateway error: JSON by default, Kong templates for text/plain, text/html and application/xml, request id in each', async () => {
  const json = await get('/nowhere');
  assert.equal(json.status, 404);
  assert.equal(json.headers.get('content-type'), 'application/json; charset=utf-8');
  const id = json.headers.get('x-request-id')!;
  assert.deepEqual(await json.json(), { message: 'no Route matched with those values', request_id: id });

  const plain = await get('/nowhere', 'text/plain');
  assert.equal(plain.status, 404);
  assert.equal(plain.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.equal(
    await plain.text(),
    `no Route matched with those values\nrequest_id: ${plain.headers.get('x-request-id')}\n`,
  );

  const html = await get('/nowhere', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8');
  assert.equal(html.headers.get('content-type'), 'text/html; charset=utf-8');
  const page = await html.text();
  assert.match(page, /^<!doctype html>/);
  assert.match(page, /<p>no Route matched with those values\.<\/p>/);
  assert.ok(page.includes(`<p>request_id: ${html.headers.get('x-request-id')}</p>`));

  const xml = await get('/nowhere', 'application/xml');
  assert.equal(xml.headers.get('content-type'), 'application/xml; charset=utf-8');
  const doc = await xml.text();
  assert.match(
    doc,
    /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<error>\n {2}<message>no Route matched with those values<\/message>/,
  );
  assert.ok(doc.includes(`<requestid>${xml.headers.get('x-request-id')}</requestid>`));
});

test('Accept negotiation as Kong does it: highest q wins, unknown types and */* mean JSON', () => {
  assert.equal(errorFormat(undefined), 'json');
  assert.equal(errorFormat('*/*'), 'json');
  assert.equal(errorFormat('image/png'), 'json');
  assert.equal(errorFormat('text/*'), 'plain');
  assert.equal(errorFormat('text/html;q=0.5, application/xml'), 'xml');
  assert.equal(errorFormat('application/xml;q=0.2, text/plain;q=0.9'), 'plain');
  assert.equal(errorFormat('text/html;q=0, text/plain;q=0.1'), 'plain');
  assert.equal(errorFormat('TEXT/HTML'), 'html');
  assert.equal(errorFormat(`${'x/y;q=0.1,'.repeat(2000)}text/plain`), 'plain');
  assert.equal(errorFormat('x/y;a=b,text/plain'), 'json');
});

test("built-in plugins' errors follow Accept too, with their statuses and headers", async () => {
  const keyed = await get('/keyed', 'text/html');
  assert.equal(keyed.status, 401);
  assert.match(keyed.headers.get('www-authenticate') ?? '', /^Key/);
  assert.equal(keyed.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(await keyed.text(), /<p>No API key found in request\.<\/p>/);
  // JSON (no Accept): Kong's message plus the request id, the one rule for plugins' JSON error bodies.
  const keyedJson = await get('/keyed');
  assert.equal(keyedJson.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.deepEqual(await keyedJson.json(), {
    message: 'No API key found in request',
    request_id: keyedJson.headers.get('x-request-id'),
  });

  const big = await get('/small', 'text/plain', { method: 'POST', body: 'too big' });
  assert.equal(big.status, 413);
  assert.match(await big.text(), /^Request size limit exceeded\nrequest_id: \S+\n$/);

  await startOfMinute();
  assert.equal((await get('/limited')).status, 200);
  const limited = await get('/limited', 'application/xml');
  assert.equal(limited.status, 429);
  assert.ok(limited.headers.get('retry-after'));
  // A message from the configuration is escaped in markup.
  assert.match(await limited.text(), /<message>Slow &#60;down&#62; &#38; retry<\/message>/);
});

test('request-termination answers JSON whatever the Accept, as Kong (kong.response.exit)', async () => {
  const r = await get('/terminated', 'text/html');
  assert.equal(r.status, 403);
  assert.deepEqual(await r.json(), { message: 'Closed' });
});

test('a body announced too large with Expect: 100-continue gets 417 and never a 100 Continue', async () => {
  const raw = await rawRequest(
    gw.url,
    'POST /small HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n',
  );
  assert.equal(raw.status, 417);
  assert.doesNotMatch(raw.raw, /100 Continue/i);
  assert.match(raw.body, /^Request size limit exceeded\n/);
});

/** Kong's text templates (kong/tools/http.lua), as its spec 05-proxy/12-error_default_type compares them whole. */
const KONG_TEMPLATES: Record<string, (message: string, id: string) => string> = {
  'text/plain': (m, id) => `${m}\nrequest_id: ${id}\n`,
  'text/html': (m, id) =>
    `<!doctype html>\n<html>\n  <head>\n    <meta charset="utf-8">\n    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>${m}.</p>\n    <p>request_id: ${id}</p>\n  </body>\n</html>\n`,
  'application/xml': (m, id) =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<error>\n  <message>${m}</message>\n  <requestid>${id}</requestid>\n</error>\n`,
};

test("upstream failures (502, 503, 504) answer Kong's messages in each format Accept asks for; HEAD gets the head only", async () => {
  const refusing = await refusedPort();
  // Accepts and never answers: the read times out.
  const silent = createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const other = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [{ name: 'no-targets' }],
      services: [
        { name: 'refused', url: `http://127.0.0.1:${refusing}`, retries: 0, routes: [{ paths: ['/refused'] }] },
        {
          name: 'slow',
          url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
          read_timeout: 200,
          retries: 0,
          routes: [{ paths: ['/slow'] }],
        },
        { name: 'empty', host: 'no-targets', routes: [{ paths: ['/empty'] }] },
      ],
    },
  });
  try {
    const cases: [string, number, string][] = [
      ['/refused', 502, 'An invalid response was received from the upstream server'],
      ['/slow', 504, 'The upstream server is timing out'],
      ['/empty', 503, 'failure to get a peer from the ring-balancer'],
    ];
    for (const [path, status, message] of cases) {
      for (const [accept, template] of Object.entries(KONG_TEMPLATES)) {
        const r = await fetch(`${other.url}${path}`, { headers: { accept }, signal: AbortSignal.timeout(10_000) });
        assert.equal(r.status, status, `${path} ${accept}`);
        assert.equal(r.headers.get('content-type'), `${accept}; charset=utf-8`, `${path} ${accept}`);
        assert.equal(await r.text(), template(message, r.headers.get('x-request-id')!), `${path} ${accept}`);
      }
      // JSON: the same members (Kong's template spaces them over four lines).
      const json = await fetch(`${other.url}${path}`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(json.status, status);
      assert.equal(json.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.deepEqual(await json.json(), { message, request_id: json.headers.get('x-request-id') });
      const head = await rawRequest(
        other.url,
        `HEAD ${path} HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(head.status, status, `HEAD ${path}`);
      assert.equal(head.body, '', `HEAD ${path}`);
    }
  } finally {
    await other.close();
    silent.close();
  }
});
