// Per-connection facts over HTTP/2 (the peer address, the local port, whether the peer is a trusted
// proxy) are read from the stream's session, once per connection: node's `req.socket` there is a
// Proxy made for every stream. Several streams on one session each get them right.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TollgateInstance } from '../../src/instance.ts';
import { ECHO_SERVICE, h2Session, startTlsGateway, TestCa, tool } from './support.ts';

const skip = tool('openssl');
let ca: TestCa;
let inst: TollgateInstance;

before(async () => {
  if (skip) return;
  ca = new TestCa();
  inst = await startTlsGateway(
    ca,
    `_tollgate:
  trusted_ips: [127.0.0.1]
services:
${ECHO_SERVICE}`,
  );
});

after(async () => {
  if (!skip) await inst.close(0);
});

test('HTTP/2: a trusted peer’s forwarding headers are believed on every stream of a session; the port is the listener’s', {
  skip,
}, async () => {
  const session = h2Session(inst, ca);
  try {
    const ask = (xff: string | null) =>
      new Promise<Record<string, string>>((resolve, reject) => {
        const stream = session.request({ ':path': '/echo', ...(xff === null ? {} : { 'x-forwarded-for': xff }) });
        let body = '';
        stream.setEncoding('utf8');
        stream.on('data', (c: string) => {
          body += c;
        });
        stream.on('end', () => resolve((JSON.parse(body) as { headers: Record<string, string> }).headers));
        stream.on('error', reject);
      });
    const port = inst.proxyAddresses[0]!.split(':').pop();
    for (const [xff, realIp] of [
      ['203.0.113.7', '203.0.113.7'],
      [null, '127.0.0.1'],
      ['198.51.100.9, 203.0.113.8', '203.0.113.8'],
    ] as const) {
      const headers = await ask(xff);
      assert.equal(headers['x-real-ip'], realIp, String(xff));
      assert.equal(headers['x-forwarded-for'], xff === null ? '127.0.0.1' : `${xff}, 127.0.0.1`);
      assert.equal(headers['x-forwarded-port'], port);
      assert.equal(headers['x-forwarded-proto'], 'https');
    }
  } finally {
    session.close();
  }
});

// CONNECT over HTTP/2 (RFC 9113 8.5): the gateway is no forward proxy, so the stream gets the
// catalogued 400, and the process, its other streams and sessions go on.
function answer(
  session: ReturnType<typeof h2Session>,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let status = 0;
    let body = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (body += c));
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
  });
}

test('an HTTP/2 CONNECT gets 400 on its stream; the session and the gateway keep serving', { skip }, async () => {
  const session = h2Session(inst, ca);
  try {
    const connect = await answer(session, { ':method': 'CONNECT', ':authority': 'a.test:443' });
    assert.equal(connect.status, 400);
    assert.equal(JSON.parse(connect.body).message, 'Bad request');
    const next = await answer(session, { ':path': '/echo/after' });
    assert.equal(next.status, 200, 'the same session still serves');
  } finally {
    session.close();
  }
  const fresh = h2Session(inst, ca);
  try {
    assert.equal((await answer(fresh, { ':path': '/echo/x' })).status, 200, 'the gateway is alive');
  } finally {
    fresh.close();
  }
});
