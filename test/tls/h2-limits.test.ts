// HTTP/2 gets HTTP/1.1's limits, per stream: a stream whose body stalls is answered 408 and reset
// after client_body_timeout while the other streams of its session go on; request-size-limiting
// holds per stream.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { type ClientHttp2Session, connect } from 'node:http2';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TollgateInstance } from '../../src/instance.ts';
import { createLogger } from '../../src/log.ts';
import { lineSink } from '../../src/testing/run-plugin.ts';
import { TestCa, tool } from './support.ts';

const skip = tool('openssl');
let ca: TestCa;
let inst: TollgateInstance;

before(async () => {
  if (skip) return;
  ca = new TestCa();
  ca.issue('a.test', ['a.test'], { file: 'a' });
  writeFileSync(
    join(ca.dir, 'gateway.yaml'),
    `_format_version: "3.0"
_tollgate:
  client_body_timeout: 700
  client_header_timeout: 700
certificates:
  - cert: \${file:a.pem}
    key: \${file:a.key}
services:
  - name: echo
    url: echo://
    routes:
      - name: echo
        paths: [/echo]
      - name: limited
        paths: [/limited]
        plugins: [{ name: request-size-limiting, config: { allowed_payload_size: 1, size_unit: kilobytes } }]
`,
  );
  inst = await TollgateInstance.start({
    configFile: join(ca.dir, 'gateway.yaml'),
    env: {},
    proxyListen: ['127.0.0.1:0 ssl'],
    adminListen: [],
    log: createLogger({ level: 'info', destination: lineSink([]) as never }),
  });
});

after(async () => {
  await inst?.close(0);
});

function session(): ClientHttp2Session {
  const s = connect(`https://${inst.proxyAddresses[0]}`, { ca: ca.cert, servername: 'a.test' });
  s.on('error', () => undefined);
  return s;
}

interface H2Answer {
  status: number | null;
  body: string;
  reset: number | null;
}

/** A request on `s`; `body` chunks are written, and the stream ended unless `stall`. */
function h2(s: ClientHttp2Session, path: string, body: Buffer[] = [], stall = false): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer on ${path}`)), 15_000);
    const req = s.request({
      ':method': body.length > 0 || stall ? 'POST' : 'GET',
      ':path': path,
      ':authority': 'a.test',
    });
    let status: number | null = null;
    let text = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.setEncoding('utf8');
    req.on('data', (d: string) => (text += d));
    const done = (): void => {
      clearTimeout(timer);
      resolve({ status, body: text, reset: req.rstCode ?? null });
    };
    // A complete answer, or a reset: whichever comes first (the stalled request's own side stays open).
    req.on('end', done);
    req.on('close', done);
    req.on('error', () => undefined);
    for (const c of body) req.write(c);
    if (!stall) req.end();
  });
}

test('a stream that stalls its body is answered 408 and reset; its session keeps serving', { skip }, async () => {
  const s = session();
  try {
    const stalled = h2(s, '/echo/stalled', [Buffer.from('partial')], true);
    // Other streams of the same session are served while the stalled one waits.
    const meanwhile = await h2(s, '/echo/meanwhile');
    assert.equal(meanwhile.status, 200);
    const a = await stalled;
    assert.equal(a.status, 408);
    assert.match(a.body, /Request timeout/);
    // The session survived the reset: a new stream on it is served.
    const after = await h2(s, '/echo/after', [Buffer.from('whole body')]);
    assert.equal(after.status, 200);
    assert.equal(JSON.parse(after.body).body, 'whole body');
    assert.equal(s.destroyed, false);
  } finally {
    s.close();
  }
});

test('request-size-limiting holds on HTTP/2 per stream', { skip }, async () => {
  const s = session();
  try {
    const [big, small] = await Promise.all([
      h2(s, '/limited/big', [Buffer.alloc(1024, 'a'), Buffer.alloc(1024, 'b')]),
      h2(s, '/limited/small', [Buffer.alloc(100, 'c')]),
    ]);
    assert.equal(big.status, 413);
    assert.equal(small.status, 200);
  } finally {
    s.close();
  }
});
