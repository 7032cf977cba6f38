// Consumer references (`anonymous`, a plugin's `consumer`) through the gateway: Kong resolves them
// by id or username, so another consumer's custom_id never takes a username's place.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServiceGateway } from '../../test/support/gateway.ts';
import type { TestGateway } from '../testing/index.ts';

let gw: TestGateway;
before(async () => {
  gw = await startServiceGateway(
    [{ name: 'api', paths: ['/api'], plugins: [{ name: 'basic-auth', config: { anonymous: 'guest' } }] }],
    // The consumer whose custom_id is `guest` comes first in the file.
    { extra: { consumers: [{ username: 'mallory', custom_id: 'guest' }, { username: 'guest' }] } },
  );
});
after(async () => {
  await gw?.close();
});

test('anonymous names the consumer with that username, not an earlier one with that custom_id', async () => {
  const res = await fetch(`${gw.url}/api`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  const seen = (await res.json()) as { headers: Record<string, string> };
  assert.equal(seen.headers['x-consumer-username'], 'guest');
  assert.equal(seen.headers['x-anonymous-consumer'], 'true');
});
