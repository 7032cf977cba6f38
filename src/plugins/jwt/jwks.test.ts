// The jwt plugin against JWKS endpoints that misbehave: one that hangs, one that trickles its body,
// one that answers far too much. Tokens whose key is known keep being answered throughout, the last
// good keys stay, and the endpoint's health shows in GET /status and the metrics.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { exportJWK, SignJWT } from 'jose';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { type Listening, listen } from '../../../test/support/upstream.ts';
import { until, within } from '../../../test/support/wait.ts';
import type { TestGateway } from '../../testing/index.ts';

const ISSUER = 'https://idp.jwks.test/';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });

type Mode = 'ok' | 'hang' | 'trickle' | 'huge' | 'huge-chunked';

/** A JWKS endpoint whose behaviour the test switches; it records every request it gets. */
interface JwksServer extends Listening {
  mode: Mode;
  requests: number;
  /** Responses held open (hang, trickle) that the gateway has not given up on yet. */
  open: Set<ServerResponse>;
  /** Resolves once a request arrives in the current mode. */
  nextRequest(): Promise<void>;
}

async function startJwks(): Promise<JwksServer> {
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const body = JSON.stringify({ keys: [jwk] });
  let waiters: (() => void)[] = [];
  const s = (await listen((_req, res) => {
    s.requests++;
    for (const w of waiters.splice(0)) w();
    switch (s.mode) {
      case 'ok':
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
        return;
      case 'hang':
        s.open.add(res);
        res.on('close', () => s.open.delete(res));
        return;
      case 'trickle': {
        s.open.add(res);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"keys":[');
        const timer = setInterval(() => res.write(' '), 100);
        res.on('close', () => {
          clearInterval(timer);
          s.open.delete(res);
        });
        return;
      }
      case 'huge':
      case 'huge-chunked': {
        // 2 MiB of valid JSON: a key set padded with whitespace.
        const padded = `{"keys":[${JSON.stringify(jwk)}]${' '.repeat(2 * 1024 * 1024)}}`;
        const headers: Record<string, string | number> = { 'content-type': 'application/json' };
        if (s.mode === 'huge') headers['content-length'] = Buffer.byteLength(padded);
        res.writeHead(200, headers);
        res.end(padded);
        return;
      }
    }
  })) as JwksServer;
  s.mode = 'ok';
  s.requests = 0;
  s.open = new Set();
  s.nextRequest = () => new Promise<void>((resolve) => waiters.push(resolve));
  const close = s.close;
  s.close = () => {
    waiters = [];
    return close();
  };
  return s;
}

/** A fresh token (never seen, so never in the verified-token cache) signed with `key`, naming `kid`. */
function token(kid: string, key = privateKey): Promise<string> {
  return new SignJWT({ sub: 'client-a' })
    .setProtectedHeader({ alg: 'RS256', kid })
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setJti(randomUUID())
    .setExpirationTime('5m')
    .sign(key);
}

async function call(gw: TestGateway, bearer: string): Promise<number> {
  const res = await fetch(`${gw.url}/api`, {
    headers: { authorization: `Bearer ${bearer}` },
    signal: AbortSignal.timeout(15_000),
  });
  await res.arrayBuffer();
  return res.status;
}

interface StatusDependency {
  plugin: string;
  kind: string;
  target: string;
  healthy: boolean;
  last_success: string | null;
  last_error: string | null;
  keys: number | null;
}

async function dependencies(gw: TestGateway): Promise<StatusDependency[]> {
  const res = await fetch(`${gw.adminUrl}/status`, { signal: AbortSignal.timeout(5000) });
  return ((await res.json()) as { dependencies: StatusDependency[] }).dependencies;
}

describe('jwt with a misbehaving JWKS endpoint', () => {
  let jwks: JwksServer;
  let gw: TestGateway;

  before(async () => {
    jwks = await startJwks();
    gw = await startServiceGateway(
      [
        {
          name: 'api',
          paths: ['/api'],
          plugins: [
            {
              name: 'jwt',
              config: {
                claims_to_verify: ['exp'],
                jwks_cache_ttl_seconds: 1,
                jwks_refetch_cooldown_seconds: 0,
                jwks_timeout_ms: 4000,
              },
            },
          ],
        },
      ],
      {
        extra: {
          consumers: [
            {
              username: 'client-a',
              jwt_secrets: [{ key: ISSUER, algorithm: 'RS256', jwks_uri: `${jwks.url}/.well-known/jwks.json` }],
            },
            // A static-key credential beside it has no dependency to report.
            { username: 'client-b', jwt_secrets: [{ key: 'static', secret: 'a-static-hmac-secret-0123456789' }] },
          ],
        },
      },
    );
  });

  after(async () => {
    await gw?.close();
    await jwks?.close();
  });

  test('the JWKS is fetched at the open step, and its health shows in /status', async () => {
    await until('the open step to fetch the JWKS before any token', () => jwks.requests > 0, 10_000);
    assert.equal(await call(gw, await token('k1')), 200);
    const deps = await dependencies(gw);
    assert.equal(deps.length, 1, 'one JWKS, nothing for the static key');
    const [dep] = deps;
    assert.equal(dep?.plugin, 'jwt');
    assert.equal(dep?.kind, 'jwks');
    assert.equal(dep?.target, `${jwks.url}/.well-known/jwks.json`);
    assert.equal(dep?.healthy, true);
    assert.equal(dep?.keys, 1);
    assert.notEqual(dep?.last_success, null);
  });

  test('while the JWKS endpoint hangs, fresh tokens with a known kid are answered at once', async () => {
    jwks.mode = 'hang';
    const arrived = jwks.nextRequest();
    // The set is older than its 1 s TTL soon: some request then starts a background refresh, which hangs.
    await until(
      'a background refresh to start',
      async () => {
        assert.equal(await call(gw, await token('k1')), 200);
        await Promise.race([arrived, new Promise((r) => setTimeout(r, 100))]);
        return jwks.open.size > 0;
      },
      15_000,
      0,
    );
    for (let i = 0; i < 5; i++) {
      assert.equal(await call(gw, await token('k1')), 200);
      assert.equal(jwks.open.size, 1, 'answered while the refresh was still hanging');
    }
    // A token naming a kid the set lacks waits a bounded time for that same fetch, then gets 503
    // (the endpoint has not said whether the kid is the IdP's), before the fetch's own deadline.
    assert.equal(await call(gw, await token('unknown-kid', other.privateKey)), 503);
    assert.equal(jwks.open.size, 1, 'the unknown kid stopped waiting before the fetch deadline');
    assert.equal(jwks.requests >= 2, true);
  });

  test('a body trickled past the deadline fails the fetch; the old keys keep serving', async () => {
    jwks.mode = 'trickle';
    const arrived = jwks.nextRequest();
    // Wait for the hanging fetch of the previous test to end, then trigger one in trickle mode.
    await until('the hanging fetch to end', () => jwks.open.size === 0, 15_000, 100);
    assert.equal(await call(gw, await token('another-unknown', other.privateKey)), 503);
    await within(arrived, 10_000, 'the trickled fetch to arrive');
    // Known tokens are served all along; the fetch's total deadline ends it (the set being stale,
    // a later request may already start the next refresh, so the open count is no signal here).
    await until(
      'the trickled fetch to fail at its deadline',
      async () => {
        assert.equal(await call(gw, await token('k1')), 200);
        const [d] = await dependencies(gw);
        return /no complete response within 4000 ms/.test(d?.last_error ?? '');
      },
      15_000,
      100,
    );
    const [dep] = await dependencies(gw);
    assert.equal(dep?.healthy, false);
    assert.match(dep?.last_error ?? '', /no complete response within 4000 ms/);
    assert.equal(dep?.keys, 1, 'the last good key set is kept');
    assert.equal(await call(gw, await token('k1')), 200);
  });

  for (const mode of ['huge', 'huge-chunked'] as const) {
    test(`an oversized JWKS (${mode === 'huge' ? 'announced' : 'chunked'}) fails cleanly; the old keys keep serving`, async () => {
      jwks.mode = mode;
      // A background refresh still trickling from the previous test would be the fetch this one joins.
      await until('the previous fetch to end', () => jwks.open.size === 0, 15_000, 50);
      const before = jwks.requests;
      // An unknown kid makes the gateway refetch (cooldown 0): the 2 MiB answer is refused, so the
      // set cannot say the kid is no key of the IdP's: 503, not a 401 blaming the token.
      assert.equal(await call(gw, await token(`unknown-${mode}`, other.privateKey)), 503);
      assert.ok(jwks.requests > before, 'the unknown kid made the gateway refetch');
      const [dep] = await dependencies(gw);
      assert.equal(dep?.healthy, false);
      assert.match(dep?.last_error ?? '', /larger than 1048576 bytes/);
      assert.equal(dep?.keys, 1);
      assert.equal(await call(gw, await token('k1')), 200);
      const metrics = await (await fetch(`${gw.adminUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
      const labels = `plugin="jwt",kind="jwks",target="${jwks.url}/.well-known/jwks.json"`;
      assert.match(metrics, new RegExp(`tollgate_dependency_up\\{${escape(labels)}\\} 0`));
      assert.match(metrics, new RegExp(`tollgate_dependency_keys\\{${escape(labels)}\\} 1`));
    });
  }

  test('once the endpoint answers again, a new kid is found and health recovers', async () => {
    jwks.mode = 'ok';
    assert.equal(await call(gw, await token('unknown-again', other.privateKey)), 401);
    const [dep] = await dependencies(gw);
    assert.equal(dep?.healthy, true);
    assert.equal(dep?.last_error, null);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
