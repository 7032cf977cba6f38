import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { test } from 'node:test';
import { startGateway } from '../../src/testing/index.ts';
import { refusedPort } from '../support/refused-port.ts';

const closedPort = refusedPort;

test('retries: requests whose connection could not be made are retried, a POST with a body too (nothing of it was sent), as nginx does', async () => {
  const seen: IncomingMessage[] = [];
  const bodies: string[] = [];
  const live = createHttpServer((req, res) => {
    seen.push(req);
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      bodies.push(body);
      res.end('live');
    });
  });
  await new Promise<void>((r) => live.listen(0, '127.0.0.1', r));
  const livePort = (live.address() as AddressInfo).port;
  const dead = await closedPort();
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      // round-robin over a dead and a live target; no health checks, so the dead one stays in rotation
      upstreams: [{ name: 'pool', targets: [{ target: `127.0.0.1:${dead}` }, { target: `127.0.0.1:${livePort}` }] }],
      services: [
        { name: 'retrying', host: 'pool', retries: 2, routes: [{ name: 'r', paths: ['/r'] }] },
        { name: 'no-retries', host: 'pool', retries: 0, routes: [{ name: 'n', paths: ['/n'] }] },
      ],
    },
  });
  try {
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${gw.url}/r/get`);
      assert.equal(res.status, 200, `GET ${i}`);
      assert.equal(await res.text(), 'live');
    }
    // The round-robin sends every other attempt to the dead target: each of these POSTs meets it
    // once or not at all, and reaches the live one with its whole body.
    bodies.length = 0;
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${gw.url}/r/post`, { method: 'POST', body: `payload ${i}` });
      assert.equal(res.status, 200, `POST ${i}`);
      assert.equal(await res.text(), 'live');
    }
    assert.deepEqual(bodies, ['payload 0', 'payload 1', 'payload 2', 'payload 3']);
    const none = [];
    for (let i = 0; i < 4; i++) none.push((await fetch(`${gw.url}/n/get`)).status);
    assert.ok(none.includes(502), `retries: 0 never retries: ${none.join(',')}`);
  } finally {
    await gw.close();
    live.close();
  }
});

test('a connection the upstream drops before answering (a kept-alive one it closed just then) is retried for idempotent requests, as nginx does', async () => {
  // Every other connection is closed as soon as its request head is in, without an answer.
  let connections = 0;
  let requests = 0;
  const flaky = createServer((socket) => {
    const drop = connections++ % 2 === 0;
    socket.once('data', () => {
      requests++;
      if (drop) return void socket.destroy();
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', r));
  const port = (flaky.address() as AddressInfo).port;
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { upstream_keepalive_pool_size: 0 },
      services: [
        { name: 'flaky', url: `http://127.0.0.1:${port}`, retries: 1, routes: [{ name: 'f', paths: ['/f'] }] },
      ],
    },
  });
  try {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/f/get`);
      assert.equal(res.status, 200, `GET ${i}`);
      assert.equal(await res.text(), 'ok');
    }
    assert.equal(requests, 6, 'each GET: one dropped attempt, one answered');
    const post = await fetch(`${gw.url}/f/post`, { method: 'POST', body: 'payload' });
    await post.text();
    assert.equal(post.status, 502, 'a request with a body is not sent twice');
  } finally {
    await gw.close();
    flaky.close();
  }
});

test("least-connections: a retry goes to a target this request has not failed on, as Kong's failedAddresses does", async () => {
  let hits = 0;
  const live = createHttpServer((_req, res) => {
    hits++;
    res.end('live');
  });
  await new Promise<void>((r) => live.listen(0, '127.0.0.1', r));
  const livePort = (live.address() as AddressInfo).port;
  const dead = await closedPort();
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      // The dead target's weight makes it the least loaded whenever nothing is in flight: without
      // its failure remembered, every retry went back to it.
      upstreams: [
        {
          name: 'lc',
          algorithm: 'least-connections',
          targets: [
            { target: `127.0.0.1:${dead}`, weight: 100 },
            { target: `127.0.0.1:${livePort}`, weight: 10 },
          ],
        },
      ],
      services: [{ name: 'lc', host: 'lc', retries: 3, routes: [{ name: 'lc', paths: ['/lc'] }] }],
    },
  });
  try {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/lc`);
      assert.equal(res.status, 200, `request ${i}`);
      assert.equal(await res.text(), 'live');
    }
    assert.equal(hits, 3);
  } finally {
    await gw.close();
    await new Promise<void>((r) => live.close(() => r()));
  }
});

test('an upstream that answered with a head the HTTP client refuses (an unasked 100 Continue, a 101 to a plain GET) gets one 502, not a retry per attempt', async () => {
  // The upstream got each request and answered it: nginx calls that an invalid header, which
  // Kong's default proxy_next_upstream (error timeout) does not retry.
  const paths: string[] = [];
  const answers: Record<string, string> = {
    '/u/continue': 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok',
    '/u/switch': 'HTTP/1.1 101 Switching Protocols\r\nupgrade: other\r\nconnection: upgrade\r\n\r\n',
  };
  const up = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', (d: Buffer) => {
      const path = d.toString('latin1').split(' ')[1]!;
      paths.push(path);
      socket.write(answers[path] ?? 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
    });
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'u',
          url: `http://127.0.0.1:${(up.address() as AddressInfo).port}`,
          retries: 3,
          routes: [{ name: 'u', paths: ['/u'], strip_path: false }],
        },
      ],
    },
  });
  try {
    for (const path of Object.keys(answers)) {
      const res = await fetch(`${gw.url}${path}`);
      await res.text();
      assert.equal(res.status, 502, path);
    }
    assert.deepEqual(paths, Object.keys(answers), 'each request reached the upstream once');
  } finally {
    await gw.close();
    up.close();
  }
});
