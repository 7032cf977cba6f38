// The gateway's 502 for an upstream that cannot be reached goes through the route's response
// phase (Kong runs header_filter on its error pages): a browser still sees the CORS headers and
// the correlation id, and response-transformer's headers are there.

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';

let gw: TestGateway;

/** A loopback port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

before(async () => {
  gw = await startServiceGateway(
    [
      {
        name: 'r',
        paths: ['/r'],
        plugins: [
          { name: 'cors', config: { origins: ['https://app.test'] } },
          { name: 'correlation-id', config: { echo_downstream: true } },
          { name: 'response-transformer', config: { add: { headers: ['x-added:1'] } } },
        ],
      },
    ],
    { name: 'dead', url: `http://127.0.0.1:${await deadPort()}` },
  );
});

after(async () => {
  await gw?.close();
});

test('a 502 for a refused upstream carries the headers of the route response plugins', async () => {
  const res = await fetch(`${gw.url}/r`, {
    headers: { origin: 'https://app.test' },
    signal: AbortSignal.timeout(20_000),
  });
  assert.equal(res.status, 502);
  assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.test');
  assert.match(res.headers.get('vary') ?? '', /Origin/);
  assert.match(res.headers.get('kong-request-id') ?? '', /#\d+$/);
  assert.equal(res.headers.get('x-added'), '1');
  const body = (await res.json()) as { message: string };
  assert.equal(body.message, 'An invalid response was received from the upstream server');
  const entry = gw.logs.find((l) => l.type === 'access' && l.path === '/r');
  assert.equal(entry?.error, 'UPSTREAM_BAD_RESPONSE');
});
