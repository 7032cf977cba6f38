// acl behind key-auth's anonymous consumer, through a real gateway and a real upstream: Kong's
// spec ("Plugin: ACL (access) anonymous") pins each outcome, including the empty
// X-Consumer-Groups an anonymous consumer without groups gets past a deny list.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import type { TestGateway } from '../../testing/index.ts';

describe('acl with an anonymous consumer (Kong spec)', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startRecordingUpstream();
    const route = (name: string, acl: Record<string, unknown>, anonymous: string) => ({
      name,
      paths: [`/${name}`],
      plugins: [
        { name: 'key-auth', config: { anonymous } },
        { name: 'acl', config: acl },
      ],
    });
    gw = await startServiceGateway(
      [
        route('allow-everyone', { allow: ['everyone'] }, 'anonymous'),
        route('deny-everyone', { deny: ['everyone'] }, 'anonymous'),
        route('deny-none', { deny: ['none'] }, 'anonymous'),
        route('allow-everyone-with-group', { allow: ['everyone'] }, 'anonymous_with_group'),
        route('allow-none-with-group', { allow: ['none'] }, 'anonymous_with_group'),
        route('deny-everyone-with-group', { deny: ['everyone'] }, 'anonymous_with_group'),
        route('deny-none-with-group', { deny: ['none'] }, 'anonymous_with_group'),
      ],
      {
        url: upstream.url,
        extra: {
          consumers: [{ username: 'anonymous' }, { username: 'anonymous_with_group', acls: [{ group: 'everyone' }] }],
        },
      },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const get = async (path: string) => {
    const res = await fetch(`${gw.url}/${path}`);
    return { status: res.status, json: (await res.json()) as { headers?: Record<string, string>; message?: string } };
  };

  test('an anonymous consumer without groups: 401 under allow', async () => {
    const r = await get('allow-everyone');
    assert.deepEqual([r.status, r.json.message], [401, 'Unauthorized']);
  });

  test('an anonymous consumer without groups passes a deny list with an empty X-Consumer-Groups, as Kong sends it', async () => {
    for (const path of ['deny-everyone', 'deny-none']) {
      const r = await get(path);
      assert.equal(r.status, 200, path);
      assert.equal(r.json.headers?.['x-consumer-groups'], '', path);
      assert.equal(r.json.headers?.['x-authenticated-groups'], undefined, path);
    }
  });

  test('an anonymous consumer with a group is allowed or refused by it, and its group goes upstream', async () => {
    for (const path of ['allow-everyone-with-group', 'deny-none-with-group']) {
      const r = await get(path);
      assert.equal(r.status, 200, path);
      assert.equal(r.json.headers?.['x-consumer-groups'], 'everyone', path);
    }
    for (const path of ['allow-none-with-group', 'deny-everyone-with-group']) {
      const r = await get(path);
      assert.deepEqual([r.status, r.json.message], [403, 'You cannot consume this service'], path);
    }
  });
});
