// Group headers an earlier plugin set (the session plugin restoring the groups of the sign-in, an
// LDAP or OIDC authentication) are that plugin's: Kong's acl neither clears nor hides them, it only
// adds its own. Through a real gateway, whose edge drops a client's copies.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { serviceConfig } from '../../../test/support/gateway.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { definePlugin } from '../../index.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const groupsSetter = definePlugin({
  name: 'groups-setter',
  version: '1.0.0',
  priority: 1000,
  schema: { type: 'object' },
  create: () => ({
    access(req) {
      req.ctx.authenticated_groups = ['agents'];
      req.setUpstreamHeader('x-authenticated-groups', 'agents');
    },
  }),
});

describe('acl beside group headers an earlier plugin set', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startRecordingUpstream();
    const route = (name: string, acl: Record<string, unknown>) => ({
      name,
      paths: [`/${name}`],
      plugins: [{ name: 'key-auth' }, { name: 'groups-setter' }, { name: 'acl', config: acl }],
    });
    gw = await startGateway({
      plugins: [groupsSetter],
      config: serviceConfig(
        [route('shown', { allow: ['admin'] }), route('hidden', { allow: ['admin'], hide_groups_header: true })],
        {
          url: upstream.url,
          extra: {
            consumers: [{ username: 'alice', acls: [{ group: 'admin' }], keyauth_credentials: [{ key: 'k' }] }],
          },
        },
      ),
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${gw.url}/${path}`, { headers: { apikey: 'k', ...headers } });
    return { status: res.status, json: (await res.json()) as { headers: Record<string, string | undefined> } };
  };

  test("the consumer's groups decide and go upstream; the earlier plugin's X-Authenticated-Groups stays", async () => {
    const r = await get('shown', { 'x-consumer-groups': 'forged' });
    assert.equal(r.status, 200);
    assert.equal(r.json.headers['x-consumer-groups'], 'admin');
    assert.equal(r.json.headers['x-authenticated-groups'], 'agents');
  });

  test("hide_groups_header hides acl's own header only", async () => {
    const r = await get('hidden');
    assert.equal(r.status, 200);
    assert.equal(r.json.headers['x-consumer-groups'], undefined);
    assert.equal(r.json.headers['x-authenticated-groups'], 'agents');
  });
});
