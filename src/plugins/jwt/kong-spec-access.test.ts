// Kong's jwt access spec (spec/03-plugins/16-jwt/03-access_spec.lua, Kong commit 22246ef2): the
// cases jwt.test.ts (which ports the rest on the plugin alone) leaves to a real gateway: gRPC calls
// ("rejects gRPC call without credentials", "accepts gRPC call with credentials"), what the
// upstream receives once a token verifies ("proxies the request with token and consumer
// headers", "... if secret key is stored in a field other than iss"), what it receives with
// `anonymous` ("config.anonymous" by id and by username), and an RS256 credential on a route
// whose secret_is_base64 is set ("proxies the request if conf.secret is base64": the flag is about
// HS* secrets only); and its second part, jwt with key-auth on one route, without anonymous (both
// required) and with it (either enough). A real grpc-js server
// behind a `grpc` service, a Kong-style mock upstream behind `http` ones, one gateway listening h2c.
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { sayHello as call, type HelloGateway, startHelloGateway } from '../../../test/support/hello-grpc.ts';
import { type KongMock, startKongMock } from '../../../test/support/kong-mock.ts';

const SECRET = 'tollgate-jwt-secret';
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RSA_PEM = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const ANON_ID = '8a1f3c2e-5b7d-4e9a-9c61-0d2f4b6a8e13';
const ANONYMOUS = '3f0c9a51-7e2b-4d8c-a6f1-5b9e2d7c4a08';
const MICKEY = 'c4e8b2a7-1d3f-4a6b-9e05-7f2c8d1b3e96';
const MOUSE = 'e7a3d9c1-6b4f-4e2a-8d17-2c5f9b0a6e34';
const ALADDIN = '9b2d6f48-3a1e-4c7b-b5d9-8e0f1a2c4d67';
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

function hs256(claims: unknown): string {
  const input = `${b64({ typ: 'JWT', alg: 'HS256' })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

function rs256(claims: unknown): string {
  const input = `${b64({ typ: 'JWT', alg: 'RS256' })}.${b64(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), rsa.privateKey).toString('base64url')}`;
}

let hello: HelloGateway;
let mock: KongMock;

before(async () => {
  mock = await startKongMock();
  hello = await startHelloGateway(
    (port) => `_format_version: "3.0"
consumers:
  - username: jwt_tests_consumer
    jwt_secrets: [{ key: hs-key, secret: ${SECRET} }]
  - id: ${ANON_ID}
    username: no-body
  - id: ${ANONYMOUS}
    username: Anonymous
  - id: ${MICKEY}
    username: Mickey
    keyauth_credentials: [{ id: ${MOUSE}, key: Mouse }]
  - id: ${ALADDIN}
    username: Aladdin
    jwt_secrets: [{ key: aladdin-key, secret: ${SECRET} }]
  - username: jwt_tests_rsa_consumer_2
    jwt_secrets: [{ key: rs-key, algorithm: RS256, rsa_public_key: ${JSON.stringify(RSA_PEM)} }]
services:
  - name: grpc
    url: grpc://127.0.0.1:${port}
    routes:
      - name: grpc
        protocols: [grpc]
        paths: [/hello.HelloService/]
        plugins: [{ name: jwt }]
  - name: mock
    url: ${mock.url}
    routes:
      - name: jwt1
        hosts: [jwt1.test]
        plugins: [{ name: jwt }]
      - name: jwt4
        hosts: [jwt4.test]
        plugins: [{ name: jwt, config: { key_claim_name: aud } }]
      - name: jwt6
        hosts: [jwt6.test]
        plugins: [{ name: jwt, config: { anonymous: ${ANON_ID} } }]
      - name: jwt13
        hosts: [jwt13.test]
        plugins: [{ name: jwt, config: { anonymous: no-body } }]
      - name: logical-and
        hosts: [logical-and.test]
        plugins: [{ name: jwt }, { name: key-auth }]
      - name: logical-or
        hosts: [logical-or.test]
        plugins:
          - { name: jwt, config: { anonymous: ${ANONYMOUS} } }
          - { name: key-auth, config: { anonymous: ${ANONYMOUS} } }
      - name: jwt5
        hosts: [jwt5.test]
        plugins: [{ name: jwt, config: { secret_is_base64: true } }]
`,
  );
});

after(async () => {
  await hello?.close();
  await mock?.close();
});

/** GET /request on the gateway's listener over HTTP/1.1: status and the JSON the mock echoed. */
function get(
  host: string,
  authorization?: string,
  apikey?: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: Record<string, unknown> }> {
  const [h, p] = hello.gw.proxyAddresses[0]!.split(':');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: h,
        port: Number(p),
        path: '/request',
        headers: { host, ...(authorization ? { authorization } : {}), ...(apikey ? { apikey } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('rejects gRPC call without credentials: UNAUTHENTICATED, the upstream not called', async () => {
  hello.server.lastMetadata = null;
  const r = await call(hello.client, 'noname');
  assert.equal(r.err?.code, grpc.status.UNAUTHENTICATED);
  assert.equal(hello.server.lastMetadata, null);
});

test('accepts gRPC call with credentials', async () => {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${hs256({ iss: 'hs-key' })}`);
  const r = await call(hello.client, 'noname', metadata);
  assert.equal(r.err, null, r.err?.details);
  assert.equal(r.reply, 'hello noname');
});

test('HS256: proxies the request with token and consumer headers if it was verified', async () => {
  const authorization = `Bearer ${hs256({ iss: 'hs-key' })}`;
  const r = await get('jwt1.test', authorization);
  assert.equal(r.status, 200);
  const headers = r.body.headers as Record<string, string>;
  assert.equal(headers.authorization, authorization);
  assert.equal(headers['x-consumer-username'], 'jwt_tests_consumer');
  assert.equal(headers['x-credential-identifier'], 'hs-key');
  assert.equal(headers['x-anonymous-consumer'], undefined);
});

test('RS256: proxies the request if conf.secret is base64', async () => {
  const authorization = `Bearer ${rs256({ iss: 'rs-key' })}`;
  const r = await get('jwt5.test', authorization);
  assert.equal(r.status, 200);
  const headers = r.body.headers as Record<string, string>;
  assert.equal(headers.authorization, authorization);
  assert.equal(headers['x-consumer-username'], 'jwt_tests_rsa_consumer_2');
  assert.equal(headers['x-credential-identifier'], 'rs-key');
});

test('HS256: proxies the request if secret key is stored in a field other than iss', async () => {
  const authorization = `Bearer ${hs256({ aud: 'hs-key' })}`;
  const r = await get('jwt4.test', authorization);
  assert.equal(r.status, 200);
  const headers = r.body.headers as Record<string, string>;
  assert.equal(headers.authorization, authorization);
  assert.equal(headers['x-consumer-username'], 'jwt_tests_consumer');
  assert.equal(headers['x-credential-identifier'], 'hs-key');
});

test('config.anonymous: works with right credentials and anonymous', async () => {
  const r = await get('jwt6.test', `Bearer ${hs256({ iss: 'hs-key' })}`);
  assert.equal(r.status, 200);
  const headers = r.body.headers as Record<string, string>;
  assert.equal(headers['x-consumer-username'], 'jwt_tests_consumer');
  assert.equal(headers['x-credential-identifier'], 'hs-key');
  assert.equal(headers['x-anonymous-consumer'], undefined);
});

test('config.anonymous: works with wrong credentials and anonymous, by id or by username', async () => {
  for (const host of ['jwt6.test', 'jwt13.test']) {
    const r = await get(host);
    assert.equal(r.status, 200, host);
    const headers = r.body.headers as Record<string, string>;
    assert.equal(headers['x-anonymous-consumer'], 'true', host);
    assert.equal(headers['x-consumer-username'], 'no-body', host);
    assert.equal(headers['x-credential-identifier'], undefined, host);
  }
});

describe('multiple auth without anonymous, logical AND', () => {
  const jwt = () => `Bearer ${hs256({ iss: 'aladdin-key' })}`;

  test('passes with all credentials provided: key-auth, which runs last, names the credential', async () => {
    const r = await get('logical-and.test', jwt(), 'Mouse');
    assert.equal(r.status, 200);
    const headers = r.body.headers as Record<string, string>;
    assert.equal(headers['x-anonymous-consumer'], undefined);
    assert.ok([MICKEY, ALADDIN].includes(headers['x-consumer-id']!), headers['x-consumer-id']);
    assert.equal(headers['x-credential-identifier'], MOUSE);
  });

  test('fails 401, with only the first credential provided', async () => {
    const r = await get('logical-and.test', undefined, 'Mouse');
    assert.deepEqual([r.status, r.headers['www-authenticate']], [401, 'Bearer']);
  });

  test('fails 401, with only the second credential provided', async () => {
    const r = await get('logical-and.test', jwt());
    assert.deepEqual([r.status, r.headers['www-authenticate']], [401, 'Key']);
  });

  test('fails 401, with no credential provided', async () => {
    const r = await get('logical-and.test');
    assert.deepEqual([r.status, r.headers['www-authenticate']], [401, 'Bearer']);
  });
});

describe('multiple auth with anonymous, logical OR', () => {
  const jwt = () => `Bearer ${hs256({ iss: 'aladdin-key' })}`;
  const seen = (r: { body: Record<string, unknown> }) => r.body.headers as Record<string, string>;

  test('passes with all credentials provided: jwt, which runs first, names the credential', async () => {
    const r = await get('logical-or.test', jwt(), 'Mouse');
    assert.equal(r.status, 200);
    assert.equal(seen(r)['x-anonymous-consumer'], undefined);
    assert.ok([MICKEY, ALADDIN].includes(seen(r)['x-consumer-id']!), seen(r)['x-consumer-id']);
    assert.equal(seen(r)['x-credential-identifier'], 'aladdin-key');
  });

  test('passes with only the first credential provided', async () => {
    const r = await get('logical-or.test', undefined, 'Mouse');
    assert.equal(r.status, 200);
    assert.equal(seen(r)['x-anonymous-consumer'], undefined);
    assert.equal(seen(r)['x-consumer-id'], MICKEY);
    assert.notEqual(seen(r)['x-credential-identifier'], 'aladdin-key');
  });

  test('passes with only the second credential provided', async () => {
    const r = await get('logical-or.test', jwt());
    assert.equal(r.status, 200);
    assert.equal(seen(r)['x-anonymous-consumer'], undefined);
    assert.equal(seen(r)['x-consumer-id'], ALADDIN);
    assert.equal(seen(r)['x-credential-identifier'], 'aladdin-key');
  });

  test('passes with no credential provided', async () => {
    const r = await get('logical-or.test');
    assert.equal(r.status, 200);
    assert.equal(seen(r)['x-anonymous-consumer'], 'true');
    assert.equal(seen(r)['x-consumer-id'], ANONYMOUS);
    assert.notEqual(seen(r)['x-credential-identifier'], 'aladdin-key');
  });
});
