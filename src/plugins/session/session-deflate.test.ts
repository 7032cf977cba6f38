// A session's data deflated before it is sealed, as lua-resty-session 4 (Kong 3) does past its
// compression_threshold of 1024 bytes: a session of many groups stays in one cookie longer. A
// deflated cookie is inflated with a hard bound; a cookie sealed as it is (before deflating
// existed) still opens. Real gateway, real upstream.
import assert from 'node:assert/strict';
import { hkdfSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { CompactEncrypt } from 'jose';
import { serviceConfig } from '../../../test/support/gateway.ts';
import { groupsAtSignInPlugin } from '../../../test/support/session-groups.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { SessionSealer } from '../../index.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const SECRET = 'a-shared-secret-of-enough-length-0123456789';
/** The session plugin's binding for `cookie_name: session`, `audience: default`. */
const BINDING = 'session|session|default';
/** Two chunks sealed as they are (about 5.3 KB), one deflated: names alike compress well. */
const GROUPS = Array.from({ length: 200 }, (_, i) => `group-number-${i}`);
const EXPIRED = 'Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0';

const groupsAtSignIn = groupsAtSignInPlugin({ 'many-key': GROUPS, 'few-key': ['few'] });

const nameOf = (setCookie: string) => setCookie.slice(0, setCookie.indexOf('='));
const stored = (setCookies: string[]) => setCookies.map((c) => c.split(';')[0]!).filter((p) => !p.endsWith('='));
const removed = (setCookies: string[]) => setCookies.filter((c) => c.includes(EXPIRED)).map(nameOf);
/** A sealed value's protected JWE header. */
const headerOf = (sealed: string) =>
  JSON.parse(Buffer.from(sealed.slice(0, sealed.indexOf('.')), 'base64url').toString()) as Record<string, unknown>;

/**
 * Seals `plaintext` as the plugin's sealer would, with any protected header: the key and kid are
 * derived as src/lib/sealer.ts derives them (fixed: a change would log every session out).
 */
async function sealRaw(plaintext: Uint8Array, extra: Record<string, unknown>): Promise<string> {
  const salt = 'tollgate/oidc/session/v1';
  const key = new Uint8Array(hkdfSync('sha256', SECRET, salt, `enc:${BINDING}`, 32));
  const kid = Buffer.from(hkdfSync('sha256', SECRET, salt, `kid:${BINDING}`, 9)).toString('base64url');
  return new CompactEncrypt(plaintext).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid, ...extra }).encrypt(key);
}

describe('session deflated as lua-resty-session 4 deflates it (real gateway)', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startRecordingUpstream();
    const plugins = (extra: Record<string, unknown>[]) => [
      { name: 'session', config: { secret: SECRET } },
      { name: 'key-auth', config: { anonymous: 'anonymous' } },
      { name: 'groups-at-sign-in', config: {} },
      ...extra,
    ];
    gw = await startGateway({
      plugins: [groupsAtSignIn],
      config: serviceConfig(
        [
          { name: 'app', paths: ['/app'], plugins: plugins([]) },
          {
            name: 'last-group-only',
            paths: ['/last'],
            plugins: plugins([
              { name: 'acl', config: { allow: [GROUPS.at(-1)], always_use_authenticated_groups: true } },
            ]),
          },
        ],
        {
          url: upstream.url,
          extra: {
            consumers: [
              { username: 'alice', keyauth_credentials: [{ key: 'many-key' }, { key: 'few-key' }] },
              { username: 'anonymous' },
            ],
          },
        },
      ),
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  async function call(headers: Record<string, string>, path = '/app') {
    const res = await fetch(`${gw.url}${path}`, { headers, signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    const seen = text.startsWith('{') ? (JSON.parse(text) as { headers: Record<string, string> }) : null;
    return { res, seen, cookies: res.headers.getSetCookie() };
  }

  /** A session payload for alice, current, as the plugin writes it. */
  async function payload(groups: unknown[]) {
    const first = await call({ apikey: 'few-key' });
    const sealed = stored(first.cookies)[0]!.slice('session='.length);
    const opened = await new SessionSealer([SECRET], BINDING).open<Record<string, unknown>>(sealed);
    return { ...opened!.payload, g: groups };
  }

  test('a session of many groups that took two chunks sealed as it is fits in one cookie, deflated and marked so', async () => {
    const first = await call({ apikey: 'many-key' });
    assert.equal(first.seen!.headers['x-consumer-username'], 'alice');
    const pairs = stored(first.cookies);
    assert.deepEqual(pairs.map(nameOf), ['session'], 'one cookie, no session2');
    assert.ok(Buffer.byteLength(pairs[0]!) < 4096);
    const sealed = pairs[0]!.slice('session='.length);
    assert.equal(headerOf(sealed).tzip, 'DEF', 'the protected header says the data is deflated');
    // The same session sealed as it is (as before, and as a sealer that deflates nothing) needs two.
    const opened = await new SessionSealer([SECRET], BINDING).open<Record<string, unknown>>(sealed);
    assert.deepEqual(opened!.payload.g, GROUPS);
    const asItIs = await new SessionSealer([SECRET], BINDING).seal(opened!.payload);
    assert.ok(`session=${asItIs}`.length > 4096, `${asItIs.length} bytes sealed as it is`);
    // A session of 1024 bytes or less is sealed as it is, as lua-resty-session 4 leaves it.
    const few = stored((await call({ apikey: 'few-key' })).cookies);
    assert.equal(headerOf(few[0]!.slice('session='.length)).tzip, undefined);
  });

  test('the deflated session comes back on the next request with every group', async () => {
    const pairs = stored((await call({ apikey: 'many-key' })).cookies);
    const later = await call({ cookie: `app=1; ${pairs[0]}` });
    assert.equal(later.res.status, 200);
    assert.equal(later.seen!.headers['x-consumer-username'], 'alice');
    assert.equal(later.seen!.headers['x-authenticated-groups'], GROUPS.join(', '));
    assert.equal(later.seen!.headers.cookie, 'app=1');
    assert.deepEqual(later.cookies, [], 'nothing to renew or clear');
    const acl = await call({ cookie: pairs[0]! }, '/last');
    assert.equal(acl.res.status, 200, 'acl reads the last group');
  });

  test('a session sealed as it is, in two chunks (a cookie written before sessions were deflated), still opens', async () => {
    const sealed = await new SessionSealer([SECRET], BINDING).seal(await payload(GROUPS));
    assert.equal(headerOf(sealed).tzip, undefined);
    const cookie = `session=${sealed.slice(0, 4088)}; session2=${sealed.slice(4088)}`;
    assert.ok(sealed.length > 4088 && sealed.length - 4088 <= 4087, 'two chunks');
    const later = await call({ cookie });
    assert.equal(later.seen!.headers['x-consumer-username'], 'alice');
    assert.equal(later.seen!.headers['x-authenticated-groups'], GROUPS.join(', '));
    assert.deepEqual(later.cookies, []);
  });

  test('a deflated session that would inflate past 64 KiB does not open, and is cleared', async () => {
    // Sealed with the secret (as one who had it could): 1 MiB of JSON in a cookie of about 1.4 KB.
    const bomb = new SessionSealer([SECRET], BINDING, { deflateAbove: 1, maxInflated: 2 * 1024 * 1024 });
    const sealed = await bomb.seal(await payload(['a'.repeat(1024 * 1024)]));
    assert.equal(headerOf(sealed).tzip, 'DEF');
    assert.ok(sealed.length < 4088, `${sealed.length} bytes`);
    const res = await call({ cookie: `session=${sealed}` });
    assert.equal(res.res.status, 200);
    assert.equal(res.seen!.headers['x-consumer-username'], 'anonymous');
    assert.deepEqual(removed(res.cookies), ['session']);
    // Under the bound it opens: the bound, not the deflating, refused it.
    const fits = await bomb.seal(await payload(['a'.repeat(8 * 1024)]));
    const ok = await call({ cookie: `session=${fits}` });
    assert.equal(ok.seen!.headers['x-consumer-username'], 'alice');
  });

  test('a session marked deflated that does not inflate, or deflated as standard JWE zip, does not open, and is cleared', async () => {
    const json = new TextEncoder().encode(JSON.stringify(await payload(['g'])));
    for (const sealed of [
      await sealRaw(json, { tzip: 'DEF' }),
      await sealRaw(json, { tzip: 'GZIP' }),
      // jose deflates it itself: the gateway never writes one, and leaves none to jose's inflating.
      await sealRaw(json, { zip: 'DEF' }),
    ]) {
      const res = await call({ cookie: `session=${sealed}` });
      assert.equal(res.seen!.headers['x-consumer-username'], 'anonymous', JSON.stringify(headerOf(sealed)));
      assert.deepEqual(removed(res.cookies), ['session']);
    }
    // The same plaintext under the plain header opens: what refused the others is their mark.
    const plain = await call({ cookie: `session=${await sealRaw(json, {})}` });
    assert.equal(plain.seen!.headers['x-consumer-username'], 'alice');
  });
});
