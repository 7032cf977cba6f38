// tollgate/jwt with static keys, no network: token parsing, key import, the algorithm pin, every
// claim check at its boundary, and the verified-token cache (a cached token's claims are checked on
// every hit). createJwtVerifier against a real IdP and its JWKS: jwt.test.ts.

import assert from 'node:assert/strict';
import { constants, sign as cryptoSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { test } from 'node:test';
import { exportJWK, SignJWT } from 'jose';
import {
  audienceMatches,
  createJwtVerifier,
  freezeClaims,
  importStaticKey,
  type JwtErrorCode,
  JwtVerificationError,
  parseJwt,
  VerifiedTokenCache,
  verifySignature,
} from './jwt.ts';

/** The messages a client may be shown, by code (those with one fixed message). */
const MESSAGES: Partial<Record<JwtErrorCode, string>> = {
  missing_claim: "Token has no 'exp'",
  expired: 'Token expired',
  not_yet_valid: 'Token not valid yet',
  issuer: 'Issuer not allowed',
  audience: 'Audience not allowed',
  signature: 'Invalid signature',
};
const code = (c: JwtErrorCode) => (e: unknown) =>
  e instanceof JwtVerificationError &&
  e.code === c &&
  e.name === 'JwtVerificationError' &&
  (MESSAGES[c] === undefined || e.message === MESSAGES[c]);
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const ecPem = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();

function sign(claims: Record<string, unknown>, key: KeyObject = rsa.privateKey, header: Record<string, unknown> = {}) {
  const alg = (header.alg as string | undefined) ?? 'RS256';
  return new SignJWT(claims).setProtectedHeader({ ...header, alg }).sign(key);
}

test('parseJwt: Kong reasons for each malformed part', () => {
  const header = b64({ alg: 'RS256' });
  const claims = b64({ sub: 'a' });
  assert.deepEqual(parseJwt('abc'), { error: 'invalid JSON' });
  assert.deepEqual(parseJwt(`${header}.${claims}`), { error: 'invalid JSON' });
  assert.deepEqual(parseJwt(`${header}${claims}.x`), { error: 'invalid JSON' });
  assert.deepEqual(parseJwt(`${b64('{')}.${claims}.x`), { error: 'invalid JSON' });
  assert.deepEqual(parseJwt(`${header}.${b64('{')}.x`), { error: 'invalid JSON' });
  assert.deepEqual(parseJwt(`${header}+.${claims}.x`), { error: 'invalid JSON' }, 'not base64url');
  assert.deepEqual(parseJwt(`${b64({ alg: 'none' })}.${claims}.x`), { error: 'invalid alg' });
  assert.deepEqual(parseJwt(`${b64({ alg: 7 })}.${claims}.x`), { error: 'invalid alg' });
  assert.deepEqual(parseJwt(`${b64(['RS256'])}.${claims}.x`), { error: 'invalid alg' });
  assert.deepEqual(parseJwt(`${b64('null')}.${claims}.x`), { error: 'invalid alg' });
  assert.deepEqual(parseJwt(`${header}.${b64('[1]')}.x`), { error: 'invalid claims' });
  assert.deepEqual(parseJwt(`${header}.${b64('"s"')}.x`), { error: 'invalid claims' });
  assert.deepEqual(parseJwt(`${header}.${b64('null')}.x`), { error: 'invalid claims' });
  assert.deepEqual(parseJwt(`${header}.${claims}.a.b`), { error: 'invalid signature' });
  assert.deepEqual(parseJwt(`${header}.${claims}.a=`), { error: 'invalid signature' });
  assert.deepEqual(parseJwt(`${header}.${claims}.Ab-_9`), { error: 'invalid signature' }, '4n+1 characters');
  const ok = parseJwt(`${header}.${claims}.Ab-_98`);
  assert.ok(!('error' in ok));
  assert.equal(ok.alg, 'RS256');
  assert.deepEqual(ok.claims, { sub: 'a' });
  assert.deepEqual(ok.header, { alg: 'RS256' });
  const empty = parseJwt(`${header}.${claims}.`);
  assert.ok(!('error' in empty), 'an empty signature parses (and never verifies)');
});

test('importStaticKey: secrets for HS*, a public key of the right type and curve for the others', () => {
  assert.equal(importStaticKey('HS256', { secret: 'abc' }).export().toString(), 'abc');
  assert.equal(importStaticKey('HS384', { secret: 'YWJj', secretIsBase64: true }).export().toString(), 'abc');
  assert.equal(importStaticKey('HS512', { secret: 'YWJj' }).export().toString(), 'YWJj');
  assert.throws(() => importStaticKey('HS256', { secret: '' }), /a secret is required for HS256/);
  assert.throws(() => importStaticKey('HS256', {}), /a secret is required/);
  assert.throws(() => importStaticKey('RS256', { publicKey: '' }), /rsa_public_key is required for RS256/);
  assert.throws(() => importStaticKey('RS256', {}), /rsa_public_key is required/);
  assert.throws(() => importStaticKey('RS256', { publicKey: 'junk' }), /not a valid PEM public key/);
  assert.equal(importStaticKey('RS256', { publicKey: rsaPem }).asymmetricKeyType, 'rsa');
  assert.equal(importStaticKey('PS384', { publicKey: rsaPem }).asymmetricKeyType, 'rsa');
  assert.equal(importStaticKey('ES256', { publicKey: ecPem }).asymmetricKeyType, 'ec');
  assert.throws(() => importStaticKey('ES256', { publicKey: rsaPem }), /is a rsa key, which cannot verify ES256/);
  assert.throws(
    () => importStaticKey('RS256', { publicKey: ecPem }),
    /ec \(prime256v1\) key, which cannot verify RS256/,
  );
  assert.throws(() => importStaticKey('PS256', { publicKey: ecPem }), /cannot verify PS256/);
  assert.throws(() => importStaticKey('ES384', { publicKey: ecPem }), /cannot verify ES384/);
  assert.throws(() => importStaticKey('EdDSA', { publicKey: ecPem }), /cannot verify EdDSA/);
  const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
  assert.equal(importStaticKey('EdDSA', { publicKey: ed }).asymmetricKeyType, 'ed25519');
  assert.throws(() => importStaticKey('RS256', { publicKey: ed }), /cannot verify RS256/);
  assert.throws(() => importStaticKey('XS256', { publicKey: rsaPem }), /cannot verify XS256/);
  assert.throws(() => importStaticKey('XS256', { publicKey: ed }), /cannot verify XS256/);
  for (const [alg, curve] of [
    ['ES384', 'secp384r1'],
    ['ES512', 'secp521r1'],
  ] as const) {
    const pem = generateKeyPairSync('ec', { namedCurve: curve }).publicKey.export({ type: 'spki', format: 'pem' });
    assert.equal(importStaticKey(alg, { publicKey: pem.toString() }).asymmetricKeyDetails?.namedCurve, curve);
  }
});

test('importStaticKey: an RSA-PSS key serves PS* but not RS*, an Ed448 key serves EdDSA', () => {
  const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
  const pss = pem(generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey);
  assert.equal(importStaticKey('PS256', { publicKey: pss }).asymmetricKeyType, 'rsa-pss');
  assert.throws(() => importStaticKey('RS256', { publicKey: pss }), /is a rsa-pss key, which cannot verify RS256/);
  const ed448 = pem(generateKeyPairSync('ed448').publicKey);
  assert.equal(importStaticKey('EdDSA', { publicKey: ed448 }).asymmetricKeyType, 'ed448');
});

test("verifySignature: the caller's algorithm is pinned, whatever the token says", async () => {
  const token = await sign({ sub: 'a' });
  const parsed = parseJwt(token);
  assert.ok(!('error' in parsed));
  assert.equal(await verifySignature(parsed, rsa.publicKey, 'RS256'), true);
  assert.equal(await verifySignature(parsed, rsa.publicKey, 'RS512'), false);
  assert.equal(await verifySignature(parsed, ec.publicKey, 'RS256'), false);
  const forged = parseJwt(`${token.slice(0, token.lastIndexOf('.'))}.AAAA`);
  assert.ok(!('error' in forged));
  assert.equal(await verifySignature(forged, rsa.publicKey, 'RS256'), false);
});

test('createJwtVerifier refuses unusable options', async () => {
  await assert.rejects(createJwtVerifier({ keys: [rsaPem], algorithms: ['none'] }), /unsupported algorithm none/);
  await assert.rejects(createJwtVerifier({}), /needs jwksUri or keys/);
  await assert.rejects(createJwtVerifier({ keys: [] }), /needs jwksUri or keys/);
});

test('exp: required by default, refused at or before now, leeway extends it', async () => {
  const v = await createJwtVerifier({ keys: [rsaPem] });
  assert.equal((await v.verify(await sign({ sub: 'a', exp: now() + 60 }))).claims.sub, 'a');
  await assert.rejects(v.verify(await sign({ sub: 'a' })), code('missing_claim'));
  await assert.rejects(v.verify(await sign({ exp: now() - 1 })), code('expired'));
  await assert.rejects(v.verify(await sign({ exp: now() })), code('expired'));
  await assert.rejects(v.verify(await sign({ exp: String(now() + 60) })), code('expired'));
  const lenient = await createJwtVerifier({ keys: [rsaPem], requireExp: false, leewaySeconds: 30 });
  assert.equal((await lenient.verify(await sign({ sub: 'no-exp' }))).claims.sub, 'no-exp');
  assert.equal((await lenient.verify(await sign({ sub: 'late', exp: now() - 10 }))).claims.sub, 'late');
  await assert.rejects(lenient.verify(await sign({ exp: now() - 40 })), code('expired'));
});

test('nbf: refused when in the future beyond the leeway, or not a number', async () => {
  const v = await createJwtVerifier({ keys: [rsaPem] });
  const exp = now() + 600;
  assert.equal((await v.verify(await sign({ sub: 'n', exp, nbf: now() - 1 }))).claims.sub, 'n');
  await assert.rejects(v.verify(await sign({ exp, nbf: now() + 60 })), code('not_yet_valid'));
  await assert.rejects(v.verify(await sign({ exp, nbf: String(now() - 60) })), code('not_yet_valid'));
  const lenient = await createJwtVerifier({ keys: [rsaPem], leewaySeconds: 120 });
  assert.equal((await lenient.verify(await sign({ sub: 'm', exp, nbf: now() + 60 }))).claims.sub, 'm');
  await assert.rejects(lenient.verify(await sign({ exp, nbf: now() + 300 })), code('not_yet_valid'));
});

test('issuer and audience: one of the accepted values, strings only', async () => {
  const v = await createJwtVerifier({ keys: [rsaPem], issuers: ['https://a.test/'], audiences: ['api', 'web'] });
  const exp = now() + 600;
  assert.ok(await v.verify(await sign({ exp, iss: 'https://a.test/', aud: 'api' })));
  assert.ok(await v.verify(await sign({ exp, iss: 'https://a.test/', aud: ['other', 'web'] })));
  await assert.rejects(v.verify(await sign({ exp, iss: 'https://b.test/', aud: 'api' })), code('issuer'));
  await assert.rejects(v.verify(await sign({ exp, aud: 'api' })), code('issuer'));
  await assert.rejects(v.verify(await sign({ exp, iss: ['https://a.test/'], aud: 'api' })), code('issuer'));
  await assert.rejects(v.verify(await sign({ exp, iss: 'https://a.test/', aud: 'other' })), code('audience'));
  await assert.rejects(v.verify(await sign({ exp, iss: 'https://a.test/' })), code('audience'));
  await assert.rejects(v.verify(await sign({ exp, iss: 'https://a.test/', aud: [['api']] })), code('audience'));
  const any = await createJwtVerifier({ keys: [rsaPem] });
  assert.ok(await any.verify(await sign({ exp, iss: 'anyone', aud: 'anything' })));
  assert.equal(audienceMatches('api', new Set(['api'])), true);
  assert.equal(audienceMatches(['x', 'api'], new Set(['api'])), true);
  assert.equal(audienceMatches([1, 'y'], new Set(['api'])), false);
  assert.equal(audienceMatches(undefined, new Set(['api'])), false);
  assert.equal(audienceMatches({ api: true }, new Set(['api'])), false);
});

test('a cached token is checked again on every hit: expiry, and nothing else changes its verdict', async () => {
  const v = await createJwtVerifier({ keys: [rsaPem] });
  const exp = now() + 3;
  const token = await sign({ sub: 'c', exp });
  const first = await v.verify(token);
  assert.equal(await v.verify(token), first, 'served from the cache');
  assert.ok(Object.isFrozen(first.claims));
  await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 50));
  await assert.rejects(v.verify(token), code('expired'));
  const uncached = await createJwtVerifier({ keys: [rsaPem], cacheSize: 0 });
  const t2 = await sign({ sub: 'd', exp: now() + 600 });
  assert.notEqual(await uncached.verify(t2), await uncached.verify(t2));
});

test('signature: the token alg must be allowed, the key must match, a kid selects among static JWKs', async () => {
  const rsaJwk = { ...(await exportJWK(rsa.publicKey)), kid: 'r1' };
  const ecJwk = { ...(await exportJWK(ec.publicKey)), kid: 'e1' };
  const v = await createJwtVerifier({ keys: [rsaJwk, ecJwk], algorithms: ['RS256', 'ES256'] });
  const exp = now() + 600;
  assert.ok(await v.verify(await sign({ exp }, rsa.privateKey, { kid: 'r1' })));
  assert.ok(await v.verify(await sign({ exp }, ec.privateKey, { alg: 'ES256', kid: 'e1' })));
  assert.ok(await v.verify(await sign({ exp, x: 1 }, ec.privateKey, { alg: 'ES256' })), 'no kid: every key of the alg');
  await assert.rejects(v.verify(await sign({ exp }, rsa.privateKey, { kid: 'e1' })), code('signature'));
  await assert.rejects(v.verify(await sign({ exp }, rsa.privateKey, { kid: 'other' })), code('signature'));
  await assert.rejects(v.verify(await sign({ exp }, rsa.privateKey, { alg: 'RS384' })), (e: unknown) => {
    assert.ok(e instanceof JwtVerificationError, 'a JwtVerificationError');
    assert.deepEqual([e.code, e.message], ['algorithm', 'Invalid algorithm']);
    return true;
  });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await assert.rejects(v.verify(await sign({ exp }, other.privateKey)), code('signature'));
  await assert.rejects(v.verify('a.b'), code('malformed'));
  await assert.rejects(v.verify(`${b64({ alg: 'none' })}.${b64({ exp })}.`), (e: unknown) => {
    assert.ok(e instanceof JwtVerificationError);
    assert.equal(e.code, 'algorithm');
    assert.equal(e.message, 'Bad token; invalid alg');
    return true;
  });
  await assert.rejects(v.verify(`${b64({ alg: 'RS256' })}.${b64('[]')}.`), (e: unknown) => {
    assert.ok(e instanceof JwtVerificationError);
    assert.equal(e.code, 'malformed');
    assert.equal(e.message, 'Bad token; invalid claims');
    return true;
  });
  // A PEM string and a KeyObject serve as static keys too; a PEM that fits no algorithm is skipped.
  const pems = await createJwtVerifier({ keys: [ecPem, rsa.publicKey], algorithms: ['RS256'] });
  assert.ok(await pems.verify(await sign({ exp })));
  assert.ok(await pems.verify(await sign({ exp }, rsa.privateKey, { kid: 'any' })), 'a key without kid serves any kid');
});

test('freezeClaims freezes nested objects and arrays, and returns its argument', () => {
  const claims = { a: { b: [1, { c: 2 }] }, s: 'x' };
  assert.equal(freezeClaims(claims), claims);
  assert.ok(Object.isFrozen(claims));
  assert.ok(Object.isFrozen(claims.a));
  assert.ok(Object.isFrozen(claims.a.b));
  assert.ok(Object.isFrozen(claims.a.b[1]));
  assert.equal(freezeClaims(null), null);
  assert.equal(freezeClaims('s'), 's');
});

test('VerifiedTokenCache: never stores an expired token, never keeps one past its exp', async () => {
  const cache = new VerifiedTokenCache<{ claims: Record<string, unknown> }>(10);
  cache.set('expired', { claims: {} }, now() - 1);
  assert.equal(cache.get('expired'), undefined);
  assert.equal(cache.size, 0);
  const soon = Date.now() / 1000 + 1;
  cache.set('soon', { claims: { a: 1 } }, soon);
  cache.set('no-exp', { claims: { b: 1 } }, undefined);
  assert.ok(cache.get('soon'));
  assert.ok(cache.bytes > 0);
  await new Promise((r) => setTimeout(r, soon * 1000 - Date.now() + 50));
  assert.equal(cache.get('soon'), undefined);
  assert.deepEqual(cache.get('no-exp')?.claims, { b: 1 });
  cache.clear();
  assert.equal(cache.size, 0);
  const off = new VerifiedTokenCache<{ claims: Record<string, unknown> }>(0);
  off.set('t', { claims: {} }, undefined);
  assert.equal(off.get('t'), undefined);
  assert.equal(off.size, 0);
  assert.equal(off.bytes, 0);
  off.clear();
  const short = new VerifiedTokenCache<{ claims: Record<string, unknown> }>(10, 1);
  short.set('t', { claims: {} }, now() + 3600);
  short.set('no-exp', { claims: {} }, undefined);
  short.set('text-exp', { claims: {} }, String(now() + 3600));
  assert.ok(short.get('t'), 'stored');
  await new Promise((r) => setTimeout(r, 1050));
  assert.equal(short.get('t'), undefined, 'maxTtlSeconds bounds a long exp');
  assert.equal(short.get('no-exp'), undefined, 'and a token without exp');
  assert.equal(short.get('text-exp'), undefined, 'and an exp that is not a number');
});

test('VerifiedTokenCache: a token that ends like a cached one but differs before is a miss', () => {
  const cache = new VerifiedTokenCache<{ claims: Record<string, unknown> }>(10);
  const signature = 'S'.repeat(342);
  const genuine = `eyJhbGciOiJSUzI1NiJ9.eyJyb2xlIjoidXNlciJ9.${signature}`;
  const forged = `eyJhbGciOiJSUzI1NiJ9.eyJyb2xlIjoiYWRtaW4ifQ.${signature}`;
  cache.set(genuine, { claims: { role: 'user' } }, undefined);
  assert.deepEqual(cache.get(genuine)?.claims, { role: 'user' });
  assert.equal(cache.get(forged), undefined, 'same signature, other payload: not the cached token');
});

test('VerifiedTokenCache: the byte cap counts each token whole and its claims, two bytes a character', () => {
  const entry = (s: string) => ({ claims: { s } });
  const x = 'x'.repeat(100);
  // A key of 2 characters (4 bytes), the token held whole (4 bytes) and claims of 108 JSON
  // characters (216 bytes), 64 bytes of bookkeeping for each: 352 bytes an entry.
  const size = 4 + 64 + 4 + 2 * JSON.stringify({ s: x }).length + 64;
  const fits = new VerifiedTokenCache<{ claims: Record<string, unknown> }>(10, 3600, 2 * size);
  fits.set('t1', entry(x), undefined);
  fits.set('t2', entry(x), undefined);
  assert.deepEqual([fits.size, fits.bytes], [2, 2 * size]);
  const tight = new VerifiedTokenCache<{ claims: Record<string, unknown> }>(10, 3600, 2 * size - 1);
  tight.set('t1', entry(x), undefined);
  tight.set('t2', entry(x), undefined);
  assert.equal(tight.get('t1'), undefined, 'one byte short of two tokens: the older one is evicted');
  assert.ok(tight.get('t2'), 'the newer one is kept');
});

test('verifySignature: an RSA key under 2048 bits verifies RS* and PS* tokens, as Kong verifies them (jose refuses the key)', async () => {
  const short = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const other = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const pem = short.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  // PS512 needs 130 bytes of room (RFC 8017 9.1.1): more than a 1024-bit key has.
  for (const alg of ['RS256', 'RS384', 'RS512', 'PS256', 'PS384']) {
    const key = importStaticKey(alg, { publicKey: pem });
    const good = parseJwt(signShort(alg, short.privateKey));
    const forged = parseJwt(signShort(alg, other.privateKey));
    assert.ok(!('error' in good) && !('error' in forged));
    assert.equal(await verifySignature(good, key, alg), true, alg);
    assert.equal(await verifySignature(forged, key, alg), false, `${alg}: another key's signature`);
  }
});

/** A token signed by node:crypto (jose signs with no RSA key under 2048 bits either). */
function signShort(alg: string, key: KeyObject): string {
  const input = `${b64({ alg })}.${b64({ sub: 'a' })}`;
  const hash = `sha${alg.slice(2)}`;
  const signer = alg.startsWith('PS')
    ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 }
    : key;
  return `${input}.${cryptoSign(hash, Buffer.from(input), signer).toString('base64url')}`;
}
