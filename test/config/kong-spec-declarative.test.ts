// Kong's declarative config specs, ported: each case of
// spec/01-unit/01-db/01-schema/11-declarative_config/01-validate_spec.lua, 03-flatten_spec.lua and
// 04-on-the-fly-migration_spec.lua (Kong commit 22246ef2) that no other test covers, written as the
// file a user would write. A file Kong loads loads; one Kong refuses is refused with Kong's words at
// the place Kong names (Tollgate adds the location, and may add a hint after Kong's words).
// What the loaded entities look like (02-process_auto_fields_spec.lua's defaults) is in
// kong-spec-defaults.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfigText } from '../../src/config/load.ts';
import type { GatewayConfig } from '../../src/config/model.ts';
import { ConfigError } from '../../src/errors.ts';

async function load(text: string): Promise<GatewayConfig> {
  return loadConfigText(text, 'kong.yml', { env: {} });
}

/** `LINE:COL path message` of each error (warnings left out) the text is refused with. */
async function refusal(text: string): Promise<string[]> {
  try {
    await load(text);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.issues.filter((i) => i.severity !== 'warning').map((i) => `${i.line}:${i.col} ${i.path} ${i.message}`);
  }
  throw new Error('expected the file to be refused');
}

/** Each refusal starts with Kong's words: `LINE:COL path` then Kong's message, then Tollgate's hint if any. */
function assertKongWords(got: string[], want: string[], name: string): void {
  assert.equal(got.length, want.length, `${name}: ${got.join('\n')}`);
  want.forEach((w, i) => assert.ok(got[i]!.startsWith(w), `${name}: expected\n  ${w}\ngot\n  ${got[i]}`));
}

const F11 = '_format_version: "1.1"\n';

// 01-validate_spec.lua: the files Kong validates.
const accepted: [string, string][] = [
  ['_format_version "1.1"', F11],
  ['_format_version "2.1"', '_format_version: "2.1"\n'],
  ['_comment as a quoted number', `${F11}_comment: "1234"\n`],
  ['_comment as plain text', `${F11}_comment: I am a happy comment!\n`],
  ['_ignore as a list of one number', `${F11}_ignore:\n- 1234\n`],
  ['_ignore as a list of anything', `${F11}_ignore:\n- foo: bar\n  bla: 123\n- "Hello, world"\n- 1234\n`],
  ['services: with no value (an empty list)', `${F11}services:\n`],
  ['plugins: with no value (an empty list)', `${F11}plugins:\n`],
  ['basicauth_credentials: with no value (an empty list)', `${F11}basicauth_credentials:\n`],
  // Tollgate refuses oauth2 credentials (docs/kong-compatibility.md), but an empty list declares none.
  ['oauth2_credentials: with no value (an empty list)', `${F11}oauth2_credentials:\n`],
  ['a consumer with oauth2_credentials: with no value', `${F11}consumers:\n- username: bob\n  oauth2_credentials:\n`],
  [
    'services with _comment and _ignore of their own',
    `${F11}services:
- name: foo
  host: example.com
  protocol: https
  _comment: my comment
  _ignore:
  - foo: bar
- name: bar
  host: example.test
  port: 3000
  _comment: my comment
  _ignore:
  - foo: bar
`,
  ],
  [
    'plugins with _comment and _ignore of their own',
    `${F11}plugins:
  - name: key-auth
    _comment: my comment
    _ignore:
    - foo: bar
  - name: http-log
    config:
      http_endpoint: https://example.com
    _comment: my comment
    _ignore:
    - foo: bar
`,
  ],
  [
    'plugins, routes and nested plugins given as empty lists',
    `${F11}services:
- name: foo
  plugins: []
  routes: []
  host: example.com
- name: bar
  host: example.com
  routes:
  - name: foo
    methods: ["GET"]
    plugins: []
`,
  ],
  [
    'plugins nested under services',
    `${F11}services:
- name: foo
  host: example.com
  protocol: https
  plugins:
    - name: key-auth
      _comment: my comment
      _ignore:
      - foo: bar
    - name: http-log
      config:
        http_endpoint: https://example.com
- name: bar
  host: example.test
  port: 3000
  plugins:
  - name: basic-auth
  - name: tcp-log
    config:
      host: 127.0.0.1
      port: 10000
`,
  ],
  [
    'routes nested under services, each with one thing to match on or several',
    `${F11}services:
- name: foo
  host: example.com
  protocol: https
  routes:
    - paths:
      - /path
    - hosts:
      - example.com
    - methods: ["GET", "POST"]
- name: bar
  host: example.test
  port: 3000
  routes:
    - paths:
      - /path
      hosts:
      - example.com
      methods: ["GET", "POST"]
`,
  ],
  [
    'plugins nested under routes nested under services',
    `${F11}services:
- name: foo
  host: example.com
  protocol: https
  routes:
  - name: foo
    methods: ["GET"]
    plugins:
      - name: key-auth
      - name: http-log
        config:
          http_endpoint: https://example.com
- name: bar
  host: example.test
  port: 3000
  routes:
  - name: bar
    paths:
    - /
    plugins:
    - name: basic-auth
    - name: tcp-log
      config:
        host: 127.0.0.1
        port: 10000
`,
  ],
  ...['_', '-'].map((sep): [string, string] => [
    `an env vault whose config.prefix ends with '${sep}'`,
    `${F11}vaults:
- prefix: aba
  config:
    prefix: "BANANA${sep}"
  description: "Banana vault"
  tags: ~
  name: env
`,
  ]),
  // 03-flatten_spec.lua's "issues": #5920, a file its loader once refused.
  [
    'a service written with its url after its routes, and a consumer with basic-auth credentials',
    `${F11}
services:
- name: test-service
  routes:
  - paths:
    - /test/path
    plugins:
    - name: key-auth
  url: https://example.com

consumers:
- username: test-user
  basicauth_credentials:
  - username: test-username
    password: test-password
`,
  ],
];

test("01-validate_spec: the files Kong's declarative schema accepts load", async () => {
  for (const [name, text] of accepted) await assert.doesNotReject(load(text), name);
});

// 01-validate_spec.lua: the files Kong refuses, and its message for each.
const refused: [string, string, string[]][] = [
  ['_format_version as a number', '_format_version: 1.1\n', ['1:18 _format_version expected a string']],
  [
    "_format_version not one of Kong's",
    '_format_version: "foobar"\n',
    ['1:18 _format_version expected one of: 1.1, 2.1, 3.0'],
  ],
  ['_comment as a number', `${F11}_comment: 1234\n`, ['2:11 _comment expected a string']],
  ['_comment as a mapping', `${F11}_comment:\n  foo: bar\n`, ['3:3 _comment expected a string']],
  ['_ignore as a number', `${F11}_ignore: 1234\n`, ['2:10 _ignore expected an array']],
  ['_ignore as a mapping', `${F11}_ignore:\n  foo: bar\n  bla: 123\n`, ['3:3 _ignore expected an array']],
  ['a service without host', `${F11}services:\n- name: foo\n`, ['3:3 services[0].host required field missing']],
  [
    "a service's fields out of Kong's rules",
    `${F11}services:
- name: foo
  retries: -1
  host: 1234
  port: 99999
  path: /foo//bar/
`,
    [
      '4:12 services[0].retries value should be between 0 and 32767',
      '5:9 services[0].host expected a string',
      '6:9 services[0].port value should be between 0 and 65535',
      '7:9 services[0].path must not have empty segments',
    ],
  ],
  [
    // Kong's list names its stream protocols; Tollgate's names the ones it serves (docs/kong-compatibility.md).
    "a service's protocol outside Kong's list",
    `${F11}services:\n- name: foo\n  host: example.com\n  protocol: foo\n`,
    ['5:13 services[0].protocol expected one of: '],
  ],
  [
    'a plugin nested under a service without a name',
    `${F11}services:
- name: foo
  url: https://example.com
  plugins:
  - enabled: true
`,
    ['6:5 services[0].plugins[0].name required field missing'],
  ],
  [
    'a plugin nested under a route without a name',
    `${F11}services:
- name: foo
  url: https://example.com
  routes:
  - paths:
    - /
    plugins:
    - enabled: true
`,
    ['9:7 services[0].routes[0].plugins[0].name required field missing'],
  ],
  [
    'a plugin nested under a service or a route that is not enabled',
    `${F11}services:
- name: foo
  url: https://example.com
  plugins:
  - name: foo
  routes:
  - paths:
    - /
    plugins:
    - name: foo
`,
    [
      "6:11 services[0].plugins[0].name plugin 'foo' not enabled",
      "11:13 services[0].routes[0].plugins[0].name plugin 'foo' not enabled",
    ],
  ],
  [
    'a route nested under an https service with nothing to match on',
    `${F11}services:
- name: foo
  url: https://example.com
  routes:
  - preserve_host: true
`,
    [
      "6:5 services[0].routes[0] must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'",
    ],
  ],
  // 03-flatten_spec.lua: credentials naming their consumer, nested or at the top level.
  ...[
    ['by an id no consumer has', '00000000-0000-0000-0000-000000000000'],
    ['by a username no consumer has', 'incorrect'],
  ].flatMap(([by, ref]): [string, string, string[]][] => [
    [
      `a basic-auth credential nested under a consumer naming another ${by}`,
      `${F11}consumers:
- id: 0fe87b4a-ce29-515a-88ec-8547e66550b9
  username: consumer
  basicauth_credentials:
  - username: username
    password: password
    consumer: ${ref}
`,
      ['8:5 consumers[0].basicauth_credentials[0].consumer value must be null'],
    ],
    [
      `a top-level basic-auth credential naming its consumer ${by}`,
      `${F11}consumers:
- id: 0fe87b4a-ce29-515a-88ec-8547e66550b9
  username: consumer
basicauth_credentials:
- consumer: ${ref}
  username: username
  password: password
`,
      // Kong's flatten answers `consumer.id: missing primary key` here, an artifact of its
      // second validation pass; its references' own message is the one Tollgate gives.
      [`6:13 basicauth_credentials[0].consumer invalid reference 'consumer: ${ref}' (no such entry in 'consumers')`],
    ],
  ]),
];

test("01-validate_spec and 03-flatten_spec: the files Kong refuses are refused with Kong's words, located", async () => {
  for (const [name, text, want] of refused) assertKongWords(await refusal(text), want, name);
});

test('03-flatten_spec: a credential names its consumer by id or by username, nested (its own consumer) or at the top level', async () => {
  const consumer = '0fe87b4a-ce29-515a-88ec-8547e66550b9';
  for (const ref of [consumer, 'consumer']) {
    for (const nested of [true, false]) {
      const credential = `username: username\n    password: password\n    consumer: ${ref}`;
      const c = await load(
        nested
          ? `${F11}consumers:\n- id: ${consumer}\n  username: consumer\n  basicauth_credentials:\n  - ${credential}\n`
          : `${F11}consumers:\n- id: ${consumer}\n  username: consumer\nbasicauth_credentials:\n- ${credential.replaceAll('\n  ', '\n')}\n`,
      );
      const [cred] = c.plugin_entities.basicauth_credentials!;
      assert.equal(cred!.consumer, consumer, `${ref}, ${nested ? 'nested' : 'top level'}`);
    }
  }
});

test('03-flatten_spec: the same target in two upstreams, nested or at the top level, is two targets', async () => {
  for (const text of [
    `_format_version: '1.1'
upstreams:
- name: first-upstream
  targets:
  - target: 127.0.0.1:6661
    weight: 1
- name: second-upstream
  targets:
  - target: 127.0.0.1:6661
    weight: 1
`,
    `_format_version: '1.1'
upstreams:
- name: first-upstream
- name: second-upstream
targets:
- upstream: first-upstream
  target: 127.0.0.1:6661
  weight: 1
- upstream: second-upstream
  target: 127.0.0.1:6661
  weight: 1
`,
  ]) {
    const c = await load(text);
    assert.deepEqual(
      c.upstreams.map((u) => [u.name, u.targets.map((t) => `${t.target} ${t.weight}`)]),
      [
        ['first-upstream', ['127.0.0.1:6661 1']],
        ['second-upstream', ['127.0.0.1:6661 1']],
      ],
    );
  }
});

// 04-on-the-fly-migration_spec.lua: routes top level or nested, in each format version.
test('04-on-the-fly-migration_spec: a regex-looking path of a 1.1 or 2.1 file gets its ~, a 3.0 file keeps it as written', async () => {
  for (const version of ['1.1', '2.1', '3.0']) {
    const head = `_format_version: "${version}"
services:
- name: foo
  host: example.com
  protocol: https
  enabled: false
  _comment: my comment
  _ignore:
  - foo: bar
`;
    const route = `name: foo
  path_handling: v0
  protocols: ["https"]
  paths: ["/regex.+", "/prefix" ]
  snis:
  - "example.com"`;
    const bar = `- name: bar
  host: example.test
  port: 3000
  _comment: my comment
  _ignore:
  - foo: bar
  tags: [hello, world]
`;
    for (const text of [
      `${head}${bar}routes:\n- ${route}\n  service: foo\n`,
      `${head}  routes:\n  - ${route.replaceAll('\n', '\n  ')}\n${bar}`,
    ]) {
      const c = await load(text);
      assert.deepEqual(
        c.services.map((s) => [s.name, s.host, s.protocol, s.enabled]),
        [
          ['foo', 'example.com', 'https', false],
          ['bar', 'example.test', 'http', true],
        ],
      );
      assert.equal(c.services[1]!.port, 3000);
      assert.deepEqual(c.routes[0]!.protocols, ['https']);
      assert.deepEqual(c.routes[0]!.paths, [version === '3.0' ? '/regex.+' : '~/regex.+', '/prefix'], version);
    }
  }
});

test('04-on-the-fly-migration_spec: validation happens after migration, so a migrated path that is no regex is refused', async () => {
  const got = await refusal(`_format_version: "2.1"
services:
- name: bar
  host: example.test
  routes:
  - name: foo
    protocols: ["https"]
    paths: ["/regex.+(", "/prefix" ]
`);
  assert.equal(got.length, 1, got.join('\n'));
  assert.match(got[0]!, /^8:13 services\[0\]\.routes\[0\]\.paths\[0\] invalid regex: /);
});
