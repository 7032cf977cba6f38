// Kong's services schema spec (spec/01-unit/01-db/01-schema/05-services_spec.lua, Kong commit
// 22246ef2), case by case, as a Kong 3.0 declarative file that `gateway validate` checks: what
// Kong loads loads, and what Kong refuses is refused in Kong's words at the field.
// Left out: `protocol: null` (null is "not set" here, a documented tolerance), the stream
// protocols tcp, tls and udp (refused on purpose), and the invalid UTF-8 name (a file with it
// is refused whole as not UTF-8, as libyaml refuses it).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateEntities } from '../support/validate.ts';
import { load, V3 } from './helpers.ts';

/** `path message` of each error `gateway validate` prints for `yaml`, in order. */
async function refusals(yaml: string): Promise<string[]> {
  const v = await validateEntities(yaml);
  assert.equal(v.code, 1, v.out);
  return v.out.split('\n').flatMap((l) => {
    const m = /:\d+:\d+ {2}(\S+) {2}(.*)$/.exec(l);
    return m ? [`${m[1]} ${m[2]}`] : [];
  });
}

/** Each of `services` (flow mappings) in one file, which must load without a word. */
async function loads(services: string[]): Promise<void> {
  const v = await validateEntities(`services:\n${services.map((s) => `  - ${s}\n`).join('')}`);
  assert.equal(v.code, 0, v.out);
  assert.match(v.out, new RegExp(`valid \\(${services.length} service`));
}

/** Each [service, message] refused at its own index, with exactly Kong's message. */
async function refused(cases: [string, string][]): Promise<void> {
  const got = await refusals(`services:\n${cases.map(([s]) => `  - ${s}\n`).join('')}`);
  assert.deepEqual(
    got,
    cases.map(([, message], i) => `services[${i}].${message}`),
  );
}

test('a valid service, and the valid timeouts, paths, hosts and names of the spec, load', async () => {
  await loads([
    '{ id: cbb297c0-a956-486d-ad1d-f9b42df9465a, name: my_service, protocol: http, host: example.com, port: 80, path: /foo, connect_timeout: 50, write_timeout: 100, read_timeout: 100 }',
    '{ host: example.com, port: 80, protocol: https, connect_timeout: 1, read_timeout: 10, write_timeout: 100, enabled: true }',
    // RFC 3986 sub-delims, an apex, unreserved characters, escapes, a trailing slash.
    `{ protocol: http, host: example.com, port: 80, path: "/hello/path$with$!&'()*+,;=stuff", enabled: true }`,
    '{ protocol: http, host: example.com, port: 80, path: /, enabled: true }',
    '{ protocol: http, host: example.com, port: 80, path: /abcd~user~2, enabled: true }',
    '{ protocol: http, host: example.com, port: 80, path: /abcd%aa%10%ff%AA%FF, enabled: true }',
    '{ protocol: http, host: example.com, port: 80, path: /ovo/, enabled: true }',
    // Kong's stream context: grpc and grpcs are protocols of a service.
    '{ protocol: grpc, host: x.y, port: 80, enabled: true }',
    '{ protocol: grpcs, host: x.y, port: 80, enabled: true }',
  ]);
  // RFC 3492's punycode examples mix ASCII with escapes; `example.test.` is fully qualified.
  // The spec's `example.123` is refused here (the last test).
  const hosts = [
    'hello.com',
    'hello.fr',
    'test.hello.com',
    '1991.io',
    'hello.COM',
    'HELLO.com',
    '123helloWORLD.com',
    'example-api.com',
    'hello.abcd',
    'example_api.com',
    'localhost',
    'example.test.',
    '3B-ww4c5e180e575a65lsy2b',
    '-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n',
    'Hello-Another-Way--fc4qua05auwb3674vfr0b',
    '2-u9tlzr9756bt3uc0v',
    'MajiKoi5-783gue6qz075azm5e',
    'de-jg4avhby1noc0d',
    'd9juau41awczczp',
  ];
  await loads(hosts.map((h) => `{ protocol: http, host: "${h}", port: 80, enabled: true }`));
  const names = ['example', 'EXAMPLE', 'exa.mp.le', '3x4mp13', '3x4-mp-13', '3x4_mp_13', '~3x4~mp~13'];
  names.push('~3..x4~.M-p~1__3_', '孔', 'Конг', '🦍');
  await loads(names.map((n) => `{ protocol: http, host: example.com, port: 80, name: "${n}", enabled: true }`));
});

test("a service with only a host gets Kong's defaults", async () => {
  const c = await load(`${V3}services:\n  - host: www.example.com\n`);
  const s = c.services[0]!;
  assert.match(s.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.deepEqual(
    [s.name, s.protocol, s.host, s.port, s.path, s.retries, s.connect_timeout, s.write_timeout, s.read_timeout],
    [null, 'http', 'www.example.com', 80, null, 5, 60000, 60000, 60000],
  );
});

test("a protocol, host, retries or timeout Kong refuses is refused in Kong's words", async () => {
  await refused([
    // Kong lists its own protocols; Tollgate's are those it serves.
    ['{ host: example.com, protocol: ftp }', 'protocol expected one of: http, https, grpc, grpcs, echo'],
    ['{ name: a }', "host required field missing (or give 'url')"],
    ['{ host: example.com, retries: -1 }', 'retries value should be between 0 and 32767'],
    ['{ host: example.com, retries: 10000000000 }', 'retries value should be between 0 and 32767'],
  ]);
  const zero = 'value should be between 1 and 2147483646';
  assert.deepEqual(
    await refusals(
      'services:\n  - { host: example.com, port: 80, protocol: https, connect_timeout: 0, read_timeout: 0, write_timeout: 0 }\n',
    ),
    [`services[0].connect_timeout ${zero}`, `services[0].read_timeout ${zero}`, `services[0].write_timeout ${zero}`],
  );
});

test("a path Kong's typedefs.path refuses is refused with its message", async () => {
  const rfc = (p: string): string =>
    `path invalid path: '${p}' (characters outside of the reserved list of RFC 3986 found)`;
  await refused([
    ['{ host: example.com, path: false }', 'path expected a string, got a boolean'],
    ['{ host: example.com, path: "" }', 'path length must be at least 1'],
    ['{ host: example.com, path: foo }', 'path should start with: /'],
    ['{ host: example.com, path: /foo//bar }', 'path must not have empty segments'],
    ['{ host: example.com, path: /foo/bar// }', 'path must not have empty segments'],
    ['{ host: example.com, path: //foo/bar }', 'path must not have empty segments'],
    ['{ host: example.com, path: "/users/|foo/profile" }', rfc('/users/|foo/profile')],
    ['{ host: example.com, path: "/users/(this|foo/profile)" }', rfc('/users/(this|foo/profile)')],
    ['{ host: example.com, path: /some%2words }', "path invalid url-encoded value: '%2w'"],
    ['{ host: example.com, path: /some%0Xwords }', "path invalid url-encoded value: '%0X'"],
    ['{ host: example.com, path: /some%2Gwords }', "path invalid url-encoded value: '%2G'"],
    ['{ host: example.com, path: /some%20words% }', "path invalid url-encoded value: '%'"],
    ['{ host: example.com, path: /some%20words%a }', "path invalid url-encoded value: '%a'"],
    ['{ host: example.com, path: /some%20words%ax }', "path invalid url-encoded value: '%ax'"],
  ]);
});

test("a host Kong's typedefs.host refuses is refused with its message: invalid value, or must not have a port", async () => {
  const invalid = ['/example', '.example', 'example:', 'mock;bin', 'example.com/org', 'example-.org', 'example.org-'];
  invalid.push('hello..example.com', 'hello-.example.com', '*example.com', 'www.example*', 'mock*bin.com');
  await refused([
    ['{ host: false }', 'host expected a string, got a boolean'],
    ['{ host: "" }', 'host length must be at least 1'],
    ...invalid.map((h): [string, string] => [`{ host: "${h}" }`, `host invalid value: ${h}`]),
    ['{ host: "example.com:80" }', 'host must not have a port'],
    ['{ host: "example.com:1000000" }', 'host must not have a port'],
    // Kong's hostname_type: digits and dots are an IPv4 address, here an invalid one.
    ['{ host: "1234" }', 'host invalid value: 1234'],
  ]);
});

test("a name Kong's utf8_name refuses is refused with its message", async () => {
  const ascii = (n: string): string =>
    `name invalid value '${n}': the only accepted ascii characters are alphanumerics or ., -, _, and ~`;
  await refused([
    ['{ host: example.com, name: false }', 'name expected a string, got a boolean'],
    ['{ host: example.com, name: "" }', 'name length must be at least 1'],
    ['{ url: "http://example.com", name: "examp:le" }', ascii('examp:le')],
    ['{ url: "http://example.com", name: "examp;le" }', ascii('examp;le')],
    ['{ url: "http://example.com", name: "examp/le" }', ascii('examp/le')],
    ['{ url: "http://example.com", name: "examp le" }', ascii('examp le')],
  ]);
});

test("a grpc or grpcs service's path is Kong's 'value must be null'", async () => {
  // Kong refuses `path: /` too; Tollgate lets a bare `/` through (grpc://host:port/ changes no
  // call), so the spec's case is written with a path that does change calls.
  const got = await refusals(
    'services:\n  - { protocol: grpc, host: x.y, port: 80, path: /v1 }\n  - { protocol: grpcs, host: x.y, port: 80, path: /v1 }\n',
  );
  assert.deepEqual(
    got.map((l) => l.replace(/: a grpcs? service has no path.*$/, '')),
    ['services[0].path value must be null', 'services[1].path value must be null'],
  );
});

test("a host whose last label is a number is refused, as URL parsers read it as an IPv4 address (Kong's spec loads example.123)", async () => {
  const why = 'its last label is a number, which URL parsers read as an IPv4 address';
  await refused([
    [
      '{ host: example.123 }',
      `host invalid value: example.123: ${why}; use the address, or a name whose last label is not a number`,
    ],
    // undici would connect this one to 127.0.0.1, where Kong asks DNS for the name.
    [
      '{ url: "http://a.0x7f.1/" }',
      `url invalid value: a.0x7f.1: ${why}; use the address, or a name whose last label is not a number`,
    ],
  ]);
  // A host naming an upstream is no address: the upstream's targets are connected to.
  const v = await validateEntities(
    'services:\n  - host: example.123\nupstreams:\n  - { name: example.123, targets: [{ target: "127.0.0.1:80" }] }\n',
  );
  assert.equal(v.code, 0, v.out);
});
