import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { backend, POOL } from '../../test/support/balancer.ts';
import { Balancer } from './balancer.ts';

// A target's pool is made at its first request: a config of thousands of services holds none for
// those a process never calls. What a user sees must not depend on when it was made.

const servers: { close(): Promise<void> }[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

test('a target answers its first request, and its connection counts once made', async () => {
  const up = await backend('one');
  servers.push(up);
  const b = Balancer.single('127.0.0.1', up.port, POOL);
  const t = b.targets[0]!;
  assert.deepEqual(t.poolStats(), { active: 0, idle: 0, queued: 0 });
  assert.equal(b.health().targets[0]!.connections.idle, 0);
  const res = await t.pool.request({ path: '/', method: 'GET' });
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'one');
  assert.equal(t.poolStats().idle, 1);
  assert.equal(b.health().targets[0]!.connections.idle, 1);
  // The default Host (the pool's origin) is left to undici on plain http.
  assert.equal(t.poolSendsHostHeader, true);
  await b.close();
  assert.equal(t.poolStats().idle, 0);
});

test('a request after its balancer closed is refused, whether or not its pool was made before', async () => {
  const up = await backend('two');
  servers.push(up);
  const b = Balancer.single('127.0.0.1', up.port, POOL);
  await b.close();
  await assert.rejects(b.targets[0]!.pool.request({ path: '/', method: 'GET' }), { code: 'UND_ERR_CLOSED' });
  assert.equal(up.hits, 0);
});

test('a target whose Host is not its origin sends its own', () => {
  const b = Balancer.single('127.0.0.1', 8080, { ...POOL, scheme: 'https' });
  assert.equal(b.targets[0]!.poolSendsHostHeader, false);
  return b.close();
});
