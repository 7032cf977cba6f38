// custom_fields through a gateway to a real receiver: references to request headers and query
// parameters give what the entry logs, so a credential never leaves through them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { httpReceiver } from '../../../test/support/receivers.ts';

test('custom_fields never copy a credential the entry redacts', async () => {
  const receiver = await httpReceiver();
  const gw = await startServiceGateway(
    [
      {
        name: 'keyed',
        paths: ['/keyed'],
        plugins: [
          { name: 'key-auth', config: { key_names: ['apikey', 'x-key'] } },
          {
            name: 'http-log',
            config: {
              http_endpoint: `http://127.0.0.1:${receiver.port}/`,
              custom_fields: {
                'app.tenant': '$(headers.x-tenant)',
                auth: '$(headers.Authorization)',
                cookie: '$(headers.cookie)',
                query_key: '$(query_params.apikey)',
                header_key: 'key=$(headers.x-key)',
                page: '$(query_params.page)',
                who: '$(consumer.username)',
              },
            },
          },
        ],
      },
    ],
    { extra: { consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'alice-secret-key' }] }] } },
  );
  try {
    const headers = { 'x-tenant': 't1', authorization: 'Bearer tok-123', cookie: 'sid=s3cr3t' };
    const viaQuery = await fetch(`${gw.url}/keyed?apikey=alice-secret-key&page=2`, { headers });
    assert.equal(viaQuery.status, 200);
    await viaQuery.text();
    const viaHeader = await fetch(`${gw.url}/keyed`, { headers: { 'x-key': 'alice-secret-key' } });
    assert.equal(viaHeader.status, 200);
    await viaHeader.text();
    const first = await receiver.next();
    const second = await receiver.next();
    for (const m of [first, second]) {
      for (const secret of ['alice-secret-key', 'tok-123', 's3cr3t']) assert.ok(!m.body.includes(secret), m.body);
    }
    const a = JSON.parse(first.body);
    assert.deepEqual(a.app, { tenant: 't1' });
    assert.equal(a.auth, 'REDACTED');
    assert.equal(a.cookie, 'REDACTED');
    assert.equal(a.query_key, 'REDACTED');
    assert.equal(a.page, '2');
    assert.equal(a.who, 'alice');
    assert.equal(JSON.parse(second.body).header_key, 'key=REDACTED');
  } finally {
    await gw.close();
    await receiver.close();
  }
});

test('a custom field named through __proto__ is refused at load, never set on Object.prototype', async () => {
  for (const name of ['__proto__.polluted', 'app.__proto__.polluted', 'app..x']) {
    await assert.rejects(
      startServiceGateway([
        {
          name: 'r',
          paths: ['/r'],
          plugins: [
            { name: 'udp-log', config: { host: '127.0.0.1', port: 9, custom_fields: { [name]: '$(headers.x-evil)' } } },
          ],
        },
      ]),
      /no empty part and no __proto__ part/,
      name,
    );
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
