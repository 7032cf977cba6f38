// An Expect other than 100-continue is refused with 417 (RFC 9110 section 10.1.1) like any other
// refusal, on HTTP/1.1 and HTTP/2 alike: the catalogued body with the request id, the id header,
// an access line; on HTTP/1.1 the connection closes, since the body was not read.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect as h2Connect } from 'node:http2';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TollgateInstance } from '../../src/instance.ts';
import { accessLineOf } from '../support/logs.ts';
import { rawRequest } from '../support/raw.ts';
import { tempDir } from '../support/temp.ts';
import { startFromFile } from '../tls/support.ts';

let inst: TollgateInstance;
const logs: Record<string, unknown>[] = [];

before(async () => {
  const dir = tempDir('tollgate-expect');
  writeFileSync(
    join(dir, 'gateway.yaml'),
    `_format_version: "3.0"
services:
  - name: echo
    url: echo://
    routes: [{ name: echo, paths: [/echo] }]
`,
  );
  // A plain listener with the http2 flag: HTTP/1.1 and cleartext HTTP/2 on one port.
  inst = await startFromFile(join(dir, 'gateway.yaml'), { proxyListen: ['127.0.0.1:0 http2'], logs });
});

after(async () => {
  await inst?.close(0);
});

test('HTTP/1.1: Expect other than 100-continue gets the catalogued 417, logged, and the connection closes', async () => {
  const r = await rawRequest(
    `http://${inst.proxyAddresses[0]}`,
    'POST /echo/a HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\nContent-Length: 3\r\n\r\nabc',
  );
  assert.equal(r.status, 417);
  assert.equal(r.headers.connection, 'close');
  const body = JSON.parse(r.body) as { message: string; request_id: string };
  assert.equal(body.message, 'Expectation Failed');
  assert.equal(r.headers['x-kong-request-id'] ?? r.headers['x-request-id'], body.request_id);
  const line = await accessLineOf(logs, body.request_id);
  assert.equal(line.status, 417);
  assert.equal(line.error, 'EXPECTATION_FAILED');
});

test('HTTP/2: the same 417 on its stream, logged; the session goes on', async () => {
  const session = h2Connect(`http://${inst.proxyAddresses[0]}`);
  session.on('error', () => undefined);
  try {
    const req = session.request({ ':method': 'POST', ':path': '/echo/a', expect: 'teapot' });
    req.end('abc');
    const [headers] = (await once(req, 'response')) as [Record<string, string>];
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (text += d));
    await once(req, 'end');
    assert.equal(Number(headers[':status']), 417);
    const body = JSON.parse(text) as { message: string; request_id: string };
    assert.equal(body.message, 'Expectation Failed');
    assert.equal((await accessLineOf(logs, body.request_id)).status, 417);
    const ok = session.request({ ':path': '/echo/b' });
    const [h2] = (await once(ok, 'response')) as [Record<string, string>];
    ok.resume();
    assert.equal(Number(h2[':status']), 200);
  } finally {
    session.close();
  }
});
