// The identity headers authenticate() sends upstream (Kong's set_consumer) carry consumer and
// credential names that may be any UTF-8 text: a real upstream must get their UTF-8 bytes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startServiceGateway } from '../../test/support/gateway.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../test/support/upstream.ts';
import type { TestGateway } from '../testing/index.ts';

let upstream: RecordingUpstream;
let gw: TestGateway;
before(async () => {
  upstream = await startRecordingUpstream();
  gw = await startServiceGateway([{ name: 'api', paths: ['/api'], plugins: [{ name: 'basic-auth' }] }], {
    url: upstream.url,
    extra: {
      consumers: [
        {
          username: '日本',
          custom_id: 'José',
          basicauth_credentials: [{ username: 'ユーザ', password: 'pw' }],
        },
      ],
    },
  });
});
after(async () => {
  await gw?.close();
  await upstream?.close();
});

test('non-ASCII consumer and credential names reach the upstream as UTF-8 bytes', async () => {
  const authorization = `Basic ${Buffer.from('ユーザ:pw').toString('base64')}`;
  const res = await request(`${gw.url}/api`, { headers: { authorization }, headersTimeout: 5000 });
  await res.body.dump();
  assert.equal(res.statusCode, 200);
  const seen = upstream.requests.at(-1)!.headers;
  // Node reads header bytes as latin1: decode them back as UTF-8.
  const utf8 = (v: unknown) => Buffer.from(String(v), 'latin1').toString('utf8');
  assert.equal(utf8(seen['x-consumer-username']), '日本');
  assert.equal(utf8(seen['x-consumer-custom-id']), 'José');
  assert.equal(utf8(seen['x-credential-identifier']), 'ユーザ');
});
