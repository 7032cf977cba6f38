// Kong's route schema spec, spec/01-unit/01-db/01-schema/06-routes_spec.lua at Kong commit
// 22246ef2, case by case: each route written into a Kong 3.0 declarative file, nested under a
// service, and loaded as `gateway validate` loads it. A route Kong's schema accepts loads; one it
// refuses is refused at the same field with Kong's message (Tollgate adds the file location).
// Cases other tests already pin (test/config/semantic.test.ts, semantic-kong-words.test.ts,
// kong-path-messages.test.ts) are not repeated. Left out: the database's auto fields and foreign
// key lookups, stream routes (tcp, tls, udp, tls_passthrough, sources, destinations: refused on
// purpose, test/config/kong-refusals.test.ts), the expressions flavor (`expression`, `priority`:
// refused, docs/routing.md), and an explicit `null` for a required field (loads with the default,
// docs/kong-compatibility.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { load, V3 } from './helpers.ts';

type Case = {
  /** The spec's `it` (its describe block first). */
  readonly it: string;
  /** The route, a YAML flow mapping. */
  readonly route: string;
  /** The service's url: a grpc route needs a grpc service to load. */
  readonly url?: string;
  /** A top-level route, without a service (Kong allows one). */
  readonly top?: boolean;
  /** The issues, `field message` with the field under the route; none when Kong accepts it. */
  readonly refused?: readonly string[];
};

const HOSTS = [
  '/example',
  '.example',
  'example:',
  'mock;bin',
  'example.com/org',
  'example-.org',
  'example.org-',
  'hello..example.com',
  'hello-.example.com',
];

const cases: readonly Case[] = [
  {
    it: 'validates a valid route',
    route:
      '{ name: my_route, protocols: [http], methods: [GET, POST], hosts: [example.com], headers: { location: [location-1] }, paths: [/ovo], regex_priority: 1, strip_path: false, preserve_host: true }',
  },
  { it: 'it does not fail when service is null', route: '{ service: null, paths: [/] }', top: true },
  { it: 'it does not fail when service is missing', route: '{ paths: [/] }', top: true },
  {
    it: 'missing method, host, headers, path & service produces error',
    route: '{ protocols: [http] }',
    refused: ["route must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"],
  },
  ...['methods: [GET]', 'hosts: [x.y]', 'paths: [/foo]', 'headers: { location: [location-1] }'].map((f) => ({
    it: `missing method, host, headers, path & service produces error (one of them set: ${f})`,
    route: `{ protocols: [http], ${f} }`,
  })),
  // paths attribute
  {
    it: 'paths attribute must be a string',
    route: '{ protocols: [http], paths: [false] }',
    refused: ['paths[0] expected a string, got a boolean'],
  },
  {
    it: 'paths attribute must be a non-empty string',
    route: '{ protocols: [http], paths: [""] }',
    refused: ['paths[0] length must be at least 1'],
  },
  {
    it: 'paths attribute rejects badly percent-encoded values',
    route:
      '{ protocols: [http], paths: ["/some%2words", "/some%0Xwords", "/some%2Gwords", "/some%20words%", "/some%20words%a", "/some%20words%ax"] }',
    refused: [
      "paths[0] invalid url-encoded value: '%2w'",
      "paths[1] invalid url-encoded value: '%0X'",
      "paths[2] invalid url-encoded value: '%2G'",
      "paths[3] invalid url-encoded value: '%'",
      "paths[4] invalid url-encoded value: '%a'",
      "paths[5] invalid url-encoded value: '%ax'",
    ],
  },
  {
    it: 'paths attribute must dry-run values that are considered regexes',
    route: '{ protocols: [http], paths: ["~/users/(foo/profile"] }',
    refused: [
      `paths[0] invalid regex: '/users/(foo/profile' (PCRE returned: pcre2_compile() failed: missing closing parenthesis in "/users/(foo/profile")`,
    ],
  },
  {
    // traditional_compatible and expressions flavors: the spec checks the start of the message.
    it: 'fails when path is invalid',
    route: '{ name: my_route, protocols: [http], paths: ["~/[abc/*/user$"] }',
    refused: [
      `paths[0] invalid regex: '/[abc/*/user$' (PCRE returned: pcre2_compile() failed: missing terminating ] for character class in "/[abc/*/user$")`,
    ],
  },
  { it: "paths attribute accepts an apex '/'", route: '{ protocols: [http], methods: [], hosts: [], paths: [/] }' },
  {
    it: 'paths attribute accepts unreserved characters from RFC 3986',
    route: '{ protocols: [http], methods: [], hosts: [], paths: [/abcd~user~2] }',
  },
  {
    it: 'paths attribute accepts trailing slash',
    route: '{ protocols: [http], methods: [], hosts: [], paths: [/ovo/] }',
  },
  {
    // traditional_compatible and expressions flavors: Rust's regex 1.8 parses `\/`.
    it: "won't fail when rust.regex update to 1.8",
    route: '{ name: my_route, protocols: [http], paths: ["~/\\\\/*/user$"] }',
  },
  // hosts attribute
  {
    it: 'hosts attribute must be a string',
    route: '{ protocols: [http], hosts: [false] }',
    refused: ['hosts[0] expected a string, got a boolean'],
  },
  {
    it: 'hosts attribute must be a non-empty string',
    route: '{ protocols: [http], hosts: [""] }',
    refused: ['hosts[0] length must be at least 1'],
  },
  {
    // Kong writes the host without quotes (`invalid hostname: /example`); Tollgate quotes it, so
    // that a space or a line break in it shows.
    it: 'hosts attribute rejects invalid hostnames',
    route: `{ protocols: [http], hosts: [${HOSTS.map((h) => `"${h}"`).join(', ')}] }`,
    refused: HOSTS.map((h, i) => `hosts[${i}] invalid hostname: '${h}'`),
  },
  {
    it: 'hosts attribute rejects values with an invalid port',
    route: '{ protocols: [http], hosts: ["example.com:1000000", "example.com:65536", "[::1]:1000000"] }',
    refused: [0, 1, 2].map((i) => `hosts[${i}] invalid port number`),
  },
  {
    it: 'hosts attribute rejects host with too many wildcards',
    route: '{ protocols: [http], hosts: ["*.example.*", "**.example.com", "*.example*.*"] }',
    refused: [0, 1, 2].map((i) => `hosts[${i}] invalid wildcard: must have at most one wildcard`),
  },
  {
    it: 'hosts attribute rejects invalid wildcard placement',
    route: '{ protocols: [http], hosts: ["*example.com", "www.example*", "mock*bin.com"] }',
    refused: [0, 1, 2].map((i) => `hosts[${i}] invalid wildcard: must be placed at leftmost or rightmost label`),
  },
  {
    it: 'hosts attribute accepts valid hosts',
    route: `{ protocols: [http], methods: [], paths: [], hosts: [${[
      'hello.com',
      'hello.fr',
      'test.hello.com',
      '1991.io',
      'hello.COM',
      'HELLO.com',
      '123helloWORLD.com',
      'example.123',
      'example-api.com',
      'hello.abcd',
      'example_api.com',
      'localhost',
      '"example.com:80"',
      '"example.com:8080"',
      // Punycode examples from RFC 3492, as the spec has them.
      '3B-ww4c5e180e575a65lsy2b',
      '-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n',
      'Hello-Another-Way--fc4qua05auwb3674vfr0b',
      '2-u9tlzr9756bt3uc0v',
      'MajiKoi5-783gue6qz075azm5e',
      'de-jg4avhby1noc0d',
      'd9juau41awczczp',
    ].join(', ')}] }`,
  },
  {
    it: 'hosts attribute accepts hosts with valid wildcard',
    route: '{ protocols: [http], methods: [], paths: [], hosts: ["example.*", "*.example.org", "*.example.org:321"] }',
  },
  // headers attribute
  {
    it: 'headers attribute value must be an array',
    route: '{ protocols: [http], headers: { location: true } }',
    refused: ['headers.location expected an array, got a boolean'],
  },
  {
    it: 'headers attribute values must be a string',
    route: '{ protocols: [http], headers: { location: [true] } }',
    refused: ['headers.location[0] expected a string, got a boolean'],
  },
  {
    it: 'headers attribute values must be non-empty string',
    route: '{ protocols: [http], headers: { location: [""] } }',
    refused: ['headers.location[0] length must be at least 1'],
  },
  // methods attribute
  {
    it: 'methods attribute must be a string',
    route: '{ protocols: [http], methods: [false] }',
    refused: ['methods[0] expected a string, got a boolean'],
  },
  {
    it: 'methods attribute must be a non-empty string',
    route: '{ protocols: [http], methods: [""] }',
    refused: ['methods[0] length must be at least 1'],
  },
  {
    it: 'methods attribute rejects invalid values',
    route: '{ protocols: [http], methods: ["HELLO WORLD", " GET"] }',
    refused: [
      'methods[0] invalid value: HELLO WORLD: must match the pattern ^[A-Z]+$',
      'methods[1] invalid value:  GET: must match the pattern ^[A-Z]+$',
    ],
  },
  {
    it: 'methods attribute accepts valid HTTP methods',
    route: '{ protocols: [http], paths: [], hosts: [], methods: [GET, POST, CUSTOM] }',
  },
  // name attribute
  {
    it: 'name attribute must be a string',
    route: '{ protocols: [http], paths: [/], name: false }',
    refused: ['name expected a string, got a boolean'],
  },
  {
    it: 'name attribute must be a non-empty string',
    route: '{ protocols: [http], paths: [/], name: "" }',
    refused: ['name length must be at least 1'],
  },
  ...['examp:le', 'examp;le', 'examp/le', 'examp le'].map((name) => ({
    it: `name attribute rejects invalid names (${name})`,
    route: `{ protocols: [http], paths: [/], name: "${name}" }`,
    refused: [`name invalid value '${name}': the only accepted ascii characters are alphanumerics or ., -, _, and ~`],
  })),
  ...['example', 'EXAMPLE', 'exa.mp.le', '3x4mp13', '3x4-mp-13', '3x4_mp_13', '~3x4~mp~13', '~3..x4~.M-p~1__3_'].map(
    (name) => ({ it: `name attribute accepts valid names (${name})`, route: `{ paths: [/], name: "${name}" }` }),
  ),
  ...['孔', 'Конг', '🦍'].map((name) => ({
    it: `name attribute accepts valid names (${name})`,
    route: `{ paths: [/], name: "${name}" }`,
  })),
  // snis: the stream spec's http cases, and the traditional_compatible flavor's wildcard rules.
  ...['https', 'grpcs'].map((protocol) => ({
    it: `#stream context 'snis' matching attribute accepts valid SNIs for ${protocol} Routes`,
    route: `{ protocols: [${protocol}], snis: [example.org, www.example.org] }`,
    url: protocol === 'grpcs' ? 'grpcs://s.example' : undefined,
  })),
  {
    it: "#stream context 'snis' matching attribute rejects invalid SNIs (on an https route)",
    route: '{ protocols: [https], snis: ["127.0.0.1", "example.org:80"] }',
    refused: ['snis[0] must not be an IP', 'snis[1] must not have a port'],
  },
  ...['http', 'grpc'].map((protocol) => ({
    it: `#stream context 'snis' matching attribute rejects specifying 'snis' if 'protocols' does not have 'https', 'tls' or 'tls_passthrough' (${protocol})`,
    route: `{ protocols: [${protocol}], snis: [example.org], paths: [/] }`,
    url: protocol === 'grpc' ? 'grpc://s.example' : undefined,
    refused: [
      "snis 'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough' (Tollgate routes 'grpcs' and 'https' only: stream routes are not supported)",
    ],
  })),
  {
    it: "'snis' matching attribute (wildcard) accepts leftmost and rightmost wildcards",
    // With `*` alone, which typedefs.wildcard_host takes too (test/router/router.test.ts: any name).
    route: '{ protocols: [https], snis: ["*.example.org", "*.foo.bar.test", "example.*", "foo.bar.*", "*"] }',
  },
  {
    it: "'snis' matching attribute (wildcard) rejects invalid wildcard",
    route: '{ protocols: [https], snis: ["foo.*.test", "foo*.test"] }',
    refused: [0, 1].map((i) => `snis[${i}] wildcard must be leftmost or rightmost character`),
  },
  // protocols and the http subschema
  {
    it: 'errors if no L7 matching attribute set (http)',
    route: '{ protocols: [http] }',
    refused: ["route must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"],
  },
  {
    it: 'invalid protocols produces error (ftp)',
    route: '{ protocols: [ftp], paths: [/] }',
    refused: ['protocols[0] expected one of: http, https, grpc, grpcs'],
  },
  {
    it: 'errors if methods attribute is set on grpc/grpcs (grpcs)',
    route: '{ protocols: [grpcs], methods: [GET], paths: [/foo] }',
    url: 'grpcs://s.example',
    refused: ["methods cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'"],
  },
  {
    it: 'errors if strip_path is set on grpc/grpcs (grpcs)',
    route: '{ protocols: [grpcs], strip_path: true, hosts: [foo.grpc.test] }',
    url: 'grpcs://s.example',
    refused: ["strip_path cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"],
  },
];

/** What loading the route says: nothing, or its issues as `field message`, the field under the route. */
async function outcome(c: Case): Promise<string[]> {
  const text = c.top
    ? `${V3}routes:\n  - ${c.route}\n`
    : `${V3}services:\n  - name: s\n    url: ${c.url ?? 'http://s.example'}\n    routes:\n      - ${c.route}\n`;
  try {
    await load(text);
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.issues.map((i) => {
      assert.ok(i.line > 0 && i.col > 0, `${i.path} has no location`);
      return `${i.path.replace(/^(services\[0\]\.)?routes\[0\]\.?/, '') || 'route'} ${i.message}`;
    });
  }
}

for (const c of cases) {
  test(c.it, async () => {
    assert.deepEqual(await outcome(c), c.refused ?? []);
  });
}
