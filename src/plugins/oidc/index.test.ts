import assert from 'node:assert/strict';
import { test } from 'node:test';
import { safeReturnPath, userinfoHeader } from './index.ts';

test('the return target after login is a same-origin path, whatever was stored', () => {
  assert.equal(safeReturnPath('/spa/page?x=1'), '/spa/page?x=1');
  for (const bad of [
    '//evil.example/',
    '/\\evil.example',
    'https://evil.example/',
    'evil.example',
    '/a\r\nb',
    '/a\tb',
    '',
    null,
    42,
  ]) {
    assert.equal(safeReturnPath(bad), '/', String(bad));
  }
});

test("X-Userinfo is kong-oidc's: base64 of the userinfo JSON with id and username added", () => {
  const decoded = (v: string) => JSON.parse(Buffer.from(v, 'base64').toString('utf8')) as Record<string, unknown>;
  assert.deepEqual(
    decoded(userinfoHeader({ sub: 'u1', preferred_username: 'alice', 'https://foo.com/claim': 'bar' })),
    {
      sub: 'u1',
      preferred_username: 'alice',
      'https://foo.com/claim': 'bar',
      id: 'u1',
      username: 'alice',
    },
  );
  assert.deepEqual(
    decoded(userinfoHeader({ sub: 'u2' })),
    { sub: 'u2', id: 'u2' },
    'no username without preferred_username',
  );
});
