// An answer whose head node refuses (a plugin's header value with a control character) is that
// plugin's failure: the client gets a 500 with the 500's own reason phrase.

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { definePlugin } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { type Listening, listen } from '../support/upstream.ts';

const badHeader = definePlugin({
  name: 'bad-header',
  version: '1.0.0',
  priority: 10,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create() {
    return {
      access(req) {
        req.exit(301, 'moved', { location: '/next', 'x-bad': 'a\u0001b' });
      },
    };
  },
});

const badResponseHeader = definePlugin({
  name: 'bad-response-header',
  version: '1.0.0',
  priority: 10,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create() {
    return {
      response(_req, res) {
        res.setHeader('x-bad', 'a\u0001b');
      },
    };
  },
});

let gw: TestGateway;
let upstream: Listening;

before(async () => {
  upstream = await listen((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('from upstream');
  });
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        { name: 's', url: 'echo://', routes: [{ name: 'r', paths: ['/r'], plugins: [{ name: 'bad-header' }] }] },
        {
          name: 'real',
          url: upstream.url,
          routes: [{ name: 'u', paths: ['/u'], plugins: [{ name: 'bad-response-header' }] }],
        },
      ],
    },
    plugins: [badHeader, badResponseHeader],
  });
});

after(async () => {
  await gw?.close();
  await upstream?.close();
});

function get(path: string): Promise<{ status: number; reason: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${gw.url}${path}`, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (body += d));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, reason: r.statusMessage ?? '', body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

test('a plugin answer node cannot send becomes a 500 with its own reason phrase', async () => {
  const res = await get('/r');
  assert.equal(res.status, 500);
  assert.equal(res.reason, 'Internal Server Error');
  assert.equal(JSON.parse(res.body).message, 'An unexpected error occurred');
});

test("a response plugin's header node cannot send on an upstream answer is that plugin's 500, not a dropped connection", async () => {
  const res = await get('/u');
  assert.equal(res.status, 500);
  assert.equal(JSON.parse(res.body).message, 'An unexpected error occurred');
  const entry = gw.logs.find((l) => l.type === 'access' && l.path === '/u');
  assert.equal(entry?.error, 'PLUGIN_FAILED');
});
