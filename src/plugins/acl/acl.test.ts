import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../index.ts';
import { runPlugin, type SyntheticRequest, startPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

const consumers = [
  { username: 'alice', acls: [{ group: 'admin' }, { group: 'ops' }] },
  { username: 'mallory', acls: [{ group: 'users' }, { group: 'banned' }] },
  { username: 'bob', acls: [{ group: 'users' }] },
  { username: 'nogroups' },
  { username: 'intl', acls: [{ group: '日本' }, { group: 'café' }] },
];
const cred = (consumer: string) => ({
  id: `cred-${consumer}`,
  type: 'key-auth',
  identifier: `cred-${consumer}`,
  consumer_id: consumer,
});

const run = (config: Record<string, unknown>, request: SyntheticRequest = {}) =>
  runPlugin(plugin, config, request, { consumers });

/** The consumer's id, for a credential that belongs to it. */
async function idOf(username: string): Promise<string> {
  const r = await run({ deny: ['x'] }, { consumer: username });
  return r.consumer!.id;
}

describe('acl', () => {
  test('no authentication plugin ran: 401 Unauthorized', async () => {
    const r = await run({ allow: ['admin'] });
    assert.deepEqual([r.status, r.body], [401, { message: 'Unauthorized' }]);
  });

  test('a consumer in an allowed group passes, with its groups sent upstream', async () => {
    const id = await idOf('alice');
    const r = await run({ allow: ['ops'] }, { consumer: 'alice', credential: cred(id) });
    assert.equal(r.exited, false);
    assert.equal(r.upstreamHeaders['x-consumer-groups'], 'admin, ops');
    const hidden = await run({ allow: ['ops'], hide_groups_header: true }, { consumer: 'alice', credential: cred(id) });
    assert.equal(hidden.exited, false);
    assert.equal(hidden.upstreamHeaders['x-consumer-groups'], undefined);
  });

  test('a consumer in no allowed group: 403 You cannot consume this service', async () => {
    const id = await idOf('bob');
    const r = await run({ allow: ['admin'] }, { consumer: 'bob', credential: cred(id) });
    assert.deepEqual([r.status, r.body], [403, { message: 'You cannot consume this service' }]);
  });

  test('a member of a deny group is refused, even when it also has groups that are not denied', async () => {
    const id = await idOf('mallory');
    const r = await run({ deny: ['banned'] }, { consumer: 'mallory', credential: cred(id) });
    assert.deepEqual([r.status, r.body], [403, { message: 'You cannot consume this service' }]);
    assert.equal(r.upstreamHeaders['x-consumer-groups'], undefined);
    const other = await run(
      { deny: ['banned', 'admin'] },
      { consumer: 'alice', credential: cred(await idOf('alice')) },
    );
    assert.equal(other.status, 403, 'any one denied group is enough');
  });

  test('a consumer in no deny group passes, and so does one without groups', async () => {
    const bob = await run({ deny: ['banned'] }, { consumer: 'bob', credential: cred(await idOf('bob')) });
    assert.equal(bob.exited, false);
    assert.equal(bob.upstreamHeaders['x-consumer-groups'], 'users');
    const none = await run({ deny: ['banned'] }, { consumer: 'nogroups', credential: cred(await idOf('nogroups')) });
    assert.equal(none.exited, false);
    assert.equal(none.upstreamHeaders['x-consumer-groups'], '', 'no groups: an empty header, as Kong sends');
  });

  test('non-ASCII groups are sent upstream as their UTF-8 bytes, as Kong sends them', async () => {
    const utf8 = (v: unknown) => Buffer.from(String(v), 'latin1').toString('utf8');
    const r = await run({ allow: ['日本'] }, { consumer: 'intl', credential: cred(await idOf('intl')) });
    assert.equal(r.exited, false);
    assert.equal(utf8(r.upstreamHeaders['x-consumer-groups']), '日本, café');
    const g = await run({ allow: ['日本'] }, { ctx: { authenticated_groups: ['日本'] } });
    assert.equal(g.exited, false);
    assert.equal(utf8(g.upstreamHeaders['x-authenticated-groups']), '日本');
  });

  test('authenticated groups in the deny list are refused too', async () => {
    const denied = await run({ deny: ['banned'] }, { ctx: { authenticated_groups: ['users', 'banned'] } });
    assert.equal(denied.status, 403);
    const ok = await run({ deny: ['banned'] }, { ctx: { authenticated_groups: ['users'] } });
    assert.equal(ok.exited, false);
    assert.equal(ok.upstreamHeaders['x-authenticated-groups'], 'users');
  });

  test('a consumer without groups: 403 with a credential, 401 without (anonymous)', async () => {
    const id = await idOf('nogroups');
    const withCred = await run({ allow: ['admin'] }, { consumer: 'nogroups', credential: cred(id) });
    assert.deepEqual([withCred.status, withCred.body], [403, { message: 'You cannot consume this service' }]);
    const anon = await run({ allow: ['admin'] }, { consumer: 'nogroups' });
    assert.equal(anon.status, 401);
  });

  test('authenticated groups from an authentication plugin are used when there is no consumer', async () => {
    const ok = await run({ allow: ['admin'] }, { ctx: { authenticated_groups: ['admin', 'x'] } });
    assert.equal(ok.exited, false);
    assert.equal(ok.upstreamHeaders['x-authenticated-groups'], 'admin, x');
    const no = await run({ allow: ['admin'] }, { ctx: { authenticated_groups: ['x'] } });
    assert.equal(no.status, 403);
  });

  test('client-sent group headers never reach the upstream', async () => {
    const r = await run(
      { allow: ['users'] },
      {
        consumer: 'bob',
        credential: cred(await idOf('bob')),
        headers: { 'x-consumer-groups': 'admin', 'x-authenticated-groups': 'admin' },
      },
    );
    assert.equal(r.upstreamHeaders['x-consumer-groups'], 'users');
    assert.equal(r.upstreamHeaders['x-authenticated-groups'], undefined);
  });

  test("a consumer's decision is kept for the instance's life and stays right for every consumer", async () => {
    const acl = await startPlugin(plugin, { deny: ['banned'] }, { consumers });
    try {
      for (let i = 0; i < 2; i++) {
        assert.equal((await acl.run({ consumer: 'mallory', credential: cred('m') })).status, 403);
        assert.equal((await acl.run({ consumer: 'bob', credential: cred('b') })).exited, false);
      }
    } finally {
      await acl.close();
    }
  });

  test("authenticated groups beside a consumer's credential: used only with always_use_authenticated_groups", async () => {
    const id = await idOf('bob');
    const request = { consumer: 'bob', credential: cred(id), ctx: { authenticated_groups: ['admin'] } };
    const consumerGroups = await run({ allow: ['admin'] }, request);
    assert.equal(consumerGroups.status, 403, "without the flag, the consumer's own groups decide");
    const always = await run({ allow: ['admin'], always_use_authenticated_groups: true }, request);
    assert.equal(always.exited, false);
    assert.equal(always.upstreamHeaders['x-authenticated-groups'], 'admin');
    assert.equal(always.upstreamHeaders['x-consumer-groups'], undefined);
    const hidden = await run(
      { allow: ['admin'], always_use_authenticated_groups: true, hide_groups_header: true },
      request,
    );
    assert.equal(hidden.exited, false);
    assert.equal(hidden.upstreamHeaders['x-authenticated-groups'], undefined);
    const anonymous = await run({ allow: ['admin'] }, { consumer: 'bob', ctx: { authenticated_groups: ['admin'] } });
    assert.equal(anonymous.exited, false, 'an anonymous consumer is decided by the authenticated groups');
  });

  test('a credential without a consumer and without authenticated groups: 403', async () => {
    const r = await run({ allow: ['admin'] }, { credential: cred('none') });
    assert.deepEqual([r.status, r.body], [403, { message: 'You cannot consume this service' }]);
  });

  test('authenticated groups that are not all strings count as none', async () => {
    for (const groups of [['admin', 7], 'admin', null]) {
      const r = await run({ allow: ['admin'] }, { ctx: { authenticated_groups: groups } });
      assert.deepEqual([r.status, r.body], [401, { message: 'Unauthorized' }], JSON.stringify(groups));
    }
    const withCred = await run(
      { allow: ['admin'], always_use_authenticated_groups: true },
      { consumer: 'alice', credential: cred(await idOf('alice')), ctx: { authenticated_groups: ['admin', 7] } },
    );
    assert.equal(withCred.exited, false, "no authenticated groups: the consumer's own groups decide");
    assert.equal(withCred.upstreamHeaders['x-consumer-groups'], 'admin, ops');
  });

  test("an empty list of authenticated groups is no group, as Kong's acl reads it: not the anonymous consumer's", async () => {
    const ctx = { authenticated_groups: [] };
    const none = await run({ allow: ['admin'] }, { ctx });
    assert.deepEqual([none.status, none.body], [403, { message: 'You cannot consume this service' }]);
    const anon = await run({ allow: ['admin'] }, { consumer: 'alice', ctx });
    assert.equal(anon.status, 403, "the anonymous consumer's groups do not stand in for them");
    const always = await run(
      { allow: ['admin'], always_use_authenticated_groups: true },
      { consumer: 'alice', credential: cred(await idOf('alice')), ctx },
    );
    assert.equal(always.status, 403);
    const deny = await run({ deny: ['banned'] }, { ctx });
    assert.equal(deny.exited, false);
    assert.equal(deny.upstreamHeaders['x-authenticated-groups'], '', 'an empty header, as Kong sends');
  });

  test("allow and deny together, or neither, is a config error in Kong's words (its only_one_of and at_least_one_of checks)", async () => {
    await assert.rejects(run({ allow: ['a'], deny: ['b'] }), (e: unknown) => {
      assert.ok(e instanceof ConfigError, 'a config error');
      assert.match(e.message, /config: exactly one of these fields must be non-empty: 'config\.allow', 'config\.deny'/);
      return true;
    });
    for (const neither of [{}, { allow: [], deny: null }]) {
      await assert.rejects(
        run(neither),
        /config: at least one of these fields must be non-empty: 'config\.allow', 'config\.deny'/,
      );
    }
  });
});

describe('acls and where acl may be configured', () => {
  const rejects = (consumer: Record<string, unknown>, message: RegExp) =>
    assert.rejects(
      runPlugin(plugin, { allow: ['g'] }, {}, { consumers: [consumer] }),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
    );

  test('a group is a non-empty string, once per consumer; nothing else is allowed', async () => {
    await rejects({ username: 'a', acls: [{}] }, /acls\[0\]\.group: required field missing/);
    await rejects({ username: 'a', acls: [{ group: '' }] }, /acls\[0\]\.group: length must be at least 1/);
    await rejects({ username: 'a', acls: [{ group: 5 }] }, /acls\[0\]\.group: expected a string/);
    await rejects({ username: 'a', acls: [{ group: 'g', x: 1 }] }, /acls\[0\]\.x: unknown field 'x'/);
    await rejects(
      { username: 'a', acls: [{ group: 'g' }, { group: 'g' }] },
      /acls\[1\]\.group: uniqueness violation: 'acls' entity with group set to 'g' for this consumer/,
    );
    const shared = [
      { username: 'a', acls: [{ group: 'g' }] },
      { username: 'b', acls: [{ group: 'g' }] },
    ];
    const r = await runPlugin(plugin, { allow: ['g'] }, { consumer: 'b' }, { consumers: shared });
    assert.equal(r.exited, false, 'two consumers may share a group');
  });

  test("an acl's id comes from its consumer and group, not its position (stable across edits, as Kong's)", async () => {
    const { loadConfigText } = await import('../../config/load.ts');
    const ids = async (a: string[], b: string[]) => {
      const text = `_format_version: "3.0"\nconsumers:\n  - username: a\n    acls: [${a.map((g) => `{group: ${g}}`).join(', ')}]\n  - username: b\n    acls: [${b.map((g) => `{group: ${g}}`).join(', ')}]\n`;
      const c = await loadConfigText(text, 'acls.yaml', { env: {} });
      const byName = new Map(c.consumers.map((x) => [x.id, x.username]));
      return new Map(c.plugin_entities.acls!.map((e) => [`${byName.get(e.consumer as string)}:${e.group}`, e.id]));
    };
    const first = await ids(['g', 'h'], ['h', 'g']);
    assert.equal(new Set(first.values()).size, 4, 'every acl has its own id');
    const moved = await ids(['x', 'h', 'g'], ['g']);
    for (const key of ['a:g', 'a:h', 'b:g']) assert.equal(moved.get(key), first.get(key), key);
  });

  test('acl cannot be applied to a consumer (Kong: no consumer field)', async () => {
    await assert.rejects(
      runPlugin(
        plugin,
        { allow: ['g'] },
        {},
        { consumers: [{ username: 'a', plugins: [{ name: 'acl', config: { allow: ['g'] } }] }] },
      ),
      (e: unknown) => e instanceof ConfigError && /plugin 'acl' cannot be applied to a consumer/.test(e.message),
    );
  });
});

describe('acls', () => {
  test('a group with a line break loads with a warning: X-Consumer-Groups could never carry it', async () => {
    const withBreak = [{ username: 'eve', acls: [{ group: 'ops\r\nX-Injected: 1' }] }, ...consumers];
    const r = await runPlugin(plugin, { allow: ['admin'] }, { consumer: 'alice' }, { consumers: withBreak });
    assert.equal(r.status, 200);
    assert.ok(
      r.logs.some((l) => /the group holds a control character/.test(String(l.msg))),
      JSON.stringify(r.logs),
    );
    const clean = await runPlugin(plugin, { allow: ['admin'] }, { consumer: 'alice' }, { consumers });
    assert.ok(!clean.logs.some((l) => /control character/.test(String(l.msg))));
  });
});
