/**
 * CORS as a browser enforces it: headless Debian chromium (playwright-core) loads a page from one
 * loopback origin and calls the gateway on another, with and without credentials, with and without
 * a preflight. Without /usr/bin/chromium the test is skipped with the reason printed, except in CI
 * (env CI set), where it fails.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Chromium, chromiumSkip, launchChromium } from '../support/browser.ts';
import { startServiceGateway } from '../support/gateway.ts';
import { listen } from '../support/upstream.ts';

const skip = chromiumSkip('browser CORS test');

interface Outcome {
  ok: boolean;
  status?: number;
  cookie?: string | null;
  method?: string;
  exposed?: string | null;
  hidden?: string | null;
  error?: string;
}

test('browser: cross-origin calls pass or fail as the cors config says, with and without credentials', {
  skip,
  timeout: 90_000,
}, async () => {
  // The page's origin: a plain server on its own loopback port.
  const page = await listen((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>spa</title><p>spa</p>');
  });
  const pageOrigin = page.url;

  const gw = await startServiceGateway([
    {
      name: 'allowed',
      paths: ['/allowed'],
      plugins: [
        {
          name: 'cors',
          config: {
            origins: [pageOrigin],
            credentials: true,
            headers: ['content-type', 'x-custom'],
            exposed_headers: ['x-total'],
            max_age: 60,
          },
        },
        { name: 'response-transformer', config: { add: { headers: ['x-total:42', 'x-hidden:1'] } } },
      ],
    },
    { name: 'other', paths: ['/other'], plugins: [{ name: 'cors', config: { origins: ['http://127.0.0.1:1'] } }] },
    { name: 'star', paths: ['/star'], plugins: [{ name: 'cors' }] },
    { name: 'nocors', paths: ['/nocors'] },
  ]);

  let browser: Chromium | null = null;
  try {
    browser = await launchChromium();
    const { context, page: tab } = browser;
    // No request interception here: with it, Chromium answers CORS preflights itself and the
    // gateway would never see them. The resolver rules keep every name off the network.
    // A cookie the gateway's origin receives only on credentialed requests (cookies ignore ports).
    await context.addCookies([{ name: 'sid', value: 'abc', domain: '127.0.0.1', path: '/', sameSite: 'Lax' }]);
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
    const put = await call('/allowed', {
      method: 'PUT',
      credentials: 'include',
      headers: { 'content-type': 'application/json', 'x-custom': '1' },
      body: '{}',
    });
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
    await browser?.close();
    await gw.close();
    await page.close();
  }
});
