// The jwt instances of a config share one index of the credentials' keys; instances whose
// secret_is_base64 differs must not share it, since the same secret is then a different key.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import type { TestGateway } from '../../testing/index.ts';

const RAW = 'shared-index-secret-of-enough-length';
/** The credential's secret as written in the file: RAW in base64. */
const WRITTEN = Buffer.from(RAW).toString('base64');

function hs256(key: Buffer | string): string {
  const part = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ iss: 'shared-key', sub: 'x' })}`;
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}

let gw: TestGateway;
before(async () => {
  const route = (name: string, config: Record<string, unknown>) => ({
    name,
    paths: [`/${name}`],
    plugins: [{ name: 'jwt', config }],
  });
  gw = await startServiceGateway(
    [route('plain-a', {}), route('decoded', { secret_is_base64: true }), route('plain-b', {})],
    { extra: { consumers: [{ username: 'alice', jwt_secrets: [{ key: 'shared-key', secret: WRITTEN }] }] } },
  );
});
after(async () => {
  await gw?.close();
});

async function status(path: string, token: string): Promise<number> {
  const res = await fetch(`${gw.url}${path}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(5000),
  });
  await res.arrayBuffer();
  return res.status;
}

test('routes with and without secret_is_base64 each verify with their own reading of the same secret', async () => {
  const signedWithText = hs256(WRITTEN);
  const signedWithDecoded = hs256(Buffer.from(RAW));
  for (const path of ['/plain-a', '/plain-b']) {
    assert.equal(await status(path, signedWithText), 200, `${path}: the secret as written is the key`);
    assert.equal(await status(path, signedWithDecoded), 401, `${path}: the decoded secret is not`);
  }
  assert.equal(await status('/decoded', signedWithDecoded), 200, 'secret_is_base64: the decoded secret is the key');
  assert.equal(await status('/decoded', signedWithText), 401);
});
