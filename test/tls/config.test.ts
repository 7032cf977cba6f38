// A Kong-style gateway.yaml with certificates and snis validates and serves; certificate problems are
// located errors (key mismatch, duplicate SNI, a non-CA in ca_certificates) or warnings (expired).

import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSecureContext } from 'node:tls';
import { loadConfigText } from '../../src/config/load.ts';
import { ConfigError, type ConfigIssue } from '../../src/errors.ts';
import { compileCertificates } from '../../src/tls.ts';
import { brief } from '../config/helpers.ts';
import { curl, openssl, startFromFile, TestCa, tool } from './support.ts';

const skip = tool('openssl') || tool('curl');
const indent = (pem: string, n: number): string =>
  pem
    .trim()
    .split('\n')
    .join(`\n${' '.repeat(n)}`);

async function issues(text: string, dir: string): Promise<ConfigIssue[]> {
  try {
    const c = await loadConfigText(text, join(dir, 'gateway.yaml'), { env: {} });
    return [...(c.source.warnings ?? [])];
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
}

/**
 * `text` loads without an issue and, started, serves each of `hosts` over https: curl checks the
 * certificate served against the name it asked for, so each name got a certificate for it.
 */
async function servesEachName(ca: TestCa, text: string, hosts: string[]): Promise<void> {
  assert.deepEqual(await issues(text, ca.dir), []);
  const file = join(ca.dir, 'gateway.yaml');
  writeFileSync(file, text);
  const inst = await startFromFile(file);
  try {
    const port = Number(inst.proxyAddresses[0]!.split(':').pop());
    for (const host of hosts) {
      const r = await curl([
        '--cacert',
        ca.certFile,
        '--resolve',
        `${host}:${port}:127.0.0.1`,
        `https://${host}:${port}/`,
      ]);
      assert.equal(r.status, 200, `${host} is served with a certificate for it`);
    }
  } finally {
    await inst.close(0);
  }
}

test('a Kong 3.x declarative file with certificates, snis and https routes validates and serves over HTTP/2', {
  skip,
}, async () => {
  const ca = new TestCa();
  const leaf = ca.issue('example.com', ['example.com', '*.example.com']);
  // As `deck gateway dump` writes it: inline PEMs, ids, snis nested under their certificate.
  const text = `_format_version: "3.0"
_transform: true
certificates:
- cert: |-
    ${indent(leaf.cert, 4)}
  id: 2e5b8a52-8b4b-4b0f-9a61-6f0e3f9c1d01
  key: |-
    ${indent(leaf.key, 4)}
  snis:
  - name: example.com
  - name: '*.example.com'
  tags: [edge]
services:
- connect_timeout: 60000
  enabled: true
  host: echo
  name: orders
  port: 0
  protocol: echo
  read_timeout: 60000
  retries: 5
  routes:
  - https_redirect_status_code: 426
    name: orders-https
    path_handling: v0
    paths:
    - /orders
    preserve_host: false
    protocols:
    - https
    regex_priority: 0
    request_buffering: true
    response_buffering: true
    strip_path: true
  write_timeout: 60000
`;
  assert.deepEqual(await issues(text, ca.dir), []);
  const file = join(ca.dir, 'gateway.yaml');
  writeFileSync(file, text);
  const inst = await startFromFile(file, { proxyListen: ['127.0.0.1:0', '127.0.0.1:0 ssl'] });
  try {
    const [plain, tls] = inst.proxyAddresses.map((a) => Number(a.split(':').pop()));
    const r = await curl([
      '--http2',
      '--cacert',
      ca.certFile,
      '--resolve',
      `api.example.com:${tls}:127.0.0.1`,
      `https://api.example.com:${tls}/orders/1`,
    ]);
    assert.equal(r.status, 200);
    assert.equal(r.version, '2');
    assert.equal(JSON.parse(r.body).url, '/1');
    const p = await curl([`http://127.0.0.1:${plain}/orders/1`]);
    assert.equal(p.status, 426);
  } finally {
    await inst.close(0);
  }
});

test("top-level snis naming their certificate by id (kong config db_export's shape) select it; an unknown certificate is a located error", {
  skip,
}, async () => {
  const ca = new TestCa();
  ca.issue('a', ['a.test'], { file: 'a' });
  ca.issue('b', ['b.test'], { file: 'b' });
  const text = `_format_version: "3.0"
certificates:
- id: 0a1b2c3d-0000-4000-8000-00000000000a
  cert: \${file:a.pem}
  key: \${file:a.key}
- id: 0a1b2c3d-0000-4000-8000-00000000000b
  cert: \${file:b.pem}
  key: \${file:b.key}
snis:
- name: a.test
  certificate: 0a1b2c3d-0000-4000-8000-00000000000a
- name: b.test
  certificate: { id: 0A1B2C3D-0000-4000-8000-00000000000B }
services:
- name: echo
  url: echo://
  routes: [{ name: r, paths: [/], protocols: [https] }]
`;
  await servesEachName(ca, text, ['a.test', 'b.test']);
  const found = await issues(
    `_format_version: "3.0"
certificates:
- id: 0a1b2c3d-0000-4000-8000-00000000000a
  cert: \${file:a.pem}
  key: \${file:a.key}
  snis: [{ name: a.test }]
snis:
- { name: other.test, certificate: 0a1b2c3d-0000-4000-8000-0000000000ff }
- { name: a.test, certificate: { id: 0a1b2c3d-0000-4000-8000-00000000000a } }
- { name: nothing.test }
`,
    ca.dir,
  );
  assert.deepEqual(brief(found), [
    "8:36 snis[0].certificate invalid reference 'certificate: 0a1b2c3d-0000-4000-8000-0000000000ff' (no such entry in 'certificates')",
    "9:11 snis[1].name uniqueness violation: 'snis' entity with name set to 'a.test' already declared (at certificates[0].snis[0])",
    '10:3 snis[2].certificate required field missing',
  ]);
});

test('a key that does not match its certificate and a duplicate SNI are located errors', { skip }, async () => {
  const ca = new TestCa();
  const a = ca.issue('a', ['a.test'], { file: 'a' });
  ca.issue('b', ['b.test'], { file: 'b' });
  const found = await issues(
    `_format_version: "3.0"
certificates:
  - cert: \${file:a.pem}
    key: \${file:b.key}
    snis: [{ name: a.test }]
  - cert: \${file:b.pem}
    key: \${file:b.key}
    snis: [{ name: b.test }, { name: A.test }]
`,
    ca.dir,
  );
  const text = brief(found).join('\n');
  assert.match(text, /^4:10 certificates\[0\]\.key certificate does not match key$/m);
  assert.match(
    text,
    /^8:38 certificates\[1\]\.snis\[1\]\.name uniqueness violation: 'snis' entity with name set to 'a\.test' already declared/m,
  );
  assert.ok(!text.includes(a.key.split('\n')[1]!), 'no key material in messages');
  // Two SNIs written `id: null` share that primary key in Kong, nested or top level.
  const nulls = await issues(
    `_format_version: "3.0"
certificates:
  - id: 2f3b1c2e-1111-4222-8333-444455556666
    cert: \${file:b.pem}
    key: \${file:b.key}
    snis: [{ name: b.test, id: null }]
snis:
  - { name: c.test, id: null, certificate: 2f3b1c2e-1111-4222-8333-444455556666 }
`,
    ca.dir,
  );
  assert.deepEqual(
    nulls.map((i) => `${i.line}:${i.col} ${i.path} ${i.message.replace(/ \(at .*/, '')}`),
    ["8:25 snis[0].id uniqueness violation: 'snis' entity with primary key set to null already declared"],
  );
});

test("an IP address as an SNI is refused with Kong's message: no client sends one, so it would never select its certificate", {
  skip,
}, async () => {
  const ca = new TestCa();
  ca.issue('a', ['a.test'], { file: 'a' });
  const found = await issues(
    `_format_version: "3.0"
certificates:
  - cert: \${file:a.pem}
    key: \${file:a.key}
    snis: [{ name: 10.0.0.1 }, { name: "[::1]" }, { name: a.test }]
`,
    ca.dir,
  );
  assert.deepEqual(brief(found), [
    '5:20 certificates[0].snis[0].name must not be an IP',
    '5:40 certificates[0].snis[1].name must not be an IP',
  ]);
});

test("SNI names are checked as Kong's typedefs.wildcard_host checks them, with its messages", { skip }, async () => {
  const ca = new TestCa();
  ca.issue('a', ['a.test'], { file: 'a' });
  const names = ['a.*.test', '*.*', 'a.test:8443', 'a b.test', '*.ok.test', 'ok.*', '*', 'x*'];
  const found = await issues(
    `_format_version: "3.0"
certificates:
  - cert: \${file:a.pem}
    key: \${file:a.key}
    snis:
${names.map((n) => `      - name: "${n}"`).join('\n')}
`,
    ca.dir,
  );
  assert.deepEqual(
    found.map((i) => `${i.path} ${i.message}`),
    [
      'certificates[0].snis[0].name wildcard must be leftmost or rightmost character',
      'certificates[0].snis[1].name only one wildcard must be specified',
      'certificates[0].snis[2].name must not have a port',
      'certificates[0].snis[3].name invalid value: a b.test',
    ],
  );
});

test("cert_alt of the same key type as cert is refused with Kong's message, located at cert_alt", {
  skip,
}, async () => {
  const ca = new TestCa();
  ca.issue('a', ['a.test'], { file: 'a' });
  ca.issue('b', ['a.test'], { file: 'b' });
  ca.issue('c', ['c.test'], { file: 'c' });
  ca.issue('r', ['c.test'], { file: 'r', rsa: true });
  const found = await issues(
    `_format_version: "3.0"
certificates:
  - cert: \${file:a.pem}
    key: \${file:a.key}
    cert_alt: \${file:b.pem}
    key_alt: \${file:b.key}
    snis: [{ name: a.test }]
  - cert: \${file:c.pem}
    key: \${file:c.key}
    cert_alt: \${file:r.pem}
    key_alt: \${file:r.key}
`,
    ca.dir,
  );
  assert.deepEqual(brief(found), [
    '5:15 certificates[0].cert_alt certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), the provided certificates were both of the same type',
  ]);
});

test("an alternative key that does not match its certificate: Kong's message, at key_alt", { skip }, async () => {
  const ca = new TestCa();
  ca.issue('c', ['c.test'], { file: 'c' });
  ca.issue('r', ['c.test'], { file: 'r', rsa: true });
  ca.issue('s', ['c.test'], { file: 's', rsa: true });
  const found = await issues(
    `_format_version: "3.0"
certificates:
  - cert: \${file:c.pem}
    key: \${file:c.key}
    cert_alt: \${file:r.pem}
    key_alt: \${file:s.key}
`,
    ca.dir,
  );
  assert.deepEqual(brief(found), ['6:14 certificates[0].key_alt alternative certificate does not match key']);
});

test('a certificate OpenSSL refuses to serve is located at the field at fault: the chain, or the alternative pair', {
  skip,
}, async () => {
  const ca = new TestCa();
  const c = ca.issue('c', ['c.test'], { file: 'c' });
  // A 512-bit RSA key: it parses and matches its certificate, but OpenSSL will not serve it.
  const [key, pem] = [join(ca.dir, 'small.key'), join(ca.dir, 'small.pem')];
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:512',
    '-nodes',
    '-keyout',
    key,
    '-out',
    pem,
    '-days',
    '1',
    '-subj',
    '/CN=c',
  ]);
  // A chain whose second certificate was cut short: the leaf parses, the chain does not.
  writeFileSync(join(ca.dir, 'cut.pem'), c.cert + ca.cert.slice(0, 200));
  const config = await loadConfigText(
    `_format_version: "3.0"
certificates:
  - cert: \${file:c.pem}
    key: \${file:c.key}
    cert_alt: \${file:small.pem}
    key_alt: \${file:small.key}
  - cert: \${file:cut.pem}
    key: \${file:c.key}
`,
    join(ca.dir, 'gateway.yaml'),
    { env: {} },
  );
  assert.deepEqual(
    compileCertificates(config).issues.map((i) => `${i.line}:${i.col} ${i.path} ${i.message.split(':')[0]}`),
    [
      '5:15 certificates[0].cert_alt certificate cannot be served',
      '7:11 certificates[1].cert certificate cannot be served',
    ],
  );
});

test('a certificate OpenSSL refuses for its signature digest or its key size says how to reissue it', {
  skip,
}, async () => {
  const ca = new TestCa();
  // A leaf its CA signed with SHA-1 (the example on Kong's certificate entity page is one): OpenSSL
  // 3's default security level refuses it as "ca md too weak".
  const at = (f: string) => join(ca.dir, f);
  openssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    at('sha1.key'),
    '-out',
    at('sha1.csr'),
    '-subj',
    '/CN=s',
  ]);
  openssl(
    ['x509', '-req', '-in', at('sha1.csr'), '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial'].concat([
      '-sha1',
      '-days',
      '1',
      '-out',
      at('sha1.pem'),
    ]),
  );
  openssl(
    ['req', '-x509', '-newkey', 'rsa:512', '-nodes', '-keyout', at('small.key'), '-out', at('small.pem')].concat([
      '-days',
      '1',
      '-subj',
      '/CN=small',
    ]),
  );
  const config = await loadConfigText(
    `_format_version: "3.0"
certificates:
  - cert: \${file:sha1.pem}
    key: \${file:sha1.key}
  - cert: \${file:small.pem}
    key: \${file:small.key}
`,
    join(ca.dir, 'gateway.yaml'),
    { env: {} },
  );
  const messages = compileCertificates(config).issues.map((i) => `${i.path}: ${i.message}`);
  // What this Node's OpenSSL refuses: Node 20's (OpenSSL 3.0) refuses the SHA-1 signature, Node
  // 24's accepts it; a 512-bit RSA key is refused by both.
  const refused = (cert: string, key: string): boolean => {
    try {
      createSecureContext({ cert: readFileSync(at(cert)), key: readFileSync(at(key)) });
      return false;
    } catch {
      return true;
    }
  };
  const expected = [
    ...(refused('sha1.pem', 'sha1.key')
      ? [
          /^certificates\[0\]\.cert: certificate cannot be served: .*ca md too weak: its issuer signed it with a digest OpenSSL no longer accepts \(SHA-1 or MD5\); have it reissued signed with SHA-256$/,
        ]
      : []),
    /^certificates\[1\]\.cert: certificate cannot be served: .*ee key too small: its key is too small for OpenSSL \(RSA under 1024 bits\); reissue it with a 2048-bit RSA or a P-256 key$/,
  ];
  assert.ok(refused('small.pem', 'small.key'), 'this OpenSSL refuses a 512-bit key, which the test relies on');
  assert.equal(messages.length, expected.length, messages.join('\n'));
  for (let i = 0; i < expected.length; i++) assert.match(messages[i]!, expected[i]!);
});

test('an expired certificate is a warning, not an error; a non-CA in ca_certificates is an error', {
  skip,
}, async () => {
  const ca = new TestCa();
  ca.issue('old', ['old.test'], { file: 'old', window: ['200101000000Z', '200201000000Z'] });
  ca.issue('leaf', ['leaf.test'], { file: 'leaf' });
  const warned = await issues(
    `_format_version: "3.0"\ncertificates:\n  - { cert: "\${file:old.pem}", key: "\${file:old.key}", snis: [{ name: old.test }] }\n`,
    ca.dir,
  );
  assert.equal(warned.length, 1);
  assert.equal(warned[0]!.severity, 'warning');
  assert.match(warned[0]!.message, /certificate expired on 2020-02-01T00:00:00\.000Z/);
  const bad = await issues(`_format_version: "3.0"\nca_certificates:\n  - { cert: "\${file:leaf.pem}" }\n`, ca.dir);
  assert.match(bad.map((i) => i.message).join('\n'), /does not appear to be a CA/);
  // A bundle was checked for its first certificate only (here the CA) and the leaf trusted unchecked.
  writeFileSync(join(ca.dir, 'bundle.pem'), `${ca.cert.trim()}\n${readFileSync(join(ca.dir, 'leaf.pem'), 'utf8')}`);
  const bundle = await issues(
    `_format_version: "3.0"\nca_certificates:\n  - { cert: "\${file:bundle.pem}" }\n`,
    ca.dir,
  );
  assert.deepEqual(
    bundle.map((i) => `${i.path} ${i.message.replace(/:.*/, '')}`),
    ['ca_certificates[0].cert please submit only one certificate at a time (this one holds 2)'],
  );
});

test("a CA certificate listed twice is Kong's uniqueness violation: on its cert_digest, or on its primary key when the id is given twice", {
  skip,
}, async () => {
  const ca = new TestCa();
  const twice = await issues(
    `_format_version: "3.0"\nca_certificates:\n  - { cert: "\${file:ca.pem}" }\n  - { cert: "\${file:ca.pem}" }\n`,
    ca.dir,
  );
  const digest = createHash('sha256').update(new X509Certificate(ca.cert).raw).digest('hex');
  assert.deepEqual(
    twice.map((i) => `${i.path} ${i.message}`),
    [
      `ca_certificates[1].cert uniqueness violation: 'ca_certificates' entity with cert_digest set to '${digest}' already declared`,
    ],
  );
  const id = '2f3b1c2e-1111-4222-8333-444455556666';
  const ids = await issues(
    `_format_version: "3.0"\nca_certificates:\n  - { id: ${id}, cert: "\${file:ca.pem}" }\n  - { id: ${id}, cert: "\${file:ca.pem}" }\n`,
    ca.dir,
  );
  assert.deepEqual(
    ids.map((i) => `${i.path} ${i.message}`),
    [
      `ca_certificates[1].id uniqueness violation: 'ca_certificates' entity with primary key set to '${id}' already declared`,
    ],
  );
  // `id: null` written twice is one primary key to Kong, reported as that alone (Kong stops there).
  const nulls = await issues(
    `_format_version: "3.0"\nca_certificates:\n  - { id: null, cert: "\${file:ca.pem}" }\n  - { id: null, cert: "\${file:ca.pem}" }\n`,
    ca.dir,
  );
  assert.deepEqual(
    nulls.map((i) => `${i.path} ${i.message.replace(/ \(at .*/, '')}`),
    [
      "ca_certificates[1].id uniqueness violation: 'ca_certificates' entity with primary key set to null already declared",
    ],
  );
});

test('hsts preload without a year and includeSubDomains is refused', async () => {
  const found = await issues(`_format_version: "3.0"\n_tollgate:\n  hsts: { max_age: 600, preload: true }\n`, '/tmp');
  assert.match(
    found.map((i) => `${i.path} ${i.message}`).join('\n'),
    /_tollgate\.hsts\.preload hsts preload needs max_age of at least 31536000/,
  );
});

test('an ssl listener without any certificate is refused at start with a pointer to certificates', {
  skip,
}, async () => {
  const dir = new TestCa().dir;
  const file = join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    `_format_version: "3.0"\nservices:\n  - { name: echo, url: "echo://", routes: [{ name: echo, paths: [/] }] }\n`,
  );
  await assert.rejects(startFromFile(file), /an ssl listener needs a certificate: declare one under 'certificates'/);
});

test('the same certificate listed twice, each with its own snis, loads (Kong has no uniqueness on a PEM) and serves both names', {
  skip,
}, async () => {
  const ca = new TestCa();
  ca.issue('both', ['a.test', 'b.test'], { file: 'both' });
  const text = `_format_version: "3.0"
certificates:
- cert: \${file:both.pem}
  key: \${file:both.key}
  snis: [{ name: a.test }]
- cert: \${file:both.pem}
  key: \${file:both.key}
  snis: [{ name: b.test }]
services:
- name: echo
  url: echo://
  routes: [{ name: r, paths: [/], protocols: [https] }]
`;
  await servesEachName(ca, text, ['a.test', 'b.test']);
});
