// CONNECT over HTTP/2 (RFC 9113 8.5): the gateway is no forward proxy, so the stream gets the
// catalogued 400, and the process, its other streams and sessions go on.

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
  inst = await startTlsGateway(ca, `services:\n${ECHO_SERVICE}`);
});

after(async () => {
  if (!skip) await inst.close(0);
});

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
