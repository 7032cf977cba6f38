// The jwt plugin while its JWKS endpoint is down: a real key-set server that is not there yet, then
// stops, then comes back with a rotated key. A token whose key cannot be known is answered 503 (the
// IdP is out, the token may be good), also with `anonymous`; a kid the answering endpoint lacks
// stays a 401.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { createServer, type RequestListener, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { exportJWK, type JWK, SignJWT } from 'jose';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { refusedPort } from '../../../test/support/refused-port.ts';
import { until } from '../../../test/support/wait.ts';
import type { TestGateway } from '../../testing/index.ts';

const ISSUER = 'https://idp.outage.test/';
const k1 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const k2 = generateKeyPairSync('rsa', { modulusLength: 2048 });

/** A fresh token (never in the verified-token cache) signed with `key`, naming `kid`. */
function token(kid: string, key: KeyObject): Promise<string> {
  return new SignJWT({ sub: 'client' })
    .setProtectedHeader({ alg: 'RS256', kid })
    .setIssuer(ISSUER)
    .setJti(randomUUID())
    .setExpirationTime('5m')
    .sign(key);
}

interface Answer {
  status: number;
  message: unknown;
  challenge: string | null;
  anonymous: boolean;
}

async function call(gw: TestGateway, path: string, bearer?: string): Promise<Answer> {
  const res = await fetch(`${gw.url}${path}`, {
    headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` },
    signal: AbortSignal.timeout(15_000),
  });
  const body = (await res.json()) as { message?: unknown; headers?: Record<string, string> };
  return {
    status: res.status,
    message: res.status === 200 ? null : body.message,
    challenge: res.headers.get('www-authenticate'),
    anonymous: body.headers?.['x-anonymous-consumer'] === 'true',
  };
}

const UNAVAILABLE = { status: 503, message: 'Service unavailable', challenge: null, anonymous: false };

describe('jwt while the JWKS endpoint is down', () => {
  let port: number;
  let server: Server | null = null;
  let gw: TestGateway;
  let keys: JWK[];

  /** Serves the key set (or runs `handler`) on the credential's port. */
  async function serve(handler?: RequestListener): Promise<void> {
    server = createServer(
      handler ??
        ((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }))),
    );
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(port, '127.0.0.1', resolve);
    });
  }

  async function stop(): Promise<void> {
    const s = server;
    server = null;
    if (s === null) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  async function healthy(): Promise<boolean> {
    const res = await fetch(`${gw.adminUrl}/status`, { signal: AbortSignal.timeout(5000) });
    const { dependencies } = (await res.json()) as { dependencies: { healthy: boolean }[] };
    return dependencies[0]?.healthy === true;
  }

  before(async () => {
    keys = [{ ...(await exportJWK(k1.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }];
    // Below the ephemeral range: no port-0 listener of this or a parallel test can take it while
    // the key server is down.
    port = await refusedPort();
    const jwt = {
      claims_to_verify: ['exp'],
      jwks_cache_ttl_seconds: 1,
      jwks_refetch_cooldown_seconds: 0,
      jwks_timeout_ms: 10_000,
    };
    gw = await startServiceGateway(
      [
        { name: 'api', paths: ['/api'], plugins: [{ name: 'jwt', config: jwt }] },
        { name: 'open', paths: ['/open'], plugins: [{ name: 'jwt', config: { ...jwt, anonymous: 'guest' } }] },
      ],
      {
        extra: {
          consumers: [
            {
              username: 'idp-client',
              jwt_secrets: [{ key: ISSUER, algorithm: 'RS256', jwks_uri: `http://127.0.0.1:${port}/jwks` }],
            },
            { username: 'guest' },
          ],
        },
      },
    );
  });

  after(async () => {
    await gw?.close();
    await stop();
  });

  test('no key set fetched yet (connection refused): 503 without a challenge, also with anonymous', async () => {
    assert.deepEqual(await call(gw, '/api', await token('k1', k1.privateKey)), UNAVAILABLE);
    assert.deepEqual(await call(gw, '/open', await token('k1', k1.privateKey)), UNAVAILABLE);
    // A request without a token is the client's failure: anonymous still applies.
    assert.equal((await call(gw, '/open')).anonymous, true);
    const lines = gw.logs.filter((l) => l.msg === 'no keys to verify a token: the JWKS could not be fetched');
    assert.ok(lines.length > 0, 'the outage is logged');
  });

  test('once the endpoint answers, tokens verify; a kid its set lacks is the token’s fault: 401', async () => {
    await serve();
    await until(
      'the key set to be fetched',
      async () => (await call(gw, '/api', await token('k1', k1.privateKey))).status === 200,
      20_000,
      200,
    );
    const stranger = await call(gw, '/api', await token('k2', k2.privateKey));
    assert.deepEqual(stranger, {
      status: 401,
      message: 'Invalid signature',
      challenge: 'Bearer error="invalid_token"',
      anonymous: false,
    });
    assert.equal((await call(gw, '/open', await token('k2', k2.privateKey))).anonymous, true);
  });

  test('the endpoint stops and the IdP rotates in a key: its tokens get 503, known keys keep serving', async () => {
    await stop();
    // The set is older than its 1 s TTL soon: a request starts a background refresh, which fails.
    await until(
      'a refresh to fail',
      async () => {
        assert.equal((await call(gw, '/api', await token('k1', k1.privateKey))).status, 200);
        return !(await healthy());
      },
      20_000,
      200,
    );
    assert.deepEqual(await call(gw, '/api', await token('k2', k2.privateKey)), UNAVAILABLE);
    assert.deepEqual(await call(gw, '/open', await token('k2', k2.privateKey)), UNAVAILABLE);
    assert.equal((await call(gw, '/api', await token('k1', k1.privateKey))).status, 200);
  });

  test('the endpoint comes back with the rotated key: its tokens verify', async () => {
    keys = [...keys, { ...(await exportJWK(k2.publicKey)), kid: 'k2', alg: 'RS256', use: 'sig' }];
    await serve();
    await until(
      'the rotated key to be fetched',
      async () => (await call(gw, '/api', await token('k2', k2.privateKey))).status === 200,
      20_000,
      200,
    );
  });

  test('an endpoint that does not answer: a kid the last set lacks gets 503 after its wait', async () => {
    await stop();
    await serve(() => undefined);
    assert.deepEqual(await call(gw, '/api', await token('k3', k1.privateKey)), UNAVAILABLE);
    assert.equal((await call(gw, '/api', await token('k2', k2.privateKey))).status, 200);
  });
});
