// The parser guard covers every undici client from the start, not only the upstreams' pools once a
// request has been proxied: an http-log receiver or a JWKS endpoint answering a megabyte of tiny
// headers costs one error, not 200,000 (`npm run bench:linear-time` measures it). This file runs in a process of its own (node --test), so
// no upstream connection exists before these tests; none of them proxies to an undici upstream.
import assert from 'node:assert/strict';
import { type AddressInfo, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { startServiceGateway } from '../../test/support/gateway.ts';
import type { TestGateway } from '../testing/index.ts';

// 200,000 one-byte headers (1 MB): a head far past the 16 KiB limit in the fewest bytes per header.
const MANY_HEADERS = Buffer.from(`HTTP/1.1 200 OK\r\n${'a:1\r\n'.repeat(200_000)}Content-Length: 0\r\n\r\n`);

let server: Server;
let url: string;
/** Connections answered so far. */
let answered = 0;
let gw: TestGateway;
const sockets = new Set<Socket>();

before(async () => {
  server = createTcpServer((sock) => {
    sockets.add(sock.once('close', () => sockets.delete(sock)));
    sock.on('error', () => undefined); // the client drops the connection mid-head
    sock.once('data', () => {
      answered++;
      sock.end(MANY_HEADERS);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  // The echo upstream: no undici connection to an upstream, ever, in this process.
  gw = await startServiceGateway([
    {
      name: 'logged',
      paths: ['/logged'],
      plugins: [{ name: 'http-log', config: { http_endpoint: url, queue: { max_retry_time: 0 } } }],
    },
  ]);
});
after(async () => {
  await gw?.close();
  for (const sock of sockets) sock.destroy();
  await new Promise((r) => server.close(r));
});

/** Runs `work`, then waits until `n` more answers went out. */
async function answersFor(n: number, work: () => Promise<unknown>): Promise<void> {
  const target = answered + n;
  await work();
  for (let i = 0; i < 1000 && answered < target; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(answered >= target, `${answered - target + n} of ${n} answers sent`);
}

// Unguarded, each such answer built 200,000 errors: about 200 ms of CPU per answer (gateway,
// receiver and client together), the event loop held meanwhile; guarded, about 30 ms. That cost is
// measured by `npm run bench:linear-time` (a CPU budget flakes on a shared machine); here, what a
// client and the senders observe.

test('an http-log receiver answering a megabyte of tiny headers, before any proxied request: each log is sent, each client served', async () => {
  await answersFor(12, async () => {
    for (let i = 0; i < 12; i++) assert.equal((await fetch(`${gw.url}/logged`)).status, 200);
  });
});

test("the plugins' own undici clients and the global fetch (JWKS, OIDC discovery) refuse such a head", async () => {
  const agent = new Agent();
  try {
    await answersFor(8, async () => {
      for (let i = 0; i < 8; i++)
        await assert.rejects(request(url, { dispatcher: agent }), { code: 'UND_ERR_HEADERS_OVERFLOW' });
    });
  } finally {
    await agent.close();
  }
  await answersFor(8, async () => {
    for (let i = 0; i < 8; i++) await assert.rejects(fetch(url), (err: Error) => err.cause !== undefined);
  });
});
