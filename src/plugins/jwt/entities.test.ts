// The jwt_secrets entity through the public test kit: which key material each algorithm accepts
// (and the message naming what it got and what it needs), the checks Kong leaves to the first
// request, and the key generated for a credential without one.
import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, sign } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { ConfigError } from '../../index.ts';
import { type PluginRunner, startPlugin } from '../../testing/index.ts';
import jwtPlugin from './index.ts';

const pem = (kp: { publicKey: { export(o: { type: 'spki'; format: 'pem' }): string | Buffer } }) =>
  kp.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const RSA = pem(generateKeyPairSync('rsa', { modulusLength: 2048 }));
const PSS = pem(generateKeyPairSync('rsa-pss', { modulusLength: 2048 }));
const P256 = pem(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }));
const P384 = pem(generateKeyPairSync('ec', { namedCurve: 'secp384r1' }));
const P521 = pem(generateKeyPairSync('ec', { namedCurve: 'secp521r1' }));
const ED25519 = pem(generateKeyPairSync('ed25519'));
const ED448 = pem(generateKeyPairSync('ed448'));
const X25519 = pem(generateKeyPairSync('x25519'));
const SECRET = 'entity-test-secret-0123456789abcdef';

const CONSUMER_ID = '0b7e4f52-9c1d-4e3a-8f60-2d5c7a9e1b34';
const CREDENTIAL_ID = '5d1c2a3e-7f40-4b6a-9e18-3c2b1a0f9e87';

const started: PluginRunner[] = [];
after(() => Promise.all(started.map((r) => r.close())));

async function load(secrets: Record<string, unknown>[], config: Record<string, unknown> = {}): Promise<PluginRunner> {
  const runner = await startPlugin(jwtPlugin, config, {
    consumers: [{ id: CONSUMER_ID, username: 'alice', jwt_secrets: secrets }],
  });
  started.push(runner);
  return runner;
}

/** The config error a credential fails with (its path and message), or null when it loads. */
async function refusal(secret: Record<string, unknown>): Promise<string | null> {
  try {
    await load([{ key: 'k', ...secret }]);
    return null;
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
}

const b64u = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const at = (field: string) => `consumers[0].jwt_secrets[0]${field}: `;

describe('jwt_secrets', () => {
  test('each algorithm loads with its own kind of key', async () => {
    const fits: [string, string][] = [
      ['RS256', RSA],
      ['RS512', RSA],
      ['PS256', RSA],
      ['PS384', PSS],
      ['ES256', P256],
      ['ES384', P384],
      ['ES512', P521],
      ['EdDSA', ED25519],
      ['EdDSA', ED448],
    ];
    for (const [algorithm, key] of fits) {
      assert.equal(await refusal({ algorithm, rsa_public_key: key }), null, algorithm);
    }
    assert.equal(await refusal({ algorithm: 'HS384', secret: SECRET }), null);
    assert.equal(
      await refusal({ algorithm: 'ES256', jwks_uri: 'https://idp.test/jwks' }),
      null,
      'a JWKS instead of a key',
    );
  });

  test('a key of the wrong kind or curve is refused, naming what it is and what the algorithm needs', async () => {
    const misfits: [string, string, string][] = [
      ['RS256', P256, 'an EC (prime256v1) key, but RS256 needs an RSA key'],
      ['RS384', PSS, 'an RSA key, but RS384 needs an RSA key'],
      ['PS256', P384, 'an EC (secp384r1) key, but PS256 needs an RSA key'],
      ['ES256', P384, 'an EC (secp384r1) key, but ES256 needs an EC key on curve prime256v1'],
      ['ES384', RSA, 'an RSA key, but ES384 needs an EC key on curve secp384r1'],
      ['ES512', ED25519, 'an ed25519 key, but ES512 needs an EC key on curve secp521r1'],
      ['EdDSA', RSA, 'an RSA key, but EdDSA needs an Ed25519 or Ed448 key'],
      ['EdDSA', P256, 'an EC (prime256v1) key, but EdDSA needs an Ed25519 or Ed448 key'],
      ['EdDSA', X25519, 'an x25519 key, but EdDSA needs an Ed25519 or Ed448 key'],
    ];
    for (const [algorithm, key, says] of misfits) {
      assert.equal(
        await refusal({ algorithm, rsa_public_key: key }),
        `${at('.rsa_public_key')}rsa_public_key is ${says}`,
        algorithm,
      );
    }
    assert.equal(
      await refusal({ algorithm: 'RS256', rsa_public_key: 'not a pem' }),
      `${at('.rsa_public_key')}rsa_public_key is not a valid PEM public key`,
    );
  });

  test('what each algorithm requires: a key or a JWKS for RS*, PS* and EdDSA (as Kong requires rsa_public_key)', async () => {
    for (const algorithm of ['RS256', 'PS512', 'EdDSA']) {
      assert.equal(
        await refusal({ algorithm }),
        `${at('')}'rsa_public_key' (or 'jwks_uri') is required when algorithm is ${algorithm}`,
      );
    }
    assert.equal(
      await refusal({ algorithm: 'HS512', secret: SECRET, jwks_uri: 'https://idp.test/jwks' }),
      `${at('.jwks_uri')}jwks_uri needs an asymmetric algorithm (RS*, PS*, ES*, EdDSA), not HS512`,
    );
    assert.match(
      String(await refusal({ algorithm: 'none', secret: SECRET })),
      /^consumers\[0\]\.jwt_secrets\[0\]\.algorithm: /,
    );
    assert.match(String(await refusal({ algorithm: 'RS256', jwks_uri: 'not a uri' })), /jwt_secrets\[0\]\.jwks_uri: /);
    await load([
      { key: 'same', secret: SECRET },
      { key: 'other', secret: SECRET },
    ]);
    await assert.rejects(
      load([
        { key: 'same', secret: SECRET },
        { key: 'same', secret: SECRET },
      ]),
      (e: unknown) => e instanceof ConfigError && /jwt_secrets\[1\]/.test(e.message),
      'two credentials with one key',
    );
  });

  test('an RSA key under 2048 bits loads, as in Kong, with a warning, and verifies its tokens', async () => {
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 });
    for (const algorithm of ['RS256', 'PS256']) {
      const r = await load([{ key: 'k', algorithm, rsa_public_key: pem(short) }]);
      const warning = r.logs.find((l) => l.level === 'warn' && l.path === 'consumers[0].jwt_secrets[0].rsa_public_key');
      assert.match(String(warning?.msg), new RegExp(`1024-bit RSA key: RFC 7518 asks ${algorithm} for 2048 bits`));
      // jose signs with no such key either: node:crypto signs.
      const input = `${b64u({ alg: algorithm })}.${b64u({ iss: 'k' })}`;
      const signer =
        algorithm === 'PS256'
          ? { key: short.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
          : short.privateKey;
      const token = `${input}.${sign(`sha${algorithm.slice(2)}`, Buffer.from(input), signer).toString('base64url')}`;
      const res = await r.run({ headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.upstreamHeaders?.['x-consumer-username'], 'alice', algorithm);
    }
  });

  test('an HS* credential without secret and an ES* one without key load as in Kong, with a warning, and never authenticate', async () => {
    // Kong's jwt_secrets schema (kong/plugins/jwt/daos.lua): `secret` is auto (a random one no
    // client has) and rsa_public_key is required for RS*, PS* and EdDSA only. Its handler then
    // answers an ES* credential's tokens "Invalid key/secret" and an HS* one's "Invalid signature".
    const r = await load([
      { key: 'hs', algorithm: 'HS256' },
      { key: 'es', algorithm: 'ES256' },
      { key: 'ok', secret: SECRET },
    ]);
    const warnings = r.logs.filter((l) => l.level === 'warn').map((l) => `${l.path}: ${l.msg}`);
    assert.ok(
      warnings.includes(
        "consumers[0].jwt_secrets[0]: no 'secret': Kong would generate a random one, which no client could know; this credential never authenticates",
      ),
      warnings.join('\n'),
    );
    assert.ok(
      warnings.includes(
        "consumers[0].jwt_secrets[1]: no 'rsa_public_key': Kong loads an ES256 credential without one and answers its tokens 401 Invalid key/secret; this credential never authenticates",
      ),
      warnings.join('\n'),
    );
    for (const secret of ['', SECRET]) {
      const token = await new SignJWT({ iss: 'hs' })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(Buffer.from(secret || 'x'));
      const res = await r.run({ headers: { authorization: `Bearer ${token}` } });
      assert.deepEqual([res.status, res.body], [401, { message: 'Invalid signature' }]);
    }
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const esToken = await new SignJWT({ iss: 'es' }).setProtectedHeader({ alg: 'ES256' }).sign(ec.privateKey);
    const es = await r.run({ headers: { authorization: `Bearer ${esToken}` } });
    assert.deepEqual([es.status, es.body], [401, { message: 'Invalid key/secret' }]);
    const okToken = await new SignJWT({ iss: 'ok' }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET));
    assert.equal((await r.run({ headers: { authorization: `Bearer ${okToken}` } })).status, 200);
  });

  test('secret_is_base64 with a secret that is not base64: loads with a warning, its tokens get Invalid key/secret, as in Kong', async () => {
    // Kong's handler decodes the secret first (nginx's decoder: nil on a character outside the
    // alphabet, or on 4n+1 characters before the first `=`) and answers a nil one so.
    const r = await load(
      [
        { key: 'bad', secret: 'not base64!' },
        { key: 'short', secret: 'abcde' },
        { key: 'ok', secret: Buffer.from(SECRET).toString('base64') },
      ],
      { secret_is_base64: true },
    );
    const warnings = r.logs.filter((l) => l.level === 'warn').map((l) => String(l.msg));
    for (const key of ['bad', 'short'])
      assert.ok(
        warnings.some(
          (w) => w.includes(`"${key}"`) && w.includes('secret_is_base64 is set but the secret is not base64'),
        ),
        warnings.join('\n'),
      );
    for (const key of ['bad', 'short']) {
      const token = await new SignJWT({ iss: key }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET));
      const res = await r.run({ headers: { authorization: `Bearer ${token}` } });
      assert.deepEqual([res.status, res.body], [401, { message: 'Invalid key/secret' }], key);
    }
    const okToken = await new SignJWT({ iss: 'ok' }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET));
    assert.equal((await r.run({ headers: { authorization: `Bearer ${okToken}` } })).status, 200);
  });

  test('a public key beside an HS* secret is ignored, with a warning', async () => {
    const r = await load([{ key: 'hs', algorithm: 'HS256', secret: SECRET, rsa_public_key: RSA }]);
    const warning = r.logs.find((l) => l.level === 'warn' && l.path === 'consumers[0].jwt_secrets[0].rsa_public_key');
    assert.equal(warning?.msg, 'rsa_public_key is ignored when algorithm is HS256');
    const token = await new SignJWT({ iss: 'hs' }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET));
    assert.equal((await r.run({ headers: { authorization: `Bearer ${token}` } })).status, 200);
  });

  test('without algorithm a credential is HS256', async () => {
    const r = await load([{ key: 'plain', secret: SECRET }]);
    const token = await new SignJWT({ iss: 'plain' }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET));
    assert.equal((await r.run({ headers: { authorization: `Bearer ${token}` } })).status, 200);
  });

  test('without key: a key derived from the consumer and credential ids, the same in every version, with a warning', async () => {
    // Tokens are issued for this key: it must not change between loads, instances or versions.
    const KEY = 'ba7e6d4a71547ead5b8764bca62f5a12';
    const r = await load([{ id: CREDENTIAL_ID, secret: SECRET }]);
    const warning = r.logs.find((l) => l.level === 'warn' && l.path === 'consumers[0].jwt_secrets[0]');
    assert.equal(
      warning?.msg,
      `no 'key': Tollgate uses the generated key '${KEY}' (Kong generates a random one; this one derives from the consumer and credential ids, so every instance and reload agree). Tokens must carry it in their iss claim (or key_claim_name); write the key in the file to choose it`,
    );
    const token = await new SignJWT({ iss: KEY }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET));
    const ok = await r.run({ headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual([ok.status, ok.credential?.identifier, ok.credential?.id], [200, KEY, CREDENTIAL_ID]);

    // Two credentials without key or id: each its own id (from its position), so each its own key.
    const two = await load([{ secret: SECRET }, { secret: `${SECRET}2` }]);
    const keys = two.logs
      .filter((l) => l.level === 'warn' && String(l.msg).startsWith("no 'key'"))
      .map((l) => /'([0-9a-f]{32})'/.exec(String(l.msg))?.[1]);
    assert.equal(new Set(keys).size, 2, `two distinct keys: ${keys.join(', ')}`);
    assert.equal(keys.includes(KEY), false);
  });
});

test('key_claim_name naming a property every object has (constructor) is looked up in the token only', async () => {
  const r = await load([{ key: 'k', secret: SECRET }], { key_claim_name: 'constructor' });
  const token = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET));
  const res = await r.run({ headers: { authorization: `Bearer ${token}` } });
  assert.deepEqual([res.status, res.body], [401, { message: "No mandatory 'constructor' in claims" }]);
});
