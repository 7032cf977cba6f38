// http-log's client_certificate (Kong Gateway 3.15): a certificate of the file's `certificates`
// presented to an https receiver that requires one (mutual TLS), against a real receiver.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { httpsReceiver } from '../../../test/support/receivers.ts';
import { validateEntities } from '../../../test/support/validate.ts';
import { until } from '../../../test/support/wait.ts';
import { type Issued, TestCa, tool } from '../../../test/tls/support.ts';
import { startPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

const CERT_ID = '5f1c2d3e-0000-4000-8000-000000000001';

/** An https receiver that takes only clients with a certificate `ca` signed. */
function mtlsReceiver(ca: TestCa) {
  const own = ca.issue('receiver', []);
  return httpsReceiver({ cert: own.cert, key: own.key, ca: ca.cert, requestCert: true, rejectUnauthorized: true });
}

/** The receiver's certificate is of the test CA, which the gateway does not trust: ssl_verify is off. */
function configFor(url: string, withCert: boolean): Record<string, unknown> {
  return { http_endpoint: url, ssl_verify: false, ...(withCert ? { client_certificate: { id: CERT_ID } } : {}) };
}

test('client_certificate: the entry reaches a receiver that requires a client certificate; without it the receiver refuses the handshake and gets nothing', async (t) => {
  const missing = tool('openssl');
  if (missing !== false) {
    t.skip(missing);
    return;
  }
  const ca = new TestCa();
  const client: Issued = ca.issue('http-log client', []);
  const certificates = [{ id: CERT_ID, cert: client.cert, key: client.key }];
  const receiver = await mtlsReceiver(ca);
  try {
    const without = await startPlugin(plugin, configFor(receiver.url, false), { certificates });
    try {
      await without.run({ path: '/without' });
      await until('a refused handshake', () => receiver.refused.length > 0);
    } finally {
      await without.close();
    }
    assert.equal(receiver.bodies.length, 0);

    const withCert = await startPlugin(plugin, configFor(receiver.url, true), { certificates });
    try {
      await withCert.run({ path: '/with' });
      await until('the entry', () => receiver.bodies.length === 1);
      // The certificate and key are the caller's, not in any log line of the plugin.
      const logged = JSON.stringify(withCert.logs);
      assert.ok(!logged.includes(client.key.split('\n')[1]!), logged);
    } finally {
      await withCert.close();
    }
    assert.equal(JSON.parse(receiver.bodies[0]!.body).request.uri, '/with');
    assert.equal(receiver.bodies[0]!.client, 'http-log client');
  } finally {
    await receiver.close();
  }
});

/** A gateway.yaml's plugins and certificates (the certificate's PEMs as literal blocks). */
function withCertificate(pair: { cert: string; key: string }, endpoint: string, ref: string): string {
  const block = (pem: string) => pem.trim().replaceAll('\n', '\n      ');
  return `certificates:
  - id: ${CERT_ID}
    cert: |
      ${block(pair.cert)}
    key: |
      ${block(pair.key)}
plugins:
  - name: http-log
    config:
      http_endpoint: "${endpoint}"
      client_certificate: ${ref}
`;
}

test('gateway validate: client_certificate naming a certificate loads; an unknown id is refused at the field; toward an http endpoint it is a warning there', async (t) => {
  const missing = tool('openssl');
  if (missing !== false) {
    t.skip(missing);
    return;
  }
  const ca = new TestCa();
  const pair = ca.issue('http-log client', []);
  const lines = withCertificate(pair, 'https://logs.example.test/in', '').split('\n').length;
  // The certificate's id, in any case (Kong's uuids compare so).
  for (const ref of [`{ id: ${CERT_ID} }`, `{ id: ${CERT_ID.toUpperCase()} }`]) {
    const ok = await validateEntities(withCertificate(pair, 'https://logs.example.test/in', ref));
    assert.equal(ok.code, 0, ok.out);
    assert.doesNotMatch(ok.out, /warning|error/, ok.out);
  }

  const unknown = await validateEntities(
    withCertificate(pair, 'https://logs.example.test/in', '{ id: 00000000-0000-4000-8000-0000000000ff }'),
  );
  assert.equal(unknown.code, 1, unknown.out);
  // The field is on the file's second-to-last line (1 for _format_version), at column 27.
  assert.match(
    unknown.out,
    new RegExp(
      `:${lines}:27 {2}plugins\\[0\\]\\.config\\.client_certificate {2}.*invalid reference 'client_certificate: 00000000-0000-4000-8000-0000000000ff' \\(no such entry in 'certificates'\\): add the certificate .*, or remove client_certificate\\n`,
    ),
  );
  // Nothing of the key in what validate prints, whatever else it says.
  assert.ok(!unknown.out.includes(pair.key.split('\n')[1]!), unknown.out);

  const http = await validateEntities(withCertificate(pair, 'http://127.0.0.1:9/logs', `{ id: ${CERT_ID} }`));
  assert.equal(http.code, 0, http.out);
  assert.match(
    http.out,
    new RegExp(
      `:${lines}:27 {2}plugins\\[0\\]\\.config\\.client_certificate {2}warning: plugin 'http-log': client_certificate does nothing toward an http endpoint .*: use an https http_endpoint, or remove client_certificate\\n`,
    ),
  );
});
