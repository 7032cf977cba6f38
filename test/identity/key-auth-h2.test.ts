// key-auth over HTTP/2: a key header sent twice is two fields, which node joins with ", " as it
// does on HTTP/1.1 but without `headersDistinct`. Kong reads such a header as a list and answers
// "Duplicate API key found"; read as one joined string it is just a wrong key.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TollgateInstance } from '../../src/instance.ts';
import { tempDir } from '../support/temp.ts';
import { startFromFile } from '../tls/support.ts';

let inst: TollgateInstance;
before(async () => {
  const dir = tempDir('tollgate-key-auth-h2');
  writeFileSync(
    join(dir, 'gateway.yaml'),
    `_format_version: "3.0"
services:
  - name: echo
    url: echo://
    routes: [{ name: key, paths: [/key], plugins: [{ name: key-auth }] }]
consumers:
  - username: alice
    keyauth_credentials: [{ key: alice-key }]
`,
  );
  inst = await startFromFile(join(dir, 'gateway.yaml'), { proxyListen: ['127.0.0.1:0 http2'] });
});
after(() => inst?.close(0));

/** Status and JSON body of an h2c GET /key with `headers` (repeated names as arrays). */
function h2Get(headers: Record<string, string | string[]>): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://${inst.proxyAddresses[0]}`);
    session.on('error', reject);
    const req = session.request({ ':path': '/key', ...headers });
    let status = 0;
    let text = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.setEncoding('utf8').on('data', (c: string) => (text += c));
    req.on('end', () => {
      session.close();
      resolve({ status, body: JSON.parse(text) });
    });
    req.on('error', reject);
    req.end();
  });
}

test('over HTTP/2, one key header identifies the consumer; the header twice is a duplicate, as on HTTP/1.1', async () => {
  assert.equal((await h2Get({ apikey: 'alice-key' })).status, 200);
  const twice = await h2Get({ apikey: ['alice-key', 'alice-key'] });
  assert.deepEqual([twice.status, (twice.body as { message: string }).message], [401, 'Duplicate API key found']);
});
