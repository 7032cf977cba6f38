// The plugins' HTTP client (services.http) against real loopback peers.
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { DeadlineError } from '../lib/bounded-fetch.ts';
import { createHttpClient } from './http-client.ts';

test('closing does not wait for a call to a peer that never answers: the call is cut, not left to its deadline', async () => {
  // Accepts, reads the request, never answers (an IdP that hangs).
  const sockets: Socket[] = [];
  let arrived!: () => void;
  const requested = new Promise<void>((resolve) => (arrived = resolve));
  const peer = createServer((socket) => {
    sockets.push(socket);
    socket.once('data', () => arrived());
  });
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  const { port } = peer.address() as { port: number };
  const client = createHttpClient();
  try {
    const call = client.request(`http://127.0.0.1:${port}/jwks`, { timeout: 60_000 }).catch((err: Error) => err);
    await requested;
    await client.close();
    const outcome = await call;
    assert.ok(outcome instanceof Error, 'the call failed');
    assert.ok(!(outcome instanceof DeadlineError), `cut by close, not ended by its 60 s deadline (${outcome.message})`);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => peer.close(() => resolve()));
  }
});
