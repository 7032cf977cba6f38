// The admin listener against clients that hold connections without sending a request.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { startGateway } from '../testing/index.ts';

/** Opens a connection to `url`, writes `text` (maybe nothing), and resolves once the server closes it. */
function closedByServer(url: string, text: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      if (text !== '') socket.write(text);
    });
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (data += d));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
    // a deadline on the test, not a measurement: the old listener never closed it
    setTimeout(() => {
      socket.destroy();
      reject(new Error('the admin listener still holds the connection'));
    }, 15_000).unref();
  });
}

test('a connection that sends nothing, or never finishes its head, is closed after client_header_timeout', async () => {
  const gw = await startGateway({
    config: `_format_version: "3.0"
_tollgate:
  client_header_timeout: 300
services:
  - name: echo
    url: echo://
    routes: [{ paths: [/] }]
`,
  });
  try {
    // closed, with or without node's 408 (which node sends when its own head check got there first)
    assert.match(await closedByServer(gw.adminUrl, ''), /^$|^HTTP\/1\.1 408 /);
    await closedByServer(gw.adminUrl, 'GET /status HTTP/1.1\r\nHost: x\r\n');
    // a client that sends its request is answered as before
    const res = await fetch(`${gw.adminUrl}/status`);
    assert.equal(res.status, 200);
  } finally {
    await gw.close();
  }
});
