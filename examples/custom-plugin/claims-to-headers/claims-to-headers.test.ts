// Tests of the claims-to-headers example: the plugin alone (runPlugin), then the example's own
// gateway.yaml end to end, with the jwt plugin verifying HS256 tokens in front of it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ConfigError } from 'tollgate';
import { runPlugin, startGateway, type TestGateway } from 'tollgate/testing';
import plugin from './index.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

const RULES = {
  default_rules: [{ claim: 'sub', header: 'X-User-Id', required: true }],
  tenants: {
    acme: [
      { claim: 'email', header: 'X-User-Email' },
      { claim: 'permissions', header: 'X-Permissions', separator: ' ' },
    ],
    globex: [
      { claim: 'roles', header: 'X-Roles', required: true },
      { claim: 'employee_id', header: 'X-User-Id' },
    ],
  },
};

describe('claims-to-headers, with runPlugin', () => {
  test("maps an acme token's claims, joining a list with the rule's separator", async () => {
    const r = await runPlugin(plugin, RULES, {
      claims: { sub: 'auth0|42', org_id: 'acme', email: 'ann@acme.test', permissions: ['read:orders', 'write:orders'] },
    });
    assert.equal(r.exited, false);
    assert.equal(r.upstreamHeaders['x-user-id'], 'auth0|42');
    assert.equal(r.upstreamHeaders['x-user-email'], 'ann@acme.test');
    assert.equal(r.upstreamHeaders['x-permissions'], 'read:orders write:orders');
    assert.equal(r.upstreamHeaders['x-tenant-id'], 'acme');
  });

  test("a tenant's rule replaces the default rule for the same header", async () => {
    const r = await runPlugin(plugin, RULES, {
      claims: { sub: 'auth0|7', org_id: 'globex', roles: ['admin'], employee_id: 1007 },
    });
    assert.equal(r.upstreamHeaders['x-user-id'], '1007');
    assert.equal(r.upstreamHeaders['x-roles'], 'admin');
    assert.equal(r.upstreamHeaders['x-user-email'], undefined, "acme's rules do not apply to globex");
  });

  test('refuses without verified claims (401), without a configured tenant or a required claim (403)', async () => {
    const none = await runPlugin(plugin, RULES, {});
    assert.equal(none.status, 401);
    assert.deepEqual(none.body, { message: 'Unauthorized' });
    for (const claims of [
      { sub: 'x' },
      { sub: 'x', org_id: 'initech' },
      { sub: 'x', org_id: ['acme'] },
      { sub: 'x', org_id: 'globex' },
    ]) {
      const r = await runPlugin(plugin, RULES, { claims });
      assert.equal(r.status, 403, JSON.stringify(claims));
      assert.deepEqual(r.body, { message: 'You cannot consume this service' });
    }
  });

  test('unknown_tenant: defaults applies only the default rules to other tenants', async () => {
    const r = await runPlugin(
      plugin,
      { ...RULES, unknown_tenant: 'defaults' },
      { claims: { sub: 'u1', org_id: 'initech', email: 'x@initech.test' } },
    );
    assert.equal(r.exited, false);
    assert.equal(r.upstreamHeaders['x-user-id'], 'u1');
    assert.equal(r.upstreamHeaders['x-user-email'], undefined);
  });

  test('client-sent copies of the managed headers never reach the upstream', async () => {
    const r = await runPlugin(plugin, RULES, {
      headers: { 'x-user-email': 'forged@evil.test', 'x-roles': 'admin', 'x-tenant-id': 'globex', 'x-other': 'kept' },
      claims: { sub: 'auth0|42', org_id: 'acme' },
    });
    assert.equal(
      r.upstreamHeaders['x-user-email'],
      undefined,
      'acme token without email: the forged value is removed, not kept',
    );
    assert.equal(r.upstreamHeaders['x-roles'], undefined);
    assert.equal(r.upstreamHeaders['x-tenant-id'], 'acme');
    assert.equal(r.upstreamHeaders['x-other'], 'kept');
  });

  test('claim values that cannot be a header value are skipped', async () => {
    const r = await runPlugin(plugin, RULES, {
      claims: { sub: 'u1', org_id: 'acme', email: 'a@b.test\r\nX-Injected: 1', permissions: [{ nested: true }] },
    });
    assert.equal(r.upstreamHeaders['x-user-email'], undefined);
    assert.equal(r.upstreamHeaders['x-permissions'], undefined);
    assert.equal(r.upstreamHeaders['x-injected'], undefined);
  });

  test('a header mapped twice is a config error located at the rule', async () => {
    await assert.rejects(
      runPlugin(plugin, {
        default_rules: [
          { claim: 'sub', header: 'X-User' },
          { claim: 'email', header: 'x-user' },
        ],
      }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /^config\.default_rules\[1\]\.header: header 'x-user' is mapped twice$/.test(err.message),
    );
  });
});

test('`gateway validate` accepts the example gateway.yaml', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    // The gateway this test runs against (`tollgate` resolves to it wherever this folder is).
    [
      fileURLToPath(new URL('bin/gateway', import.meta.resolve('tollgate/package.json'))),
      'validate',
      join(HERE, '../gateway.yaml'),
    ],
    {
      env: { ...process.env, ACME_JWT_SECRET: 'example-secret-0123456789abcdef0123' },
    },
  );
  assert.match(stdout, /gateway\.yaml: valid \(1 service, 1 route, 1 consumer, 2 plugins\)/);
});

describe('the example gateway.yaml, end to end', () => {
  const SECRET = 'example-secret-0123456789abcdef0123';
  let gw: TestGateway;
  before(async () => {
    const text = (await readFile(join(HERE, '../gateway.yaml'), 'utf8'))
      .replace(/^(\s+- )\.\/claims-to-headers\b/m, `$1${HERE}`)
      .replace('http://orders.internal:8080', 'echo://');
    gw = await startGateway({ config: text, env: { ACME_JWT_SECRET: SECRET } });
  });
  after(() => gw?.close());

  // HS256 with node:crypto, so that a copy of this folder runs anywhere with no dependency of its own.
  const token = async (claims: Record<string, unknown>, secret = SECRET): Promise<string> => {
    const part = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    const exp = Math.floor(Date.now() / 1000) + 300;
    const signed = `${part({ alg: 'HS256' })}.${part({ iss: 'https://auth.example.com/', ...claims, exp })}`;
    return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
  };

  async function call(
    headers: Record<string, string>,
  ): Promise<{ status: number; body: { headers?: Record<string, string>; message?: string } }> {
    const r = await fetch(`${gw.url}/orders/17`, { headers });
    return { status: r.status, body: (await r.json()) as { headers?: Record<string, string>; message?: string } };
  }

  test('the upstream receives the mapped claims of a verified token, not the forged headers', async () => {
    const jwt = await token({ sub: 'auth0|42', org_id: 'acme', email: 'ann@acme.test', permissions: ['read:orders'] });
    const r = await call({
      authorization: `Bearer ${jwt}`,
      'x-user-email': 'forged@evil.test',
      'x-tenant-id': 'globex',
    });
    assert.equal(r.status, 200);
    assert.equal(r.body.headers!['x-user-id'], 'auth0|42');
    assert.equal(r.body.headers!['x-user-email'], 'ann@acme.test');
    assert.equal(r.body.headers!['x-permissions'], 'read:orders');
    assert.equal(r.body.headers!['x-tenant-id'], 'acme');
    assert.equal(r.body.headers!['x-consumer-username'], 'token-issuer');
  });

  test('a token the jwt plugin refuses never reaches the mapping or the upstream', async () => {
    const forged = await token({ sub: 'auth0|42', org_id: 'acme' }, 'another-secret-0123456789abcdef012');
    const r = await call({ authorization: `Bearer ${forged}` });
    assert.equal(r.status, 401);
    assert.equal(r.body.message, 'Invalid signature');
  });

  test('a verified token of a tenant that is not configured gets 403', async () => {
    const r = await call({ authorization: `Bearer ${await token({ sub: 'u', org_id: 'initech' })}` });
    assert.equal(r.status, 403);
    assert.equal(r.body.message, 'You cannot consume this service');
  });
});
