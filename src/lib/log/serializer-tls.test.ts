// The entry's request.tls on a TLS listener, as Kong's build_tls_info writes it: the protocol
// version, the cipher, and client_verify NONE; on HTTP/1.1 (the connection kept or closed) and
// HTTP/2; absent on cleartext. And `tries` when a TLS upstream's handshake times out.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { createServer as createHttpsServer, request } from 'node:https';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { httpReceiver } from '../../../test/support/receivers.ts';
import { startFromFile, TestCa, tool } from '../../../test/tls/support.ts';
import { startGateway } from '../../testing/index.ts';

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

test('a try that timed out connecting is logged failed with 504, as nginx reports a timeout', { skip }, async () => {
  const ca = new TestCa();
  const leaf = ca.issue('up.test', ['up.test'], { file: 'up' });
  const live = createHttpsServer({ cert: leaf.cert, key: leaf.key }, (_req, res) => res.end('ok'));
  await new Promise<void>((r) => live.listen(0, '127.0.0.1', () => r()));
  // Takes the connection, never answers the TLS handshake: the connect times out.
  const sockets: Socket[] = [];
  const silent = createNetServer((s) => void sockets.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const port = (s: { address(): unknown }) => (s.address() as AddressInfo).port;
  const receiver = await httpReceiver();
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [
        { name: 'pair', targets: [{ target: `127.0.0.1:${port(silent)}` }, { target: `127.0.0.1:${port(live)}` }] },
      ],
      services: [
        {
          name: 'svc',
          protocol: 'https',
          host: 'pair',
          tls_verify: false,
          connect_timeout: 300,
          retries: 2,
          routes: [{ name: 'r', paths: ['/r'] }],
        },
      ],
      plugins: [{ name: 'http-log', config: { http_endpoint: `http://127.0.0.1:${receiver.port}/` } }],
    },
  });
  try {
    assert.equal(await (await fetch(`${gw.url}/r`)).text(), 'ok');
    const { tries } = JSON.parse((await receiver.next()).body);
    assert.deepEqual(
      tries.map((t: Record<string, unknown>) => [t.port, t.state, t.code]),
      [
        [port(silent), 'failed', 504],
        [port(live), undefined, undefined],
      ],
    );
  } finally {
    await gw.close();
    await receiver.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
    await new Promise((r) => live.close(r));
  }
});
