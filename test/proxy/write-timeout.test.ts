// An upstream that stops reading the request body it is sent: the silence is the upstream's, so the
// service's write_timeout ends it with Kong's 504 (nginx's proxy_send_timeout), not a 408 blaming a
// client that is still sending (client_body_timeout) and not only after read_timeout.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { parseRaw, type RawResponse } from '../support/raw.ts';
import { type Listening, listen } from '../support/upstream.ts';
import { within } from '../support/wait.ts';

const WRITE_TIMEOUT = 500;
const LONG = 20_000;
let gw: TestGateway;
let up: Listening;
/** Requests that reached /stop. */
const stopped: IncomingMessage[] = [];

before(async () => {
  // /stop: takes the request and never reads its body nor answers. /slow: reads its body in bursts
  // with pauses shorter than write_timeout, then answers with the byte count.
  up = await listen((req, res) => {
    if (req.url?.startsWith('/stop') === true) {
      req.pause();
      stopped.push(req);
      return;
    }
    slowRead(req).then((n) => res.end(String(n)));
  });
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { client_body_timeout: LONG },
      services: [
        {
          name: 'up',
          url: up.url,
          read_timeout: LONG,
          write_timeout: WRITE_TIMEOUT,
          routes: [{ name: 'up', paths: ['/'], strip_path: false }],
        },
      ],
    },
  });
});
after(async () => {
  await gw.close();
  await up.close();
});

async function slowRead(req: IncomingMessage): Promise<number> {
  let n = 0;
  for await (const chunk of req) {
    n += (chunk as Buffer).length;
    if (n % (4 * 1024 * 1024) < (chunk as Buffer).length) await new Promise((r) => setTimeout(r, WRITE_TIMEOUT / 3));
  }
  return n;
}

/** Sends a request with a body of `mb` MiB as fast as the gateway takes it; resolves with the answer once the gateway ends the connection. */
function upload(path: string, mb: number, to: TestGateway = gw): Promise<RawResponse> {
  const { port } = new URL(to.url);
  const answered = new Promise<RawResponse>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      data += d;
      // A complete answer on a connection kept alive (the whole body was taken).
      const res = parseRaw(data);
      const length = Number(res.headers['content-length'] ?? -1);
      if (!data.startsWith('HTTP/1.1 100') && Buffer.byteLength(res.body) === length) {
        socket.destroy();
        resolve(res);
      }
    });
    // The gateway's FIN after its answer (our own side cannot finish: the rest of the body is unread).
    socket.on('end', () => {
      socket.destroy();
      resolve(parseRaw(data));
    });
    socket.on('error', (err) => (data === '' ? reject(err) : undefined));
    const chunk = Buffer.alloc(256 * 1024, 'x');
    let left = (mb * 1024 * 1024) / chunk.length;
    socket.write(`POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Length: ${mb * 1024 * 1024}\r\n\r\n`);
    const pump = (): void => {
      while (left > 0 && !socket.destroyed) {
        left--;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
    };
    pump();
  });
  return within(answered, 15_000, 'the gateway to answer the upload');
}

test('an upstream that stops reading the request body: 504 after write_timeout, and its request is cancelled', async () => {
  const started = Date.now();
  const res = await upload('/stop', 256);
  const took = Date.now() - started;
  assert.equal(res.status, 504);
  assert.equal(JSON.parse(res.body).message, 'The upstream server is timing out');
  assert.ok(took < LONG / 4, `answered after ${took} ms, not after write_timeout (${WRITE_TIMEOUT} ms)`);
  // The upstream sees the gateway's close once it reads again.
  const closed = new Promise<void>((resolve) => stopped[0]!.socket.once('close', () => resolve()));
  stopped[0]!.on('error', () => {}).resume();
  await within(closed, 5000, 'the upstream connection to be closed');
  const line = gw.logs.find((l) => l.type === 'access' && l.status === 504);
  assert.ok(line !== undefined, 'access log line');
  assert.equal(line.error, 'UPSTREAM_TIMEOUT');
});

test('an upstream that reads slowly, never pausing as long as write_timeout, gets the whole body', async () => {
  const res = await upload('/slow', 32);
  assert.equal(res.status, 200);
  assert.equal(res.body, String(32 * 1024 * 1024));
});

test("a write timeout counts as a timeout for the target's passive checks, as Kong's 504 does", async () => {
  const balanced = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { client_body_timeout: LONG },
      upstreams: [
        {
          name: 'writes.upstream',
          targets: [{ target: `127.0.0.1:${up.port}` }],
          healthchecks: { passive: { unhealthy: { timeouts: 1 } } },
        },
      ],
      services: [
        {
          name: 'balanced',
          host: 'writes.upstream',
          read_timeout: LONG,
          write_timeout: WRITE_TIMEOUT,
          routes: [{ name: 'balanced', paths: ['/'], strip_path: false }],
        },
      ],
    },
  });
  try {
    const res = await upload('/stop', 256, balanced);
    assert.equal(res.status, 504);
    // One timeout marks the only target down: the next request finds no peer.
    const next = await fetch(`${balanced.url}/slow`, { method: 'POST', body: 'x' });
    assert.equal(next.status, 503);
    assert.equal(((await next.json()) as { message: string }).message, 'failure to get a peer from the ring-balancer');
  } finally {
    for (const req of stopped) req.on('error', () => {}).resume();
    await balanced.close();
  }
});
