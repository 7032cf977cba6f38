import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { brief, issuesOf, load, V3 } from './helpers.ts';

const svc = (routes: string) => `${V3}services:\n  - name: s\n    url: echo://\n    routes:\n${routes}`;

test('a typo in a field name is "unknown field" located at the field itself, with a suggestion', async () => {
  assert.deepEqual(brief(await issuesOf(svc('      - paths: [/a]\n        preserve_hots: true\n'))), [
    "7:9 services[0].routes[0].preserve_hots unknown field 'preserve_hots' (did you mean 'preserve_host'?)",
  ]);
  // Two letters swapped is one typo, in a short name too.
  assert.deepEqual(brief(await issuesOf(svc('      - naem: r\n        paths: [/a]\n'))), [
    "6:9 services[0].routes[0].naem unknown field 'naem' (did you mean 'name'?)",
  ]);
});

test('a Kong field Tollgate does not support says so', async () => {
  const issues = await issuesOf(svc('      - paths: [/a]\n        expression: http.path == "/a"\n'));
  assert.deepEqual(brief(issues), [
    "7:9 services[0].routes[0].expression 'expression' is a Kong field that Tollgate does not support: the expressions router is not supported; use paths, hosts, methods and headers",
  ]);
  assert.match(
    (await issuesOf(`${V3}key_sets: []\n`))[0]!.message,
    /Kong field that Tollgate does not support: key sets are not supported; jwt credentials take a PEM/,
  );
  assert.match(
    (await issuesOf(svc('      - paths: [/a]\n        protocols: [tcp]\n')))[0]!.message,
    /Kong protocol that Tollgate does not support/,
  );
});

test("an upstream with Kong's latency algorithm loads as such, without a warning", async () => {
  const c = await load(`${V3}upstreams:\n  - name: u\n    algorithm: latency\n`);
  assert.deepEqual(
    c.upstreams.map((u) => u.algorithm),
    ['latency'],
  );
  assert.deepEqual(brief([...(c.source.warnings ?? [])]), []);
});

test("least-connections with a hash_on balances by least connections, as Kong's shorthands leave it, with a warning", async () => {
  const c = await load(
    `${V3}upstreams:\n  - name: lc\n    algorithm: least-connections\n    hash_on: header\n    hash_on_header: x-user\n  - name: rr\n    algorithm: round-robin\n    hash_on: ip\n`,
  );
  assert.deepEqual(
    c.upstreams.map((u) => [u.name, u.algorithm, u.hash_on]),
    [
      ['lc', 'least-connections', 'none'],
      ['rr', 'consistent-hashing', 'ip'],
    ],
  );
  assert.deepEqual(brief([...(c.source.warnings ?? [])]), [
    "5:14 upstreams[0].hash_on hash_on 'header' is ignored: algorithm 'least-connections' sets hash_on to 'none' (Kong's upstream shorthands); remove hash_on, or set algorithm: consistent-hashing to hash",
  ]);
});

test("Kong Enterprise's ws and wss protocols are refused with the way to proxy WebSockets", async () => {
  const hint = /WebSocket upgrades are proxied by http and https services and routes \(http for ws, https for wss\)$/;
  const url = await issuesOf(`${V3}services:\n  - name: s\n    url: wss://ws.internal\n`);
  assert.match(url[0]!.message, /^unsupported url scheme 'wss'/);
  assert.match(url[0]!.message, hint);
  const route = await issuesOf(svc('      - paths: [/a]\n        protocols: [ws]\n'));
  assert.match(route[0]!.message, /^protocol 'ws' is a Kong protocol that Tollgate does not support/);
  assert.match(route[0]!.message, hint);
});

test("gRPC routes and services load; Kong's rules on them are located errors and warnings", async () => {
  const grpc = `${V3}services:
  - name: g
    url: grpcs://grpc.internal:9001
    routes:
      - { name: a, protocols: [grpc, grpcs], paths: [/pkg.Svc/] }
  - name: h
    url: http://h.internal
    routes:
      - { name: b, protocols: [grpcs], paths: [/other.Svc/] }
`;
  const c = await load(grpc);
  assert.deepEqual(
    c.services.map((s) => [s.protocol, s.port]),
    [
      ['grpcs', 9001],
      ['http', 80],
    ],
  );
  assert.deepEqual(brief([...(c.source.warnings ?? [])]), [
    "10:9 services[1].routes[0] route 'b' takes gRPC, but its service 'h' speaks http: gRPC needs HTTP/2 to the upstream, a grpc or grpcs service",
  ]);
  assert.deepEqual(brief(await issuesOf(svc('      - paths: [/a]\n        protocols: [http, grpc]\n'))), [
    "7:20 services[0].routes[0].protocols these sets are mutually exclusive: ('http', 'https'), ('grpc', 'grpcs')",
  ]);
});

test('a $NAME left in a host by a template says it is not expanded and how to read the variable', async () => {
  assert.deepEqual(
    brief(await issuesOf(`${V3}services:\n  - name: s\n    host: $AUTH_HOST\n    routes: [{ paths: [/a] }]\n`)),
    [
      '4:11 services[0].host invalid value: $AUTH_HOST (a `$NAME` is not expanded, by Kong or Tollgate: write `${NAME}` to read an environment variable)',
    ],
  );
});

test("an id that is not a UUID gets Kong's message", async () => {
  assert.deepEqual(brief(await issuesOf(`${V3}services:\n  - name: s\n    id: svc-1\n    url: echo://\n`)), [
    '4:9 services[0].id expected a valid UUID',
  ]);
});

test('numeric fields out of range and wrong types are located at the value', async () => {
  assert.deepEqual(
    brief(
      await issuesOf(
        `${V3}services:\n  - name: s\n    url: echo://\n    retries: 40000\n    connect_timeout: 0\n    enabled: "yes"\n`,
      ),
    ),
    [
      '5:14 services[0].retries value should be between 0 and 32767',
      '6:22 services[0].connect_timeout value should be between 1 and 2147483646',
      "7:14 services[0].enabled expected a boolean (true or false), got the string 'yes': write true (Kong's YAML 1.1 parser reads an unquoted yes as true, YAML 1.2 as a string)",
    ],
  );
});

test('uniqueness violations use Kong wording and point at the second declaration', async () => {
  const issues = await issuesOf(`${V3}services:
  - { name: a, url: "echo://" }
  - { name: a, url: "echo://" }
consumers:
  - { username: u, custom_id: c }
  - { username: u, custom_id: c }
`);
  assert.deepEqual(brief(issues), [
    "4:13 services[1].name uniqueness violation: 'services' entity with name set to 'a' already declared (at services[0])",
    "7:17 consumers[1].username uniqueness violation: 'consumers' entity with username set to 'u' already declared (at consumers[0])",
    "7:31 consumers[1].custom_id uniqueness violation: 'consumers' entity with custom_id set to 'c' already declared (at consumers[0])",
  ]);
});

test("an id declared twice is Kong's 'primary key' uniqueness violation, whatever its letter case", async () => {
  const id = '2f3b1c2e-1111-4222-8333-444455556666';
  const issues = await issuesOf(`${V3}services:
  - { name: a, id: ${id}, url: "echo://" }
  - { name: b, id: ${id.toUpperCase()}, url: "echo://" }
consumers:
  - { username: u, id: ${id} }
  - { username: v, id: ${id} }
`);
  assert.deepEqual(brief(issues), [
    `4:20 services[1].id uniqueness violation: 'services' entity with primary key set to '${id}' already declared (at services[0])`,
    `7:24 consumers[1].id uniqueness violation: 'consumers' entity with primary key set to '${id}' already declared (at consumers[0])`,
  ]);
});

test("tags follow Kong's tag rule: printable text without ',' or '/' (the admin API's ?tags= separators)", async () => {
  const ok = await load(`${V3}services:\n  - { name: a, url: "echo://", tags: ["team a", "é", "x:y", "a.b-c_d~!"] }\n`);
  assert.deepEqual(ok.services[0]!.tags, ['team a', 'é', 'x:y', 'a.b-c_d~!']);
  const issues = await issuesOf(`${V3}services:
  - { name: a, url: "echo://", tags: ["a,b", "x/y", "t\\tab", ok] }
consumers:
  - { username: u, tags: ["a\\u007f"] }
`);
  const kong = (t: string) =>
    `invalid tag '${t}': expected printable ascii (except \`,\` and \`/\`) or valid utf-8 sequences`;
  assert.deepEqual(
    issues.map((i) => `${i.path} ${i.message}`),
    [
      `services[0].tags[0] ${kong('a,b')}`,
      `services[0].tags[1] ${kong('x/y')}`,
      `services[0].tags[2] ${kong('t\tab')}`,
      `consumers[0].tags[0] ${kong('a\u007f')}`,
    ],
  );
});

test("a string too short or too long says so in Kong's words (LEN_MIN, LEN_MAX), an empty one included", async () => {
  const issues = await issuesOf(`${V3}_tollgate:
  dns_resolver: ["${'1'.repeat(65)}"]
services:
  - { name: a, url: "echo://", tags: [""] }
consumers:
  - { username: u, acls: [{ group: "" }] }
`);
  assert.deepEqual(
    issues.filter((i) => i.severity !== 'warning').map((i) => `${i.path} ${i.message}`),
    [
      '_tollgate.dns_resolver[0] length must be at most 64',
      'services[0].tags[0] length must be at least 1',
      'consumers[0].acls[0].group length must be at least 1',
    ],
  );
});

test("a reference by name is exact, as Kong's: another letter case names nothing; an id is found in any case", async () => {
  const id = '2f3b1c2e-1111-4222-8333-444455556666';
  const issues = await issuesOf(`${V3}services: [{ name: svc1, url: "echo://" }]
consumers: [{ username: Alice, id: ${id} }]
routes: [{ name: r, service: SVC1, paths: [/] }]
plugins: [{ name: test-limit, consumer: alice }]
acls: [{ consumer: ${id.toUpperCase()}, group: g }]
`);
  assert.deepEqual(brief(issues), [
    "4:30 routes[0].service invalid reference 'service: SVC1' (no such entry in 'services') (did you mean 'svc1'?)",
    "5:41 plugins[0].consumer invalid reference 'consumer: alice' (no such entry in 'consumers') (did you mean 'Alice'?)",
  ]);
});

test("an id that is not a UUID is Kong's 'expected a valid UUID', on any entity", async () => {
  const issues = await issuesOf(`${V3}services: [{ name: s, id: not-a-uuid, url: "echo://" }]
consumers: [{ username: u, acls: [{ group: g, id: "{2f3b1c2e-1111-4222-8333-444455556666}" }] }]
`);
  assert.deepEqual(brief(issues), [
    '2:27 services[0].id expected a valid UUID',
    '3:51 consumers[0].acls[0].id expected a valid UUID',
  ]);
});

test("a value outside a field's choices is Kong's 'expected one of: ...', the choices as written", async () => {
  const issues = await issuesOf(`${V3}services:
  - name: s
    protocol: ftp
    host: example.com
    routes: [{ name: r, paths: [/], https_redirect_status_code: 303 }]
`);
  assert.deepEqual(brief(issues), [
    '4:15 services[0].protocol expected one of: http, https, grpc, grpcs, echo',
    '6:65 services[0].routes[0].https_redirect_status_code expected one of: 426, 301, 302, 307, 308',
  ]);
});

test('dangling references to services, routes and consumers are Kong "invalid reference" errors', async () => {
  const issues = await issuesOf(`${V3}routes: [{ name: r, service: nope, paths: [/] }]
plugins: [{ name: test-limit, route: nada, consumer: nobody }]
acls: [{ consumer: ghost, group: g }]
`);
  assert.deepEqual(brief(issues), [
    "2:30 routes[0].service invalid reference 'service: nope' (no such entry in 'services')",
    "3:38 plugins[0].route invalid reference 'route: nada' (no such entry in 'routes')",
    "3:54 plugins[0].consumer invalid reference 'consumer: nobody' (no such entry in 'consumers')",
    "4:20 acls[0].consumer invalid reference 'consumer: ghost' (no such entry in 'consumers')",
  ]);
  // Two instances for two missing consumers: each reference is the error, not a same-scope clash.
  assert.deepEqual(
    brief(
      await issuesOf(
        `${V3}plugins:\n  - { name: test-limit, consumer: jsmith }\n  - { name: test-limit, consumer: tsmith }\n`,
      ),
    ),
    [
      "3:35 plugins[0].consumer invalid reference 'consumer: jsmith' (no such entry in 'consumers')",
      "4:35 plugins[1].consumer invalid reference 'consumer: tsmith' (no such entry in 'consumers')",
    ],
  );
});

test('regex paths: PCRE spellings with one meaning are translated, the others are named', async () => {
  await load(svc("      - paths: ['~/users/(?<id>\\d+)/orders/(?<order>[a-z0-9-]+)$']\n"));
  await load(svc("      - paths: ['~/users/(?P<id>\\d+)\\z', '~/a/{name}\\/b']\n"));
  assert.deepEqual(brief(await issuesOf(svc("      - paths: ['~/users/(?>\\d+)']\n"))), [
    "6:17 services[0].routes[0].paths[0] regex path uses PCRE syntax that cannot be translated: an atomic group '(?>...)' has no JavaScript equivalent; write '(?:...)' if backtracking into it cannot change the match",
  ]);
  assert.match((await issuesOf(svc("      - paths: ['~/a\\d++\\d']\n")))[0]!.message, /possessive quantifier/);
  await load(svc("      - paths: ['~/a/[^/]++/b\\d*+$']\n"));
  assert.equal(
    (await issuesOf(svc("      - paths: ['~/(a']\n")))[0]!.message,
    `invalid regex: '/(a' (PCRE returned: pcre2_compile() failed: missing closing parenthesis in "/(a")`,
  );
});

test('non-normalized paths are errors that show the normalized form', async () => {
  const cases: [string, string][] = [
    ['/a//b', '/a/b'],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/%7Euser', '/~user'],
  ];
  for (const [path, normal] of cases) {
    const [i] = await issuesOf(svc(`      - paths: ['${path}']\n`));
    assert.match(
      i!.message,
      new RegExp(
        `^(non-normalized path, consider use|must not have empty segments: write) '${normal.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}'`,
      ),
      path,
    );
  }
  assert.match((await issuesOf(svc("      - paths: ['/a%zz']\n")))[0]!.message, /invalid url-encoded value: '%zz'/);
  // Kong's router_path (typedefs.lua): one message for both, a regex without its '/' included.
  for (const path of ['api', '~(?i)/api', '~api']) {
    assert.equal(
      (await issuesOf(svc(`      - paths: ['${path}']\n`)))[0]!.message,
      'should start with: / (fixed path) or ~/ (regex path)',
      path,
    );
  }
  await load(svc("      - paths: ['/a%2Fb', '/files/']\n"));
});

test('two routes that match exactly the same requests load, with a warning on the second naming the winner', async () => {
  const c = await load(`${V3}services:
  - name: s
    url: echo://
    routes:
      - { name: a, paths: [/x, /y], methods: [GET], headers: { X-A: ["V"] } }
      - { name: b, paths: [/y, /x, /x], methods: [GET], headers: { x-a: ["v"] } }
      - { name: c, paths: [/x, /y], methods: [POST] }
`);
  assert.equal(c.routes.length, 3);
  assert.deepEqual(brief([...(c.source.warnings ?? [])]), [
    "7:9 services[0].routes[1] route 'b' (services[0].routes[1]) matches exactly the same requests as route 'a' (services[0].routes[0]): 'a' wins (declared first, same priority), so 'b' never matches",
  ]);
  const regex = await load(`${V3}services:
  - name: s
    url: echo://
    routes:
      - { paths: ['~/r/\\d+$'] }
      - { paths: ['~/r/\\d+$'], regex_priority: 2 }
`);
  assert.match(
    regex.source.warnings![0]!.message,
    /^the route at services\[0\]\.routes\[1\] matches exactly the same requests as the route at services\[0\]\.routes\[0\]: services\[0\]\.routes\[1\] wins for its regex paths \(higher regex_priority\)/,
  );
});

test('route rules from Kong: something to match on, no host header, valid hosts', async () => {
  assert.match(
    (await issuesOf(svc('      - name: nothing\n')))[0]!.message,
    /must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'/,
  );
  assert.match(
    (await issuesOf(svc('      - headers: { Host: [a.com] }\n')))[0]!.message,
    /cannot contain 'host' header/,
  );
  assert.match(
    (await issuesOf(svc("      - hosts: ['a.*.com']\n")))[0]!.message,
    /invalid wildcard: must be placed at leftmost or rightmost label/,
  );
  // A line break in a route host (and its port part) was a TypeError: an unlocated reload failure, a crashed validate.
  assert.deepEqual(
    (await issuesOf(svc('      - hosts: ["a\\n.com", "b.com\\n:80"]\n'))).map((i) => `${i.path} ${i.message}`),
    [
      "services[0].routes[0].hosts[0] invalid hostname: 'a\n.com'",
      "services[0].routes[0].hosts[1] invalid hostname: 'b.com\n:80'",
    ],
  );
  assert.match(
    (await issuesOf(svc('      - paths: [/a]\n        service: other\n')))[0]!.message,
    /^value must be null: 'service' is implied by the enclosing service/,
  );
});

test('jwt credentials: the PEM must parse and fit the algorithm; HS needs a secret', async () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;
  const ind = (pem: string) => pem.trim().split('\n').join('\n          ');
  const c = await load(`${V3}consumers:
  - username: a
    jwt_secrets:
      - key: rsa
        algorithm: RS256
        rsa_public_key: |
          ${ind(rsa)}
      - key: ec
        algorithm: ES256
        rsa_public_key: |
          ${ind(ec)}
      - key: jwks
        algorithm: RS256
        jwks_uri: https://tenant.example.com/.well-known/jwks.json
`);
  assert.equal(c.plugin_entities.jwt_secrets!.length, 3);
  const issues = await issuesOf(`${V3}consumers:
  - username: a
    jwt_secrets:
      - key: wrong-kind
        algorithm: RS256
        rsa_public_key: |
          ${ind(ec)}
      - key: garbage
        algorithm: ES256
        rsa_public_key: not a pem
      - key: no-secret
        algorithm: HS256
      - key: no-key
        algorithm: PS256
`);
  assert.deepEqual(brief(issues), [
    '7:25 consumers[0].jwt_secrets[0].rsa_public_key rsa_public_key is an EC (prime256v1) key, but RS256 needs an RSA key',
    '14:25 consumers[0].jwt_secrets[1].rsa_public_key rsa_public_key is not a valid PEM public key',
    "15:9 consumers[0].jwt_secrets[2] no 'secret': Kong would generate a random one, which no client could know; this credential never authenticates",
    "17:9 consumers[0].jwt_secrets[3] 'rsa_public_key' (or 'jwks_uri') is required when algorithm is PS256",
  ]);
});

test('plugins: unknown names list the known ones, configs are checked by the plugin schema, scope rules apply', async () => {
  const issues = await issuesOf(`${V3}consumers:
  - username: u
    plugins: [{ name: test-auth }]
plugins:
  - name: test-limt
  - name: test-limit
    config: { minute: 0, hedaer: x }
`);
  assert.deepEqual(brief(issues), [
    "4:15 consumers[0].plugins[0] value must be null: plugin 'test-auth' cannot be applied to a consumer",
    "6:11 plugins[0].name plugin 'test-limt' not enabled (did you mean 'test-limit'?): it is neither built in nor listed in _tollgate.custom_plugins (Kong's 'plugins' configuration property); known plugins: acl, jwt, key-auth, test-auth, test-limit",
    '8:23 plugins[1].config.minute value should be between 1 and 1000000',
    "8:26 plugins[1].config.hedaer unknown field 'hedaer' (did you mean 'header'?)",
  ]);
  assert.equal(issues.find((i) => i.path === 'plugins[1].config.minute')!.code, 'PLUGIN_CONFIG');
  const dup = await issuesOf(`${V3}plugins: [{ name: test-limit }, { name: test-limit }]\n`);
  assert.match(
    dup[0]!.message,
    /uniqueness violation: 'plugins' entity with name set to 'test-limit' for the same scope already declared/,
  );
});

test('_tollgate settings are checked: unknown keys, listen addresses, trusted IPs, nameservers', async () => {
  const issues = await issuesOf(`${V3}_tollgate:
  proxy_listen: ["0.0.0.0:8000", "nope"]
  trusted_ips: [10.0.0.0/8, "::1", 10.0.0.0/33, example.com]
  log_levle: debug
  dns_resolver: [10.0.0.2, "10.0.0.3:53", "[fd00::53]:5353", "fd00::54", "999.0.0.1", "10.0.0.4:0", "dns.example:53", "fd00::55:53"]  # the last is a bare IPv6 address
`);
  const nameserver = "invalid nameserver: expected an IP address, IP:PORT or [IPv6]:PORT (e.g. '10.0.0.2:53')";
  assert.deepEqual(brief(issues), [
    "3:34 _tollgate.proxy_listen[1] invalid listen address: expected HOST:PORT optionally followed by flags (e.g. '0.0.0.0:8443 ssl')",
    '4:36 _tollgate.trusted_ips[2] invalid IP address or CIDR',
    '4:49 _tollgate.trusted_ips[3] invalid IP address or CIDR',
    "5:3 _tollgate.log_levle unknown field 'log_levle' (did you mean 'log_level'?)",
    `6:74 _tollgate.dns_resolver[4] ${nameserver}`,
    `6:87 _tollgate.dns_resolver[5] ${nameserver}`,
    `6:101 _tollgate.dns_resolver[6] ${nameserver}`,
  ]);
  assert.deepEqual(brief(await issuesOf(`${V3}_tollgate:\n  dns_order: [LAST, SRV, CNAME]\n`)), [
    "3:14 _tollgate.dns_order dns_order must list 'A' or 'AAAA': Tollgate resolves no SRV records, and a CNAME's target needs one of them",
  ]);
  assert.match(brief(await issuesOf(`${V3}_tollgate:\n  dns_order: [A, A]\n`))[0]!, /duplicate/);
});

test('a PEM whose line breaks a YAML folded block turned into spaces, or an encrypted key, is named as such', async () => {
  const pem = (label: string, body: string): string => `-----BEGIN ${label}----- ${body} -----END ${label}-----`;
  const issues = await issuesOf(`${V3}certificates:
  - cert: >
      ${pem('CERTIFICATE', 'MIIBszCCAVmgAwIBAgIUJq')}
    key: "${pem('PRIVATE KEY', 'MIGHAgEAMBMGByqGSM49AgEG')}"
  - cert: not a cert
    key: |
      -----BEGIN ENCRYPTED PRIVATE KEY-----
      MIHsMFcGCSqGSIb3DQEFDTBK
      -----END ENCRYPTED PRIVATE KEY-----
ca_certificates:
  - cert: "${pem('CERTIFICATE', 'MIIBszCCAVmgAwIBAgIUJq')}"
`);
  const lost =
    "its line breaks are lost (a YAML folded '>' block or a one-line string): write it as a literal block, '|'";
  assert.deepEqual(brief(issues), [
    `3:11 certificates[0].cert invalid certificate: cert is not a valid PEM certificate: ${lost}`,
    `5:10 certificates[0].key invalid key: key is not a valid PEM private key: ${lost}`,
    '6:11 certificates[1].cert invalid certificate: cert is not a valid PEM certificate',
    '7:10 certificates[1].key invalid key: key is not a valid PEM private key: it is encrypted (encrypted keys are not supported: decrypt it with `openssl pkey`)',
    `12:11 ca_certificates[0].cert invalid certificate: cert is not a valid PEM certificate: ${lost}`,
  ]);
});

test('_workspace and _transform are accepted as Kong defines them; other workspaces are explained', async () => {
  await load(`${V3}_transform: false\n_workspace: default\n_comment: hello\n`);
  assert.match((await issuesOf(`${V3}_workspace: team-a\n`))[0]!.message, /single workspace/);
});

test('certificates: cert and key must parse and match; SNIs are unique', async () => {
  const issues = await issuesOf(`${V3}certificates:
  - cert: not a cert
    key: not a key
    snis: [{ name: a.example.com }, { name: a.example.com }]
`);
  assert.deepEqual(brief(issues), [
    '3:11 certificates[0].cert invalid certificate: cert is not a valid PEM certificate',
    '4:10 certificates[0].key invalid key: key is not a valid PEM private key (encrypted keys are not supported)',
    "5:45 certificates[0].snis[1].name uniqueness violation: 'snis' entity with name set to 'a.example.com' already declared (at certificates[0].snis[0])",
  ]);
});

test("an https service whose upstream probes in plain http (Kong's default type) loads with a warning at the probe settings", async () => {
  const config = (type: string, interval: number): string => `${V3}upstreams:
  - name: pool.internal
    healthchecks:
      active:
        ${type}healthy: { interval: ${interval} }
    targets: [{ target: 127.0.0.1:8443 }]
services:
  - { name: tls, protocol: https, host: pool.internal, port: 443 }
  - { name: tls-again, protocol: https, host: pool.internal, port: 443 }
`;
  const c = await load(config('', 5));
  assert.deepEqual(brief([...(c.source.warnings ?? [])]), [
    "6:9 upstreams[0].healthchecks.active service 'tls' speaks https but this upstream's active probes use plain http (Kong's default type); set 'type: https'",
  ]);
  // Probing over TLS, or not probing at all, is what the operator meant.
  assert.deepEqual((await load(config('type: https\n        ', 5))).source.warnings ?? [], []);
  assert.deepEqual((await load(config('', 0))).source.warnings ?? [], []);
});

test("a grpc or grpcs service with a path is Kong's 'value must be null', located; grpc://host:port/ loads", async () => {
  assert.deepEqual(
    brief(
      await issuesOf(
        `${V3}services:\n  - { name: a, protocol: grpc, host: h, port: 50051, path: /v1 }\n  - { name: b, url: "grpcs://h:443/api" }\n`,
      ),
    ),
    [
      "3:60 services[0].path value must be null: a grpc service has no path (a gRPC call's path is its /package.Service/Method), as in Kong",
      "4:21 services[1].url value must be null: a grpcs service has no path (a gRPC call's path is its /package.Service/Method), as in Kong",
    ],
  );
  await load(`${V3}services:\n  - { name: a, url: "grpc://h:50051/" }\n  - { name: b, url: "grpc://h:50051" }\n`);
});

test("a grpc route's strip_path defaults to false, and true is refused in Kong's words (its grpc route subschema)", async () => {
  const c = await load(
    `${V3}services:\n  - name: g\n    url: grpc://127.0.0.1:50051\n    routes:\n      - name: a\n        protocols: [grpc, grpcs]\n        paths: [/a.Svc]\n      - name: b\n        paths: [/b]\n`,
  );
  assert.deepEqual(
    c.routes.map((r) => [r.name, r.strip_path]),
    [
      ['a', false],
      ['b', true],
    ],
  );
  assert.deepEqual(
    brief(
      await issuesOf(
        `${V3}services:\n  - name: g\n    url: grpc://127.0.0.1:50051\n    routes:\n      - protocols: [grpc]\n        paths: [/a.Svc]\n        strip_path: true\n`,
      ),
    ),
    ["8:21 services[0].routes[0].strip_path cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"],
  );
});

test("a grpc route with methods is refused, and one with nothing to match on is told what it takes, in Kong's words", async () => {
  assert.deepEqual(
    brief(
      await issuesOf(
        `${V3}services:\n  - name: g\n    url: grpc://127.0.0.1:50051\n    routes:\n      - protocols: [grpcs]\n        paths: [/a.Svc]\n        methods: [POST]\n`,
      ),
    ),
    ["8:18 services[0].routes[0].methods cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'"],
  );
  assert.deepEqual(
    brief(
      await issuesOf(
        `${V3}services:\n  - name: g\n    url: grpc://127.0.0.1:50051\n    routes:\n      - protocols: [grpc]\n      - protocols: [grpcs]\n`,
      ),
    ),
    [
      "6:9 services[0].routes[0] must set one of 'hosts', 'headers', 'paths' when 'protocols' is 'grpc'",
      "7:9 services[0].routes[1] must set one of 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'grpcs'",
    ],
  );
});
