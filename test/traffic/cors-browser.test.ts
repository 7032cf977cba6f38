/**
 * CORS as a browser enforces it: headless Debian chromium (playwright-core) loads a page from one
 * loopback origin and calls the gateway on another, with and without credentials, with and without
 * a preflight. Without /usr/bin/chromium the test is skipped with the reason printed, except in CI
 * (env CI set), where it fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { startGateway } from '../../src/testing/index.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

const missing = existsSync(CHROMIUM) ? null : `${CHROMIUM} not found (apt-get install chromium)`;
if (missing !== null && process.env.CI) {
  test('chromium is installed in CI', () => assert.fail(`browser CORS test cannot run: ${missing}`));
} else if (missing !== null) {
  console.log(`# skipping the browser CORS test: ${missing}`);
}

interface Outcome {
  ok: boolean;
  status?: number;
  cookie?: string | null;
  method?: string;
  exposed?: string | null;
  hidden?: string | null;
  error?: string;
}

test('browser: cross-origin calls pass or fail as the cors config says, with and without credentials', { skip: missing ?? false, timeout: 90_000 }, async () => {
  // The page's origin: a plain server on its own loopback port.
  const page = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>spa</title><p>spa</p>');
  });
  await new Promise<void>((r) => page.listen(0, '127.0.0.1', () => r()));
  const pageOrigin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;

  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'echo',
          url: 'echo://',
          routes: [
            {
              name: 'allowed',
              paths: ['/allowed'],
              plugins: [
                { name: 'cors', config: { origins: [pageOrigin], credentials: true, headers: ['content-type', 'x-custom'], exposed_headers: ['x-total'], max_age: 60 } },
                { name: 'response-transformer', config: { add: { headers: ['x-total:42', 'x-hidden:1'] } } },
              ],
            },
            { name: 'other', paths: ['/other'], plugins: [{ name: 'cors', config: { origins: ['http://127.0.0.1:1'] } }] },
            { name: 'star', paths: ['/star'], plugins: [{ name: 'cors' }] },
            { name: 'nocors', paths: ['/nocors'] },
          ],
        },
      ],
    },
  });

  const userDataDir = await mkdtemp(join(tmpdir(), 'tollgate-chromium-'));
  let context: BrowserContext | null = null;
  try {
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: ARGS });
    context.setDefaultTimeout(20_000);
    // No request interception here: with it, Chromium answers CORS preflights itself and the
    // gateway would never see them. The resolver rules keep every name off the network.
    // A cookie the gateway's origin receives only on credentialed requests (cookies ignore ports).
    await context.addCookies([{ name: 'sid', value: 'abc', domain: '127.0.0.1', path: '/', sameSite: 'Lax' }]);
    const tab = context.pages()[0] ?? (await context.newPage());
    await tab.goto(`${pageOrigin}/`);

    const call = (path: string, init: Record<string, unknown>): Promise<Outcome> =>
      tab.evaluate(
        async ([url, init]) => {
          try {
            const r = await fetch(url as string, init as RequestInit);
            const echo = (await r.json()) as { method: string; headers: Record<string, string> };
            return {
              ok: true,
              status: r.status,
              method: echo.method,
              cookie: echo.headers.cookie ?? null,
              exposed: r.headers.get('x-total'),
              hidden: r.headers.get('x-hidden'),
            };
          } catch (err) {
            return { ok: false, error: String(err) };
          }
        },
        [`${gw.url}${path}`, init] as const,
      );

    // A credentialed, preflighted PUT to an allowed origin: the browser sends the cookie, reads
    // the exposed header and not the others.
    const put = await call('/allowed', { method: 'PUT', credentials: 'include', headers: { 'content-type': 'application/json', 'x-custom': '1' }, body: '{}' });
    assert.equal(put.ok, true, put.error);
    assert.equal(put.status, 200);
    assert.equal(put.method, 'PUT');
    assert.equal(put.cookie, 'sid=abc');
    assert.equal(put.exposed, '42');
    assert.equal(put.hidden, null, 'headers not listed in exposed_headers stay hidden from scripts');
    const preflights = gw.logs.filter((l) => l.type === 'access' && l.method === 'OPTIONS' && l.path === '/allowed');
    assert.equal(preflights.length, 1, 'the preflight was answered by the gateway');
    assert.equal(preflights[0]!.status, 200);

    // Without credentials the cookie is not sent.
    const plain = await call('/allowed', { method: 'GET' });
    assert.equal(plain.ok, true, plain.error);
    assert.equal(plain.cookie, null);

    // An origin that is not allowed: the browser refuses to hand the answer to the page.
    const other = await call('/other', { method: 'GET' });
    assert.equal(other.ok, false);
    const none = await call('/nocors', { method: 'GET' });
    assert.equal(none.ok, false);

    // `*` works without credentials, and a browser refuses `*` for a credentialed request.
    const star = await call('/star', { method: 'GET' });
    assert.equal(star.ok, true, star.error);
    const starCred = await call('/star', { method: 'GET', credentials: 'include' });
    assert.equal(starCred.ok, false);
  } finally {
    await context?.close();
    await rm(userDataDir, { recursive: true, force: true });
    await gw.close();
    await new Promise<void>((r) => (page as Server).close(() => r()));
  }
});
