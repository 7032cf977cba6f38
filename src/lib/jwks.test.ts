// The JWKS cache on its own, against a key-set endpoint on loopback whose answer each test sets:
// which keys a token gets, when the set is fetched again (stale, unknown kid, failed first fetch),
// how long a token waits for a fetch, and what the health report says.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { compactVerify, exportJWK, type JWK, SignJWT } from 'jose';
import { type Listening, listen } from '../../test/support/upstream.ts';
import { until, within } from '../../test/support/wait.ts';
import type { GatewayServices } from '../pipeline/plugin.ts';
import { createHttpClient } from '../upstream/http-client.ts';
import { describeTarget, JwksCache, jwkFitsAlg, MAX_KEYS_WITHOUT_KID, sharedJwksCache } from './jwks.ts';
import { parseJwt, type VerificationKey, verifySignature } from './jwt.ts';

const rsaA = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaB = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

async function jwk(key: KeyObject, extra: Record<string, unknown>): Promise<JWK> {
  return { ...(await exportJWK(key)), ...extra };
}

/** A key-set endpoint answering `status` and `body` after `delayMs`, or holding the response open while `hang`. */
interface Peer extends Listening {
  status: number;
  body: string;
  hang: boolean;
  delayMs: number;
  requests: number;
  accepts: (string | undefined)[];
  open: Set<ServerResponse>;
}

async function startPeer(): Promise<Peer> {
  const p = (await listen((req, res) => {
    p.requests++;
    p.accepts.push(req.headers.accept);
    if (p.hang) {
      p.open.add(res);
      res.on('close', () => p.open.delete(res));
      return;
    }
    const { status, body } = p;
    const answer = () => res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    if (p.delayMs > 0) setTimeout(answer, p.delayMs);
    else answer();
  })) as Peer;
  Object.assign(p, {
    status: 200,
    body: '{"keys":[]}',
    hang: false,
    delayMs: 0,
    requests: 0,
    accepts: [],
    open: new Set(),
  });
  return p;
}

function token(key: KeyObject, alg = 'RS256'): Promise<string> {
  return new SignJWT({ sub: 'x' }).setProtectedHeader({ alg }).sign(key);
}

/** Whether `key` verifies `jwt`'s signature. */
async function verifies(key: VerificationKey | undefined, jwt: string): Promise<boolean> {
  if (key === undefined) return false;
  return compactVerify(jwt, key).then(
    () => true,
    () => false,
  );
}

// Each test has its own endpoint, so the tests (several wait a second for a retry) run side by side.
describe('JwksCache', { concurrency: true }, () => {
  const peers: Peer[] = [];
  const http = createHttpClient();
  let jwkA: JWK;
  let jwkB: JWK;
  let jwkE: JWK;
  let set: string;
  let tokenA: string;
  let tokenB: string;
  let tokenE: string;

  before(async () => {
    jwkA = await jwk(rsaA.publicKey, { kid: 'a', alg: 'RS256', use: 'sig' });
    jwkB = await jwk(rsaB.publicKey, { kid: 'b' });
    jwkE = await jwk(ec.publicKey, { kid: 'e' });
    // Entries that are no JWK objects are dropped: a number, null, an array, a string.
    set = JSON.stringify({ keys: [jwkA, jwkB, jwkE, 1, null, [jwkA], 'a'] });
    tokenA = await token(rsaA.privateKey);
    tokenB = await token(rsaB.privateKey);
    tokenE = await token(ec.privateKey, 'ES256');
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.close()));
    await http.close();
  });

  async function newPeer(body = set): Promise<Peer> {
    const peer = await startPeer();
    peers.push(peer);
    peer.body = body;
    return peer;
  }

  test('jwkFitsAlg: a key serves only its own algorithm family, curve, alg and use', () => {
    const cases: [JWK, string, boolean][] = [
      [{ kty: 'RSA' }, 'RS256', true],
      [{ kty: 'RSA' }, 'PS384', true],
      [{ kty: 'RSA', use: 'sig', alg: 'RS256' }, 'RS256', true],
      [{ kty: 'RSA', use: 'enc' }, 'RS256', false],
      [{ kty: 'RSA', alg: 'RS512' }, 'RS256', false],
      [{ kty: 'RSA', alg: 'RS256' }, 'PS256', false],
      [{ kty: 'EC', crv: 'P-256' }, 'RS256', false],
      [{ kty: 'EC', crv: 'P-256' }, 'ES256', true],
      [{ kty: 'EC', crv: 'P-384' }, 'ES384', true],
      [{ kty: 'EC', crv: 'P-521' }, 'ES512', true],
      [{ kty: 'EC', crv: 'P-384' }, 'ES256', false],
      [{ kty: 'OKP', crv: 'P-256' }, 'ES256', false],
      [{ kty: 'RSA' }, 'ES256', false],
      [{ kty: 'OKP', crv: 'Ed25519' }, 'EdDSA', true],
      [{ kty: 'OKP', crv: 'Ed448' }, 'EdDSA', true],
      [{ kty: 'OKP', crv: 'X25519' }, 'EdDSA', false],
      [{ kty: 'EC', crv: 'Ed25519' }, 'EdDSA', false],
      [{ kty: 'oct' }, 'HS256', false],
      [{ kty: 'RSA' }, 'HS256', false],
      [{ kty: 'OKP', crv: 'Ed25519' }, 'HS256', false],
    ];
    for (const [key, alg, fits] of cases) assert.equal(jwkFitsAlg(key, alg), fits, `${JSON.stringify(key)} ${alg}`);
  });

  test('describeTarget shows a URL without credentials, query or fragment', () => {
    assert.equal(
      describeTarget('https://user:pw@idp.test:8443/keys/jwks.json?key=s3cret#x'),
      'https://idp.test:8443/keys/jwks.json',
    );
    assert.equal(describeTarget('not a url'), 'invalid URL');
  });

  test('a fetched set: keys by kid, or every key fitting the algorithm without one; health reports it', async () => {
    const peer = await newPeer();
    const cache = new JwksCache(`${peer.url}/jwks?token=s3cret`, http);
    assert.deepEqual(cache.health(), {
      kind: 'jwks',
      target: `${peer.url}/jwks`,
      healthy: true,
      lastSuccess: null,
      lastError: null,
      lastErrorAt: null,
      failures: 0,
      keys: 0,
    });
    assert.equal(cache.loaded, false);
    await cache.refresh();
    assert.deepEqual([cache.loaded, cache.size, cache.fetches, cache.failures], [true, 3, 1, 0]);
    assert.deepEqual(peer.accepts, ['application/json']);
    const h = cache.health();
    assert.ok(h.lastSuccess instanceof Date, 'lastSuccess is the time of the fetch');
    assert.deepEqual([h.healthy, h.keys, h.lastError], [true, 3, null]);

    const [a] = await cache.keysFor('a', 'RS256');
    assert.equal(await verifies(a, tokenA), true, 'kid a gives key a');
    const [b] = await cache.keysFor('b', 'RS256');
    assert.equal(await verifies(b, tokenB), true, 'kid b gives key b');
    const [e] = await cache.keysFor('e', 'ES256');
    assert.equal(await verifies(e, tokenE), true, 'kid e gives the EC key');
    const all = await cache.keysFor(undefined, 'RS256');
    assert.equal(all.length, 2, 'no kid: every RSA key');
    assert.deepEqual(
      [await verifies(all[0], tokenA), await verifies(all[1], tokenB)],
      [true, true],
      'each key imported on its own',
    );
    assert.equal((await cache.keysFor(undefined, 'PS256')).length, 1, 'key a is pinned to RS256');
    assert.deepEqual(await cache.keysFor('a', 'ES256'), [], 'an RSA key never serves ES256');
    assert.equal((await cache.keysFor('a', 'RS256'))[0], a, 'a key is imported once per fetch');
    assert.equal(cache.fetches, 1, 'known kids never refetch');
  });

  test('a token without kid is checked against a bounded number of keys; a kid finds its key in any set', async () => {
    // A large set: forged kid-less tokens must not cost a signature check per key of it.
    const others = Array.from({ length: MAX_KEYS_WITHOUT_KID + 5 }, (_, i) => ({ ...jwkB, kid: `other-${i}` }));
    const peer = await newPeer(JSON.stringify({ keys: [...others, jwkA] }));
    const cache = new JwksCache(`${peer.url}/jwks`, http);
    await cache.refresh();
    const kidless = await cache.keysFor(undefined, 'RS256');
    assert.equal(kidless.length, MAX_KEYS_WITHOUT_KID, 'at most MAX_KEYS_WITHOUT_KID keys for a token without kid');
    assert.equal((await Promise.all(kidless.map((k) => verifies(k, tokenA)))).includes(true), false);
    const [a, more] = await cache.keysFor('a', 'RS256');
    assert.equal(more, undefined, 'a kid names its own key only');
    assert.equal(await verifies(a, tokenA), true, 'the last key of the set, found by its kid');
    assert.equal((await cache.keysFor('other-3', 'RS256')).length, 1);
  });

  test('an Ed448 key of the set verifies EdDSA tokens (jose imports Ed25519 keys only)', async () => {
    const ed448 = generateKeyPairSync('ed448');
    const jwk448 = { ...ed448.publicKey.export({ format: 'jwk' }), kid: 'ed448' };
    const peer = await newPeer(JSON.stringify({ keys: [jwk448] }));
    const cache = new JwksCache(`${peer.url}/jwks`, http);
    await cache.refresh();
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${enc({ alg: 'EdDSA', kid: 'ed448' })}.${enc({ sub: 'x' })}`;
    const parsed = parseJwt(`${input}.${sign(null, Buffer.from(input), ed448.privateKey).toString('base64url')}`);
    assert.ok(!('error' in parsed));
    const [key, more] = await cache.keysFor('ed448', 'EdDSA');
    assert.ok(key !== undefined && more === undefined, 'the Ed448 key is imported');
    assert.equal(await verifySignature(parsed, key, 'EdDSA'), true);
  });

  test('a failed fetch keeps the last good keys and reports the error without the body or query', async () => {
    const peer = await newPeer();
    const cache = new JwksCache(`${peer.url}/jwks?token=s3cret`, http);
    await cache.refresh();
    const failures: [number, string, RegExp][] = [
      [500, '{"echo":"s3cret"}', /^fetching http:\/\/127\.0\.0\.1:\d+\/jwks failed: status 500$/],
      [200, 'not json', /^fetching http:\/\/127\.0\.0\.1:\d+\/jwks failed: .*JSON/],
      [200, '[]', /failed: not a JSON Web Key Set$/],
      [200, 'null', /failed: not a JSON Web Key Set$/],
      [200, '{"keys":{}}', /failed: not a JSON Web Key Set$/],
    ];
    for (const [i, [status, body, error]] of failures.entries()) {
      Object.assign(peer, { status, body });
      await cache.refresh();
      const h = cache.health();
      assert.match(h.lastError ?? '', error, body);
      assert.doesNotMatch(h.lastError ?? '', /s3cret/);
      assert.deepEqual([h.healthy, h.failures, h.keys, cache.fetches], [false, i + 1, 3, i + 2], body);
      assert.ok(h.lastErrorAt instanceof Date, 'lastErrorAt is set');
      assert.equal(await verifies((await cache.keysFor('a', 'RS256'))[0], tokenA), true, 'the old keys serve');
    }
    Object.assign(peer, { status: 200, body: JSON.stringify({ keys: [jwkB] }) });
    await cache.refresh();
    assert.deepEqual(
      [cache.health().healthy, cache.health().lastError, cache.failures, cache.size],
      [true, null, 5, 1],
    );

    const thrower = new JwksCache(peer.url, null, { fetch: () => Promise.reject('a string') });
    await thrower.refresh();
    assert.equal(thrower.lastError, `fetching ${peer.url}/ failed: a string`);
  });

  test('a set without signing keys after a good one is a failed fetch; a first empty set loads', async () => {
    const peer = await newPeer();
    const cache = new JwksCache(peer.url, http);
    await cache.refresh();
    const encryptionOnly = JSON.stringify({
      keys: [
        { ...jwkA, use: 'enc' },
        { kty: 'oct', k: 'c2VjcmV0' },
      ],
    });
    for (const [i, body] of ['{"keys":[]}', encryptionOnly].entries()) {
      peer.body = body;
      await cache.refresh();
      const h = cache.health();
      assert.match(h.lastError ?? '', /failed: the set has no signing keys; the last good set \(3 keys\) stays$/, body);
      assert.deepEqual([h.healthy, h.failures, h.keys], [false, i + 1, 3], body);
      assert.equal(await verifies((await cache.keysFor('a', 'RS256'))[0], tokenA), true, 'the old keys serve');
      assert.equal(cache.unsure('a'), false);
    }
    // A smaller set that still signs is a rotation, taken as it is.
    peer.body = JSON.stringify({ keys: [jwkB] });
    await cache.refresh();
    assert.deepEqual([cache.health().healthy, cache.size], [true, 1]);
    assert.deepEqual(await cache.keysFor('a', 'RS256'), []);

    // With nothing held, an empty set is the IdP's answer: loaded, no keys, tokens refused (not unsure).
    const empty = await newPeer('{"keys":[]}');
    const fresh = new JwksCache(empty.url, http);
    await fresh.refresh();
    assert.deepEqual([fresh.loaded, fresh.size, fresh.lastError, fresh.unsure('a')], [true, 0, null, false]);
  });

  test('a rotation to a set of EC, OKP or `use: sig` keys alone is taken, its tokens verify', async () => {
    const ed = generateKeyPairSync('ed25519');
    const tokenEd = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'EdDSA' }).sign(ed.privateKey);
    const jwkEd = await jwk(ed.publicKey, { kid: 'o', use: 'sig' });
    // Auth0 and Okta write `use: sig` on every key; Keycloak adds an EC or OKP key of its own.
    const rotations: [JWK, string, string][] = [
      [jwkA, 'a', 'RS256'],
      [jwkE, 'e', 'ES256'],
      [jwkEd, 'o', 'EdDSA'],
    ];
    for (const [only, kid, alg] of rotations) {
      const peer = await newPeer();
      const cache = new JwksCache(peer.url, http);
      await cache.refresh();
      peer.body = JSON.stringify({ keys: [only] });
      await cache.refresh();
      assert.deepEqual([cache.health().healthy, cache.size, cache.health().lastError], [true, 1, null], kid);
      const jwt = { a: tokenA, e: tokenE, o: tokenEd }[kid]!;
      assert.equal(await verifies((await cache.keysFor(kid, alg))[0], jwt), true, kid);
      // And a set without signing keys after it is a failed fetch: the rotated key still serves.
      peer.body = '{"keys":[]}';
      await cache.refresh();
      assert.deepEqual([cache.health().healthy, cache.size], [false, 1], kid);
      assert.equal(await verifies((await cache.keysFor(kid, alg))[0], jwt), true, kid);
    }
  });

  test('without a gateway client the given fetch is used, until useHttp hands one over', async () => {
    const peer = await newPeer();
    let viaFetch = 0;
    const counting: typeof fetch = (input, init) => {
      viaFetch++;
      return fetch(input, init);
    };
    const cache = new JwksCache(`${peer.url}/jwks`, null, { fetch: counting });
    await cache.refresh();
    assert.deepEqual([viaFetch, peer.requests, cache.size], [1, 1, 3]);
    assert.deepEqual(peer.accepts, ['application/json']);
    cache.useHttp(http);
    await cache.refresh();
    assert.deepEqual([viaFetch, peer.requests, cache.size], [1, 2, 3], 'the second fetch went through the client');
  });

  for (const via of ['client', 'fetch'] as const) {
    test(`the size cap and the deadline bound a fetch through the ${via}`, async () => {
      const peer = await newPeer();
      const client = via === 'client' ? http : null;
      const small = new JwksCache(`${peer.url}/jwks`, client, { maxBytes: 64 });
      await small.refresh();
      assert.match(small.lastError ?? '', /larger than 64 bytes/);
      peer.hang = true;
      const slow = new JwksCache(`${peer.url}/jwks`, client, { timeoutMs: 300 });
      await within(slow.refresh(), 5000, 'the fetch deadline');
      assert.match(slow.lastError ?? '', /within 300 ms/);
    });
  }

  test('one fetch at a time; prefetch starts one only when nothing is loaded or fetching', async () => {
    const peer = await newPeer();
    peer.hang = true;
    const cache = new JwksCache(`${peer.url}/jwks`, http, { timeoutMs: 300 });
    const first = cache.refresh();
    assert.equal(cache.refresh(), first, 'a second refresh joins the first');
    cache.prefetch();
    assert.equal(cache.fetches, 1);
    await within(first, 5000, 'the hanging fetch to fail');
    cache.prefetch();
    assert.equal(cache.fetches, 2, 'nothing loaded: prefetch fetches');
    peer.hang = false;
    await within(cache.refresh(), 5000, 'the second fetch');
    assert.equal(cache.fetches, 2, 'refresh joined the prefetch');
    await within(cache.refresh(), 5000, 'a third fetch');
    assert.deepEqual([cache.fetches, cache.loaded], [3, true]);
    cache.prefetch();
    assert.equal(cache.fetches, 3, 'loaded: prefetch does nothing');
  });

  test('a known kid never waits for a hanging fetch; an unknown kid waits waitMs, not the whole deadline, and is unsure', async () => {
    const peer = await newPeer();
    const cache = new JwksCache(`${peer.url}/jwks`, http, { cooldownSeconds: 0, timeoutMs: 800, waitMs: 100 });
    await cache.refresh();
    peer.hang = true;
    assert.deepEqual(await within(cache.keysFor('unknown', 'RS256'), 5000, 'the unknown kid'), []);
    assert.deepEqual([cache.fetches, cache.lastError], [2, null], 'the fetch still runs');
    assert.equal(cache.unsure('unknown'), true, 'the endpoint has not answered: it cannot say the kid is no key');
    assert.equal(cache.unsure('a'), false);
    const [a] = await within(cache.keysFor('a', 'RS256'), 5000, 'the known kid');
    assert.equal(await verifies(a, tokenA), true);
    assert.equal(cache.lastError, null, 'answered while the fetch hangs');
    await until('the fetch to fail', () => cache.lastError !== null, 5000);
    assert.equal(cache.size, 3);
    // With the default wait (2 s) and deadline (5 s), a token waits for an answer that takes 300 ms.
    const defaults = new JwksCache(`${peer.url}/jwks`, http, { cooldownSeconds: 0 });
    Object.assign(peer, { hang: false, body: JSON.stringify({ keys: [jwkA] }) });
    await defaults.refresh();
    Object.assign(peer, { body: set, delayMs: 300 });
    const [b] = await within(defaults.keysFor('b', 'RS256'), 5000, 'the slow answer');
    assert.equal(await verifies(b, tokenB), true, 'the token waited for the new set');
  });

  test('a stale set is refreshed in the background: after maxAgeSeconds, at most once a second or per cooldown', async () => {
    const peer = await newPeer();
    const eager = new JwksCache(`${peer.url}/jwks`, http, { maxAgeSeconds: 0.5, cooldownSeconds: 0 });
    const fresh = new JwksCache(`${peer.url}/jwks`, http, { cooldownSeconds: 0 });
    const slow = new JwksCache(`${peer.url}/jwks`, http, { maxAgeSeconds: 0, cooldownSeconds: 3600 });
    await Promise.all([eager.refresh(), fresh.refresh(), slow.refresh()]);
    await eager.keysFor('a', 'RS256');
    assert.equal(eager.fetches, 1, 'not again within a second');
    let keys = 0;
    await until(
      'the stale set to be refetched',
      async () => {
        keys = (await eager.keysFor('a', 'RS256')).length;
        return eager.fetches === 2;
      },
      5000,
      100,
    );
    assert.equal(keys, 1, 'the token did not wait for the refresh');
    // As much time has passed for the other two: one is not stale, the other within its cooldown.
    await fresh.keysFor('a', 'RS256');
    await slow.keysFor('a', 'RS256');
    assert.deepEqual([fresh.fetches, slow.fetches], [1, 1]);
  });

  test('before a set is loaded: a token fetches and waits; a failed first fetch is retried after a second', async () => {
    const peer = await newPeer();
    peer.status = 503;
    const cache = new JwksCache(`${peer.url}/jwks`, http, { cooldownSeconds: 3600 });
    assert.deepEqual(await cache.keysFor('a', 'RS256'), []);
    assert.deepEqual(await cache.keysFor('a', 'RS256'), []);
    assert.equal(cache.fetches, 1, 'not retried at once');
    peer.status = 200;
    let found = 0;
    await until(
      'a retry',
      async () => {
        found = (await cache.keysFor(undefined, 'RS256')).length;
        return cache.fetches === 2;
      },
      5000,
      100,
    );
    assert.equal(found, 2, 'the token that started the retry waited for its keys');
  });

  test('a loaded set: an unknown kid refetches once per cooldown and finds a new key; no kid or a known kid never refetches', async () => {
    const peer = await newPeer(JSON.stringify({ keys: [jwkA] }));
    const cache = new JwksCache(`${peer.url}/jwks`, http, { cooldownSeconds: 0 });
    await cache.refresh();
    assert.equal(await verifies((await cache.keysFor('a', 'RS256'))[0], tokenA), true);
    assert.deepEqual(await cache.keysFor(undefined, 'ES256'), []);
    assert.deepEqual(await cache.keysFor('a', 'ES256'), []);
    assert.equal(cache.fetches, 1, 'no kid, or a kid the set has: nothing new to fetch');
    // Rotation: the new key takes the old one's place in the set.
    peer.body = JSON.stringify({ keys: [{ ...jwkB, kid: 'b2' }] });
    const [b2] = await cache.keysFor('b2', 'RS256');
    assert.equal(cache.fetches, 2);
    assert.equal(await verifies(b2, tokenB), true, 'the new key, not the one imported from the old set');
    // A key that fits by its type but does not import is left out, not handed on.
    peer.body = JSON.stringify({ keys: [jwkA, { kty: 'RSA', kid: 'broken' }] });
    assert.deepEqual(await cache.keysFor('broken', 'RS256'), []);
    assert.equal((await cache.keysFor(undefined, 'RS256')).length, 1);

    const patient = new JwksCache(`${peer.url}/jwks`, http, { cooldownSeconds: 1 });
    const defaults = new JwksCache(`${peer.url}/jwks`, http);
    await Promise.all([patient.refresh(), defaults.refresh()]);
    peer.body = set;
    assert.deepEqual(await patient.keysFor('e', 'ES256'), [], 'within the cooldown');
    assert.equal(patient.fetches, 1);
    await until('the cooldown to end', async () => (await patient.keysFor('e', 'ES256')).length === 1, 5000, 100);
    assert.equal(patient.fetches, 2);
    assert.deepEqual(await defaults.keysFor('e', 'ES256'), [], 'the default cooldown is 30 s');
    assert.equal(defaults.fetches, 1);
  });

  test('a key rotated in during an outage: its kid is unsure (not refused) while fetches fail, and refetched a second after the failure, not a cooldown', async () => {
    const peer = await newPeer(JSON.stringify({ keys: [jwkA] }));
    const cache = new JwksCache(`${peer.url}/jwks`, http, { cooldownSeconds: 3600 });
    assert.equal(cache.unsure('a'), true, 'nothing fetched yet');
    await cache.refresh();
    assert.equal(cache.unsure('b'), false, 'the set is current: a kid it lacks is no key of the IdP');
    // The JWKS endpoint fails (a background refresh, say), and meanwhile the IdP starts signing with b.
    peer.status = 503;
    peer.body = set;
    await cache.refresh();
    assert.deepEqual(await cache.keysFor('b', 'RS256'), []);
    assert.equal(cache.unsure('b'), true, 'the failed fetch cannot say b is no key');
    assert.equal(cache.unsure('a'), false, 'a known kid is checked with its key');
    assert.equal(cache.unsure(undefined), false);
    peer.status = 200;
    await until('the retry', async () => (await cache.keysFor('b', 'RS256')).length === 1, 5000, 100);
    assert.equal(cache.fetches, 3, 'retried once, within seconds despite the hour-long cooldown');
    assert.equal(cache.unsure('c'), false);
  });

  test('sharedJwksCache: one cache per URI and options, nothing fetched, the newest runtime client used', async () => {
    const peer = await newPeer();
    const resources = new Map<string, unknown>();
    const services = (client: GatewayServices['http']): Pick<GatewayServices, 'shared' | 'http'> => ({
      http: client,
      shared: <T>(key: string, open: () => T): T => {
        if (!resources.has(key)) resources.set(key, open());
        return resources.get(key) as T;
      },
    });
    const old = createHttpClient();
    const uri = `${peer.url}/jwks`;
    const first = sharedJwksCache(services(old), uri);
    assert.equal(peer.requests, 0, 'nothing fetched yet');
    const defaults = {
      cooldownSeconds: 30,
      maxAgeSeconds: 600,
      timeoutMs: 5000,
      maxBytes: 1024 * 1024,
      waitMs: 2000,
    };
    assert.equal(sharedJwksCache(services(old), uri, defaults), first, 'the defaults spelt out are the same cache');
    const others = new Set<JwksCache>([first, sharedJwksCache(services(old), `${uri}2`)]);
    for (const name of Object.keys(defaults)) others.add(sharedJwksCache(services(old), uri, { [name]: 7 }));
    assert.equal(others.size, 7, 'each option makes its own cache');

    await old.close();
    assert.equal(sharedJwksCache(services(http), uri), first);
    await first.refresh();
    assert.deepEqual([first.lastError, first.size], [null, 3], "fetched through the new runtime's client");
  });
});
