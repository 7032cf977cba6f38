/**
 * The article's interactive flow in a real browser: headless Debian chromium (playwright-core)
 * opens /spa/ on the gateway, logs in at oidc-provider, comes back through /spa/cb, sees the
 * echo with X-Userinfo (custom claim included), calls an XHR endpoint, logs out at the IdP, and
 * is sent to the IdP again on the next visit.
 *
 * Without /usr/bin/chromium the test is skipped with the reason printed, except in CI (env CI
 * set), where a missing browser is a failure.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Chromium, chromiumSkip, launchChromium } from '../support/browser.ts';
import { CUSTOM_CLAIM } from '../support/idp.ts';
import { decodeHeader, type Echo, startStack } from './helpers.ts';

const skip = chromiumSkip('oidc browser test');

test('browser: log in through the IdP, see X-Userinfo, call an XHR endpoint, log out', {
  skip,
  timeout: 90_000,
}, async () => {
  const stack = await startStack();
  let browser: Chromium | null = null;
  try {
    browser = await launchChromium();
    const { context, page } = browser;
    // Anything not on loopback is refused before it leaves the browser.
    await context.route('**/*', (route) => {
      const host = new URL(route.request().url()).hostname;
      return host === '127.0.0.1' ? route.continue() : route.abort();
    });
    const gw = stack.gw.url;
    const idp = stack.idp.issuer;

    // 1. /spa/ → the IdP's login form.
    await page.goto(`${gw}/spa/`);
    assert.ok(page.url().startsWith(`${idp}/interaction/`), page.url());
    await page.fill('input[name="login"]', 'alice');
    await page.fill('input[name="password"]', 'any password');
    await Promise.all([page.waitForURL(`${idp}/interaction/**`), page.click('button[type="submit"]')]);
    // Consent (offline_access asks for it), then back through /spa/cb to /spa/.
    await Promise.all([page.waitForURL(`${gw}/spa/`), page.click('button[type="submit"]')]);

    // 2. The page shows the echo: X-Userinfo decodes to the user's claims, custom claim included.
    const shown =
      (await page.locator('pre').count()) > 0
        ? await page.locator('pre').first().textContent()
        : await page.locator('body').textContent();
    const echo = JSON.parse(shown ?? '') as Echo;
    const user = decodeHeader(echo.headers['x-userinfo']);
    assert.equal(user.sub, 'alice');
    assert.equal(user[CUSTOM_CLAIM], 'bar');
    assert.equal(user.email, 'alice@example.test');
    const cookies = await context.cookies(gw);
    const session = cookies.find((c) => c.name === 'oidc_session' || c.name === 'oidc_session.0');
    assert.ok(session, 'session cookie set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    assert.equal(await page.evaluate('document.cookie'), '', 'the session is invisible to scripts');

    // 3. An XHR with the session: 200 and the identity upstream.
    const xhr = await page.evaluate(async () => {
      const r = await fetch('/spa/api/data', { headers: { accept: 'application/json' } });
      return { status: r.status, body: (await r.json()) as { headers: Record<string, string> } };
    });
    assert.equal(xhr.status, 200);
    assert.equal(decodeHeader(xhr.body.headers['x-userinfo']).sub, 'alice');

    // 4. Logout: session gone, the IdP confirms the sign-out and sends the browser back.
    await page.goto(`${gw}/spa/logout`);
    assert.ok(page.url().startsWith(`${idp}/session/end`), page.url());
    await Promise.all([page.waitForURL(`${gw}/`), page.click('button[value="yes"]')]);
    const after = await context.cookies(gw);
    assert.ok(!after.some((c) => c.name.startsWith('oidc_session')), JSON.stringify(after.map((c) => c.name)));
    const anonymous = await page.evaluate(
      async () => (await fetch('/spa/api/data', { headers: { accept: 'application/json' } })).status,
    );
    assert.equal(anonymous, 401);

    // 5. The next visit goes to the IdP again (its session ended too: the login form shows).
    await page.goto(`${gw}/spa/`);
    assert.ok(page.url().startsWith(`${idp}/interaction/`), page.url());
    assert.equal(await page.locator('input[name="login"]').count(), 1);
  } finally {
    await browser?.close();
    await stack.close();
  }
});
