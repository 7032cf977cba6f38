// The entry's request.tls on a TLS listener, as Kong's build_tls_info writes it: the protocol
// version, the cipher, and client_verify NONE; on HTTP/1.1 (the connection kept or closed) and
// HTTP/2; absent on cleartext.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { request } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { httpReceiver } from '../../../test/support/receivers.ts';
import { startFromFile, TestCa, tool } from '../../../test/tls/support.ts';

const skip = tool('openssl');

test('request.tls names the TLS version and cipher of the connection, over HTTP/1.1 and HTTP/2', { skip }, async () => {
  const ca = new TestCa();
  ca.issue('gw.test', ['gw.test'], { file: 'gw' });
  const receiver = await httpReceiver();
  const file = join(ca.dir, 'gateway.yaml');
  writeFileSync(
    file,
    `_format_version: "3.0"
certificates:
  - cert: \${file:gw.pem}
    key: \${file:gw.key}
services:
  - name: echo
    url: echo://
    routes: [{ name: echo, paths: [/echo] }]
plugins:
  - name: http-log
    config: { http_endpoint: "http://127.0.0.1:${receiver.port}/" }
`,
  );
  const gw = await startFromFile(file, { proxyListen: ['127.0.0.1:0', '127.0.0.1:0 ssl http2'] });
  try {
    const [plain, tls] = gw.proxyAddresses as [string, string];
    const port = Number(tls.split(':').pop());
    const h1 = (connection: string) =>
      new Promise<void>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/echo', servername: 'gw.test', ca: ca.cert, headers: { connection } },
          (res) => res.resume().once('end', resolve),
        );
        req.on('error', reject).end();
      });
    const entry = async () => JSON.parse((await receiver.next()).body);
    const check = (e: Record<string, any>, what: string) => {
      assert.match(String(e.request.tls?.version), /^TLSv1\.[23]$/, what);
      assert.ok(typeof e.request.tls.cipher === 'string' && e.request.tls.cipher !== '', what);
      assert.equal(e.request.tls.client_verify, 'NONE', what);
    };
    await h1('keep-alive');
    check(await entry(), 'HTTP/1.1 kept alive');
    await h1('close');
    check(await entry(), 'HTTP/1.1 closed');

    const session = connect(`https://127.0.0.1:${port}`, { servername: 'gw.test', ca: ca.cert });
    try {
      await new Promise<void>((resolve, reject) => {
        const stream = session.request({ ':path': '/echo' });
        stream.on('error', reject).resume().once('end', resolve);
      });
    } finally {
      session.close();
    }
    check(await entry(), 'HTTP/2');

    await (await fetch(`http://${plain}/echo`)).text();
    assert.equal('tls' in (await entry()).request, false, 'cleartext');
  } finally {
    await gw.close(0);
    await receiver.close();
  }
});
