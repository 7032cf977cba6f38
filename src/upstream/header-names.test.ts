import assert from 'node:assert/strict';
import { test } from 'node:test';
import { headerNameLowerCasedRecord } from 'undici/lib/core/constants.js';
import { registerHeaderNames } from './header-names.ts';

test("registered names join undici's table of known header names; anything not a lower-case token stays out", () => {
  registerHeaderNames(['x-tollgate-probe', 'X-Upper', 'bad name', 'x-new\r\nline', '']);
  assert.equal(headerNameLowerCasedRecord['x-tollgate-probe'], 'x-tollgate-probe');
  for (const name of ['X-Upper', 'x-upper', 'bad name', 'x-new\r\nline', '']) {
    assert.equal(headerNameLowerCasedRecord[name], undefined, name);
  }
  // undici's own entries are never replaced.
  registerHeaderNames(['accept']);
  assert.equal(headerNameLowerCasedRecord.accept, 'accept');
});

test('the gateway registers the names it adds to upstream requests: forwarding and identity headers', async () => {
  await import('../proxy/upstream-request.ts');
  for (const name of [
    'x-forwarded-for',
    'x-forwarded-proto',
    'x-forwarded-prefix',
    'x-real-ip',
    'x-consumer-id',
    'x-consumer-groups',
    'x-credential-identifier',
    'x-authenticated-groups',
  ])
    assert.equal(headerNameLowerCasedRecord[name], name);
});
