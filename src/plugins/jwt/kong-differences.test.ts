// Where Kong's jwt plugin answers 500 or refuses a token it could verify, and the gateway does
// better on purpose (docs/plugins/jwt.md, "Other differences from Kong"): kong/plugins/jwt's
// jwt_parser asserts signature lengths (a failed assert is a 500), and its base64 decoder for
// secret_is_base64 knows only the URL-safe alphabet.
import assert from 'node:assert/strict';
import { createHmac, sign as cryptoSign, generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { type PluginRunner, startPlugin } from '../../testing/index.ts';
import jwtPlugin from './index.ts';

const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** A secret whose standard base64 has both `+` and `/`, which the URL-safe alphabet lacks. */
const RAW_SECRET = Buffer.from([0xfb, 0xef, 0xff, 0x3e, 0x7b, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07]);
const B64_SECRET = RAW_SECRET.toString('base64');
const rsa3072 = generateKeyPairSync('rsa', { modulusLength: 3072 });
const ec256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const pem = (k: { publicKey: { export(o: object): string | Buffer } }) =>
  k.publicKey.export({ type: 'spki', format: 'pem' }) as string;

const CONSUMERS = [
  { username: 'b64', jwt_secrets: [{ key: 'b64-key', algorithm: 'HS256', secret: B64_SECRET }] },
  { username: 'ps3072', jwt_secrets: [{ key: 'ps-key', algorithm: 'PS256', rsa_public_key: pem(rsa3072) }] },
  { username: 'es', jwt_secrets: [{ key: 'es-key', algorithm: 'ES256', rsa_public_key: pem(ec256) }] },
];

describe('jwt: tokens Kong answers 500 or cannot verify', () => {
  let h: PluginRunner;
  before(async () => {
    h = await startPlugin(jwtPlugin, { secret_is_base64: true }, { consumers: CONSUMERS });
  });
  after(() => h.close());

  test('secret_is_base64: a secret in standard base64 (with + and /) verifies, as does its URL-safe spelling', async () => {
    assert.match(B64_SECRET, /\+/);
    assert.match(B64_SECRET, /\//);
    const input = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ iss: 'b64-key' })}`;
    const token = `${input}.${createHmac('sha256', RAW_SECRET).update(input).digest('base64url')}`;
    const r = await h.run({ headers: bearer(token) });
    assert.deepEqual([r.status, r.consumer?.username], [200, 'b64']);

    const urlSafe = await startPlugin(
      jwtPlugin,
      { secret_is_base64: true },
      {
        consumers: [
          {
            username: 'b64url',
            jwt_secrets: [{ key: 'b64-key', algorithm: 'HS256', secret: RAW_SECRET.toString('base64url') }],
          },
        ],
      },
    );
    try {
      assert.equal((await urlSafe.run({ headers: bearer(token) })).consumer?.username, 'b64url');
    } finally {
      await urlSafe.close();
    }
  });

  test('PS256 with a 3072-bit key: its 384-byte signatures verify (Kong asserts 256 bytes for every PS*)', async () => {
    const token = await new SignJWT({ iss: 'ps-key' }).setProtectedHeader({ alg: 'PS256' }).sign(rsa3072.privateKey);
    const r = await h.run({ headers: bearer(token) });
    assert.deepEqual([r.status, r.consumer?.username], [200, 'ps3072']);
  });

  test('ES256 with a signature of another length than 64 bytes (a DER one): 401 Invalid signature', async () => {
    const input = `${enc({ alg: 'ES256', typ: 'JWT' })}.${enc({ iss: 'es-key' })}`;
    const der = cryptoSign('sha256', Buffer.from(input), ec256.privateKey);
    assert.notEqual(der.length, 64);
    const r = await h.run({ headers: bearer(`${input}.${der.toString('base64url')}`) });
    assert.deepEqual([r.status, r.body], [401, { message: 'Invalid signature' }]);
    const raw = cryptoSign('sha256', Buffer.from(input), { key: ec256.privateKey, dsaEncoding: 'ieee-p1363' });
    assert.equal((await h.run({ headers: bearer(`${input}.${raw.toString('base64url')}`) })).status, 200);
  });
});
