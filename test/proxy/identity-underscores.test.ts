// With headers_with_underscores: allow, a client's identity header spelled with `_`
// (X_Consumer_Username) must not reach the upstream: CGI-style upstreams (PHP, WSGI, Rack,
// nginx's $http_ variables) read it as X-Consumer-Username, beside or instead of the gateway's.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';

let gw: TestGateway;
before(async () => {
  gw = await startServiceGateway(
    [
      { name: 'open', paths: ['/open'] },
      { name: 'key', paths: ['/key'], plugins: [{ name: 'key-auth' }] },
    ],
    {
      extra: {
        _tollgate: { headers_with_underscores: 'allow' },
        consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key-0123' }] }],
      },
    },
  );
});
after(() => gw?.close());

const forged = {
  X_Consumer_Username: 'admin',
  X_Consumer_ID: 'forged',
  'X_Consumer-Custom-ID': 'forged',
  X_Credential_Identifier: 'forged',
  X_Anonymous_Consumer: 'false',
  X_Authenticated_Userid: 'admin',
  X_Other: 'kept',
};

async function upstreamHeaders(path: string, extra: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}${path}`, { headers: { ...forged, ...extra } });
  assert.equal(res.status, 200);
  return ((await res.json()) as { headers: Record<string, string> }).headers;
}

test('underscored identity headers are dropped even when underscores are allowed; others pass', async () => {
  for (const path of ['/open', '/key']) {
    const headers = await upstreamHeaders(path, path === '/key' ? { apikey: 'alice-key-0123' } : {});
    const leaked = Object.keys(headers).filter((h) => /^x[-_](consumer|credential|anonymous|authenticated)/.test(h));
    const expected = path === '/key' ? ['x-consumer-id', 'x-consumer-username', 'x-credential-identifier'] : [];
    assert.deepEqual(leaked.sort(), expected, path);
    if (path === '/key') assert.equal(headers['x-consumer-username'], 'alice');
    assert.equal(headers.x_other, 'kept', 'other underscored headers pass with allow');
  }
});
