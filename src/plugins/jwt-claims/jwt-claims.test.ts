import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../index.ts';
import { runPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

const CLAIMS = {
  iss: 'https://tenant.auth0.com/',
  aud: ['https://api.example.com', 'https://tenant.auth0.com/userinfo'],
  scope: 'read:things write:things',
  'https://foo.com/claim': 'bar',
  'https://foo.com/level': 3,
  'https://foo.com/admin': false,
  'https://foo.com/roles': ['ops', 'dev'],
  name: 'Zoë 日本',
};

/** Runs the plugin after an authentication plugin verified `claims` (null: none did). */
function run(
  config: Record<string, unknown>,
  claims: Record<string, unknown> | null = CLAIMS,
  headers: Record<string, string> = {},
) {
  return runPlugin(plugin, config, { headers, ...(claims === null ? {} : { claims }) });
}

describe('jwt-claims', () => {
  test('equals compares by type: 3 is not "3", false is not "false"', async () => {
    assert.equal((await run({ claims: { 'https://foo.com/level': { equals: 3 } } })).status, 200);
    assert.equal((await run({ claims: { 'https://foo.com/level': { equals: '3' } } })).status, 403);
    assert.equal((await run({ claims: { 'https://foo.com/admin': { equals: false } } })).status, 200);
    assert.equal((await run({ claims: { 'https://foo.com/admin': { equals: 'false' } } })).status, 403);
    assert.equal((await run({ claims: { 'https://foo.com/roles': { equals: ['ops', 'dev'] } } })).status, 200);
    assert.equal((await run({ claims: { 'https://foo.com/roles': { equals: ['dev', 'ops'] } } })).status, 403);
  });

  test('one_of, contains (arrays and space-separated scope), pattern', async () => {
    assert.equal((await run({ claims: { 'https://foo.com/claim': { one_of: ['baz', 'bar'] } } })).status, 200);
    assert.equal((await run({ claims: { 'https://foo.com/claim': { one_of: ['baz'] } } })).status, 403);
    assert.equal((await run({ claims: { aud: { contains: 'https://api.example.com' } } })).status, 200);
    assert.equal((await run({ claims: { aud: { contains: 'https://other.example.com' } } })).status, 403);
    assert.equal(
      (await run({ claims: { iss: { contains: 'https://tenant.auth0.com/' } } })).status,
      200,
      'a string claim is a one-element list',
    );
    assert.equal((await run({ claims: { scope: { contains: 'write:things' } } })).status, 200);
    assert.equal((await run({ claims: { scope: { contains: 'write' } } })).status, 403);
    assert.equal(
      (await run({ claims: { name: { contains: 'Zoë 日本' } } })).status,
      200,
      'the whole string is one of it',
    );
    assert.equal((await run({ claims: { 'https://foo.com/level': { contains: '3' } } })).status, 403, 'not a string');
    assert.equal((await run({ claims: { 'https://foo.com/level': { contains: 3 } } })).status, 403);
    assert.equal(
      (await run({ claims: { scope: { contains: ['write:things'] } } })).status,
      403,
      'a string holds strings',
    );
    assert.equal((await run({ claims: { name: { pattern: '^\\p{Lu}\\p{Ll}' } } })).status, 200, 'Unicode patterns');
    assert.equal((await run({ claims: { iss: { pattern: '^https://[a-z]+\\.auth0\\.com/$' } } })).status, 200);
    assert.equal(
      (await run({ claims: { 'https://foo.com/level': { pattern: '3' } } })).status,
      403,
      'pattern needs a string',
    );
  });

  test('present and absent', async () => {
    assert.equal((await run({ claims: { name: { present: true } } })).status, 200);
    const missing = await run({ claims: { email: { present: true } } });
    assert.deepEqual([missing.status, missing.body], [403, { message: "Claim 'email' is missing" }]);
    const unexpected = await run({ claims: { 'https://foo.com/admin': { absent: true } } });
    assert.deepEqual(unexpected.body, { message: "Claim 'https://foo.com/admin' is not allowed" });
    assert.equal((await run({ claims: { email: { absent: true } } })).status, 200);
    const notAllowed = await run({ claims: { 'https://foo.com/admin': { present: false } } });
    assert.deepEqual(
      [notAllowed.status, notAllowed.body],
      [403, { message: "Claim 'https://foo.com/admin' is not allowed" }],
    );
    assert.equal((await run({ claims: { email: { present: false } } })).status, 200);
    assert.equal((await run({ claims: { email: { absent: false } } })).status, 200, 'absent: false asks nothing');
    assert.equal((await run({ claims: { email: { present: false } } }, { email: null })).status, 403, 'null is there');
    for (const rule of [{ equals: 'x' }, { one_of: ['x'] }, { contains: 'x' }, { pattern: 'x' }]) {
      const r = await run({ claims: { email: rule } });
      assert.deepEqual(
        [r.status, r.body],
        [403, { message: "Claim 'email' is missing" }],
        'a value rule needs the claim',
      );
    }
  });

  test('the failure names the claim, not the expected value, with the configured status', async () => {
    const r = await run({ claims: { 'https://foo.com/claim': { equals: 'secret-expected-value' } }, status: 401 });
    assert.equal(r.status, 401);
    assert.deepEqual(r.body, { message: "Claim 'https://foo.com/claim' is not accepted" });
  });

  test('no verified claims (no jwt, or an anonymous consumer): 401 Unauthorized', async () => {
    const r = await run({ claims: { name: { present: true } } }, null, { authorization: 'Bearer x.y.z' });
    assert.deepEqual([r.status, r.body], [401, { message: 'Unauthorized' }]);
  });

  test('forward_claims sets headers, replaces client-sent ones, and removes them when the claim is missing', async () => {
    const r = await run(
      {
        forward_claims: {
          'https://foo.com/claim': 'X-Foo',
          'https://foo.com/roles': 'x-roles',
          'https://foo.com/level': 'x-level',
          email: 'x-email',
          name: 'x-name',
        },
      },
      CLAIMS,
      { 'x-foo': 'forged', 'x-email': 'forged@example.com' },
    );
    assert.equal(r.status, 200);
    assert.equal(r.upstreamHeaders['x-foo'], 'bar');
    assert.equal(r.upstreamHeaders['x-roles'], '["ops","dev"]');
    assert.equal(r.upstreamHeaders['x-level'], '3');
    assert.equal(r.upstreamHeaders['x-email'], undefined);
    assert.equal(Buffer.from(r.upstreamHeaders['x-name'] as string, 'latin1').toString('utf8'), 'Zoë 日本');
    const nl = await run({ forward_claims: { name: 'x-name' } }, { name: 'a\r\nx-injected: 1' });
    assert.equal(nl.upstreamHeaders['x-name'], undefined, 'control characters never reach a header');
    for (const bad of ['\u0000', '\u0001', '\u0008', '\u000a', '\u001f', '\u007f']) {
      const r = await run({ forward_claims: { name: 'x-name' } }, { name: `a${bad}b` });
      assert.equal(r.upstreamHeaders['x-name'], undefined, JSON.stringify(bad));
    }
    const tab = await run({ forward_claims: { name: 'x-name' } }, { name: 'a\tb ~' });
    assert.equal(tab.upstreamHeaders['x-name'], 'a\tb ~', 'a tab is header text');
    const latin1 = await run({ forward_claims: { name: 'x-name', flag: 'x-flag' } }, { name: 'Zoë', flag: true });
    assert.equal(
      Buffer.from(latin1.upstreamHeaders['x-name'] as string, 'latin1').toString('utf8'),
      'Zoë',
      'Latin-1 text is sent as UTF-8 bytes too',
    );
    assert.equal(latin1.upstreamHeaders['x-flag'], 'true');
    const nil = await run({ forward_claims: { name: 'x-name' } }, { name: null }, { 'x-name': 'forged' });
    assert.equal(nil.upstreamHeaders['x-name'], undefined, 'a null claim is not forwarded');
  });

  test('config errors: bad regex, reserved or duplicate header, contradictory rule, nothing to do', async () => {
    const rejects = (config: Record<string, unknown>, message?: RegExp) =>
      assert.rejects(run(config), (e: unknown) => e instanceof ConfigError && (message?.test(e.message) ?? true));
    await rejects({ claims: { a: { pattern: '(' } } }, /claims\.a\.pattern: invalid regular expression: /);
    await rejects({ claims: { a: { pattern: '^(a+)+$' } } }, /claims\.a\.pattern: /);
    for (const header of [
      'Host',
      'connection',
      'content-length',
      'transfer-encoding',
      'te',
      'trailer',
      'upgrade',
      'keep-alive',
      'proxy-connection',
      'expect',
      'content-type',
      'Authorization',
      'cookie',
      'X-Consumer-Username',
      'x-consumer-custom-id',
      'X-Credential-Identifier',
      'x-anonymous-consumer',
    ]) {
      await rejects({ forward_claims: { a: header } }, new RegExp(`forward_claims\\.a: header ${header} is reserved`));
    }
    await rejects({ forward_claims: { a: 'x-a', b: 'X-A' } }, /forward_claims\.b: header X-A is used for two claims/);
    await rejects(
      { claims: { a: { present: true, absent: true } } },
      /claims\.a: a claim cannot be both present and absent/,
    );
    for (const rule of [{ equals: 1 }, { one_of: [1] }, { contains: 1 }, { pattern: 'x' }]) {
      await rejects(
        { claims: { a: { present: false, ...rule } } },
        /claims\.a: an absent claim cannot have a value rule/,
      );
    }
    await rejects({}, /claims: give at least one claim rule or forwarded claim/);
    await rejects({ forward_claims: { a: 'bad header' } });
    assert.equal((await run({ forward_claims: { a: 'x-consumer' } })).status, 200, 'only the x-consumer- family');
  });
});
