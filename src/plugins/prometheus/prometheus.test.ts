import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGateway } from '../../testing/index.ts';

function config(perConsumer: boolean): Record<string, unknown> {
  return {
    _format_version: '3.0',
    consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] }],
    plugins: [{ name: 'prometheus', config: { per_consumer: perConsumer, status_code_metrics: true } }],
    services: [
      { name: 'echo', url: 'echo://', routes: [{ name: 'api', paths: ['/api'], plugins: [{ name: 'key-auth' }] }] },
    ],
  };
}

async function requestsMetric(perConsumer: boolean): Promise<string[]> {
  const gw = await startGateway({ config: config(perConsumer) });
  try {
    const res = await fetch(`${gw.url}/api/x`, { headers: { apikey: 'alice-key' } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith('tollgate_http_requests_total{') && l.includes('route="api"'));
  } finally {
    await gw.close();
  }
}

test('a Kong file with a global prometheus plugin loads, and per_consumer adds the consumer label', async () => {
  const withConsumer = await requestsMetric(true);
  assert.ok(
    withConsumer.some((l) => l.includes('consumer="alice"')),
    withConsumer.join('\n'),
  );
  const without = await requestsMetric(false);
  assert.ok(without.length > 0);
  assert.ok(
    without.every((l) => !l.includes('consumer="alice"')),
    without.join('\n'),
  );
});

test('per_consumer on a scoped prometheus plugin is a located config error', async () => {
  await assert.rejects(
    startGateway({
      config: {
        _format_version: '3.0',
        services: [
          {
            name: 'echo',
            url: 'echo://',
            plugins: [{ name: 'prometheus', config: { per_consumer: true } }],
            routes: [{ paths: ['/api'] }],
          },
        ],
      },
    }),
    (err: Error & { issues?: { message: string; line: number }[] }) => {
      assert.match(err.issues?.[0]?.message ?? '', /global prometheus plugin only/);
      assert.ok((err.issues?.[0]?.line ?? 0) > 0);
      return true;
    },
  );
});
