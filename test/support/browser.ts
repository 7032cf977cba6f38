/**
 * Headless Debian chromium (playwright-core) for browser tests.
 *
 * Without /usr/bin/chromium a browser test is skipped with the reason printed, except in CI (env
 * CI set), where a missing browser is a failure.
 *
 * @example
 * const skip = chromiumSkip('browser CORS test');
 * test('...', { skip, timeout: 90_000 }, async () => {
 *   const browser = await launchChromium();
 *   try { await browser.page.goto(url); } finally { await browser.close(); }
 * });
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
  // Loopback only: no name resolves (the IdP's pages @import a web font).
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

/**
 * The `skip` option for a browser test named `what`: false when chromium is there, else the
 * reason. Call once at module level: when chromium is missing it prints the reason, or in CI
 * registers a failing `chromium is installed in CI` test.
 */
export function chromiumSkip(what: string): string | false {
  const missing = existsSync(CHROMIUM) ? null : `${CHROMIUM} not found (apt-get install chromium)`;
  if (missing !== null && process.env.CI) {
    test('chromium is installed in CI', () => {
      assert.fail(`${what} cannot run: ${missing}`);
    });
  } else if (missing !== null) {
    console.log(`# skipping the ${what}: ${missing}`);
  }
  return missing ?? false;
}

/** A launched browser: its persistent context, the first tab, and a close that removes its profile. */
export interface Chromium {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Launches headless chromium with a fresh profile directory and a 20 s default timeout. */
export async function launchChromium(): Promise<Chromium> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'tollgate-chromium-'));
  let context: BrowserContext | null = null;
  const close = async (): Promise<void> => {
    await context?.close();
    await rm(userDataDir, { recursive: true, force: true });
  };
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    context.setDefaultTimeout(20_000);
    const page = context.pages()[0] ?? (await context.newPage());
    return { context, page, close };
  } catch (err) {
    await close();
    throw err;
  }
}
