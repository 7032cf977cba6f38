/**
 * Kong's proxy-with-compressor spec, spec/02-integration/05-proxy/34-proxy_with_compress_spec.lua
 * at Kong commit 22246ef2. Kong turns on nginx's brotli filter with kong.conf's injected
 * `nginx_proxy_brotli*` directives, and its client then gets `Content-Encoding: br` for an XML
 * answer. Tollgate does not compress answers: those settings are refused in `_tollgate` with what
 * to do instead, and an upstream that compresses its own answer has it relayed as it came, so the
 * client still gets `br` (the deliberate difference, asserted here).
 */

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { brotliCompressSync, brotliDecompressSync } from 'node:zlib';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { type Listening, listen } from '../support/upstream.ts';
import { validateText } from '../support/validate.ts';

const XML = '<?xml version="1.0"?>\n<slideshow title="Sample Slide Show"><slide type="all"/></slideshow>\n';
let upstream: Listening;
let gw: TestGateway;
/** The Accept-Encoding each request reached the upstream with. */
const accepted: (string | undefined)[] = [];

before(async () => {
  // Kong's mock upstream /xml, compressing with brotli itself when the client accepts it.
  upstream = await listen((req, res) => {
    accepted.push(req.headers['accept-encoding']);
    res.setHeader('content-type', 'application/xml');
    if (/\bbr\b/.test(req.headers['accept-encoding'] ?? '')) {
      res.setHeader('content-encoding', 'br');
      res.setHeader('vary', 'Accept-Encoding');
      res.end(brotliCompressSync(XML));
    } else res.end(XML);
  });
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [{ name: 'service0', url: upstream.url, routes: [{ name: 'r0', paths: ['/0'] }] }],
    },
  });
});

after(async () => {
  await gw.close();
  await upstream.close();
});

test("Kong's nginx_proxy_brotli settings are refused, saying that the gateway does not compress", async () => {
  const v = await validateText(`_format_version: "3.0"
_tollgate:
  nginx_proxy_brotli: "on"
  nginx_proxy_brotli_comp_level: 6
  nginx_proxy_brotli_types: "text/plain text/css application/json application/xml"
`);
  assert.equal(v.code, 1);
  for (const name of ['nginx_proxy_brotli', 'nginx_proxy_brotli_comp_level', 'nginx_proxy_brotli_types']) {
    assert.match(
      v.out,
      new RegExp(`_tollgate\\.${name}  '${name}' is a kong\\.conf setting: the gateway does not compress answers`),
    );
  }
  const gzip = await validateText('_format_version: "3.0"\n_tollgate:\n  nginx_proxy_gzip: "on"\n');
  assert.equal(gzip.code, 1);
  assert.match(gzip.out, /'nginx_proxy_gzip' is a kong\.conf setting: the gateway does not compress answers/);
});

test("an upstream's brotli answer reaches the client as it came: Content-Encoding br", async () => {
  const r = await new Promise<{ status: number; encoding: string | undefined; body: Buffer }>((resolve, reject) => {
    const req = request(
      `${gw.url}/0/xml`,
      { agent: false, headers: { 'accept-encoding': 'br', 'content-type': 'application/xml' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
  assert.equal(r.status, 200);
  assert.equal(r.encoding, 'br');
  assert.equal(accepted.at(-1), 'br');
  assert.equal(brotliDecompressSync(r.body).toString(), XML);
});
