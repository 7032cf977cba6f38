// The entry's request.url names the port the request came in on, on HTTP/2 as on HTTP/1.1: Kong
// writes scheme://host:port/uri. On HTTP/2 the stream's socket is gone by the log phase, so the
// port comes from the connection.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { httpReceiver } from '../../../test/support/receivers.ts';
import { tempDir } from '../../../test/support/temp.ts';
import { startFromFile } from '../../../test/tls/support.ts';

/** A config file whose echo route /echo logs every request to http-log at `port`. */
function configLoggingTo(port: number): string {
  const file = join(tempDir('tollgate-log-url'), 'gateway.yaml');
  writeFileSync(
    file,
    `_format_version: "3.0"
services:
  - name: echo
    url: echo://
    routes: [{ name: echo, paths: [/echo] }]
plugins:
  - name: http-log
    config: { http_endpoint: "http://127.0.0.1:${port}/" }
`,
  );
  return file;
}

test('request.url carries the listener port for HTTP/1.1 and h2c requests', async () => {
  const receiver = await httpReceiver();
  const file = configLoggingTo(receiver.port);
  const gw = await startFromFile(file, { proxyListen: ['127.0.0.1:0 http2'] });
  try {
    const address = gw.proxyAddresses[0]!;
    const port = address.split(':').pop();
    await (await fetch(`http://${address}/echo/one`)).text();
    assert.equal(JSON.parse((await receiver.next()).body).request.url, `http://127.0.0.1:${port}/echo/one`);

    const session = connect(`http://${address}`);
    try {
      await new Promise<void>((resolve, reject) => {
        const stream = session.request({ ':path': '/echo/two' });
        stream.on('error', reject).resume().once('end', resolve);
      });
    } finally {
      session.close();
    }
    assert.equal(JSON.parse((await receiver.next()).body).request.url, `http://127.0.0.1:${port}/echo/two`);
  } finally {
    await gw.close(0);
    await receiver.close();
  }
});

test('request.url names port 80 too, as Kong writes var.server_port whatever it is', async (t: TestContext) => {
  const receiver = await httpReceiver();
  const file = configLoggingTo(receiver.port);
  // A loopback address of its own, so port 80 is free whatever else the machine runs there.
  const address = `127.${1 + (process.pid % 200)}.${(process.pid >> 8) % 250}.80`;
  let gw: Awaited<ReturnType<typeof startFromFile>>;
  try {
    gw = await startFromFile(file, { proxyListen: [`${address}:80`] });
  } catch (err) {
    await receiver.close();
    if (/EACCES|EPERM/.test(String(err))) return t.skip('binding port 80 needs privileges this user lacks');
    throw err;
  }
  try {
    await (await fetch(`http://${address}/echo/default`)).text();
    assert.equal(JSON.parse((await receiver.next()).body).request.url, `http://${address}:80/echo/default`);
  } finally {
    await gw.close(0);
    await receiver.close();
  }
});

test('request.url names the port clients connect to when port_maps maps the listener (Kong ctx.host_port)', async () => {
  const receiver = await httpReceiver();
  const file = configLoggingTo(receiver.port);
  const gw = await startFromFile(file, { proxyListen: ['127.0.0.1:0'] });
  try {
    const address = gw.proxyAddresses[0]!;
    const port = address.split(':').pop();
    // The listener's port is known only once it listens: map it, then reload.
    writeFileSync(file, `_tollgate:\n  port_maps: ["8080:${port}"]\n${readFileSync(file, 'utf8')}`);
    assert.equal((await gw.reload()).ok, true);
    await (await fetch(`http://${address}/echo/mapped`)).text();
    assert.equal(JSON.parse((await receiver.next()).body).request.url, 'http://127.0.0.1:8080/echo/mapped');
  } finally {
    await gw.close(0);
    await receiver.close();
  }
});
