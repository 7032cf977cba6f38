// keepalive_timeout: 0 is nginx's `keepalive_timeout 0`: no keep-alive. Each HTTP/1.1 answer says
// `Connection: close` and ends its connection; an HTTP/2 session is closed once its last stream
// ends. (node's own keepAliveTimeout of 0 would keep idle connections forever.)
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect as h2Connect } from 'node:http2';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TollgateInstance } from '../../src/instance.ts';
import { tempDir } from '../support/temp.ts';
import { within } from '../support/wait.ts';
import { startFromFile } from '../tls/support.ts';

let inst: TollgateInstance;

before(async () => {
  const dir = tempDir('tollgate-keepalive');
  writeFileSync(
    join(dir, 'gateway.yaml'),
    `_format_version: "3.0"
_tollgate:
  keepalive_timeout: 0
  client_header_timeout: 5000
services:
  - name: echo
    url: echo://
    routes: [{ name: echo, paths: [/echo] }]
`,
  );
  // A plain listener with the http2 flag: HTTP/1.1 and cleartext HTTP/2 on one port.
  inst = await startFromFile(join(dir, 'gateway.yaml'), { proxyListen: ['127.0.0.1:0 http2'] });
});

after(async () => {
  await inst?.close(0);
});

test('HTTP/1.1: each answer carries Connection: close and the gateway ends the connection', async () => {
  const [host, port] = inst.proxyAddresses[0]!.split(':') as [string, string];
  const socket = connect(Number(port), host);
  socket.setEncoding('latin1');
  let text = '';
  socket.on('data', (d: string) => (text += d));
  socket.write('GET /echo/a HTTP/1.1\r\nHost: t\r\n\r\n');
  await within(once(socket, 'close'), 3_000, 'the gateway closing the connection after its answer');
  assert.match(text, /^HTTP\/1\.1 200/);
  assert.match(text, /\r\nconnection: close\r\n/i);
});

test('HTTP/2: a session is closed once its last stream has ended', async () => {
  const session = h2Connect(`http://${inst.proxyAddresses[0]}`);
  session.on('error', () => undefined);
  const closed = once(session, 'close');
  const req = session.request({ ':path': '/echo/a' });
  const [headers] = (await once(req, 'response')) as [Record<string, string>];
  assert.equal(Number(headers[':status']), 200);
  req.resume();
  await within(closed, 3_000, 'the idle HTTP/2 session closing');
});
