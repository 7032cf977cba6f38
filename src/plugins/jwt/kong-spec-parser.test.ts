/**
 * Kong's jwt parser spec (spec/03-plugins/16-jwt/01-jwt_parser_spec.lua, Kong commit 22246ef2),
 * case by case through the plugin (the parser is no public surface here): a token Kong's parser
 * encodes with an algorithm and verifies with the matching key is a token the plugin accepts for a
 * credential holding that key, and one it verifies against another key gets `Invalid signature`.
 * Tokens are signed here with node:crypto, independently of jose (which the plugin verifies with).
 *
 * Left out: "throws an error if not given a string" (a Lua argument check; a request without a
 * token is jwt.test.ts's 401 Unauthorized). Kong's wrong keys are sometimes of another type (an
 * ES256 token against an RSA key): a credential pairing ES256 with an RSA key is refused when the
 * config loads (entities.test.ts), so the wrong key here is another key of the right type.
 */
import assert from 'node:assert/strict';
import { constants, createHmac, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type PluginRunner, startPlugin } from '../../testing/index.ts';
import jwtPlugin from './index.ts';

const SECRET = 'secret';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

type Signer = KeyObject | string;

/** A compact JWS of `claims`, its header `header`, signed as `signAlg` says (by default the header's alg). */
function encode(claims: unknown, key: Signer, header: Record<string, unknown>, signAlg = String(header.alg)): string {
  const input = `${b64(header)}.${b64(claims)}`;
  const data = Buffer.from(input);
  const bits = signAlg === 'EdDSA' ? '' : signAlg.slice(2);
  const hash = `sha${bits}`;
  let sig: Buffer;
  if (signAlg.startsWith('HS'))
    sig = createHmac(hash, key as string)
      .update(data)
      .digest();
  else if (signAlg.startsWith('RS')) sig = sign(hash, data, key as KeyObject);
  else if (signAlg.startsWith('PS'))
    sig = sign(hash, data, {
      key: key as KeyObject,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: Number(bits) / 8,
    });
  else if (signAlg.startsWith('ES')) sig = sign(hash, data, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
  else sig = sign(null, data, key as KeyObject);
  return `${input}.${sig.toString('base64url')}`;
}

const rsaPair = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string;

/** Per algorithm of the spec (Ed448 as its own row): the signing key, and another key of the same type. */
const rsa = [rsaPair(), rsaPair()];
const ec = (curve: string) => [0, 1].map(() => generateKeyPairSync('ec', { namedCurve: curve }));
const ed25519 = [0, 1].map(() => generateKeyPairSync('ed25519'));
const ed448 = [0, 1].map(() => generateKeyPairSync('ed448'));
const ROWS: { name: string; alg: string; sign: Signer; right: string; wrong: string; loops: number }[] = [
  ...['HS256', 'HS384', 'HS512'].map((alg) => ({
    name: alg,
    alg,
    sign: SECRET,
    right: SECRET,
    wrong: 'invalid',
    loops: 1,
  })),
  ...['RS256', 'RS384', 'RS512'].map((alg) => ({
    name: alg,
    alg,
    sign: rsa[0]!.privateKey,
    right: pem(rsa[0]!.publicKey),
    wrong: pem(rsa[1]!.publicKey),
    loops: 1,
  })),
  ...(
    [
      ['ES256', ec('prime256v1'), 500],
      ['ES384', ec('secp384r1'), 100],
      ['ES512', ec('secp521r1'), 50],
      ['PS256', [rsa[0]!, rsa[1]!], 100],
      ['PS384', [rsa[0]!, rsa[1]!], 100],
      ['PS512', [rsa[0]!, rsa[1]!], 100],
    ] as const
  ).map(([alg, keys, loops]) => ({
    name: alg,
    alg,
    sign: keys[0]!.privateKey,
    right: pem(keys[0]!.publicKey),
    wrong: pem(keys[1]!.publicKey),
    // Kong signs and verifies these 500 times: their signatures are randomized, and a bug in
    // encoding r and s (a leading zero byte: 1 signature in 128 on P-256) shows in a fraction of
    // them only. Fewer on the slower curves and PSS, to keep the file within its time: a P-521
    // half has a short top byte in one signature in two, a P-384 one in 128 (50 and 100 signatures
    // here; 100 for each PS*, whose salt is random but whose signature length is fixed).
    loops,
  })),
  ...(
    [
      ['EdDSA with Ed25519 key', ed25519],
      ['EdDSA with Ed448 key', ed448],
    ] as const
  ).map(([name, keys]) => ({
    name,
    alg: 'EdDSA',
    sign: keys[0]!.privateKey,
    right: pem(keys[0]!.publicKey),
    wrong: pem(keys[1]!.publicKey),
    loops: 1,
  })),
];

const credential = (key: string, alg: string, material: string) =>
  alg.startsWith('HS') ? { key, algorithm: alg, secret: material } : { key, algorithm: alg, rsa_public_key: material };

const CONSUMERS = [
  {
    username: 'parser',
    jwt_secrets: ROWS.flatMap((r) => [
      credential(`${r.name}`, r.alg, r.right),
      credential(`${r.name}/wrong`, r.alg, r.wrong),
    ]),
  },
];

const started: PluginRunner[] = [];
after(() => Promise.all(started.map((r) => r.close())));

async function plugin(config: Record<string, unknown> = {}): Promise<PluginRunner> {
  // No verified-token cache: every token is parsed and verified, as Kong's parser is called.
  const runner = await startPlugin(jwtPlugin, { verified_token_cache_size: 0, ...config }, { consumers: CONSUMERS });
  started.push(runner);
  return runner;
}

const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });

describe('Plugin: jwt (parser)', () => {
  let h: PluginRunner;
  before(async () => {
    h = await plugin();
  });

  describe('encoding and verifying the signature', () => {
    for (const row of ROWS) {
      test(`using ${row.name}: the right key verifies, another key does not`, async () => {
        for (let i = 0; i < row.loops; i++) {
          const claims = { sub: '5656565656', name: 'Jane Doe', admin: true, n: i };
          const ok = await h.run(bearer(encode({ ...claims, iss: row.name }, row.sign, { typ: 'JWT', alg: row.alg })));
          assert.deepEqual([ok.status, ok.credential?.identifier], [200, row.name], `token ${i}`);
          const bad = await h.run(
            bearer(encode({ ...claims, iss: `${row.name}/wrong` }, row.sign, { typ: 'JWT', alg: row.alg })),
          );
          assert.deepEqual([bad.status, bad.body], [401, { message: 'Invalid signature' }], `token ${i}`);
        }
      });
    }
  });

  describe('decoding', () => {
    test('refuses invalid alg', async () => {
      const r = await h.run(bearer(encode({ sub: '1234', iss: 'HS256' }, SECRET, { typ: 'JWT', alg: 'foo' }, 'HS256')));
      assert.deepEqual([r.status, r.body], [401, { message: 'Bad token; invalid alg' }]);
    });

    // Kong's parser takes an RS256 header over an HS256 signature: the token decodes, and only
    // its signature is wrong for the RS256 credential. A typ in lower case, or none, is no matter.
    for (const [name, header] of [
      ['a valid encoding request', { typ: 'JWT', alg: 'RS256' }],
      ['a valid encoding request with lowercase TYP', { typ: 'jwt', alg: 'RS256' }],
      ['a valid encoding request with missing TYP', { alg: 'RS256' }],
    ] as const) {
      test(`accepts ${name}`, async () => {
        const r = await h.run(bearer(encode({ sub: '1234', iss: 'RS256' }, SECRET, header, 'HS256')));
        assert.deepEqual([r.status, r.body], [401, { message: 'Invalid signature' }]);
        const signed = await h.run(bearer(encode({ sub: '1234', iss: 'RS256' }, ROWS[3]!.sign, header)));
        assert.equal(signed.status, 200);
      });
    }
  });

  describe('verify registered claims', () => {
    test('requires claims passed as arguments', async () => {
      const token = encode({ sub: 'foo', iss: 'HS256' }, SECRET, { typ: 'JWT', alg: 'HS256' });
      const both = await (await plugin({ claims_to_verify: ['exp', 'nbf'] })).run(bearer(token));
      assert.deepEqual([both.status, both.body], [401, { exp: 'must be a number', nbf: 'must be a number' }]);
      const nbf = await (await plugin({ claims_to_verify: ['nbf'] })).run(bearer(token));
      assert.deepEqual([nbf.status, nbf.body], [401, { nbf: 'must be a number' }]);
    });

    test('checks the type of given registered claims', async () => {
      const token = encode({ exp: 'bar', nbf: 'foo', iss: 'HS256' }, SECRET, { typ: 'JWT', alg: 'HS256' });
      const r = await (await plugin({ claims_to_verify: ['exp', 'nbf'] })).run(bearer(token));
      assert.deepEqual([r.status, r.body], [401, { exp: 'must be a number', nbf: 'must be a number' }]);
    });

    test('checks the exp claim', async () => {
      const token = encode({ exp: now() - 10, iss: 'HS256' }, SECRET, { typ: 'JWT', alg: 'HS256' });
      const r = await (await plugin({ claims_to_verify: ['exp'] })).run(bearer(token));
      assert.deepEqual([r.status, r.body], [401, { exp: 'token expired' }]);
    });

    test('checks the nbf claim', async () => {
      const token = encode({ nbf: now() + 10, iss: 'HS256' }, SECRET, { typ: 'JWT', alg: 'HS256' });
      const r = await (await plugin({ claims_to_verify: ['nbf'] })).run(bearer(token));
      assert.deepEqual([r.status, r.body], [401, { nbf: 'token not valid yet' }]);
    });
  });
});
