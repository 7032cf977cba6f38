// http-log on the plugin itself, through the public test kit, against a real HTTP receiver;
// test/observability/logging-plugins.test.ts runs every logging plugin through a gateway.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { httpReceiver, httpsReceiver } from '../../../test/support/receivers.ts';
import { validateEntities } from '../../../test/support/validate.ts';
import { until } from '../../../test/support/wait.ts';
import { selfSigned, tool } from '../../../test/tls/support.ts';
import { startPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

test('http-log posts the Kong log entry as JSON with the configured headers', async () => {
  const receiver = await httpReceiver();
  const log = await startPlugin(plugin, {
    http_endpoint: `http://127.0.0.1:${receiver.port}/logs`,
    headers: { 'x-log-token': 'abc' },
  });
  try {
    await log.run({ path: '/items', headers: { cookie: 'sid=secret-cookie' }, upstream: { status: 404 } });
    const m = await receiver.next();
    assert.equal(m.method, 'POST');
    assert.equal(m.url, '/logs');
    assert.equal(m.headers['content-type'], 'application/json');
    assert.equal(m.headers['x-log-token'], 'abc');
    const body = JSON.parse(m.body);
    // A queue may batch entries into an array; one request gives one entry either way.
    const e = Array.isArray(body) ? body[0] : body;
    assert.equal(e.request.uri, '/items');
    assert.equal(e.response.status, 404);
    assert.equal(e.route.name, 'under-test');
  } finally {
    await log.close();
    await receiver.close();
  }
});

test('an upstream error status is logged with the upstream as the source', async () => {
  const receiver = await httpReceiver();
  const log = await startPlugin(plugin, { http_endpoint: `http://127.0.0.1:${receiver.port}/` });
  try {
    await log.run({ upstream: { status: 503 } });
    const body = JSON.parse((await receiver.next()).body);
    const e = Array.isArray(body) ? body[0] : body;
    assert.equal(e.response.status, 503);
    assert.equal(e.source, 'upstream');
  } finally {
    await log.close();
    await receiver.close();
  }
});

test('closing does not wait for a receiver that never answers beyond the 2 s deadline, whatever `timeout` says', async () => {
  const hanging = createServer(() => undefined);
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  const port = (hanging.address() as AddressInfo).port;
  const log = await startPlugin(plugin, { http_endpoint: `http://127.0.0.1:${port}/logs`, timeout: 30_000 });
  try {
    await log.run({ path: '/items' });
    // The delivery is in flight (the receiver took the request and says nothing).
    await new Promise((r) => setTimeout(r, 200));
    const started = performance.now();
    await log.close();
    const took = performance.now() - started;
    assert.ok(took < 6_000, `closing took ${Math.round(took)} ms: past its 2 s deadline`);
  } finally {
    hanging.closeAllConnections();
    await new Promise((r) => hanging.close(r));
  }
});

test('the last flush and the delivery in flight share one 2 s deadline: closing does not wait 2 s for each', async () => {
  const hanging = createServer(() => undefined);
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  const port = (hanging.address() as AddressInfo).port;
  const log = await startPlugin(plugin, { http_endpoint: `http://127.0.0.1:${port}/logs`, timeout: 30_000 });
  try {
    // One delivery in flight (concurrency_limit 1, Kong's default), the others waiting behind it.
    for (let i = 0; i < 5; i++) await log.run({ path: `/items/${i}` });
    await new Promise((r) => setTimeout(r, 200));
    const started = performance.now();
    await log.close();
    const took = performance.now() - started;
    // A deadline check: 2 s for the flush and then 2 s more for the delivery in flight would be
    // 4 s; one shared deadline is 2 s, the margin above it for a loaded machine.
    assert.ok(took < 3_800, `closing took ${Math.round(took)} ms: not one shared 2 s deadline`);
  } finally {
    hanging.closeAllConnections();
    await new Promise((r) => hanging.close(r));
  }
});

test('headers that could never be sent are refused at load, as Kong refuses them', async () => {
  const endpoint = 'http://127.0.0.1:9/logs';
  const refused: [Record<string, unknown>, RegExp][] = [
    [{ http_endpoint: endpoint, headers: { Host: 'other.example' } }, /cannot contain 'Host' header/],
    [{ http_endpoint: endpoint, headers: { 'content-length': '5' } }, /cannot contain 'Content-Length' header/],
    [{ http_endpoint: endpoint, headers: { 'Content-Type': 'text/plain' } }, /cannot contain 'Content-Type' header/],
    [{ http_endpoint: endpoint, headers: { 'x-bad name': '1' } }, /pattern/],
    [{ http_endpoint: endpoint, headers: { 'x-split': 'a\r\nx-injected: 1' } }, /pattern/],
    [
      { http_endpoint: 'http://user:pass@127.0.0.1:9/logs', headers: { Authorization: 'Bearer t' } },
      /both an 'Authorization' header and user info/,
    ],
  ];
  for (const [config, message] of refused) {
    await assert.rejects(
      async () => (await startPlugin(plugin, config)).close(),
      (err: Error) => message.test(err.message),
      JSON.stringify(config),
    );
  }
});

test('timeout 0 delivers with the default deadline instead of aborting every delivery', async () => {
  const receiver = await httpReceiver();
  const log = await startPlugin(plugin, {
    http_endpoint: `http://127.0.0.1:${receiver.port}/zero`,
    timeout: 0,
    queue: { max_retry_time: 0 },
  });
  try {
    await log.run({ path: '/items' });
    const m = await receiver.next();
    assert.equal(m.url, '/zero');
  } finally {
    await log.close();
    await receiver.close();
  }
});

test('entries still waiting at close go out one per request when max_batch_size is 1', async () => {
  const bodies: string[] = [];
  // A receiver slow enough that entries wait in the queue while the first delivery is in flight.
  const slow = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      bodies.push(body);
      setTimeout(() => res.writeHead(200).end(), 100);
    });
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
  const log = await startPlugin(plugin, { http_endpoint: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/` });
  try {
    for (let i = 0; i < 4; i++) await log.run({ path: `/items/${i}` });
  } finally {
    await log.close();
    slow.closeAllConnections();
    await new Promise((r) => slow.close(r));
  }
  assert.equal(bodies.length, 4);
  for (const body of bodies) assert.equal(Array.isArray(JSON.parse(body)), false, body.slice(0, 80));
  assert.deepEqual(
    bodies.map((b) => JSON.parse(b).request.uri),
    ['/items/0', '/items/1', '/items/2', '/items/3'],
  );
});

test("Kong 2's queue_size still batches (JSON arrays), as Kong's Queue.get_plugin_params applies it, with the deprecation warning", async () => {
  const receiver = await httpReceiver();
  const log = await startPlugin(plugin, {
    http_endpoint: `http://127.0.0.1:${receiver.port}/logs`,
    queue_size: 5,
    flush_timeout: 0.05,
  });
  try {
    await log.run({ path: '/one' });
    const body = JSON.parse((await receiver.next()).body);
    assert.ok(Array.isArray(body), 'a batch of max_batch_size 5 is a JSON array');
    assert.equal(body[0].request.uri, '/one');
    assert.ok(
      log.logs.some((l) => /queue_size parameter is deprecated/.test(String(l.msg))),
      JSON.stringify(log.logs),
    );
  } finally {
    await log.close();
    await receiver.close();
  }
});

test('a header in headers the HTTP client sets itself (Transfer-Encoding, Connection, ...) is left out with a warning; the entry is delivered', async () => {
  const receiver = await httpReceiver();
  const log = await startPlugin(plugin, {
    http_endpoint: `http://127.0.0.1:${receiver.port}/logs`,
    headers: { 'Transfer-Encoding': 'chunked', Connection: 'close', Expect: '100-continue', 'x-log-token': 'abc' },
  });
  try {
    await log.run({ path: '/kept' });
    const m = await receiver.next();
    assert.equal(m.headers['x-log-token'], 'abc');
    assert.equal(m.headers.expect, undefined);
    const e = JSON.parse(m.body);
    assert.equal((Array.isArray(e) ? e[0] : e).request.uri, '/kept');
    const warned = log.logs.filter((l) => /is set by the HTTP client itself/.test(String(l.msg)));
    assert.equal(warned.length, 3, JSON.stringify(log.logs));
  } finally {
    await log.close();
    await receiver.close();
  }
});

test("with max_bytes unset, the entries of 30 KB heads a receiver that never answers leaves past 16 MiB are dropped and logged in Kong's words", async () => {
  const hanging = createServer(() => undefined);
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  const port = (hanging.address() as AddressInfo).port;
  const log = await startPlugin(plugin, { http_endpoint: `http://127.0.0.1:${port}/logs`, timeout: 30_000 });
  try {
    const headers = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`x-large-${i}`, 'v'.repeat(1_000)]));
    for (let i = 0; i < 600; i++) await log.run({ path: `/items/${i}`, headers });
    const lines = log.logs.map((l) => String(l.msg)).filter((m) => m.startsWith('queue http-log: '));
    assert.deepEqual(lines, ['queue http-log: byte capacity exceeded, 1 queue entries were dropped; 1 dropped so far']);
  } finally {
    await log.close();
    hanging.closeAllConnections();
    await new Promise((r) => hanging.close(r));
  }
});

/**
 * A full collection, so that heapUsed counts what is held. The synthetic requests' nextTick
 * callbacks (each holding its request) run first: runs that settle within one macrotask leave them queued.
 */
async function gc(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

test('queue.max_bytes bounds the memory entries hold towards a receiver that never answers, for hostile heads too', async () => {
  const hanging = createServer(() => undefined);
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  const port = (hanging.address() as AddressInfo).port;
  const maxBytes = 4 * 1024 * 1024;
  const log = await startPlugin(plugin, {
    http_endpoint: `http://127.0.0.1:${port}/logs`,
    timeout: 30_000,
    queue: { max_bytes: maxBytes },
  });
  try {
    // Each request a hostile client's: 90 header names never seen before, and 60 query arguments.
    const hostile = (i: number) => ({
      path: `/items?${Array.from({ length: 60 }, (_, j) => `q${i}_${j}=${'w'.repeat(40)}`).join('&')}`,
      headers: Object.fromEntries(Array.from({ length: 90 }, (_, j) => [`h${i}x${j}`, 'v'.repeat(40)])),
    });
    for (let i = 0; i < 20; i++) await log.run(hostile(i));
    await gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 20; i < 1_500; i++) await log.run(hostile(i));
    await gc();
    const held = process.memoryUsage().heapUsed - before;
    const dropped = log.logs.some((l) => String(l.msg).startsWith('queue http-log: byte capacity exceeded'));
    assert.ok(dropped, 'the queue reached max_bytes');
    assert.ok(held < maxBytes * 1.3, `${held} bytes held for max_bytes ${maxBytes}`);
  } finally {
    await log.close();
    hanging.closeAllConnections();
    await new Promise((r) => hanging.close(r));
  }
});

test('ssl_verify: false (Kong 3.14) delivers to an https receiver with a self-signed certificate; the default verifies it and sends nothing', async (t) => {
  const missing = tool('openssl');
  if (missing !== false) {
    t.skip(missing);
    return;
  }
  const receiver = await httpsReceiver(selfSigned());
  try {
    const unverified = await startPlugin(plugin, { http_endpoint: receiver.url, ssl_verify: false });
    try {
      await unverified.run({ path: '/unverified' });
      await until('the entry', () => receiver.bodies.length === 1);
    } finally {
      await unverified.close();
    }
    assert.equal(JSON.parse(receiver.bodies[0]!.body).request.uri, '/unverified');
    assert.deepEqual(receiver.refused, []);

    const verified = await startPlugin(plugin, { http_endpoint: receiver.url });
    try {
      await verified.run({ path: '/verified' });
      // The client refuses the certificate: the receiver sees the handshake end in its alert.
      await until('a refused handshake', () => receiver.refused.length > 0);
    } finally {
      await verified.close();
    }
    assert.equal(receiver.bodies.length, 1);
  } finally {
    await receiver.close();
  }
});

test("Kong 3.15's ssl_verify and client_certificate at the defaults decK dumps load without a word", async () => {
  for (const cc of ['null', '{ id: null }']) {
    const v = await validateEntities(
      `plugins:\n  - name: http-log\n    config:\n      http_endpoint: "https://127.0.0.1:9/logs"\n      ssl_verify: true\n      client_certificate: ${cc}\n`,
    );
    assert.equal(v.code, 0, v.out);
    assert.doesNotMatch(v.out, /warning/, v.out);
  }
});

test('ssl_verify: false toward an https endpoint loads with a warning at the field', async () => {
  const off = (endpoint: string) =>
    validateEntities(
      `plugins:\n  - name: http-log\n    config:\n      http_endpoint: "${endpoint}"\n      ssl_verify: false\n`,
    );
  const https = await off('https://logs.example.test/in');
  assert.equal(https.code, 0, https.out);
  assert.match(
    https.out,
    /:6:19 {2}plugins\[0\]\.config\.ssl_verify {2}warning: plugin 'http-log': ssl_verify is off: the certificate of logs\.example\.test is not verified before log entries .* are sent to it; anyone on the path can impersonate it\n/,
  );
  // Toward an http endpoint there is no certificate to verify: nothing to say.
  const http = await off('http://127.0.0.1:9/logs');
  assert.equal(http.code, 0, http.out);
  assert.doesNotMatch(http.out, /warning/, http.out);
});
