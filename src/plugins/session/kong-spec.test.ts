// Kong's own session specs, ported: spec/03-plugins/30-session/01-access_spec.lua and
// 03-session_spec.lua at Kong commit 22246ef2, against a real gateway set up as Kong's spec sets
// up Kong (key-auth with an anonymous consumer that request-termination turns away, so only a key
// or the session gets in). 03-session_spec calls session.logout() with a mocked request; here the
// same configs get real requests. Cases already covered elsewhere are in the report of this port.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const CONSUMER_ID = '5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
const CREDENTIAL_ID = '0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d';
const REMEMBER_ROLLING_TIMEOUT = 3600;
const FORM = 'application/x-www-form-urlencoded';

/** A route of its own host and path, with a session of `session` and key-auth with the anonymous consumer. */
function route(name: string, host: string, path: string, session: Record<string, unknown>): Record<string, unknown> {
  return {
    name,
    hosts: [host],
    paths: [path],
    plugins: [
      { name: 'session', config: session },
      { name: 'key-auth', config: { anonymous: 'anon' } },
    ],
  };
}

describe("Kong's session specs", () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({
      config: {
        _format_version: '3.0',
        consumers: [
          {
            id: CONSUMER_ID,
            username: 'coop',
            keyauth_credentials: [{ id: CREDENTIAL_ID, key: 'kong' }],
          },
          {
            username: 'anon',
            plugins: [{ name: 'request-termination', config: { status_code: 403, message: 'So it goes.' } }],
          },
        ],
        services: [
          {
            name: 'echo',
            url: 'echo://',
            routes: [
              route('test1', 'konghq.test', '/test1', {}),
              route('test2', 'konghq.test', '/test2', {
                cookie_name: 'da_cookie',
                cookie_same_site: 'Lax',
                cookie_http_only: false,
                cookie_secure: false,
              }),
              route('headers', 'konghq.test', '/headers', {}),
              route('test5', 'httpbin.test', '/test5', {
                remember_rolling_timeout: REMEMBER_ROLLING_TIMEOUT,
                remember: true,
              }),
              // 03-session_spec's configs.
              route('delete-default', 'logout.test', '/delete-default', {
                logout_methods: ['DELETE'],
                logout_post_arg: 'session_logout',
              }),
              route('delete-no-body', 'logout.test', '/delete-no-body', {
                logout_methods: ['DELETE'],
                logout_post_arg: 'session_logout',
                read_body_for_logout: false,
              }),
              route('delete-only', 'logout.test', '/delete-only', {
                logout_methods: ['DELETE'],
                logout_post_arg: 'session_logout',
                read_body_for_logout: true,
              }),
            ],
          },
        ],
      },
    });
  });
  after(() => gw?.close());

  const send = async (
    host: string,
    path: string,
    headers: Record<string, string> = {},
    init: { method?: string; body?: string } = {},
  ) => {
    // undici's request, not fetch: fetch sends its own Host.
    const res = await request(`${gw.url}${path}`, {
      method: (init.method ?? 'GET') as 'GET',
      body: init.body,
      headers: { host, ...headers },
    });
    const text = await res.body.text();
    const set = res.headers['set-cookie'];
    return { status: res.statusCode, cookies: set === undefined ? [] : ([] as string[]).concat(set), text };
  };
  /** The `name=value` of a Set-Cookie, as a browser sends it back. */
  const pair = (setCookie: string): string => setCookie.split('; ')[0]!;
  const nameOf = (setCookie: string): string => setCookie.split('=', 1)[0]!;

  test('01 "plugin attaches Set-Cookie and cookie response headers": session; Path=/; SameSite=Strict; Secure; HttpOnly', async () => {
    const r = await send('konghq.test', '/test1/status/200', { apikey: 'kong' });
    assert.equal(r.status, 200);
    assert.equal(r.cookies.length, 1, r.cookies.join('\n'));
    const parts = r.cookies[0]!.split('; ');
    assert.equal(nameOf(r.cookies[0]!), 'session');
    assert.deepEqual(parts.slice(1), ['Path=/', 'SameSite=Strict', 'Secure', 'HttpOnly']);
  });

  test('01 "cookie works as authentication after initial auth plugin": the anonymous consumer is turned away, the cookie is let in', async () => {
    const anonymous = await send('konghq.test', '/test2/status/200');
    assert.equal(anonymous.status, 403);
    assert.deepEqual(JSON.parse(anonymous.text), { message: 'So it goes.' });
    const signIn = await send('konghq.test', '/test2/status/200', { apikey: 'kong' });
    assert.equal(signIn.status, 200);
    const cookie = signIn.cookies[0]!;
    assert.equal(nameOf(cookie), 'da_cookie');
    // cookie_same_site Lax, and neither Secure nor HttpOnly.
    assert.deepEqual(cookie.split('; ').slice(1), ['Path=/', 'SameSite=Lax']);
    const again = await send('konghq.test', '/test2/status/200', { cookie: pair(cookie) });
    assert.equal(again.status, 200);
    assert.equal(JSON.parse(again.text).headers['x-consumer-username'], 'coop');
  });

  test('01 "plugin attaches Set-Cookie with max-age/expiry" (remember): the remember cookie is persistent, Max-Age remember_rolling_timeout', async () => {
    const r = await send('httpbin.test', '/test5/status/200', { apikey: 'kong' });
    assert.equal(r.status, 200);
    assert.equal(r.cookies.length, 2, r.cookies.join('\n'));
    assert.equal(nameOf(r.cookies[0]!), 'session');
    const parts = r.cookies[1]!.split('; ');
    assert.equal(nameOf(r.cookies[1]!), 'remember');
    assert.deepEqual(parts.slice(1, 5), ['Path=/', 'SameSite=Strict', 'Secure', 'HttpOnly']);
    assert.match(parts[5]!, /^Expires=(.*)/);
    assert.equal(parts[6], `Max-Age=${REMEMBER_ROLLING_TIMEOUT}`);
  });

  test('01 "consumer headers are set correctly on request": the consumer and credential the session carries, no anonymous, custom id or groups', async () => {
    const signIn = await send('konghq.test', '/headers', { apikey: 'kong' });
    assert.equal(signIn.status, 200);
    const r = await send('konghq.test', '/headers', { cookie: pair(signIn.cookies[0]!) });
    assert.equal(r.status, 200);
    const headers = JSON.parse(r.text).headers as Record<string, string | undefined>;
    assert.equal(headers['x-consumer-id'], CONSUMER_ID);
    assert.equal(headers['x-consumer-username'], 'coop');
    assert.equal(headers['x-credential-identifier'], CREDENTIAL_ID);
    assert.equal(headers['x-anonymous-consumer'], undefined);
    assert.equal(headers['x-consumer-custom-id'], undefined);
    assert.equal(headers['x-authenticated-groups'], undefined);
  });

  /** A session cookie of `path`, then `method` with a form body naming `session_logout`: logged out? */
  const logsOut = async (path: string, method: string): Promise<boolean> => {
    const signIn = await send('logout.test', path, { apikey: 'kong' });
    assert.equal(signIn.status, 200);
    const r = await send(
      'logout.test',
      path,
      { cookie: pair(signIn.cookies[0]!), 'content-type': FORM },
      { method, body: 'session_logout=true' },
    );
    const out = r.cookies.some((c) => c.startsWith('session=;'));
    // A request that is no logout reaches the upstream as the session's consumer.
    if (!out) assert.equal(JSON.parse(r.text).headers['x-consumer-username'], 'coop', `${method} ${path}`);
    return out;
  };

  test('03 "logs out with DELETE request with body" only with read_body_for_logout: not by default, nor with it false', async () => {
    assert.equal(await logsOut('/delete-only', 'DELETE'), true);
    assert.equal(await logsOut('/delete-default', 'DELETE'), false);
    assert.equal(await logsOut('/delete-no-body', 'DELETE'), false);
  });

  test('03 "does not logout with POST requests when method is not allowed": the body is not read on POST for logout_methods [DELETE]', async () => {
    assert.equal(await logsOut('/delete-only', 'POST'), false);
  });
});
