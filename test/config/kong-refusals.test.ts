// Kong features Tollgate does not support are refused with what they are and what to do instead.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runValidate } from '../../src/cli/validate.ts';
import { KONG_UNSUPPORTED } from '../../src/config/kong-unsupported.ts';
import { builtinPlugins } from '../../src/plugins/index.ts';
import { issuesOf, tmpDir, V3, writeTmp } from './helpers.ts';

async function messages(yaml: string): Promise<string[]> {
  return (
    await issuesOf(V3 + yaml, { plugins: builtinPlugins }).catch((e: Error) =>
      e.message === 'expected the config to be invalid' ? [] : Promise.reject(e),
    )
  )
    .filter((i) => i.severity === 'error')
    .map((i) => `${i.path}: ${i.message}`);
}

test('an unsupported Kong plugin is named, with the way out', async () => {
  const m = await messages('plugins:\n  - name: oauth2\n    config: {}\n');
  assert.equal(m.length, 1, m.join('\n'));
  assert.match(
    m[0]!,
    /^plugins\[0\]\.name: plugin 'oauth2' is not available in Kong DB-less either.*use `jwt`.*`oidc`/,
  );
  const lua = await messages('plugins:\n  - name: pre-function\n    config: {}\n');
  assert.match(lua[0]!, /Lua code.*custom plugin in TypeScript/);
});

test("a Kong Enterprise plugin is called one, with Tollgate's nearest equivalent", async () => {
  const m = await messages('plugins:\n  - name: openid-connect\n    config: {}\n');
  assert.match(m[0]!, /plugin 'openid-connect' is a Kong Enterprise plugin.*`oidc`/);
  const rla = await messages('plugins:\n  - name: rate-limiting-advanced\n    config: {}\n');
  assert.match(rla[0]!, /Kong Enterprise plugin.*`rate-limiting` with policy: redis/);
});

test('a Kong Enterprise plugin without an equivalent still names a way out: a custom plugin, or the tool that does its job', async () => {
  for (const name of ['opa', 'degraphql', 'application-registration', 'xml-threat-protection']) {
    const m = await messages(`plugins:\n  - name: ${name}\n`);
    assert.match(
      m[0]!,
      new RegExp(`plugin '${name}' is a Kong Enterprise plugin, not part of Kong OSS; .*custom plugin`),
    );
  }
  const kafka = await messages('plugins:\n  - name: kafka-log\n');
  assert.match(kafka[0]!, /Kong Enterprise plugin.*log collector/);
  const certAuth = await messages('plugins:\n  - name: header-cert-auth\n');
  assert.match(certAuth[0]!, /Kong Enterprise plugin.*key-auth, jwt or oidc/);
});

test('a name nobody knows still gets the suggestion', async () => {
  const m = await messages('plugins:\n  - name: rate-limting\n');
  assert.match(m[0]!, /not enabled \(did you mean 'rate-limiting'\?\)/);
});

test('ip-restriction whitelist/blacklist: renamed by Kong 3.0', async () => {
  const m = await messages('plugins:\n  - name: ip-restriction\n    config: { whitelist: [10.0.0.0/8] }\n');
  assert.deepEqual(m, [
    'plugins[0].config.whitelist: whitelist: Kong 3.0 renamed `whitelist` to `allow`: rename the field',
  ]);
});

test('acl whitelist/blacklist (a Kong 2 file): renamed by Kong 3.0, said so instead of unknown field', async () => {
  const m = await messages(
    'plugins:\n  - name: acl\n    config: { whitelist: [gold] }\n  - name: acl\n    service: s\n    config: { blacklist: [bad] }\nservices:\n  - { name: s, url: http://a }\n',
  );
  assert.deepEqual(m, [
    'plugins[0].config.whitelist: whitelist: Kong 3.0 renamed `whitelist` to `allow`: rename the field',
    'plugins[1].config.blacklist: blacklist: Kong 3.0 renamed `blacklist` to `deny`: rename the field',
  ]);
});

test("kong-oidc forks' fields name Tollgate's equivalent", async () => {
  const m = await messages(
    'plugins:\n  - name: oidc\n    config: { client_id: x, client_secret: y, discovery: "https://idp.example.com/.well-known/openid-configuration", cookie_name: s }\n',
  );
  assert.ok(
    m.some((x) =>
      /config\.cookie_name: cookie_name: a kong-oidc fork field: Tollgate calls it `session_cookie_name`/.test(x),
    ),
    m.join('\n'),
  );
});

test('oauth2_credentials, nested or not, and vaults other than env are refused, with the way out', async () => {
  const top = await messages(
    'oauth2_credentials:\n  - consumer: a\n    name: app\n    client_id: x\nconsumers:\n  - username: a\n',
  );
  assert.ok(
    top.some((x) => /oauth2 plugin.*use jwt credentials or the oidc plugin/.test(x)),
    top.join('\n'),
  );
  const nested = await messages(
    'consumers:\n  - username: a\n    oauth2_credentials:\n      - name: app\n        client_id: x\n',
  );
  assert.ok(
    nested.some((x) => /oauth2 plugin.*use jwt credentials or the oidc plugin/.test(x)),
    nested.join('\n'),
  );
  const vaults = await messages('vaults:\n  - name: hcv\n    prefix: my-hcv\n');
  assert.ok(
    vaults.some((x) => /vault 'hcv' is not installed: .*use \$\{NAME\} or \$\{file:path\}/.test(x)),
    vaults.join('\n'),
  );
});

test("Kong Gateway's env vault base64_decode loads at false, the default decK dumps write, and is refused at true with the way out", async () => {
  const vault = (decode: boolean) =>
    `vaults:\n  - name: env\n    prefix: my-env\n    config: { prefix: MY_SECRET_, base64_decode: ${decode} }\n`;
  assert.deepEqual(await messages(vault(false)), []);
  assert.deepEqual(await messages(vault(true)), [
    "vaults[0].config.base64_decode: 'base64_decode: true' is a Kong Gateway setting of the env vault that Tollgate does not support: put the decoded value in the variable, or read it from a file with ${file:path}",
  ]);
});

test('null optional plugin fields load, at any depth, and their defaults apply', async () => {
  const m = await messages(
    'plugins:\n  - name: rate-limiting\n    config: { minute: 5, second: null, redis_host: null, redis_port: null, redis: { host: null, password: null }, error_message: null }\n  - name: proxy-cache\n    config: { strategy: memory, vary_headers: null, storage_ttl: null, memory: { dictionary_name: null } }\n',
  );
  assert.deepEqual(m, []);
});

test("Kong Gateway 3.14's tls_certificate_verify and untrusted_lua carried into _tollgate say what Tollgate does", async () => {
  const m = await messages('_tollgate:\n  tls_certificate_verify: true\n  untrusted_lua: strict\n');
  assert.equal(m.length, 2, m.join('\n'));
  assert.match(
    m[0]!,
    /^_tollgate\.tls_certificate_verify: 'tls_certificate_verify' is a kong\.conf setting: certificates are always verified/,
  );
  assert.match(m[1]!, /^_tollgate\.untrusted_lua: 'untrusted_lua' is a kong\.conf setting: Tollgate runs no Lua/);
});

test("kong.conf settings carried into _tollgate say what does their job here; decK's sections are named", async () => {
  const m = await messages('_tollgate:\n  allow_debug_header: true\n  real_ip_header: X-Forwarded-For\n');
  assert.equal(m.length, 2, m.join('\n'));
  assert.match(
    m[0]!,
    /^_tollgate\.allow_debug_header: 'allow_debug_header' is a kong\.conf setting: here it is `debug_header`/,
  );
  assert.match(m[1]!, /^_tollgate\.real_ip_header: .*kong\.conf setting.*`trusted_ips`/);
  const deck = await messages('_info:\n  select_tags: [team-a]\n');
  assert.match(deck[0]!, /^_info: '_info' is a Kong field that Tollgate does not support: it is decK's section/);
  const shared = await messages(
    '_plugin_configs:\n  limits: { minute: 5 }\nservices:\n  - name: s\n    url: echo://\n    plugins:\n      - name: rate-limiting\n        _config: limits\n',
  );
  assert.equal(shared.length, 2, shared.join('\n'));
  assert.match(shared[0]!, /^_plugin_configs: .* decK's section of shared plugin configs, .*`deck file render`/);
  assert.match(shared[1]!, /^services\[0\]\.plugins\[0\]\._config: .* one of decK's _plugin_configs/);
  const errors = await messages('_tollgate:\n  error_default_type: text/html\n  error_template_html: /etc/e.html\n');
  assert.match(
    errors[0]!,
    /^_tollgate\.error_default_type: .*kong\.conf setting: error bodies follow the request's Accept/,
  );
  assert.match(errors[1]!, /^_tollgate\.error_template_html: .*kong\.conf setting: .*a custom one is not read/);
  const typo = await messages('_tollgate:\n  log_levle: info\n');
  assert.match(typo[0]!, /unknown field 'log_levle' \(did you mean 'log_level'\?\)/);
});

test('an HTTP-only Kong plugin with a stream protocol is refused as Kong refuses it, instead of loading and never running', async () => {
  const m = await messages(
    'plugins:\n  - name: key-auth\n    protocols: [tcp]\n  - name: cors\n    protocols: [http, udp]\n',
  );
  assert.deepEqual(m, [
    "plugins[0].protocols[0]: plugin 'key-auth' works on HTTP requests only: expected one of: grpc, grpcs, http, https, ws, wss",
    "plugins[1].protocols[1]: plugin 'cors' works on HTTP requests only: expected one of: grpc, grpcs, http, https, ws, wss",
  ]);
  // Kong Enterprise's dumps list ws and wss; plugins on every protocol (file-log) take stream ones.
  assert.deepEqual(
    await messages(
      'plugins:\n  - name: key-auth\n    protocols: [grpc, grpcs, http, https, ws, wss]\n  - name: file-log\n    config: { path: /tmp/tollgate-unused.log }\n    protocols: [grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp]\n',
    ),
    [],
  );
});

test("an opentelemetry instance with logs_endpoint alone loads, as Kong's; one with neither endpoint is refused in Kong's words", async () => {
  const validate = async (config: string) => {
    const file = writeTmp(
      tmpDir(),
      'otel-logs.yaml',
      `${V3}plugins:\n  - name: opentelemetry\n    config: ${config}\n`,
    );
    let out = '';
    const code = await runValidate([file], {
      stdout: { write: (t: string) => (out += t) },
      stderr: { write: (t: string) => (out += t) },
    });
    return { code, out };
  };
  const logsOnly = await validate('{ logs_endpoint: "http://collector:4318/v1/logs" }');
  assert.equal(logsOnly.code, 0, logsOnly.out);
  // Kong's documented metrics example sets metrics.endpoint alone.
  const metricsOnly = await validate(
    '{ metrics: { endpoint: "http://collector:4318/v1/metrics", push_interval: 10 } }',
  );
  assert.equal(metricsOnly.code, 0, metricsOnly.out);
  // And its transactional-logs example, access_logs.endpoint alone.
  const accessLogsOnly = await validate('{ access_logs: { endpoint: "http://collector:4318/v1/logs" } }');
  assert.equal(accessLogsOnly.code, 0, accessLogsOnly.out);
  const neither = await validate('{ headers: { x-api-key: k } }');
  assert.equal(neither.code, 1, neither.out);
  assert.match(
    neither.out,
    /plugins\[0\]\.config\.traces_endpoint {2}plugin 'opentelemetry': at least one of these fields must be non-empty: 'traces_endpoint', 'logs_endpoint', 'metrics\.endpoint', 'access_logs\.endpoint'/,
  );
});

test('a field or plugin named after an Object.prototype member is unknown, not described by that function', async () => {
  const m = await messages(
    'services:\n  - name: s\n    url: http://a\n    toString: 1\nplugins:\n  - name: ip-restriction\n    config: { allow: [10.0.0.1], hasOwnProperty: 1 }\n  - name: valueOf\n',
  );
  assert.deepEqual(
    m.map((l) => l.replace(/; known plugins: .*/, '')),
    [
      "services[0].toString: unknown field 'toString'",
      "plugins[0].config.hasOwnProperty: unknown field 'hasOwnProperty'",
      "plugins[1].name: plugin 'valueOf' not enabled: it is neither built in nor listed in _tollgate.custom_plugins (Kong's 'plugins' configuration property)",
    ],
  );
  assert.ok(
    m.every((l) => !l.includes('native code')),
    m.join('\n'),
  );
});

test('every Kong field Tollgate refuses names the way out, after the reason', async () => {
  const bare = Object.entries(KONG_UNSUPPORTED).flatMap(([kind, fields]) =>
    Object.entries(fields)
      .filter(([, why]) => !why.includes('; '))
      .map(([field, why]) => `${kind}.${field}: ${why}`),
  );
  assert.deepEqual(bare, []);
  const m = await messages('consumer_groups:\n  - name: gold\n');
  assert.ok(
    m.some((x) => /consumer groups \(Kong Enterprise\) are not supported; scope the plugins to each consumer/.test(x)),
    m.join('\n'),
  );
});

test("decK dumps' filter_chains under services and routes, consumers' groups, partials and sticky-session fields are named", async () => {
  const m = await messages(
    [
      'partials:\n  - name: p\n    type: redis-ee\n',
      'plugins_partials:\n  - { plugin: x, partial: p, path: config.redis }\n',
      'consumer_group_consumers:\n  - { consumer: u, consumer_group: g }\n',
      'services:\n  - name: s\n    url: http://a\n    filter_chains: []\n    routes:\n      - paths: [/a]\n        filter_chains: []\n',
      'consumers:\n  - username: u\n    groups:\n      - name: gold\n',
      'plugins:\n  - name: cors\n    partials: [{ name: p }]\n',
      'upstreams:\n  - name: up\n    algorithm: sticky-sessions\n    sticky_sessions_cookie: s\n',
    ].join(''),
  );
  assert.deepEqual(
    m.map((l) => l.replace(/ is a Kong field that Tollgate does not support: (.*?)(;.*)?$/, ': $1')),
    [
      "partials: 'partials': partials (Kong Enterprise) are not supported",
      "plugins_partials: 'plugins_partials': partials (Kong Enterprise) are not supported",
      "consumer_group_consumers: 'consumer_group_consumers': consumer groups (Kong Enterprise) are not supported",
      "services[0].filter_chains: 'filter_chains': WebAssembly filter chains are not supported",
      "services[0].routes[0].filter_chains: 'filter_chains': WebAssembly filter chains are not supported",
      "consumers[0].groups: 'groups': consumer groups (Kong Enterprise) are not supported",
      "plugins[0].partials: 'partials': partials (Kong Enterprise) are not supported",
      "upstreams[0].algorithm: algorithm 'sticky-sessions' is Kong Enterprise's, which Tollgate does not support (expected one of: round-robin, consistent-hashing, least-connections, latency); hash_on: cookie with hash_on_cookie keeps a client on one target",
      "upstreams[0].sticky_sessions_cookie: 'sticky_sessions_cookie': the sticky-sessions algorithm (Kong Enterprise) is not supported",
    ],
  );
});

test("Kong Enterprise plugins' entities (KIC's degraphql_routes, decK's custom_entities) and a plugin's condition are named, not unknown fields", async () => {
  const m = await messages(
    [
      'degraphql_routes:\n  - { service: s, uri: /q, query: "{ a }" }\n',
      'graphql_ratelimiting_cost_decorations:\n  - { type_path: Query.a, add_constant: 1 }\n',
      'custom_entities:\n  - type: degraphql_routes\n',
      'plugins:\n  - name: cors\n    condition: route.name != "health"\n',
    ].join(''),
  );
  assert.deepEqual(
    m.map((l) => l.replace(/ is a Kong field that Tollgate does not support: (.*?); .*$/, ': $1')),
    [
      "degraphql_routes: 'degraphql_routes': degraphql routes belong to the degraphql plugin (Kong Enterprise), which Tollgate does not have",
      "graphql_ratelimiting_cost_decorations: 'graphql_ratelimiting_cost_decorations': GraphQL cost decorations belong to the graphql-rate-limiting-advanced plugin (Kong Enterprise), which Tollgate does not have",
      "custom_entities: 'custom_entities': it is decK's section for Kong Enterprise plugins' entities (degraphql_routes, graphql_ratelimiting_cost_decorations), whose plugins Tollgate does not have",
      "plugins[0].condition: 'condition': conditional plugin execution (Kong Gateway) is not supported",
    ],
  );
});

test('a quoted yes/no/on/off in a boolean field, a string to Kong too: the error says what to write', async () => {
  // Unquoted, Kong's YAML 1.1 parser reads them as booleans, and so does the loader (yaml11.test.ts).
  const m = await messages(
    'services:\n  - name: s\n    url: http://a\n    enabled: "yes"\n    routes:\n      - paths: [/a]\n        strip_path: \'Off\'\nplugins:\n  - name: cors\n    config: { credentials: "ON" }\n',
  );
  assert.deepEqual(m, [
    "services[0].enabled: expected a boolean (true or false), got the string 'yes': write true (Kong's YAML 1.1 parser reads an unquoted yes as true, YAML 1.2 as a string)",
    "services[0].routes[0].strip_path: expected a boolean (true or false), got the string 'Off': write false (Kong's YAML 1.1 parser reads an unquoted Off as false, YAML 1.2 as a string)",
    "plugins[0].config.credentials: expected a boolean (true or false), got the string 'ON': write true (Kong's YAML 1.1 parser reads an unquoted ON as true, YAML 1.2 as a string)",
  ]);
  // Other strings keep the plain message.
  assert.deepEqual(await messages('services:\n  - name: s\n    url: http://a\n    enabled: "y"\n'), [
    'services[0].enabled: expected a boolean (true or false), got a string',
  ]);
});

test("header names Kong's header_name refuses are refused at load, at the key: opentelemetry headers, rate-limiting header_name", async () => {
  const m = await messages(
    'plugins:\n  - name: opentelemetry\n    config: { traces_endpoint: "http://c:4318/v1/traces", headers: { "bad header": v, ok: "a\\nb" } }\n  - name: rate-limiting\n    config: { minute: 1, limit_by: header, header_name: "x y" }\n',
  );
  assert.deepEqual(m, [
    "plugins[0].config.headers.bad header: invalid name 'bad header': must match the pattern ^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
    'plugins[0].config.headers.ok: must match the pattern ^[^\\r\\n\\u0000]*$',
    "plugins[1].config.header_name: bad header name 'x y', allowed characters are A-Z, a-z, 0-9, '_', and '-'",
  ]);
});

test("a nested entity naming a foreign key is Kong's 'value must be null': a second scope with the top-level way out, another parent with 'implied by the enclosing'", async () => {
  const m = await messages(
    'consumers:\n  - username: alice\nservices:\n  - name: s\n    url: http://a\n    routes:\n      - name: r\n        paths: [/r]\n        plugins:\n          - { name: cors, consumer: alice }\n    plugins:\n      - { name: cors, route: r }\n      - { name: key-auth, service: other }\n',
  );
  assert.deepEqual(m, [
    "services[0].routes[0].plugins[0].consumer: value must be null: a plugin nested under a route cannot also name a consumer (Kong refuses it too); declare it under the top-level plugins with 'route' and 'consumer'",
    "services[0].plugins[0].route: value must be null: a plugin nested under a service cannot also name a route (Kong refuses it too); declare it under the top-level plugins with 'service' and 'route'",
    "services[0].plugins[1].service: value must be null: 'service' is implied by the enclosing service; remove it",
  ]);
  // Naming its own parent loads (Kong's flatten accepts it); naming another is refused.
  const own = await messages(
    'upstreams:\n  - name: u\n    targets: [{ target: "127.0.0.1:80", upstream: v }]\n  - name: v\nconsumers:\n  - username: c\n    acls: [{ group: g, consumer: d }]\n  - username: d\n',
  );
  assert.deepEqual(own, [
    "upstreams[0].targets[0].upstream: value must be null: 'upstream' is implied by the enclosing upstream; remove it",
    "consumers[0].acls[0].consumer: value must be null: 'consumer' is implied by the enclosing consumer; remove it",
  ]);
  // Two such plugins under one service, one per route: the refused fields, not a same-scope clash.
  const two = await messages(
    'services:\n  - name: s\n    url: http://a\n    routes: [{ name: a, paths: [/a] }, { name: b, paths: [/b] }]\n    plugins:\n      - { name: cors, route: a }\n      - { name: cors, route: b }\n',
  );
  assert.deepEqual(
    two.map((l) => l.replace(/: value must be null.*/, '')),
    ['services[0].plugins[0].route', 'services[0].plugins[1].route'],
  );
});

test("decK's service: {name: ...} reference says to write the name, as Kong's loader reads it", async () => {
  const m = await messages(
    'services:\n  - { name: svc1, url: http://a }\nroutes:\n  - name: r1\n    paths: [/r1]\n    service:\n      name: svc1\n',
  );
  assert.deepEqual(m, [
    "routes[0].service: expected a string, got a mapping: write 'service: svc1' (decK resolves {name: ...} when it syncs; Kong's declarative loader, like Tollgate, reads a name or an id)",
  ]);
});

test("Kong's gRPC transcoding plugin loads: a file using grpc-gateway is not refused", async () => {
  const m = await messages(
    'services:\n  - name: g\n    url: grpc://127.0.0.1:50051\n    routes:\n      - name: r\n        protocols: [http]\n        paths: [/v1]\n        plugins:\n          - { name: grpc-gateway, config: { proto: /tmp/a.proto } }\n',
  );
  assert.deepEqual(m, []);
});

test("KIC's TLSRoute (a tcp service, a tls route) is refused with the stream way out on each protocol", async () => {
  let out = '';
  const file = fileURLToPath(new URL('./fixtures/kic-tlsroute.yaml', import.meta.url));
  const code = await runValidate([file], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: () => true },
  });
  assert.equal(code, 1);
  const lines = out.split('\n').filter((l) => l.includes('is a Kong protocol'));
  assert.deepEqual(
    lines.map((l) => l.replace(/^.*?:(\d+:\d+)\s+(\S+)\s+/, '$1 $2 ').replace(/ \(expected one of: [^)]*\)/, '')),
    [
      "10:13 services[0].protocol protocol 'tcp' is a Kong protocol that Tollgate does not support; Tollgate proxies HTTP and gRPC: put a TCP/UDP proxy in front for streams",
      "19:7 services[0].routes[0].protocols[0] protocol 'tls' is a Kong protocol that Tollgate does not support; Tollgate proxies HTTP and gRPC: put a TCP/UDP proxy in front for streams",
    ],
  );
});

test("an active health check's type outside Kong's list is refused in Kong's words, not called a protocol Tollgate lacks", async () => {
  const m = await messages('upstreams:\n  - name: u\n    healthchecks: { active: { type: udp } }\n');
  assert.deepEqual(m, ['upstreams[0].healthchecks.active.type: expected one of: tcp, http, https, grpc, grpcs']);
  // A route's protocols still say what Kong has and Tollgate does not.
  const route = await messages(
    'services:\n  - name: s\n    host: s.internal\n    routes: [{ paths: [/a], protocols: [udp] }]\n',
  );
  assert.match(route[0]!, /protocol 'udp' is a Kong protocol that Tollgate does not support/);
});
