// A real Auth0 M2M access token (test/fixtures/auth0-m2m/README.md) gets the outcomes a Kong user
// gets today, and jwt-claims checks its namespaced claim.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { errorBody } from '../support/error-body.ts';
import { serviceConfig } from '../support/gateway.ts';

const dir = fileURLToPath(new URL('../fixtures/auth0-m2m/', import.meta.url));
const TOKEN = readFileSync(`${dir}access-token.jwt`, 'utf8').trim();
const PEM = readFileSync(`${dir}auth0-tenant.pub.pem`, 'utf8');
const TENANT = 'https://voronenko.auth0.com/';

function config(opts: { key?: string; jwt?: Record<string, unknown>; claims?: Record<string, unknown> }) {
  return serviceConfig(
    [
      {
        name: 'api',
        paths: ['/api'],
        plugins: [
          { name: 'jwt', config: opts.jwt ?? {} },
          ...(opts.claims ? [{ name: 'jwt-claims', config: { claims: opts.claims } }] : []),
        ],
      },
    ],
    {
      name: 'api',
      extra: {
        consumers: [
          {
            username: 'auth0-m2m',
            custom_id: 'R477zd0dhD0Hq3CnNIEgE677nwboYD5u',
            jwt_secrets: [{ key: opts.key ?? TENANT, algorithm: 'RS256', rsa_public_key: PEM }],
          },
        ],
      },
    },
  );
}

describe('the real Auth0 M2M token', () => {
  const gateways: TestGateway[] = [];
  after(async () => {
    await Promise.all(gateways.map((g) => g.close()));
  });
  async function call(cfg: ReturnType<typeof config>) {
    const gw = await startGateway({ config: cfg });
    gateways.push(gw);
    return fetch(`${gw.url}/api/things`, { headers: { authorization: `Bearer ${TOKEN}` } });
  }

  test('jwt without claims_to_verify: reaches the upstream as the consumer (Kong behaviour)', async () => {
    const res = await call(config({}));
    assert.equal(res.status, 200);
    const echo = (await res.json()) as { headers: Record<string, string> };
    assert.equal(echo.headers['x-consumer-username'], 'auth0-m2m');
    assert.equal(echo.headers['x-consumer-custom-id'], 'R477zd0dhD0Hq3CnNIEgE677nwboYD5u');
    assert.equal(echo.headers['x-credential-identifier'], TENANT);
    assert.equal(echo.headers.authorization, `Bearer ${TOKEN}`);
  });

  test('claims_to_verify [exp]: 401 {"exp":"token expired"}', async () => {
    const res = await call(config({ jwt: { claims_to_verify: ['exp'] } }));
    assert.equal(res.status, 401);
    // Kong's body, with the request id every error body carries.
    assert.equal(await res.text(), `{"exp":"token expired","request_id":"${res.headers.get('x-request-id')}"}`);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
  });

  test("a credential keyed without the trailing slash: 401 No credentials found for given 'iss'", async () => {
    const res = await call(config({ key: 'https://voronenko.auth0.com' }));
    assert.equal(res.status, 401);
    assert.deepEqual(await errorBody(res), { message: "No credentials found for given 'iss'" });
  });

  test('jwt-claims: https://foo.com/claim equal to bar passes', async () => {
    const res = await call(
      config({ claims: { 'https://foo.com/claim': { equals: 'bar' }, gty: { equals: 'client-credentials' } } }),
    );
    assert.equal(res.status, 200);
  });

  test('jwt-claims: https://foo.com/claim against anything else is refused without revealing the expected value', async () => {
    const res = await call(config({ claims: { 'https://foo.com/claim': { equals: 'baz' } } }));
    assert.equal(res.status, 403);
    const text = await res.text();
    assert.deepEqual(JSON.parse(text), {
      message: "Claim 'https://foo.com/claim' is not accepted",
      request_id: res.headers.get('x-request-id'),
    });
    assert.ok(!text.includes('baz'));
  });

  test('issuer and audience lists accept the token when they name its iss and aud', async () => {
    const ok = await call(
      config({ jwt: { issuers: [TENANT], audiences: ['https://implicitgrant.auth0.voronenko.net'] } }),
    );
    assert.equal(ok.status, 200);
    const wrong = await call(config({ jwt: { audiences: ['https://api.example.com'] } }));
    assert.equal(wrong.status, 401);
    assert.deepEqual(await errorBody(wrong), { aud: 'audience not allowed' });
  });
});
