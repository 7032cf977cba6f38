/**
 * A browser session whose access token has expired while the IdP cannot answer its refresh: the
 * IdP's token endpoint failing (5xx, 429, hanging, a WAF's HTML page) or the IdP stopped, against a real
 * oidc-provider and the gateway. The session must outlive the outage; a refused refresh still
 * ends it (flow.test.ts).
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type SessionPayload, sessionBinding } from '../../src/plugins/oidc/index.ts';
import { SessionSealer } from '../../src/plugins/oidc/session.ts';
import { startGateway } from '../../src/testing/index.ts';
import type { EndpointFault } from '../support/idp.ts';
import { until } from '../support/wait.ts';
import {
  Client,
  type Echo,
  gatewayConfig,
  login,
  oidcConfig,
  rawFetch,
  SESSION_SECRET,
  type Stack,
  startStack,
} from './helpers.ts';

const COOKIE = 'oidc_session';
const JSON_ACCEPT = { accept: 'application/json' };
const PAGE = { accept: 'text/html', 'sec-fetch-mode': 'navigate' };
/** The plugin's `timeout` here: a hanging token endpoint is given up on after it. */
const TIMEOUT = 1000;

/** The sealer of the stack's sessions, to read and rewrite them. */
function sessionSealer(stack: Stack): SessionSealer {
  const discovery = `${stack.idp.issuer}/.well-known/openid-configuration`;
  return new SessionSealer([SESSION_SECRET], sessionBinding(stack.idp.webClient.client_id, discovery, COOKIE));
}

/** A fresh login's session (its own refresh token), sealed again with its access token expired. */
async function expiredSession(stack: Stack, change: Partial<SessionPayload> = {}): Promise<string> {
  const client = new Client();
  const { res } = await login(client, stack);
  assert.equal(res.status, 302, 'logged in');
  const sealer = sessionSealer(stack);
  const opened = await sealer.open<SessionPayload>(client.jar(stack.gw.url).get(COOKIE)!);
  assert.ok(opened?.payload.rt, 'the session holds a refresh token');
  return `${COOKIE}=${await sealer.seal({ ...opened.payload, ate: Math.floor(Date.now() / 1000) - 5, ...change })}`;
}

/** The session a `Cookie` or `Set-Cookie` value carries. */
async function sessionOf(stack: Stack, cookie: string): Promise<SessionPayload> {
  const value = cookie.slice(COOKIE.length + 1).split(';')[0]!;
  const opened = await sessionSealer(stack).open<SessionPayload>(value);
  assert.ok(opened, 'the cookie opens');
  return opened.payload;
}

/** A GET of the stack's /spa/ with a session cookie, as JSON API call unless `headers` says otherwise. */
function getter(stack: Stack) {
  return (cookie: string, headers: Record<string, string> = JSON_ACCEPT) =>
    rawFetch(`${stack.gw.url}/spa/`, 'GET', { ...headers, cookie });
}

/**
 * Once the IdP is back, the answer to `cookie`: polled, since the failed refresh is remembered for
 * up to 5 s and answered 503 meanwhile.
 */
async function refreshedOnceBack(stack: Stack, cookie: string): Promise<Response> {
  const get = getter(stack);
  let res: Response | null = null;
  await until(
    'the refresh after the outage',
    async () => {
      res = await get(cookie);
      return res.status !== 503;
    },
    10_000,
    200,
  );
  return res! as Response;
}

describe('oidc refresh while the IdP cannot answer', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ plugin: { timeout: TIMEOUT } });
  });
  after(() => stack.close());

  const get = (cookie: string, headers?: Record<string, string>) => getter(stack)(cookie, headers);

  const outages: [string, EndpointFault][] = [
    ['an error page (502)', { status: 502, body: '<html>Bad Gateway</html>' }],
    ['a 500 with an OAuth error', { status: 500, body: { error: 'server_error' } }],
    ['a 503 with an OAuth error', { status: 503, body: { error: 'temporarily_unavailable' } }],
    ['rate limiting (429, as Auth0 answers it)', { status: 429, body: { error: 'too_many_requests' } }],
    // Not an OAuth answer at all (RFC 6749 5.1, 5.2): a WAF or load balancer in front of the IdP.
    ['a WAF page (403 text/html)', { status: 403, body: '<html>Request blocked</html>' }],
    ['a WAF challenge page (200 text/html)', { status: 200, body: '<html>Checking your browser</html>' }],
  ];
  // Each outage waits out the 5 s the gateway remembers a failed refresh before the IdP is asked
  // again; the fault is the IdP's whole token endpoint, so each case has its own IdP and gateway,
  // and the cases run side by side rather than one 5 s wait after the other.
  describe('each outage on its own IdP', { concurrency: true }, () => {
    for (const [what, fault] of outages) {
      test(`token endpoint answering ${what}: 503 to API calls and pages alike, the session cookie untouched, one token request for concurrent requests`, async (t) => {
        const stack = await startStack({ plugin: { timeout: TIMEOUT } });
        t.after(() => stack.close());
        const get = getter(stack);
        const cookie = await expiredSession(stack);
        const before = stack.idp.tokenRequests;
        stack.idp.failEndpoint('/token', fault);
        try {
          const answers = await Promise.all([...Array.from({ length: 6 }, () => get(cookie)), get(cookie, PAGE)]);
          for (const res of answers) {
            assert.equal(res.status, 503);
            assert.deepEqual(res.headers.getSetCookie(), [], 'the session is neither cleared nor replaced');
          }
          const body = (await answers[0]!.json()) as { message: string };
          assert.equal(body.message, 'Service Temporarily Unavailable');
          assert.match(answers[6]!.headers.get('content-type') ?? '', /^text\/html/, "a page gets Kong's error page");
          assert.equal(stack.idp.tokenRequests - before, 1, 'one refresh for all of them');
          // Within a few seconds of the failure the IdP is not asked again for this session.
          assert.equal((await get(cookie)).status, 503);
          assert.equal(stack.idp.tokenRequests - before, 1, 'not retried on every request');
        } finally {
          stack.idp.failEndpoint('/token', null);
        }
        assert.ok(
          stack.gw.logs.some(
            (l) => l.msg === 'oidc token refresh failed: IdP unreachable; the session is kept' && l.level === 'error',
          ),
          'the outage is logged',
        );
        // The IdP is back: the same cookie refreshes (within the 5 s the failure is remembered).
        const ok = await refreshedOnceBack(stack, cookie);
        assert.equal(ok.status, 200);
        assert.ok(
          ok.headers.getSetCookie().some((c) => c.startsWith(`${COOKIE}=`) && !c.includes('Max-Age=0')),
          'the refreshed session is stored',
        );
        assert.notEqual(((await ok.json()) as Echo).headers['x-access-token'], undefined);
      });
    }

    test('a user active through the outage is not logged out at session_idle_timeout: a 503 renews the idle deadline as any request does, never the lifetime', async (t) => {
      const stack = await startStack({ plugin: { timeout: TIMEOUT } });
      t.after(() => stack.close());
      const get = getter(stack);
      // Last seen two minutes ago: past the re-seal interval of the default idle timeout (900 s: 60 s),
      // so any request of this user moves the idle deadline on.
      const now = Math.floor(Date.now() / 1000);
      const cookie = await expiredSession(stack, { seen: now - 120 });
      const sent = await sessionOf(stack, cookie);
      stack.idp.failEndpoint('/token', { status: 503, body: { error: 'temporarily_unavailable' } });
      let renewed: string;
      try {
        const res = await get(cookie);
        assert.equal(res.status, 503);
        const set = res.headers.getSetCookie().filter((c) => c.startsWith(`${COOKIE}=`));
        assert.equal(set.length, 1, 'the session cookie is re-sealed');
        renewed = set[0]!.split(';')[0]!;
        const got = await sessionOf(stack, renewed);
        assert.ok(got.seen >= now, 'seen now');
        assert.deepEqual({ ...got, seen: 0 }, { ...sent, seen: 0 }, 'nothing else changes: lifetime, tokens');
        assert.match(set[0]!, /; Max-Age=\d+/);
        // Within the re-seal interval the next 503 leaves the cookie alone.
        const again = await get(renewed);
        assert.equal(again.status, 503);
        assert.deepEqual(again.headers.getSetCookie(), []);
      } finally {
        stack.idp.failEndpoint('/token', null);
      }
      assert.equal(
        (await refreshedOnceBack(stack, renewed)).status,
        200,
        'the renewed session refreshes once the IdP is back',
      );
    });
  });

  test('a WAF page while the access token is still valid: the request goes on with it, the cookie untouched; once it has expired, 503 (not a logout)', async () => {
    const cookie = await expiredSession(stack, { ate: Math.floor(Date.now() / 1000) + 30 });
    const sent = await sessionOf(stack, cookie);
    stack.idp.failEndpoint('/token', { status: 403, body: '<html>Request blocked</html>' });
    try {
      // Within the 60 s refresh_leeway: the refresh is tried, and fails.
      const before = stack.idp.tokenRequests;
      const valid = await get(cookie);
      assert.equal(valid.status, 200);
      assert.equal(stack.idp.tokenRequests - before, 1, 'the refresh was tried');
      assert.equal(((await valid.json()) as Echo).headers['x-access-token'], sent.at, 'the current access token');
      assert.deepEqual(valid.headers.getSetCookie(), [], 'the session is neither cleared nor replaced');
      // The same session once its access token has expired (its refresh token the same): the
      // failure is remembered as the IdP's, not as a refused refresh token.
      const ate = Math.floor(Date.now() / 1000) - 5;
      const expired = `${COOKIE}=${await sessionSealer(stack).seal({ ...sent, ate })}`;
      const res = await get(expired, PAGE);
      assert.equal(res.status, 503);
      assert.deepEqual(res.headers.getSetCookie(), [], 'no logout: the next request tries again');
    } finally {
      stack.idp.failEndpoint('/token', null);
    }
  });

  test('a token endpoint that hangs: the request is answered 503 after `timeout`, concurrent ones with it', async () => {
    const cookie = await expiredSession(stack);
    stack.idp.failEndpoint('/token', { hang: true });
    try {
      const started = Date.now();
      const answers = await Promise.all(Array.from({ length: 5 }, () => get(cookie)));
      const took = Date.now() - started;
      assert.deepEqual(
        answers.map((r) => r.status),
        [503, 503, 503, 503, 503],
      );
      assert.ok(took >= TIMEOUT - 50 && took < TIMEOUT + 2000, `answered after ${took} ms`);
      for (const r of answers) assert.deepEqual(r.headers.getSetCookie(), []);
    } finally {
      stack.idp.failEndpoint('/token', null);
    }
  });
});

test('the IdP stopped: an expired session gets 503 and keeps its cookie, on a gateway started while the IdP is down too', async () => {
  const stack = await startStack();
  let restarted: Awaited<ReturnType<typeof startGateway>> | null = null;
  try {
    const cookie = await expiredSession(stack);
    await stack.idp.close();
    const down = await rawFetch(`${stack.gw.url}/spa/`, 'GET', { ...JSON_ACCEPT, cookie });
    assert.equal(down.status, 503, 'connection refused at the token endpoint');
    assert.deepEqual(down.headers.getSetCookie(), []);
    // Another instance (or this one restarted) that has never discovered the IdP.
    restarted = await startGateway({ config: gatewayConfig(oidcConfig(stack.idp)) });
    for (const headers of [JSON_ACCEPT, PAGE]) {
      const res = await rawFetch(`${restarted.url}/spa/`, 'GET', { ...headers, cookie });
      assert.equal(res.status, 503, 'not discovered');
      assert.deepEqual(res.headers.getSetCookie(), []);
    }
  } finally {
    await restarted?.close();
    await stack.close();
  }
});

test('a token endpoint that hangs for many sessions at once holds at most 16 connections to the IdP, and neither sessions not due nor logins wait for them', async () => {
  // A deadline far longer than the test: the refreshes end only when the fault is cleared.
  const stack = await startStack({ plugin: { timeout: 60_000 } });
  try {
    const cookie = await expiredSession(stack);
    const p = await sessionOf(stack, cookie);
    const now = Math.floor(Date.now() / 1000);
    const sealer = sessionSealer(stack);
    const current = `${COOKIE}=${await sealer.seal({ ...p, ate: now + 3600, seen: now })}`;
    const before = stack.idp.tokenRequests;
    stack.idp.failEndpoint('/token', { hang: true });
    let settled = 0;
    const waiting = Array.from({ length: 24 }, async (_, i) => {
      // 24 sessions (refresh tokens), each due for a refresh.
      const due = `${COOKIE}=${await sealer.seal({ ...p, ate: now - 5, rt: `refresh-token-${i}` })}`;
      const res = await rawFetch(`${stack.gw.url}/spa/`, 'GET', { ...JSON_ACCEPT, cookie: due });
      settled++;
      return res;
    });
    try {
      await until('16 refreshes held at the token endpoint', () => stack.idp.tokenRequests - before >= 16, 30_000, 50);
      const ok = await rawFetch(`${stack.gw.url}/spa/`, 'GET', { ...JSON_ACCEPT, cookie: current });
      assert.equal(ok.status, 200, 'a session not due is proxied');
      assert.equal(((await ok.json()) as Echo).headers['x-access-token'], p.at);
      const start = await rawFetch(`${stack.gw.url}/spa/`, 'GET', PAGE);
      assert.equal(start.status, 302, 'a login starts');
      assert.equal(settled, 0, 'while every refresh still waits');
      assert.equal(stack.idp.tokenRequests - before, 16, 'the other 8 wait for a connection');
    } finally {
      stack.idp.failEndpoint('/token', null);
    }
    // The held connections cut: those refreshes fail (503, the session kept); the queued ones reach
    // the IdP, which does not know their refresh tokens (401).
    for (const res of await Promise.all(waiting)) {
      assert.ok(res.status === 503 || res.status === 401, `answered ${res.status}`);
      if (res.status === 503) assert.deepEqual(res.headers.getSetCookie(), []);
    }
  } finally {
    await stack.close();
  }
});
