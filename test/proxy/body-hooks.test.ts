import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { definePlugin } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';

let upstream: Server;
let gw: TestGateway;

const rewriter = definePlugin({
  name: 'rewriter',
  version: '1.0.0',
  priority: 500,
  schema: { type: 'object', properties: { limit: { type: 'integer' } }, additionalProperties: false },
  create(config: { limit?: number }) {
    return {
      access(req) {
        if (req.headers['x-method'] !== undefined) req.setUpstreamMethod(String(req.headers['x-method']));
        if (req.headers['x-stream-body'] === '1') {
          req.setUpstreamBody(Readable.from([Buffer.from('streamed '), Buffer.from('body')]));
          req.removeUpstreamHeader('content-length'); // a different length: let it go chunked
        }
      },
      response(_req, res) {
        res.transformBody((body) => {
          const doc = JSON.parse(body.toString()) as Record<string, unknown>;
          delete doc.secret;
          return JSON.stringify({ ...doc, rewritten: true });
        }, config.limit);
      },
    };
  },
});

before(async () => {
  upstream = createServer((req, res) => {
    const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('pad') ?? 0);
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      // chunked on purpose: the gateway must re-frame the rewritten body with a content-length
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`{"method":"${req.method}","secret":"s3cr3t","body":${JSON.stringify(body)},`);
      res.end(`"pad":"${'x'.repeat(size)}"}`);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startGateway({
    plugins: [rewriter],
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'up',
          url: `http://127.0.0.1:${port}`,
          routes: [{ name: 'up', paths: ['/up'], plugins: [{ name: 'rewriter', config: { limit: 4096 } }] }],
        },
        { name: 'echo', url: 'echo://', routes: [{ name: 'echo', paths: ['/echo'], plugins: [{ name: 'rewriter' }] }] },
      ],
    },
  });
});

after(async () => {
  await gw.close();
  upstream.close();
});

test('a response-phase body transform rewrites the upstream body and fixes content-length', async () => {
  const res = await fetch(`${gw.url}/up/x`);
  const text = await res.text();
  assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(text)));
  const doc = JSON.parse(text) as Record<string, unknown>;
  assert.equal(doc.secret, undefined);
  assert.equal(doc.rewritten, true);
});

test('a body over the transform limit passes through unchanged', async () => {
  const doc = (await (await fetch(`${gw.url}/up/x?pad=10000`)).json()) as Record<string, unknown>;
  assert.equal(doc.secret, 's3cr3t');
  assert.equal(doc.rewritten, undefined);
});

test('body transforms apply to the in-process echo upstream too', async () => {
  const doc = (await (await fetch(`${gw.url}/echo/x`)).json()) as Record<string, unknown>;
  assert.equal(doc.rewritten, true);
});

test('a plugin can change the upstream method and stream a replacement body', async () => {
  const doc = (await (
    await fetch(`${gw.url}/up/x`, {
      method: 'POST',
      body: 'original',
      headers: { 'x-method': 'PUT', 'x-stream-body': '1' },
    })
  ).json()) as Record<string, unknown>;
  assert.equal(doc.method, 'PUT');
  assert.equal(doc.body, 'streamed body');
});
