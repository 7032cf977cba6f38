// The session plugin against Kong 3 (lua-resty-session 4) behaviours a Kong user relies on: the
// cookie's attributes, Kong 2's field names, and the Session-* headers. Real gateway, real upstream.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { serviceConfig } from '../../../test/support/gateway.ts';
import { groupsAtSignInPlugin } from '../../../test/support/session-groups.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const SECRET = 'a-shared-secret-of-enough-length-0123456789';
/** A multipart part's head up to its quoted name. */
const PART = 'Content-Disposition: form-data; name=';

describe('session (Kong 3 parity)', () => {
  let upstream: RecordingUpstream;
  before(async () => {
    upstream = await startRecordingUpstream();
  });
  after(async () => {
    await upstream?.close();
  });

  /** A gateway whose /app route has the session plugin (`config` added) before key-auth with anonymous. */
  async function gateway(config: Record<string, unknown>): Promise<TestGateway> {
    return startGateway({
      config: serviceConfig(
        [
          {
            name: 'app',
            paths: ['/app'],
            plugins: [
              { name: 'session', config: { secret: SECRET, ...config } },
              { name: 'key-auth', config: { anonymous: 'anonymous' } },
            ],
          },
        ],
        {
          url: upstream.url,
          extra: {
            consumers: [
              { username: 'alice', custom_id: 'alice-42', keyauth_credentials: [{ key: 'alice-key' }] },
              { custom_id: 'no-name', keyauth_credentials: [{ key: 'custom-key' }] },
              { username: 'anonymous' },
            ],
          },
        },
      ),
    });
  }

  async function call(gw: TestGateway, headers: Record<string, string> = {}, path = '/app') {
    const res = await fetch(`${gw.url}${path}`, { headers, signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    const seen = text.startsWith('{') ? (JSON.parse(text) as { headers: Record<string, string> }) : null;
    return { res, seen, cookies: res.headers.getSetCookie() };
  }

  const named = (cookies: string[], name: string) => cookies.find((c) => c.startsWith(`${name}=`));
  const attributes = (c: string | undefined) => (c === undefined ? undefined : c.slice(c.indexOf(';')));

  test('SameSite=None always comes with Secure, as lua-resty-session 4 sets it (browsers drop it otherwise)', async () => {
    const gw = await gateway({ cookie_same_site: 'None', cookie_secure: false });
    try {
      const first = await call(gw, { apikey: 'alice-key' });
      assert.equal(attributes(named(first.cookies, 'session')), '; Path=/; SameSite=None; Secure; HttpOnly');
      // The cleared cookie of a bad session carries the same attributes, or the browser would not replace it.
      const bad = await call(gw, { cookie: 'session=not-a-session' });
      assert.equal(
        attributes(named(bad.cookies, 'session')),
        '; Path=/; SameSite=None; Secure; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0',
      );
    } finally {
      await gw.close();
    }
    const lax = await gateway({ cookie_same_site: 'Lax', cookie_secure: false });
    try {
      const first = await call(lax, { apikey: 'alice-key' });
      assert.equal(attributes(named(first.cookies, 'session')), '; Path=/; SameSite=Lax; HttpOnly');
    } finally {
      await lax.close();
    }
  });

  test('the groups an authentication plugin set at sign-in come back with the session (X-Authenticated-Groups, acl), as in Kong', async () => {
    // Kong's spec sets ngx.ctx.authenticated_groups with its ctx-checker plugin; this one does the
    // same at sign-in (with a key), as an LDAP or OIDC authentication would.
    const setter = groupsAtSignInPlugin({
      'alice-key': ['agents', 'doubleagents'],
      // More than six chunks of 4096 bytes can hold (the most the gateway issues and reads),
      // deflated or not: digests do not compress as `group-number-N` would.
      'big-key': Array.from({ length: 1600 }, (_, i) =>
        createHash('sha256').update(`group ${i}`).digest('base64url').slice(0, 20),
      ),
    });
    const plugins = (extra: Record<string, unknown>[]) => [
      { name: 'session', config: { secret: SECRET } },
      { name: 'key-auth', config: { anonymous: 'anonymous' } },
      { name: 'groups-at-sign-in', config: {} },
      ...extra,
    ];
    const gw = await startGateway({
      plugins: [setter],
      config: serviceConfig(
        [
          { name: 'app', paths: ['/app'], plugins: plugins([]) },
          {
            name: 'agents-only',
            paths: ['/agents'],
            plugins: plugins([{ name: 'acl', config: { allow: ['agents'], always_use_authenticated_groups: true } }]),
          },
        ],
        {
          url: upstream.url,
          extra: {
            consumers: [
              { username: 'alice', keyauth_credentials: [{ key: 'alice-key' }, { key: 'big-key' }] },
              { username: 'anonymous' },
            ],
          },
        },
      ),
    });
    try {
      const first = await call(gw, { apikey: 'alice-key' });
      const cookie = named(first.cookies, 'session')!.split(';')[0]!;
      const later = await call(gw, { cookie, 'x-authenticated-groups': 'admins' });
      assert.equal(later.seen!.headers['x-consumer-username'], 'alice');
      assert.equal(later.seen!.headers['x-authenticated-groups'], 'agents, doubleagents');
      const agents = await call(gw, { cookie }, '/agents');
      assert.equal(agents.res.status, 200, 'acl reads the groups the session restored');
      assert.equal(agents.seen!.headers['x-authenticated-groups'], 'agents, doubleagents');
      // Without the groups the session would let a deny list pass: no session is opened then, and
      // the session cookie the client held is removed.
      const big = await call(gw, { apikey: 'big-key', cookie: 'session=junk' });
      assert.equal(big.res.status, 200);
      assert.deepEqual(
        big.cookies.map((c) => c.split(';')[0]),
        ['session='],
      );
    } finally {
      await gw.close();
    }
  });

  test("subject: the consumer's username, else its custom_id, else its id (Kong 3.2+), to the client and upstream", async () => {
    const gw = await gateway({ request_headers: ['subject'], response_headers: ['subject'] });
    try {
      const first = await call(gw, { apikey: 'alice-key', 'session-subject': 'admin' });
      assert.equal(first.res.headers.get('session-subject'), 'alice', 'on the new session');
      assert.equal(first.seen!.headers['session-subject'], undefined, "the client's own copy is removed");
      const cookie = named(first.cookies, 'session')!.split(';')[0]!;
      const later = await call(gw, { cookie, 'session-subject': 'admin' });
      assert.equal(later.seen!.headers['session-subject'], 'alice');
      assert.equal(later.res.headers.get('session-subject'), 'alice');
      const custom = await call(gw, { apikey: 'custom-key' });
      assert.equal(custom.res.headers.get('session-subject'), 'no-name');
      const anonymous = await call(gw);
      assert.equal(anonymous.res.headers.get('session-subject'), null, 'no session, no subject');
    } finally {
      await gw.close();
    }
  });

  test('remember: a persistent remember cookie starts a new session once the session cookie expired or is gone (lua-resty-session 4)', async () => {
    const gw = await gateway({ remember: true, idling_timeout: 1, remember_rolling_timeout: 60 });
    const short = await gateway({ remember: true, idling_timeout: 1, remember_absolute_timeout: 1 });
    try {
      const first = await call(gw, { apikey: 'alice-key' });
      const session = named(first.cookies, 'session')!;
      const remember = named(first.cookies, 'remember')!;
      assert.equal(attributes(session), '; Path=/; SameSite=Strict; Secure; HttpOnly', 'a browser-session cookie');
      assert.match(
        attributes(remember) ?? '',
        /^; Path=\/; SameSite=Strict; Secure; HttpOnly; Expires=[^;]+ GMT; Max-Age=60$/,
      );
      const both = `${session.split(';')[0]}; ${remember.split(';')[0]}`;
      const shortFirst = await call(short, { apikey: 'alice-key' });
      const shortRemember = named(shortFirst.cookies, 'remember')!.split(';')[0]!;
      await new Promise((r) => setTimeout(r, 2200));

      // The session idled out; the remember cookie brings alice back, with a new session cookie.
      const back = await call(gw, { cookie: both });
      assert.equal(back.seen!.headers['x-consumer-username'], 'alice');
      assert.equal(back.seen!.headers.cookie, undefined, 'neither cookie goes upstream');
      assert.ok(named(back.cookies, 'session')?.startsWith('session=ey'), 'a new session cookie');
      assert.match(named(back.cookies, 'remember') ?? '', /; Max-Age=60$/, 'the remember cookie renewed');
      // A browser that was closed sends the remember cookie alone.
      const reopened = await call(gw, { cookie: remember.split(';')[0]! });
      assert.equal(reopened.seen!.headers['x-consumer-username'], 'alice');
      // A session cookie's value is no remember cookie.
      const swapped = await call(gw, { cookie: `remember=${session.split(';')[0]!.slice('session='.length)}` });
      assert.equal(swapped.seen!.headers['x-consumer-username'], 'anonymous');
      assert.match(named(swapped.cookies, 'remember') ?? '', /^remember=; .*Max-Age=0$/, 'and is cleared');
      // Past remember_absolute_timeout the remember cookie is refused too.
      const expired = await call(short, { cookie: shortRemember });
      assert.equal(expired.seen!.headers['x-consumer-username'], 'anonymous');
      // Logout ends both.
      const out = await fetch(`${gw.url}/app?session_logout`, {
        method: 'POST',
        headers: { cookie: remember.split(';')[0]! },
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(out.status, 200);
      assert.deepEqual(
        out.headers.getSetCookie().map((c) => c.split(';')[0]),
        ['session=', 'remember='],
      );
    } finally {
      await gw.close();
      await short.close();
    }
  });

  test('a cookie_domain or cookie_path a Set-Cookie cannot carry is refused at load, not a 500 on every sign-in', async () => {
    for (const bad of [
      { cookie_domain: 'example.com\r\nX-Injected: 1' },
      { cookie_domain: 'example.com; SameSite=None' },
      { cookie_path: '/a;Domain=evil.example' },
      { cookie_path: '/\u00e9' },
    ]) {
      // A gateway that started anyway is closed, so that the failure does not hold the test open.
      const started = gateway(bad).then(async (gw) => {
        await gw.close();
        return gw;
      });
      await assert.rejects(started, (err: { issues?: { path?: unknown; message: string }[] }) => {
        const field = Object.keys(bad)[0]!;
        assert.ok(
          err.issues?.some((i) => JSON.stringify(i).includes(field)),
          `${JSON.stringify(bad)}: ${JSON.stringify(err.issues)}`,
        );
        return true;
      });
    }
    const gw = await gateway({ cookie_domain: '.example.com', cookie_path: '/app' });
    try {
      const first = await call(gw, { apikey: 'alice-key' });
      assert.equal(first.res.status, 200);
      assert.equal(
        attributes(named(first.cookies, 'session')),
        '; Domain=.example.com; Path=/app; SameSite=Strict; Secure; HttpOnly',
      );
    } finally {
      await gw.close();
    }
  });

  test('read_body_for_logout: logout_post_arg in a JSON body too, on POST and DELETE but not GET (kong.request.get_body)', async () => {
    const gw = await gateway({ read_body_for_logout: true, logout_methods: ['GET', 'POST', 'DELETE'] });
    try {
      const first = await call(gw, { apikey: 'alice-key' });
      const cookie = named(first.cookies, 'session')!.split(';')[0]!;
      const send = (method: string, type: string, body: string) =>
        fetch(`${gw.url}/app`, {
          method,
          headers: { cookie, 'content-type': type },
          body,
          signal: AbortSignal.timeout(5000),
        }).then(async (res) => ({ res, text: await res.text() }));
      const loggedOut = (r: { res: Response }) => r.res.headers.getSetCookie().some((c) => c.startsWith('session=;'));
      for (const [method, type, body] of [
        ['POST', 'application/json', '{"session_logout":true}'],
        ['DELETE', 'Application/JSON; charset=utf-8', '{"session_logout":"yes","other":1}'],
        ['POST', 'application/merge-patch+json', '{"session_logout":null}'],
        ['POST', 'Application/X-WWW-Form-Urlencoded', 'session_logout=1'],
        ['POST', 'multipart/form-data; boundary=XyZ', `--XyZ\r\n${PART}"session_logout"\r\n\r\n1\r\n--XyZ--\r\n`],
      ] as const) {
        const r = await send(method, type, body);
        assert.equal(r.res.status, 200, `${method} ${type} ${body}`);
        assert.ok(loggedOut(r), `${method} ${type} ${body}: logged out`);
      }
      for (const [why, method, type, body] of [
        ['false', 'POST', 'application/json', '{"session_logout":false}'],
        ['absent', 'POST', 'application/json', '{"other":1}'],
        ['an array', 'POST', 'application/json', '["session_logout"]'],
        ['not JSON', 'POST', 'application/json', '{session_logout'],
        [
          'another part',
          'POST',
          'multipart/form-data; boundary=XyZ',
          `--XyZ\r\n${PART}"other"\r\n\r\n1\r\n--XyZ--\r\n`,
        ],
      ] as const) {
        const r = await send(method, type, body);
        assert.ok(!loggedOut(r), why);
        assert.equal(
          (JSON.parse(r.text) as { headers: Record<string, string> }).headers['x-consumer-username'],
          'alice',
        );
      }
      // Kong reads no body of a GET; undici sends none, so a raw request carries it.
      const raw = await new Promise<string>((resolve, reject) => {
        const body = 'session_logout=1';
        const sock = connect(Number(new URL(gw.url).port), '127.0.0.1', () =>
          sock.write(
            `GET /app HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\nConnection: close\r\n` +
              `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
          ),
        );
        let got = '';
        sock.on('data', (d) => {
          got += d.toString();
        });
        sock.on('end', () => resolve(got));
        sock.on('error', reject);
        sock.setTimeout(5000, () => reject(new Error('no answer')));
      });
      assert.match(raw, /"x-consumer-username":"alice"/, 'a GET body is not read for logout');
    } finally {
      await gw.close();
    }
  });
});
