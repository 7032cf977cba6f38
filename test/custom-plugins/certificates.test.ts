// `context.services.certificates`: a custom plugin reads a certificate of the file by id at
// create(), as http-log's client_certificate does, and the key it gets does not leak when the
// plugin logs, warns or answers with the pair.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { definePlugin } from '../../src/index.ts';
import { runPlugin } from '../../src/testing/index.ts';
import { TestCa, tool } from '../tls/support.ts';

const ID = '0b7e9a1c-0000-4000-8000-00000000c3e7';

const certReader = definePlugin<{ id: string }>({
  name: 'cert-reader',
  version: '1.0.0',
  priority: 1000,
  schema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'], additionalProperties: false },
  create(config, context) {
    const pair = context.services.certificates.get(config.id);
    // What a careless plugin does with the pair: log it, warn with it, answer with it.
    context.log.info('certificate', { pair });
    context.warn(`certificate ${inspect(pair)} ${JSON.stringify(pair)}`);
    return {
      access(req) {
        req.exit(200, {
          found: pair !== undefined,
          cert: pair?.cert ?? null,
          spread: { ...pair },
          // The key is there for TLS options that name it.
          key_is_pem: pair?.key.startsWith('-----BEGIN PRIVATE KEY-----') ?? false,
        });
      },
    };
  },
});

test('services.certificates.get(id) gives the certificate and key by id (any case), undefined for none, and the key stays out of logs and answers', async (t) => {
  const missing = tool('openssl');
  if (missing !== false) {
    t.skip(missing);
    return;
  }
  const pair = new TestCa().issue('plugin client', []);
  const certificates = [{ id: ID, cert: pair.cert, key: pair.key }];
  const keyLine = pair.key.split('\n')[1]!;

  for (const id of [ID, ID.toUpperCase()]) {
    const r = await runPlugin(certReader, { id }, {}, { certificates });
    assert.equal(r.status, 200);
    const body = r.body as { found: boolean; cert: string; spread: Record<string, unknown>; key_is_pem: boolean };
    assert.equal(body.found, true);
    assert.equal(body.cert, pair.cert);
    assert.equal(body.key_is_pem, true);
    assert.deepEqual(Object.keys(body.spread), ['cert']);
    const seen = JSON.stringify(r.logs);
    assert.match(seen, /BEGIN CERTIFICATE/, 'the certificate is logged: it is public');
    assert.ok(!seen.includes(keyLine), seen);
  }

  const none = await runPlugin(certReader, { id: '0b7e9a1c-0000-4000-8000-000000000000' }, {}, { certificates });
  assert.deepEqual((none.body as { found: boolean }).found, false);
});
