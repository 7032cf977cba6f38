import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { configFor, context, directory, FakeRequest } from '../../../test/identity/fake.ts';
import { PluginConfigError } from '../../index.ts';
import plugin, { type AclConfig } from './index.ts';

const dir = directory([
  { id: 'c1', username: 'alice', acls: ['admin'] },
  { id: 'c2', username: 'nogroups' },
]);
const cred = (consumer: string) => ({
  id: `cred-${consumer}`,
  type: 'key-auth',
  identifier: `cred-${consumer}`,
  consumer_id: consumer,
});

async function run(config: Record<string, unknown>, setup: (r: FakeRequest) => void) {
  const h = await plugin.create(configFor(plugin, config) as AclConfig, context(dir));
  const req = new FakeRequest();
  setup(req);
  await h.access!(req);
  return req;
}

describe('acl', () => {
  test('no authentication plugin ran: 401 Unauthorized', async () => {
    const r = await run({ allow: ['admin'] }, () => {});
    assert.deepEqual([r.exitStatus, r.exitBody], [401, { message: 'Unauthorized' }]);
  });

  test('a consumer without groups: 403 with a credential, 401 as anonymous', async () => {
    const c = dir.find('nogroups')!;
    const withCred = await run({ allow: ['admin'] }, (r) => r.authenticate(c, cred('c2')));
    assert.deepEqual([withCred.exitStatus, withCred.exitBody], [403, { message: 'You cannot consume this service' }]);
    const anon = await run({ allow: ['admin'] }, (r) => r.authenticate(c, null, true));
    assert.equal(anon.exitStatus, 401);
    const denyList = await run({ deny: ['banned'] }, (r) => r.authenticate(c, cred('c2')));
    assert.equal(denyList.exitStatus, 0);
  });

  test('authenticated groups from an authentication plugin are used when there is no consumer', async () => {
    const ok = await run({ allow: ['admin'] }, (r) => {
      r.ctx.authenticated_groups = ['admin', 'x'];
    });
    assert.equal(ok.exitStatus, 0);
    assert.equal(ok.upstream['x-authenticated-groups'], 'admin, x');
    const no = await run({ allow: ['admin'] }, (r) => {
      r.ctx.authenticated_groups = ['x'];
    });
    assert.equal(no.exitStatus, 403);
  });

  test('allow and deny together, or neither, is a config error', async () => {
    await assert.rejects(
      run({ allow: ['a'], deny: ['b'] }, () => {}),
      PluginConfigError,
    );
    await assert.rejects(
      run({}, () => {}),
      PluginConfigError,
    );
  });
});
