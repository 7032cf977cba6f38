// JWKS credentials (the Tollgate extension `jwks_uri`) through the public test kit, against a key
// set served on loopback: which key verifies a token, the RFC 9068 time checks such credentials
// always get, and the answers when the key set cannot be had.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { exportJWK, SignJWT } from 'jose';
import { type Listening, listen } from '../../../test/support/upstream.ts';
import { type PluginRunner, startPlugin } from '../../testing/index.ts';
import jwtPlugin from './index.ts';

const ISSUER = 'https://idp.kit.test/';
const a = generateKeyPairSync('rsa', { modulusLength: 2048 });
const b = generateKeyPairSync('rsa', { modulusLength: 2048 });
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
const now = () => Math.floor(Date.now() / 1000);

function sign(claims: Record<string, unknown>, key: KeyObject, kid?: unknown): Promise<string> {
  const header = kid === undefined ? { alg: 'RS256' } : { alg: 'RS256', kid: kid as string };
  return new SignJWT({ iss: ISSUER, ...claims }).setProtectedHeader(header).sign(key);
}

const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });

describe('jwt with JWKS credentials', () => {
  let jwks: Listening;
  let h: PluginRunner;
  const started: PluginRunner[] = [];

  async function plugin(uri: string, config: Record<string, unknown> = {}): Promise<PluginRunner> {
    const consumers = [{ username: 'idp-client', jwt_secrets: [{ key: ISSUER, algorithm: 'RS256', jwks_uri: uri }] }];
    const runner = await startPlugin(jwtPlugin, config, { consumers });
    started.push(runner);
    return runner;
  }

  before(async () => {
    const keys = [
      { ...(await exportJWK(a.publicKey)), kid: 'a' },
      { ...(await exportJWK(b.publicKey)), kid: 'b' },
    ];
    jwks = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    });
    h = await plugin(`${jwks.url}/jwks`, { jwks_refetch_cooldown_seconds: 3600 });
  });
  after(async () => {
    await Promise.all(started.map((r) => r.close()));
    await jwks?.close();
  });

  test('the key named by kid verifies; without a usable kid every key of the set is tried', async () => {
    const r = await h.run(bearer(await sign({ exp: now() + 60 }, a.privateKey, 'a')));
    assert.equal(r.status, 200);
    assert.equal(r.consumer?.username, 'idp-client');
    const { id, ...credential } = r.credential ?? { id: undefined };
    assert.deepEqual(credential, { type: 'jwt', identifier: ISSUER, consumer_id: r.consumer?.id });
    assert.match(String(id), /^[0-9a-f-]{36}$/, 'the credential has its entity id');
    for (const kid of [undefined, 7]) {
      const second = await h.run(bearer(await sign({ exp: now() + 60 }, b.privateKey, kid)));
      assert.equal(second.status, 200, `kid ${kid}: the second key of the set verifies`);
    }
  });

  test('a kid the loaded set lacks, or the wrong key for a kid, is an invalid signature', async () => {
    for (const token of [
      await sign({ exp: now() + 60 }, stranger.privateKey, 'c'),
      await sign({ exp: now() + 60 }, b.privateKey, 'a'),
      await sign({ exp: now() + 60 }, stranger.privateKey),
    ]) {
      const r = await h.run(bearer(token));
      assert.deepEqual([r.status, r.body], [401, { message: 'Invalid signature' }]);
    }
  });

  test('exp is required and nbf checked even without claims_to_verify, also for a token seen before', async () => {
    const cases: [Record<string, unknown>, unknown][] = [
      [{}, { exp: 'must be a number' }],
      [{ exp: now() - 5 }, { exp: 'token expired' }],
      [{ exp: now() + 60, nbf: now() + 60 }, { nbf: 'token not valid yet' }],
      [{ exp: now() + 60, nbf: 'soon' }, { nbf: 'must be a number' }],
    ];
    for (const [claims, body] of cases) {
      const t = await sign(claims, a.privateKey, 'a');
      for (let i = 0; i < 2; i++) {
        const r = await h.run(bearer(t));
        assert.deepEqual([r.status, r.body], [401, body], `${JSON.stringify(claims)}, presentation ${i + 1}`);
      }
    }
    const past = await h.run(bearer(await sign({ exp: now() + 60, nbf: now() - 60 }, a.privateKey, 'a')));
    assert.equal(past.status, 200, 'an nbf in the past passes');
  });

  test('a key set that cannot be fetched in jwks_timeout_ms: 503 (the token is not blamed), and the error logged with the credential', async () => {
    // An endpoint that never answers: the fetch ends at the plugin's deadline.
    const gone = await listen(() => undefined);
    after(() => gone.close());
    const down = await plugin(`${gone.url}/jwks`, { jwks_timeout_ms: 1000 });
    const r = await down.run(bearer(await sign({ exp: now() + 60 }, a.privateKey, 'a')));
    assert.deepEqual(
      [r.status, r.body, r.responseHeaders['www-authenticate']],
      [503, { message: 'Service unavailable' }, undefined],
    );
    const line = down.logs.find((l) => l.msg === 'no keys to verify a token: the JWKS could not be fetched');
    assert.equal(line?.level, 'error');
    assert.equal(line?.credential, ISSUER);
    assert.equal(line?.error, `fetching ${gone.url}/jwks failed: no complete response within 1000 ms`);
    // Every request while the key set is missing would log the same line: one a second is kept.
    const token = await sign({ exp: now() + 60 }, a.privateKey, 'a');
    const before = down.logs.filter((l) => l.msg === line?.msg).length;
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 20 }, () => down.run(bearer(token))));
    assert.ok(answers.every((x) => x.status === 503));
    const seconds = Math.ceil((Date.now() - started) / 1000);
    const lines = down.logs.filter((l) => l.msg === line?.msg).length - before;
    assert.ok(lines <= seconds + 1, `${lines} lines for 20 requests over ${seconds} s`);
  });
});
