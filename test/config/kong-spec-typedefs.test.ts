// Kong's typedefs spec (spec/01-unit/01-db/01-schema/03-typedefs_spec.lua, Kong commit 22246ef2),
// case by case, through the declarative fields that use each typedef, as a Kong 3.0 file that
// `gateway validate` checks: what Kong's typedef accepts loads, what it refuses is refused at the
// field with Kong's words (Tollgate may add a hint after them).
// Left out: typedefs.semantic_version (only hybrid mode's clustering_data_planes use it),
// typedefs.pem (Kong's keys entity, which Tollgate refuses: docs/kong-compatibility.md), and the
// cases about building typedefs in Lua (customized, called as functions, overridden with false).
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { validateEntities } from '../support/validate.ts';
import { TestCa, tool } from '../tls/support.ts';

const skip = tool('openssl');

/** `path message` of each error (warnings left out), or [] when the file loads. */
async function issues(yaml: string): Promise<string[]> {
  const v = await validateEntities(yaml);
  const found = v.out.split('\n').flatMap((l) => {
    const m = /:\d+:\d+ {2}(\S+) {2}(.*)$/.exec(l);
    return m && !m[2]!.startsWith('warning: ') ? [`${m[1]} ${m[2]}`] : [];
  });
  assert.equal(v.code, found.length === 0 ? 0 : 1, v.out);
  return found;
}

/** Each refusal is at `path` and starts with Kong's message. */
async function refusedAs(yaml: string, want: [string, string][]): Promise<void> {
  const got = await issues(yaml);
  assert.equal(got.length, want.length, got.join('\n'));
  want.forEach(([path, message], i) =>
    assert.ok(got[i]!.startsWith(`${path} ${message}`), `expected ${path} ${message}\ngot ${got[i]}`),
  );
}

const q = (s: string): string => JSON.stringify(s);

test("sni: a host name loads as a route SNI; an IPv4 or IPv6 address, or a port, is refused in Kong's words", async () => {
  const route = (snis: string): string => `routes:\n  - { name: r, protocols: [https], snis: ${snis} }\n`;
  assert.deepEqual(await issues(route('["example.com", "9foo.te-st.bar.test"]')), []);
  await refusedAs(route('["127.0.0.1", "example.com:80", "[::1]"]'), [
    ['routes[0].snis[0]', 'must not be an IP'],
    ['routes[0].snis[1]', 'must not have a port'],
    ['routes[0].snis[2]', 'must not be an IP'],
  ]);
});

test('certificate: a CA-issued or self-signed PEM loads; a number, text or an empty PEM is refused', {
  skip,
}, async () => {
  const ca = new TestCa();
  const leaf = ca.issue('a', ['a.test']);
  const selfSigned = readFileSync(ca.certFile, 'utf8');
  const selfKey = readFileSync(ca.keyFile, 'utf8');
  assert.deepEqual(
    await issues(
      `certificates:\n  - { cert: ${q(leaf.cert)}, key: ${q(leaf.key)} }\n  - { cert: ${q(selfSigned)}, key: ${q(selfKey)} }\n`,
    ),
    [],
  );
  const empty = '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n';
  const key = q(leaf.key);
  await refusedAs(
    `certificates:\n  - { cert: 42, key: ${key} }\n  - { cert: not a certificate, key: ${key} }\n  - { cert: ${q(empty)}, key: ${key} }\n`,
    [
      ['certificates[0].cert', 'expected a string'],
      ['certificates[1].cert', 'invalid certificate'],
      ['certificates[2].cert', 'invalid certificate'],
    ],
  );
  // The same typedef checks a CA certificate's cert.
  await refusedAs(`ca_certificates:\n  - cert: not a certificate\n  - cert: ${q(empty)}\n`, [
    ['ca_certificates[0].cert', 'invalid certificate'],
    ['ca_certificates[1].cert', 'invalid certificate'],
  ]);
});

test("key: a private key loads; a number, text or an empty PEM is refused in Kong's words", { skip }, async () => {
  const ca = new TestCa();
  const leaf = ca.issue('a', ['a.test']);
  const cert = q(leaf.cert);
  const empty = '-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n';
  await refusedAs(
    `certificates:\n  - { cert: ${cert}, key: 42 }\n  - { cert: ${cert}, key: not a key }\n  - { cert: ${cert}, key: ${q(empty)} }\n`,
    [
      ['certificates[0].key', 'expected a string'],
      ['certificates[1].key', 'invalid key'],
      ['certificates[2].key', 'invalid key'],
    ],
  );
  // Kong's typedef takes a public key too, and its certificates check compares only the public
  // halves, so Kong loads a certificate whose `key` is its public key (and then no handshake can
  // use it). Tollgate refuses it at the load: a certificate serves only with its private key.
  const pub = createPublicKey(leaf.key).export({ type: 'spki', format: 'pem' }).toString();
  await refusedAs(`certificates:\n  - { cert: ${cert}, key: ${q(pub)} }\n`, [['certificates[0].key', 'invalid key']]);
});

test('port: 1024, 65535 and 65535.0 load; a word, 65536 and 65536.1 are refused', async () => {
  const log = (port: string): string => `  - { name: tcp-log, config: { host: 127.0.0.1, port: ${port} } }\n`;
  for (const port of ['1024', '65535', '65535.0']) assert.deepEqual(await issues(`plugins:\n${log(port)}`), [], port);
  assert.deepEqual(await issues('services:\n  - { host: example.com, port: 65535.0 }\n'), []);
  const refused: [string, string][] = [
    ['get', 'expected an integer'],
    ['65536', 'value should be between 0 and 65535'],
    ['65536.1', 'expected an integer'],
  ];
  for (const [port, message] of refused)
    await refusedAs(`plugins:\n${log(port)}`, [['plugins[0].config.port', message]]);
});

test('protocol: http and https load; ftp and a mapping are refused', async () => {
  assert.deepEqual(
    await issues('services:\n  - { host: example.com, protocol: http }\n  - { host: example.com, protocol: https }\n'),
    [],
  );
  const got = await issues(
    'services:\n  - { host: example.com, protocol: ftp }\n  - { host: example.com, protocol: {} }\n',
  );
  assert.ok(got[0]!.startsWith('services[0].protocol expected one of: http, https'), got[0]);
  assert.ok(got.includes('services[1].protocol expected a string, got a mapping'), got.join('\n'));
});

test("timeout (the tracing plugins' timeouts): 120 and 0 load; -1 and an infinite number are refused", async () => {
  const otel = (t: string): string =>
    `  - { name: opentelemetry, config: { traces_endpoint: "http://127.0.0.1:4318/v1/traces", connect_timeout: ${t}, send_timeout: ${t}, read_timeout: ${t} } }\n`;
  assert.deepEqual(await issues(`plugins:\n${otel('120')}`), []);
  assert.deepEqual(await issues(`plugins:\n${otel('0')}`), []);
  const zipkin = (t: string): string =>
    `  - { name: zipkin, config: { http_endpoint: "http://127.0.0.1:9411/api/v2/spans", connect_timeout: ${t} } }\n`;
  assert.deepEqual(await issues(`plugins:\n${zipkin('0')}`), []);
  await refusedAs(`plugins:\n${zipkin('-1')}`, [
    ['plugins[0].config.connect_timeout', 'value should be between 0 and 2147483646'],
  ]);
  // Kong's integer type excludes infinities ('expected an integer'). YAML's .inf is refused when
  // the file is read, before any field's type is known: a config is JSON's data, which has no
  // infinity.
  await refusedAs(`plugins:\n${zipkin('.inf')}`, [['plugins[0].config.connect_timeout', 'must be a finite number']]);
});

test('uuid: a UUID, the nil UUID included, loads as an id; a word or a number is refused', async () => {
  const svc = (id: string): string => `  - { id: ${id}, host: example.com }\n`;
  const ids = ['cbb297c0-a956-486d-ad1d-f9b42df9465a', '00000000-0000-0000-0000-000000000000'];
  assert.deepEqual(await issues(`services:\n${ids.map(svc).join('')}`), []);
  await refusedAs(`services:\n${svc('hello')}${svc('123')}`, [
    ['services[0].id', 'expected a valid UUID'],
    ['services[1].id', 'expected a string'],
  ]);
});

test('http_method: upper-case words, an unknown one included, load; lower case or a number is refused', async () => {
  // FOOBAR loads with a warning: Node's HTTP/1.1 parser answers an unknown method 400.
  assert.deepEqual(await issues('routes:\n  - { name: r, methods: [GET, FOOBAR] }\n'), []);
  assert.deepEqual(await issues('plugins:\n  - { name: request-transformer, config: { http_method: FOOBAR } }\n'), []);
  await refusedAs('routes:\n  - { name: r, methods: [get, 123] }\n', [
    ['routes[0].methods[0]', 'invalid value: get'],
    ['routes[0].methods[1]', 'expected a string'],
  ]);
  await refusedAs('plugins:\n  - { name: request-transformer, config: { http_method: get } }\n', [
    ['plugins[0].config.http_method', 'invalid value: get'],
  ]);
});
