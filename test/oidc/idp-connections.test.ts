/**
 * The oidc plugin's calls to its IdP share a pool of at most 16 connections per plugin instance: a
 * burst of bearer tokens to introspect while the IdP is slow queues behind them instead of opening
 * a connection per request.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { startServiceGateway } from '../support/gateway.ts';
import { listen } from '../support/upstream.ts';
import { until } from '../support/wait.ts';

const BURST = 24;
const BOUND = 16;

test('a burst of introspections to a slow IdP opens at most 16 connections to it, and every request is answered', async () => {
  let base = '';
  const held: ServerResponse[] = [];
  let holding = true;
  const idp = await listen((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      return void res.end(
        JSON.stringify({
          issuer: base,
          authorization_endpoint: `${base}/authorize`,
          token_endpoint: `${base}/token`,
          introspection_endpoint: `${base}/introspect`,
          jwks_uri: `${base}/jwks`,
          response_types_supported: ['code'],
        }),
      );
    }
    req.resume();
    req.on('end', () => {
      if (holding) held.push(res);
      else answer(res);
    });
  });
  base = idp.url;
  const open = new Set<Socket>();
  let most = 0;
  idp.server.on('connection', (s: Socket) => {
    open.add(s);
    most = Math.max(most, open.size);
    s.on('close', () => open.delete(s));
  });
  const gw = await startServiceGateway([
    {
      name: 'api',
      paths: ['/api/'],
      plugins: [
        {
          name: 'oidc',
          config: {
            discovery: `${base}/.well-known/openid-configuration`,
            allow_insecure_http: true,
            client_id: 'api',
            client_secret: 'api-secret',
            bearer_only: true,
            introspection_endpoint: `${base}/introspect`,
            timeout: 20_000,
          },
        },
      ],
    },
  ]);
  try {
    const answers = Array.from({ length: BURST }, (_, i) =>
      request(`${gw.url}/api/`, { headers: { authorization: `Bearer opaque-token-${i}` } }).then(async (r) => {
        await r.body.dump();
        return r.statusCode;
      }),
    );
    await until(`${BOUND} introspections held at the IdP`, () => held.length >= BOUND);
    // Time for any introspection past the bound to arrive, if the pool let it.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(held.length, BOUND);
    assert.equal(most, BOUND);
    holding = false;
    for (const res of held.splice(0)) answer(res);
    assert.deepEqual(await Promise.all(answers), Array(BURST).fill(401));
    assert.equal(most, BOUND);
  } finally {
    await gw.close();
    await idp.close();
  }
});

/** RFC 7662's answer for a token the IdP does not know. */
function answer(res: ServerResponse): void {
  res.setHeader('content-type', 'application/json');
  res.end('{"active":false}');
}
