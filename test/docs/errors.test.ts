import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ProxyErrors, RequestEndErrors } from '../../src/errors.ts';

const page = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

test('docs/errors.md lists every proxy error code with its status and message', () => {
  for (const [code, { status, message }] of Object.entries(ProxyErrors)) {
    assert.ok(
      page.includes(`| \`${code}\` | ${status} | ${message} |`),
      `${code} missing or out of date in docs/errors.md`,
    );
  }
});

test('docs/errors.md lists every config error code', () => {
  const codes = readFileSync(new URL('../../src/errors.ts', import.meta.url), 'utf8').match(/\| '([A-Z_]+)'/g) ?? [];
  assert.ok(codes.length > 5);
  for (const c of codes) {
    const code = c.slice(3, -1);
    assert.ok(page.includes(`\`${code}\``), `${code} missing in docs/errors.md`);
  }
});

test('docs/errors.md lists every request-end error code with its meaning', () => {
  for (const [code, when] of Object.entries(RequestEndErrors)) {
    assert.ok(page.includes(`| \`${code}\` | ${when} |`), `${code} missing or out of date in docs/errors.md`);
  }
});
