// Kong's jwt access spec (spec/03-plugins/16-jwt/03-access_spec.lua), case by case, on the plugin
// through the public test kit; test/identity/ runs the same flows through a gateway against a real IdP.

import assert from 'node:assert/strict';
import { createHmac, sign as cryptoSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { ConfigError } from '../../index.ts';
import { type PluginRunner, type SyntheticRequest, startPlugin } from '../../testing/index.ts';
import jwtPlugin, { bearerToken } from './index.ts';

const SECRET = 'tollgate-test-secret-that-is-long-enough';
const now = () => Math.floor(Date.now() / 1000);

function keyPair(type: 'rsa' | 'ec' | 'ed25519', curve?: string) {
  const kp =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : type === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: curve! })
        : generateKeyPairSync('ed25519');
  return { privateKey: kp.privateKey, pem: kp.publicKey.export({ type: 'spki', format: 'pem' }) as string };
}

const rsa = keyPair('rsa');
const rsa2 = keyPair('rsa');
const ec256 = keyPair('ec', 'prime256v1');
const ec384 = keyPair('ec', 'secp384r1');
const ec521 = keyPair('ec', 'secp521r1');
const ed = keyPair('ed25519');
const ed448 = generateKeyPairSync('ed448');

const ANON_ID = '0b7e4f52-9c1d-4e3a-8f60-2d5c7a9e1b34';

const CONSUMERS: Record<string, unknown>[] = [
  { username: 'jwt_tests_consumer', jwt_secrets: [{ key: 'hs-key', algorithm: 'HS256', secret: SECRET }] },
  {
    username: 'hs512_consumer',
    jwt_secrets: [{ key: 'hs512-key', algorithm: 'HS512', secret: SECRET }],
  },
  {
    username: 'jwt_tests_base64_consumer',
    jwt_secrets: [{ key: 'b64-key', algorithm: 'HS256', secret: Buffer.from(SECRET).toString('base64') }],
  },
  {
    username: 'rsa_consumer',
    custom_id: 'rsa-custom',
    jwt_secrets: [{ key: 'rs-key', algorithm: 'RS256', rsa_public_key: rsa.pem }],
  },
  {
    username: 'rs512_consumer',
    jwt_secrets: [{ key: 'rs512-key', algorithm: 'RS512', rsa_public_key: rsa2.pem }],
  },
  {
    username: 'ps_consumer',
    jwt_secrets: [{ key: 'ps-key', algorithm: 'PS256', rsa_public_key: rsa.pem }],
  },
  {
    username: 'es256_consumer',
    jwt_secrets: [{ key: 'es256-key', algorithm: 'ES256', rsa_public_key: ec256.pem }],
  },
  {
    username: 'es384_consumer',
    jwt_secrets: [{ key: 'es384-key', algorithm: 'ES384', rsa_public_key: ec384.pem }],
  },
  {
    username: 'es512_consumer',
    jwt_secrets: [{ key: 'es512-key', algorithm: 'ES512', rsa_public_key: ec521.pem }],
  },
  { username: 'ed_consumer', jwt_secrets: [{ key: 'ed-key', algorithm: 'EdDSA', rsa_public_key: ed.pem }] },
  {
    username: 'ed448_consumer',
    jwt_secrets: [
      {
        key: 'ed448-key',
        algorithm: 'EdDSA',
        rsa_public_key: ed448.publicKey.export({ type: 'spki', format: 'pem' }) as string,
      },
    ],
  },
  { username: 'numeric_consumer', jwt_secrets: [{ key: '123', algorithm: 'HS256', secret: SECRET }] },
  { id: ANON_ID, username: 'no-body' },
];

async function sign(
  claims: Record<string, unknown>,
  alg = 'HS256',
  key: KeyObject | Uint8Array = Buffer.from(SECRET),
  header: Record<string, unknown> = {},
) {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT', ...header }).sign(key);
}

/** Instances started by a test, closed after the file's tests. */
/** An answer's headers less the body's content-type and content-length, which every exit carries. */
function ownHeaders(r: { responseHeaders: Record<string, unknown> }): Record<string, unknown> {
  const { 'content-type': _type, 'content-length': _length, ...rest } = r.responseHeaders;
  return rest;
}

const started: PluginRunner[] = [];
after(() => Promise.all(started.map((r) => r.close())));

async function plugin(config: Record<string, unknown> = {}, consumers = CONSUMERS) {
  const runner = await startPlugin(jwtPlugin, config, { consumers });
  started.push(runner);
  return runner;
}

function run(runner: PluginRunner, request: SyntheticRequest = {}) {
  return runner.run(request);
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('jwt (Kong 3 behaviour)', () => {
  let h: PluginRunner;
  before(async () => {
    h = await plugin();
  });

  test('no JWT in the request: 401 Unauthorized with WWW-Authenticate: Bearer', async () => {
    const r = await run(h, {});
    assert.equal(r.status, 401);
    assert.deepEqual(r.body, { message: 'Unauthorized' });
    assert.deepEqual(ownHeaders(r), { 'www-authenticate': 'Bearer' });
  });

  test("claims without the key claim: 401 No mandatory 'iss' in claims", async () => {
    const r = await run(h, { headers: bearer(await sign({ sub: 'x' })) });
    assert.equal(r.status, 401);
    assert.deepEqual(r.body, { message: "No mandatory 'iss' in claims" });
    assert.deepEqual(ownHeaders(r), { 'www-authenticate': 'Bearer error="invalid_token"' });
  });

  test("empty key claim: 401 Invalid 'iss' in claims", async () => {
    const r = await run(h, { headers: bearer(await sign({ iss: '' })) });
    assert.deepEqual([r.status, r.body], [401, { message: "Invalid 'iss' in claims" }]);
  });

  test("unknown iss: 401 No credentials found for given 'iss'", async () => {
    const r = await run(h, { headers: bearer(await sign({ iss: 'nobody' })) });
    assert.deepEqual([r.status, r.body], [401, { message: "No credentials found for given 'iss'" }]);
    // An iss that is a list holding the key names no credential (String() would join it into one).
    const listed = await run(h, { headers: bearer(await sign({ iss: ['hs-key'] })) });
    assert.deepEqual([listed.status, listed.body], [401, { message: "No credentials found for given 'iss'" }]);
  });

  test('wrong signature: 401 Invalid signature', async () => {
    const t = await sign({ iss: 'hs-key' }, 'HS256', Buffer.from('another-secret-another-secret-00'));
    const r = await run(h, { headers: bearer(t) });
    assert.deepEqual([r.status, r.body], [401, { message: 'Invalid signature' }]);
    assert.deepEqual(ownHeaders(r), { 'www-authenticate': 'Bearer error="invalid_token"' });
  });

  test('tampered payload: 401 Invalid signature, even once the genuine token is cached', async () => {
    const t = await sign({ iss: 'hs-key', role: 'user' });
    assert.equal((await run(h, { headers: bearer(t) })).status, 200, 'the genuine token passes (and is cached)');
    const [hd, , sig] = t.split('.');
    const forged = `${hd}.${Buffer.from(JSON.stringify({ iss: 'hs-key', role: 'admin' })).toString('base64url')}.${sig}`;
    const r = await run(h, { headers: bearer(forged) });
    assert.deepEqual([r.status, r.body], [401, { message: 'Invalid signature' }]);
  });

  test('alg different from the credential: 401 Invalid algorithm', async () => {
    const t = await sign({ iss: 'hs-key' }, 'HS512', Buffer.from(SECRET));
    const r = await run(h, { headers: bearer(t) });
    assert.deepEqual([r.status, r.body], [401, { message: 'Invalid algorithm' }]);
  });

  test('HS256 token signed with the RSA public key of an RS256 credential: 401 Invalid algorithm', async () => {
    const t = await sign({ iss: 'rs-key' }, 'HS256', Buffer.from(rsa.pem));
    const r = await run(h, { headers: bearer(t) });
    assert.deepEqual([r.status, r.body], [401, { message: 'Invalid algorithm' }]);
    assert.equal(r.consumer, null);
  });

  test('alg none: 401 Bad token; invalid alg', async () => {
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const r = await run(h, { headers: bearer(`${enc({ alg: 'none' })}.${enc({ iss: 'hs-key' })}.`) });
    assert.deepEqual([r.status, r.body], [401, { message: 'Bad token; invalid alg' }]);
  });

  test('garbage token: 401 Bad token; invalid JSON', async () => {
    const r = await run(h, { headers: bearer('a.b') });
    assert.deepEqual([r.status, r.body], [401, { message: 'Bad token; invalid JSON' }]);
    const r2 = await run(h, { headers: bearer('xx.yy.zz') });
    assert.deepEqual([r2.status, r2.body], [401, { message: 'Bad token; invalid JSON' }]);
  });

  test('a part whose length leaves one base64url character over: Bad token, as nginx decodes it', async () => {
    // 4n+1 characters are no base64 (nginx's decoder fails on them; Node's drops the last one).
    // A payload of 4n characters (its JSON a multiple of 3 bytes), so one more is 4n+1.
    const [hd, payload, sig] = (await sign({ iss: 'hs-key', p: 'x' })).split('.');
    assert.deepEqual([hd!.length % 4, payload!.length % 4, sig!.length], [0, 0, 43]);
    for (const token of [`${hd}A.${payload}.${sig}`, `${hd}.${payload}A.${sig}`]) {
      const r = await run(h, { headers: bearer(token) });
      assert.deepEqual([r.status, r.body], [401, { message: 'Bad token; invalid JSON' }]);
    }
    const r = await run(h, { headers: bearer(`${hd}.${payload}.${sig!.slice(0, 41)}`) });
    assert.deepEqual([r.status, r.body], [401, { message: 'Bad token; invalid signature' }]);
  });

  test("claims nested deeper than cjson's 1000 levels: 401 Bad token; invalid JSON, even when signed", async () => {
    // A holder of a secret signs it by hand (jose's SignJWT cannot copy so deep an object).
    const hmacToken = (payload: string) => {
      const input = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from(payload).toString('base64url')}`;
      return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
    };
    const nested = (levels: number) => `{"iss":"hs-key","deep":${'['.repeat(levels)}${']'.repeat(levels)}}`;
    assert.equal((await run(h, { headers: bearer(hmacToken(nested(999))) })).status, 200, '1000 levels in all');
    for (const levels of [1000, 20_000]) {
      const r = await run(h, { headers: bearer(hmacToken(nested(levels))) });
      assert.deepEqual([r.status, r.body], [401, { message: 'Bad token; invalid JSON' }], `${levels + 1} levels`);
    }
  });

  test('a verified token identifies the consumer; the credential identifier is the jwt key', async () => {
    const t = await sign({ iss: 'hs-key', sub: 'a' });
    const r = await run(h, { headers: bearer(t) });
    assert.equal(r.status, 200);
    assert.equal(r.consumer?.username, 'jwt_tests_consumer');
    assert.equal(r.credential?.identifier, 'hs-key');
    assert.deepEqual(r.claims, { iss: 'hs-key', sub: 'a' });
    assert.equal(r.ctx.authenticated_jwt_token, t);
  });

  for (const [key, alg, priv] of [
    ['hs512-key', 'HS512', Buffer.from(SECRET)],
    ['rs-key', 'RS256', rsa.privateKey],
    ['rs512-key', 'RS512', rsa2.privateKey],
    ['ps-key', 'PS256', rsa.privateKey],
    ['es256-key', 'ES256', ec256.privateKey],
    ['es384-key', 'ES384', ec384.privateKey],
    ['es512-key', 'ES512', ec521.privateKey],
    ['ed-key', 'EdDSA', ed.privateKey],
  ] as const) {
    test(`verifies ${alg} tokens against the credential's key`, async () => {
      const ok = await run(h, { headers: bearer(await sign({ iss: key }, alg, priv)) });
      assert.equal(ok.status, 200);
      assert.equal(ok.credential?.identifier, key);
    });
  }

  test('verifies EdDSA tokens signed with an Ed448 key (RFC 8037), as Kong does', async () => {
    // jose cannot sign with Ed448: the token is signed with node:crypto.
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${enc({ alg: 'EdDSA', typ: 'JWT' })}.${enc({ iss: 'ed448-key' })}`;
    const token = `${input}.${cryptoSign(null, Buffer.from(input), ed448.privateKey).toString('base64url')}`;
    const ok = await run(h, { headers: bearer(token) });
    assert.deepEqual([ok.status, ok.credential?.identifier], [200, 'ed448-key']);
    const forged = `${input}.${cryptoSign(null, Buffer.from(input), generateKeyPairSync('ed448').privateKey).toString('base64url')}`;
    const bad = await run(h, { headers: bearer(forged) });
    assert.deepEqual([bad.status, bad.body], [401, { message: 'Invalid signature' }]);
  });

  test('secret_is_base64: the credential secret is decoded before verifying', async () => {
    const hb = await plugin({ secret_is_base64: true });
    const r = await run(hb, { headers: bearer(await sign({ iss: 'b64-key' })) });
    assert.equal(r.consumer?.username, 'jwt_tests_base64_consumer');
  });

  test('key_claim_name kid: the key is found in the JOSE header', async () => {
    const hk = await plugin({ key_claim_name: 'kid' });
    const r = await run(hk, {
      headers: bearer(await sign({ sub: 'x' }, 'HS256', Buffer.from(SECRET), { kid: 'hs-key' })),
    });
    assert.equal(r.consumer?.username, 'jwt_tests_consumer');
  });

  test('run_on_preflight false lets OPTIONS through; true authenticates it', async () => {
    const off = await plugin({ run_on_preflight: false });
    assert.equal((await run(off, { method: 'OPTIONS' })).status, 200);
    assert.equal((await run(off, { method: 'GET' })).status, 401, 'only OPTIONS skips authentication');
    const r = await run(h, { method: 'OPTIONS' });
    assert.deepEqual([r.status, r.body], [401, { message: 'Unauthorized' }]);
  });

  test('maximum_expiration: a token living longer is refused, a shorter one passes', async () => {
    const hm = await plugin({ claims_to_verify: ['exp'], maximum_expiration: 300 });
    const long = await run(hm, { headers: bearer(await sign({ iss: 'hs-key', exp: now() + 600 })) });
    assert.deepEqual([long.status, long.body], [401, { exp: 'exceeds maximum allowed expiration' }]);
    const short = await run(hm, { headers: bearer(await sign({ iss: 'hs-key', exp: now() + 100 })) });
    assert.equal(short.status, 200);
  });

  test("a parameter without '=' (?jwt) is Kong's boolean: alone Unrecognizable token, with a token Multiple", async () => {
    const t = await sign({ iss: 'hs-key' });
    const alone = await run(h, { query: 'a=1&jwt' });
    assert.deepEqual([alone.status, alone.body], [401, { message: 'Unrecognizable token' }]);
    assert.deepEqual(ownHeaders(alone), { 'www-authenticate': 'Bearer error="invalid_token"' });
    const both = await run(h, { query: `jwt&jwt=${t}` });
    assert.deepEqual([both.status, both.body], [401, { message: 'Multiple tokens provided' }]);
    const withHeader = await run(h, { query: 'jwt', headers: bearer(t) });
    assert.deepEqual([withHeader.status, withHeader.body], [401, { message: 'Multiple tokens provided' }]);
    const empty = await run(h, { query: 'jwt=' });
    assert.deepEqual([empty.status, empty.body], [401, { message: 'Unauthorized' }], 'an empty value is no token');
    assert.equal((await run(h, { query: `jwt=&jwt=${t}` })).status, 200);
  });

  // The CPU these two cost (linear, not quadratic, in the query) is measured by `npm run bench:linear-time`.
  test('thousands of distinct tokens in the query: 401 Multiple tokens provided', async () => {
    const query = Array.from({ length: 40_000 }, (_, i) => `jwt=t${i}`).join('&');
    const r = await run(h, { query });
    assert.deepEqual([r.status, r.body], [401, { message: 'Multiple tokens provided' }]);
  });

  test('thousands of empty ?jwt= values: 401 Unauthorized, and Unrecognizable token with a valueless jwt after them', async () => {
    // 6,000 fit in the 32 KiB request head; the query was scanned again for each of them.
    const r = await run(h, { query: 'jwt=&'.repeat(6000) });
    assert.deepEqual([r.status, r.body], [401, { message: 'Unauthorized' }]);
    const valueless = await run(h, { query: `${'jwt=&'.repeat(6000)}jwt` });
    assert.deepEqual([valueless.status, valueless.body], [401, { message: 'Unrecognizable token' }]);
  });

  test("a name repeated in a list field loads, as Kong's sets drop duplicates", async () => {
    const twice = await plugin({
      uri_param_names: ['jwt', 'jwt'],
      cookie_names: ['tok', 'tok'],
      header_names: ['authorization', 'authorization'],
      claims_to_verify: ['exp', 'exp'],
    });
    const t = await sign({ iss: 'hs-key', exp: now() + 60 });
    const ok = await run(twice, { query: `jwt=${t}`, headers: { ...bearer(t), cookie: `tok=${t}` } });
    assert.equal(ok.status, 200);
    const expired = await run(twice, { headers: bearer(await sign({ iss: 'hs-key', exp: now() - 60 })) });
    assert.deepEqual([expired.status, expired.body], [401, { exp: 'token expired' }]);
  });

  test('maximum_expiration without exp in claims_to_verify is a config error', async () => {
    await assert.rejects(plugin({ maximum_expiration: 300 }), /config\.claims_to_verify: expected to contain: exp/);
  });

  test('different tokens in the query and the Authorization header: 401 Multiple tokens provided', async () => {
    const a = await sign({ iss: 'hs-key', n: 1 });
    const b = await sign({ iss: 'hs-key', n: 2 });
    const r = await run(h, { query: `jwt=${a}`, headers: bearer(b) });
    assert.deepEqual([r.status, r.body], [401, { message: 'Multiple tokens provided' }]);
    assert.deepEqual(ownHeaders(r), { 'www-authenticate': 'Bearer error="invalid_token"' });
    const same = await run(h, { query: `jwt=${a}`, headers: bearer(a) });
    assert.equal(same.status, 200);
  });

  test('tokens in URL parameters, custom parameters, cookies and custom headers', async () => {
    const t = await sign({ iss: 'hs-key' });
    assert.equal((await run(h, { query: `jwt=${t}` })).status, 200);
    const custom = await plugin({
      uri_param_names: ['token'],
      cookie_names: ['crumble', 'silly'],
      header_names: ['CustomAuthorization'],
      realm: 'test-jwt',
    });
    assert.equal((await run(custom, { query: `token=${t}` })).status, 200);
    assert.equal((await run(custom, { headers: { cookie: `crumble=${t}; path=/;domain=.example.com` } })).status, 200);
    assert.equal((await run(custom, { headers: { cookie: `silly=${t}` } })).status, 200);
    assert.equal((await run(custom, { headers: { customauthorization: `Bearer ${t}` } })).status, 200);
    const dup = await run(custom, { headers: { customauthorization: [`Bearer ${t}`, 'Bearer other'] } });
    assert.equal(dup.status, 200, 'the first occurrence of a repeated header is used');
    const corrupt = await run(custom, { headers: { cookie: `silly=${t}xx.yy` } });
    assert.equal(corrupt.status, 401);
    const none = await run(custom, { headers: bearer(t) });
    assert.deepEqual(ownHeaders(none), { 'www-authenticate': 'Bearer realm="test-jwt"' });
    const unknown = await run(custom, { headers: { cookie: `crumble=${await sign({ iss: 'x' })}` } });
    assert.deepEqual(unknown.body, { message: "No credentials found for given 'iss'" });
    assert.deepEqual(ownHeaders(unknown), { 'www-authenticate': 'Bearer realm="test-jwt", error="invalid_token"' });
    const bad = await run(custom, { headers: { cookie: 'crumble=not.a.jwt' } });
    assert.deepEqual(bad.body, { message: 'Bad token; invalid JSON' });
  });

  test('claims_to_verify requires the claims to be numbers', async () => {
    const hv = await plugin({ claims_to_verify: ['exp', 'nbf'] });
    const r = await run(hv, { headers: bearer(await sign({ iss: 'hs-key' })) });
    assert.deepEqual([r.status, r.body], [401, { nbf: 'must be a number', exp: 'must be a number' }]);
  });

  test('claims_to_verify: an expired token gets {"exp":"token expired"}, an early one {"nbf":"token not valid yet"}', async () => {
    const hv = await plugin({ claims_to_verify: ['exp', 'nbf'] });
    const expired = await run(hv, {
      headers: bearer(await sign({ iss: 'hs-key', exp: now() - 10, nbf: now() - 100 })),
    });
    assert.deepEqual([expired.status, expired.body], [401, { exp: 'token expired' }]);
    assert.deepEqual(ownHeaders(expired), { 'www-authenticate': 'Bearer error="invalid_token"' });
    const early = await run(hv, { headers: bearer(await sign({ iss: 'hs-key', exp: now() + 100, nbf: now() + 60 })) });
    assert.deepEqual([early.status, early.body], [401, { nbf: 'token not valid yet' }]);
  });

  test('without claims_to_verify an expired token passes (Kong default), and a warning says so at load', async () => {
    const hp = await plugin({});
    const r = await run(hp, { headers: bearer(await sign({ iss: 'hs-key', exp: now() - 10 })) });
    assert.equal(r.status, 200);
    for (const nbf of [now() + 600, 'later']) {
      const early = await run(hp, { headers: bearer(await sign({ iss: 'hs-key', nbf })) });
      assert.equal(early.status, 200, `nbf ${nbf} is not checked either`);
    }
    assert.ok(hp.logs.some((l) => l.level === 'warn' && String(l.msg).includes("'exp'")));
  });

  test('leeway_seconds tolerates clock skew on exp and nbf', async () => {
    const hl = await plugin({ claims_to_verify: ['exp', 'nbf'], leeway_seconds: 60 });
    const r = await run(hl, { headers: bearer(await sign({ iss: 'hs-key', exp: now() - 30, nbf: now() + 30 })) });
    assert.equal(r.status, 200);
  });

  test('issuers and audiences are checked after the signature', async () => {
    const ha = await plugin({ issuers: ['hs-key'], audiences: ['api-1', 'api-2'] });
    const ok = await run(ha, { headers: bearer(await sign({ iss: 'hs-key', aud: ['other', 'api-2'] })) });
    assert.equal(ok.status, 200);
    const wrongAud = await run(ha, { headers: bearer(await sign({ iss: 'hs-key', aud: 'other' })) });
    assert.deepEqual([wrongAud.status, wrongAud.body], [401, { aud: 'audience not allowed' }]);
    const noAud = await run(ha, { headers: bearer(await sign({ iss: 'hs-key' })) });
    assert.deepEqual(noAud.body, { aud: 'audience not allowed' });
    const hk = await plugin({ key_claim_name: 'kid', issuers: ['https://issuer.test/'] });
    const wrongIss = await run(hk, {
      headers: bearer(await sign({ iss: 'https://evil.test/' }, 'HS256', Buffer.from(SECRET), { kid: 'hs-key' })),
    });
    assert.deepEqual([wrongIss.status, wrongIss.body], [401, { iss: 'issuer not allowed' }]);
  });

  test('anonymous: right credentials identify the consumer, wrong ones continue as the anonymous consumer', async () => {
    for (const anonymous of [ANON_ID, 'no-body']) {
      const ha = await plugin({ anonymous });
      const good = await run(ha, { headers: bearer(await sign({ iss: 'hs-key' })) });
      assert.equal(good.consumer?.username, 'jwt_tests_consumer');
      const bad = await run(ha, { headers: bearer('bad') });
      assert.equal(bad.status, 200);
      assert.equal(bad.consumer?.username, 'no-body');
      assert.equal(bad.credential, null);
      assert.equal(bad.upstreamHeaders['x-anonymous-consumer'], 'true');
      assert.equal(good.upstreamHeaders['x-anonymous-consumer'], undefined);
      assert.equal(bad.claims, null);
    }
  });

  test('an anonymous consumer that does not exist is a config error', async () => {
    await assert.rejects(
      plugin({ anonymous: 'ghost' }),
      (e: unknown) => e instanceof ConfigError && /^config\.anonymous: /.test(e.message),
    );
  });

  test('a credential whose key does not fit its algorithm is a config error that does not print the key', async () => {
    const bad = [{ username: 'x', jwt_secrets: [{ key: 'bad', algorithm: 'ES256', rsa_public_key: rsa.pem }] }];
    await assert.rejects(
      plugin({}, bad),
      (e: unknown) => e instanceof ConfigError && !e.message.includes('BEGIN') && /ES256/.test(e.message),
    );
  });

  test('a token refused for a claim is refused again when presented again (the verified-token cache checks claims on every hit)', async () => {
    const hv = await plugin({ claims_to_verify: ['exp', 'nbf'], issuers: ['hs-key'], audiences: ['api'] });
    for (const [claims, body] of [
      [{ iss: 'hs-key', aud: 'web', exp: now() + 600, nbf: now() - 100 }, { aud: 'audience not allowed' }],
      [{ iss: 'hs-key', aud: 'api', exp: now() + 600, nbf: now() + 300 }, { nbf: 'token not valid yet' }],
      [{ iss: 'hs-key', aud: 'api', exp: now() - 10, nbf: now() - 100 }, { exp: 'token expired' }],
    ] as const) {
      const t = await sign(claims);
      for (let i = 0; i < 2; i++) {
        const r = await run(hv, { headers: bearer(t) });
        assert.deepEqual([r.status, r.body, r.consumer], [401, body, null], `presentation ${i + 1}`);
      }
    }
    const hk = await plugin({ key_claim_name: 'kid', issuers: ['https://issuer.test/'] });
    const wrongIss = await sign({ iss: 'https://evil.test/' }, 'HS256', Buffer.from(SECRET), { kid: 'hs-key' });
    for (let i = 0; i < 2; i++) {
      const r = await run(hk, { headers: bearer(wrongIss) });
      assert.deepEqual([r.status, r.body], [401, { iss: 'issuer not allowed' }], `presentation ${i + 1}`);
    }
  });

  test('after another authentication plugin: the token is still required, unless anonymous makes them alternatives', async () => {
    const earlier = {
      consumer: 'no-body',
      credential: { id: 'c', type: 'key-auth', identifier: 'c', consumer_id: ANON_ID },
    };
    const both = await run(h, earlier);
    assert.deepEqual([both.status, both.body], [401, { message: 'Unauthorized' }]);
    const either = await run(await plugin({ anonymous: 'no-body' }), earlier);
    assert.equal(either.exited, false);
    assert.equal(either.credential?.type, 'key-auth', "the earlier plugin's identity stands");
  });

  test('a key claim that is null or false is looked up in the JOSE header; a number names the key it prints as', async () => {
    for (const iss of [null, false]) {
      const r = await run(h, { headers: bearer(await sign({ iss }, 'HS256', Buffer.from(SECRET), { iss: 'hs-key' })) });
      assert.equal(r.consumer?.username, 'jwt_tests_consumer', String(iss));
    }
    for (const iss of [null, false]) {
      const r = await run(h, { headers: bearer(await sign({ iss }, 'HS256', Buffer.from(SECRET), { iss })) });
      assert.deepEqual(r.body, { message: "No mandatory 'iss' in claims" }, `${iss} in the claims and the header`);
    }
    const zero = await run(h, {
      headers: bearer(await sign({ iss: 0 }, 'HS256', Buffer.from(SECRET), { iss: 'hs-key' })),
    });
    assert.deepEqual(zero.body, { message: "No credentials found for given 'iss'" }, '0 is a value, not an absence');
    const numeric = await run(h, { headers: bearer(await sign({ iss: 123 })) });
    assert.equal(numeric.consumer?.username, 'numeric_consumer');
  });

  test('cookies: a part without = is no token, spaces around a value are trimmed; an empty parameter is no token', async () => {
    const t = await sign({ iss: 'hs-key' });
    const custom = await plugin({ cookie_names: ['crumble'] });
    const bare = await run(custom, { headers: { cookie: 'crumbleX; other=1' } });
    assert.deepEqual([bare.status, bare.body], [401, { message: 'Unauthorized' }]);
    assert.equal((await run(custom, { headers: { cookie: `other=1; crumble= ${t} ;x=2` } })).status, 200);
    // nginx's $cookie_crumble (what Kong reads): the name in any case, the first occurrence only.
    assert.equal((await run(custom, { headers: { cookie: `Crumble=${t}` } })).status, 200);
    assert.equal((await run(custom, { headers: { cookie: `crumble=${t}; crumble=other.token.x` } })).status, 200);
    const empty = await run(h, { query: 'jwt=', headers: bearer(t) });
    assert.equal(empty.status, 200, 'an empty jwt parameter beside a token is not a second token');
    const basic = await run(h, { query: `jwt=${t}`, headers: { authorization: 'Basic dXNlcjpwdw==' } });
    assert.equal(basic.status, 200, 'an Authorization header without a bearer token is not a second token');
  });

  test("bearerToken: what Kong's \\s*[Bb]earer\\s+(.+) captures", () => {
    const cases: [string, string | null][] = [
      ['Bearer abc', 'abc'],
      ['bearer abc', 'abc'],
      ['Bearer   abc def', 'abc def'],
      ['Bearer\tabc', 'abc'],
      ['Bearer\u000b\u000c\r\nabc', 'abc'],
      ['Bearer\u00a0abc', 'abc'],
      ['Bearer\u0008abc', null],
      ['Bearer\u000eabc', null],
      ['Bearer\u001fabc', null],
      ['Bearerabc', null],
      ['Bearer', null],
      ['Bearer ', null],
      ['Bearer  ', ' '],
      ['Bearer \t\t', '\t'],
      ['Xearer abc', null],
      ['earer abc', null],
      ['Basic x, Bearer abc', 'abc'],
      ['BearerX Bearer abc', 'abc'],
      ['Bearer_bearer abc', 'abc'],
      ['xBearer abc', 'abc'],
      ['Banana abc', null],
      ['bxxxxx\tabc', null],
    ];
    for (const [value, token] of cases) assert.equal(bearerToken(value), token, JSON.stringify(value));
  });

  test('only static-key credentials without exp verification are warned about', async () => {
    const jwksOnly = [
      { username: 'j', jwt_secrets: [{ key: 'j', algorithm: 'RS256', jwks_uri: 'http://127.0.0.1:9/jwks' }] },
    ];
    const quiet = await plugin({}, jwksOnly);
    const warned = (r: PluginRunner) => r.logs.some((l) => l.level === 'warn' && String(l.msg).includes("'exp'"));
    assert.equal(warned(quiet), false, 'JWKS credentials always verify exp');
    assert.equal(warned(await plugin({ claims_to_verify: ['exp'] })), false, 'exp verified');
    const mixed = await plugin({}, [...jwksOnly, CONSUMERS[0]!]);
    assert.equal(warned(mixed), true, 'one static-key credential is enough for the warning');
  });

  test('a credential with both rsa_public_key and jwks_uri is a config error naming it', async () => {
    const both = [
      {
        username: 'twice',
        jwt_secrets: [{ key: 'k2', algorithm: 'RS256', rsa_public_key: rsa.pem, jwks_uri: 'http://127.0.0.1:9/jwks' }],
      },
    ];
    await assert.rejects(
      plugin({}, both),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message === 'config: jwt credential "k2" of consumer "twice": give rsa_public_key or jwks_uri, not both',
    );
  });

  test('jwt cannot be applied to a consumer (Kong: no consumer field)', async () => {
    const scoped = [{ username: 'scoped', plugins: [{ name: 'jwt' }] }];
    await assert.rejects(
      plugin({}, scoped),
      (e: unknown) => e instanceof ConfigError && /plugin 'jwt' cannot be applied to a consumer/.test(e.message),
    );
  });

  test('a verified token is answered from the cache, without another signature check, until its exp', async () => {
    const hc = await plugin({ claims_to_verify: ['exp'] });
    const t = await sign({ iss: 'rs-key', exp: now() + 600 }, 'RS256', rsa.privateKey);
    const first = await run(hc, { headers: bearer(t) });
    assert.equal(first.async.access, true, 'the first sight of a token verifies its signature');
    const second = await run(hc, { headers: bearer(t) });
    assert.equal(second.async.access, false, 'answered synchronously from the cache');
    assert.equal(second.consumer?.username, 'rsa_consumer');
    const off = await plugin({ claims_to_verify: ['exp'], verified_token_cache_size: 0 });
    await run(off, { headers: bearer(t) });
    assert.equal((await run(off, { headers: bearer(t) })).async.access, true, 'no cache: verified every time');
  });
});
