// Config text that plugins send in headers: a control character is a located error at load (Node
// would throw on every request of the route), and text past ASCII is sent as its UTF-8 bytes (Kong).

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { startServiceGateway } from '../../test/support/gateway.ts';
import { headerLines } from './header-value.ts';

const BAD = 'a\u0001b';

const cases: [string, Record<string, unknown>, string][] = [
  ['response-transformer', { add: { headers: [`x-a:${BAD}`] } }, 'config.add.headers[0]'],
  ['response-transformer', { append: { headers: ['x-a:ok', `x-b:${BAD}`] } }, 'config.append.headers[1]'],
  ['cors', { headers: ['x-ok', BAD] }, 'config.headers[1]'],
  ['cors', { exposed_headers: [BAD] }, 'config.exposed_headers[0]'],
  ['request-termination', { body: 'x', content_type: 'text/html\u0001' }, 'config.content_type'],
  ['redirect', { location: `https://example.test/${BAD}` }, 'config.location'],
  ['request-transformer', { add: { headers: [`x-a:${BAD}$(headers.x)`] } }, 'config.add.headers[0]'],
  ['basic-auth', { realm: BAD }, 'config.realm'],
  ['key-auth', { realm: BAD }, 'config.realm'],
];

for (const [name, config, at] of cases) {
  test(`${name}: a control character in a header value is refused at load, at ${at}`, async () => {
    await assert.rejects(
      startServiceGateway([{ name: 'r', paths: ['/r'], plugins: [{ name, config }] }]),
      (err: { issues?: { path: string; message: string }[] }) => {
        assert.ok(
          err.issues?.some((i) => i.path.endsWith(at) && /control characters/.test(i.message)),
          JSON.stringify(err.issues),
        );
        return true;
      },
    );
  });
}

/** The raw response head as bytes read as latin1, so a header's bytes can be checked. */
function rawHeaders(
  url: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const out: Record<string, string> = {};
      for (let i = 0; i < res.rawHeaders.length; i += 2) out[res.rawHeaders[i]!.toLowerCase()] = res.rawHeaders[i + 1]!;
      res.resume();
      res.on('end', () => resolve(out));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

const utf8 = (v: string | undefined): string => Buffer.from(String(v), 'latin1').toString('utf8');

test('text past ASCII in a config header value reaches the client as its UTF-8 bytes', async () => {
  const gw = await startServiceGateway([
    {
      name: 'rt',
      paths: ['/rt'],
      plugins: [{ name: 'response-transformer', config: { add: { headers: ['x-label:café ☕'] } } }],
    },
    {
      name: 'cors',
      paths: ['/cors'],
      plugins: [{ name: 'cors', config: { origins: ['https://a.test'], exposed_headers: ['x-ünïcode'] } }],
    },
    {
      name: 'term',
      paths: ['/term'],
      plugins: [
        { name: 'request-termination', config: { status_code: 200, body: 'x', content_type: 'text/plain; title=ü☕' } },
      ],
    },
    { name: 'basic', paths: ['/basic'], plugins: [{ name: 'basic-auth', config: { realm: 'café ☕' } }] },
    {
      name: 'redir',
      paths: ['/redir'],
      plugins: [{ name: 'redirect', config: { location: 'https://example.test/ü/☕' } }],
    },
  ]);
  try {
    assert.equal(utf8((await rawHeaders(`${gw.url}/rt`))['x-label']), 'café ☕');
    const cors = await rawHeaders(`${gw.url}/cors`, { origin: 'https://a.test' });
    assert.equal(utf8(cors['access-control-expose-headers']), 'x-ünïcode');
    assert.equal(utf8((await rawHeaders(`${gw.url}/term`))['content-type']), 'text/plain; title=ü☕');
    assert.equal(utf8((await rawHeaders(`${gw.url}/redir`)).location), 'https://example.test/ü/☕');
    assert.equal(
      utf8((await rawHeaders(`${gw.url}/basic`, { authorization: 'Basic eDp5' }))['www-authenticate']),
      'Basic realm="café ☕"',
    );
  } finally {
    await gw.close();
  }
});

test('headerLines: a repeated header as its lines, from headersDistinct (HTTP/1.1) or the raw list (HTTP/2)', () => {
  type Req = Parameters<typeof headerLines>[0];
  const h1 = {
    headers: { 'zipkin-tags': 'a=1, b=2', once: 'x, y' },
    raw: { headersDistinct: { 'zipkin-tags': ['a=1', 'b=2'], once: ['x, y'] } },
  } as unknown as Req;
  assert.deepEqual(headerLines(h1, 'zipkin-tags'), ['a=1', 'b=2']);
  assert.equal(headerLines(h1, 'once'), 'x, y');
  assert.equal(headerLines(h1, 'absent'), undefined);
  const h2 = {
    headers: { 'zipkin-tags': 'a=1, b=2', once: 'x, y' },
    raw: { rawHeaders: [':path', '/', 'zipkin-tags', 'a=1', 'once', 'x, y', 'zipkin-tags', 'b=2'] },
  } as unknown as Req;
  assert.deepEqual(headerLines(h2, 'zipkin-tags'), ['a=1', 'b=2']);
  assert.equal(headerLines(h2, 'once'), 'x, y');
});
