// Kong's own acl spec, ported: spec/03-plugins/18-acl/02-access_spec.lua at Kong commit 22246ef2.
// Its fixtures as one gateway.yaml (routes acl1.test to acl17.test by host, consumers with key-auth
// keys and acls groups, the anonymous consumer in group anonymous), one real gateway and a real
// upstream. Kong's ctx-checker test plugin (priority 1000, between key-auth and acl) is a custom
// plugin here that sets the request's authenticated groups, or a credential without a consumer.
// Left out: the Admin API cases ("multiple rules are set fast") and the cache warmup (Kong's
// database and cache); the anonymous-consumer section is src/plugins/acl/anonymous.test.ts, but
// for its routes without an authentication plugin, which are here.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { definePlugin } from '../../index.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

interface CtxCheckerConfig {
  authenticated_groups?: string[];
  credential?: string;
}

/** Kong's ctx-checker as the spec uses it: kong.ctx.shared.authenticated_groups, or ngx.ctx.authenticated_credential. */
const ctxChecker = definePlugin<CtxCheckerConfig>({
  name: 'ctx-checker',
  version: '0.1.0',
  priority: 1000,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      authenticated_groups: { type: 'array', items: { type: 'string' } },
      credential: { type: 'string' },
    },
  },
  create: (config) => ({
    access(req) {
      if (config.authenticated_groups !== undefined) req.ctx.authenticated_groups = config.authenticated_groups;
      if (config.credential !== undefined)
        req.authenticate(null, {
          id: config.credential,
          type: 'ctx-checker',
          identifier: config.credential,
          consumer_id: null,
        });
    },
  }),
});

const consumer = (username: string, key: string | null, groups: string[]) => ({
  username,
  ...(key === null ? {} : { keyauth_credentials: [{ key }] }),
  ...(groups.length === 0 ? {} : { acls: groups.map((group) => ({ group })) }),
});

/** acl.test's route: acl with `acl`, then key-auth (with `anonymous`) or the ctx-checker when asked. */
function route(
  n: string,
  acl: Record<string, unknown>,
  auth: { key?: Record<string, unknown>; ctx?: CtxCheckerConfig },
) {
  const plugins: Record<string, unknown>[] = [{ name: 'acl', config: acl }];
  if (auth.key !== undefined) plugins.push({ name: 'key-auth', config: auth.key });
  if (auth.ctx !== undefined) plugins.push({ name: 'ctx-checker', config: auth.ctx });
  return { name: `acl${n}`, hosts: [`acl${n}.test`], plugins };
}
const groups = (...g: string[]) => ({ ctx: { authenticated_groups: g } });
const keyAuth = { key: {} };
const anonymous = { anonymous: 'anonymous' };

describe('acl: Kong spec 02-access_spec.lua', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startRecordingUpstream();
    const allowAdmin = { allow: ['admin'] };
    gw = await startGateway({
      plugins: [ctxChecker],
      config: {
        _format_version: '3.0',
        consumers: [
          consumer('consumer1', 'apikey123', []),
          consumer('consumer2', 'apikey124', ['admin']),
          consumer('consumer3', 'apikey125', ['pro', 'hello']),
          consumer('consumer4', 'apikey126', ['free', 'hello']),
          consumer('consumer5', 'apikey127', ['acl_group1']),
          consumer('anonymous', null, ['anonymous']),
        ],
        services: [
          {
            name: 'mock',
            url: upstream.url,
            routes: [
              route('1', allowAdmin, {}),
              route('1b', allowAdmin, { ctx: { credential: 'dummy-credential' } }),
              route('2', allowAdmin, keyAuth),
              route('2b', allowAdmin, groups('admin')),
              route('2c', allowAdmin, groups()),
              route('3', { deny: ['admin'] }, keyAuth),
              route('3b', { deny: ['admin'] }, groups()),
              route('3c', { deny: ['admin'] }, groups('admin')),
              route('3d', { deny: ['none'] }, {}),
              route('4', { allow: ['admin', 'pro'] }, keyAuth),
              route('4b', { allow: ['admin', 'pro'] }, groups('pro', 'hello')),
              route('4c', { allow: ['admin', 'pro'] }, groups('free', 'hello')),
              route('5', { deny: ['admin', 'pro'] }, keyAuth),
              route('5b', { deny: ['admin', 'pro'] }, groups('pro', 'hello')),
              route('5c', { deny: ['admin', 'pro'] }, groups('free', 'hello')),
              route('6', { deny: ['admin', 'pro', 'hello'] }, keyAuth),
              route('6b', { deny: ['admin', 'pro', 'hello'] }, groups('free', 'hello')),
              route('6c', { deny: ['admin', 'pro', 'hello'] }, groups('pro', 'hello')),
              route('7', { allow: ['admin', 'pro', 'hello'] }, keyAuth),
              route('7b', { allow: ['admin', 'pro', 'hello'] }, groups('free', 'hello')),
              route('8', { allow: ['anonymous'] }, { key: anonymous }),
              route('8b', { allow: ['anonymous'] }, { key: anonymous, ...groups('anonymous') }),
              route('9', { ...allowAdmin, hide_groups_header: true }, keyAuth),
              route('9b', { ...allowAdmin, hide_groups_header: true }, groups('admin')),
              route('10', { ...allowAdmin, hide_groups_header: false }, keyAuth),
              route('10b', { ...allowAdmin, hide_groups_header: false }, groups('admin')),
              route('11', { allow: ['admin', 'anonymous'] }, { key: anonymous, ...groups('admin') }),
              route('12', { allow: ['anonymous'] }, { key: anonymous, ...groups('anonymous') }),
              route('13', { allow: ['anonymous'] }, { key: anonymous, ...groups('admin') }),
              route(
                '15',
                { allow: ['auth_group1'], always_use_authenticated_groups: true },
                { ...keyAuth, ...groups('auth_group1') },
              ),
              route(
                '16',
                { allow: ['auth_group1'], always_use_authenticated_groups: true },
                { ...keyAuth, ...groups('auth_group2') },
              ),
              route('17', { allow: ['acl_group1'], always_use_authenticated_groups: true }, keyAuth),
              // The anonymous section's routes without an authentication plugin.
              {
                name: 'allow-none',
                hosts: ['allow-none.test'],
                plugins: [{ name: 'acl', config: { allow: ['none'] } }],
              },
              {
                name: 'deny-everyone',
                hosts: ['deny-everyone.test'],
                plugins: [{ name: 'acl', config: { deny: ['everyone'] } }],
              },
            ],
          },
        ],
      },
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  /**
   * One request: `acl<n>.test`, with `?apikey=` when given. `groups` is what the upstream must see
   * as [X-Consumer-Groups, X-Authenticated-Groups] on a 200; a refusal is checked for Kong's message.
   */
  async function expect(n: string, apikey: string | null, status: number, groups?: [string?, string?]) {
    const host = n.includes('.') ? n : `acl${n}.test`;
    // undici's request: fetch does not send a Host header of its own.
    const res = await request(`${gw.url}/request${apikey === null ? '' : `?apikey=${apikey}`}`, {
      headers: { host },
      headersTimeout: 5000,
      bodyTimeout: 5000,
    });
    const json = (await res.body.json()) as { message?: string; headers?: Record<string, string | undefined> };
    const what = `${host} ${apikey ?? '(no key)'}`;
    assert.equal(res.statusCode, status, `${what}: ${JSON.stringify(json)}`);
    if (status === 401) assert.equal(json.message, 'Unauthorized', what);
    if (status === 403) assert.equal(json.message, 'You cannot consume this service', what);
    if (status === 200 && groups !== undefined) {
      const seen = [json.headers?.['x-consumer-groups'], json.headers?.['x-authenticated-groups']];
      assert.deepEqual(seen, [groups[0], groups[1]], what);
    }
  }

  test('mapping to the consumer or the authenticated groups', async () => {
    await expect('2', 'apikey124', 200, ['admin', undefined]);
    await expect('2b', null, 200, [undefined, 'admin']);
    await expect('8', null, 200, ['anonymous', undefined]);
    await expect('8b', null, 200, [undefined, 'anonymous']);
  });

  test('simple lists: allowed, not allowed, denied, not denied, no authentication', async () => {
    await expect('1', null, 401);
    await expect('1b', null, 403);
    await expect('2', 'apikey123', 403);
    await expect('2c', null, 403);
    await expect('3', 'apikey123', 200);
    await expect('3b', null, 200);
    await expect('3', 'apikey124', 403);
    await expect('3c', null, 403);
    await expect('3d', null, 401);
  });

  test('hide_groups_header: true sends no groups header, false sends it', async () => {
    await expect('9', 'apikey124', 200, [undefined, undefined]);
    await expect('9b', null, 200, [undefined, undefined]);
    await expect('10', 'apikey124', 200, ['admin', undefined]);
    await expect('10b', null, 200, [undefined, 'admin']);
  });

  test('multi lists: any one group allowed is enough, any one group denied refuses', async () => {
    await expect('4', 'apikey125', 200, ['pro, hello', undefined]);
    await expect('4b', null, 200, [undefined, 'pro, hello']);
    await expect('4', 'apikey126', 403);
    await expect('4c', null, 403);
    await expect('5', 'apikey125', 403);
    await expect('5b', null, 403);
    await expect('5', 'apikey126', 200);
    await expect('5c', null, 200);
    await expect('6', 'apikey126', 403);
    await expect('6b', null, 403);
    await expect('7', 'apikey126', 200);
    await expect('7b', null, 200);
    await expect('6', 'apikey125', 403);
    await expect('6c', null, 403);
  });

  test("permits and forbids: a credential's consumer decides by its groups, the anonymous one by the authenticated groups", async () => {
    await expect('11', 'apikey124', 200, ['admin', undefined]);
    await expect('11', null, 200, [undefined, 'admin']);
    await expect('12', 'apikey124', 403);
    await expect('13', null, 403);
  });

  test('always_use_authenticated_groups: the authenticated groups when set, else the consumer groups', async () => {
    await expect('15', 'apikey127', 200, [undefined, 'auth_group1']);
    await expect('16', 'apikey127', 403);
    await expect('17', 'apikey127', 200, ['acl_group1', undefined]);
    await expect('17', 'apikey126', 403);
  });

  test('without an authentication plugin: 401 under allow and deny alike', async () => {
    await expect('allow-none.test', null, 401);
    await expect('deny-everyone.test', null, 401);
  });
});
