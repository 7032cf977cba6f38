// Kong's schema takes no empty string in a `string` field unless the field declares `len_min = 0`
// (kong/db/schema/init.lua: "empty strings are not accepted by default"; the error is "length must
// be at least 1"), for record fields, array elements and map values alike. Each field below is
// such a field in Kong's plugin schema (oidc's realm, Tollgate's own, means nothing empty either):
// "" there is refused at load with Kong's message at the field, and a non-empty value loads.
// Left as they are, on purpose: redis.password and redis_password (Kong's `len_min = 0`).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { builtinPlugins } from '../../src/plugins/index.ts';
import { type RunPluginOptions, runPlugin, startPlugin } from '../../src/testing/index.ts';

interface Case {
  plugin: string;
  /** Where the error is located, as the loader writes it. */
  at: string;
  /** The plugin's config with `v` in the field. */
  config: (v: string) => Record<string, unknown>;
  /** A value that loads; default `team`. */
  ok?: string;
  options?: RunPluginOptions;
}

const ldap = { ldap_host: 'ldap.example', base_dn: 'dc=example,dc=com', attribute: 'uid' };
const redis = (fields: Record<string, unknown>) => ({ minute: 5, ...fields });
const responseLimits = (fields: Record<string, unknown>) => ({ limits: { video: { minute: 5 } }, ...fields });
const oidc = {
  client_id: 'tollgate',
  client_secret: 'secret',
  discovery: 'http://127.0.0.1:9/.well-known/openid-configuration',
  redirect_uri: 'https://app.example/callback',
  session_secret: 'a-session-secret-of-at-least-32-characters',
};

const cases: Case[] = [
  { plugin: 'cors', at: 'origins[0]', config: (v) => ({ origins: [v] }), ok: 'https://app.example' },
  { plugin: 'cors', at: 'headers[0]', config: (v) => ({ headers: [v] }) },
  { plugin: 'cors', at: 'exposed_headers[0]', config: (v) => ({ exposed_headers: [v] }) },
  { plugin: 'ip-restriction', at: 'message', config: (v) => ({ allow: ['127.0.0.1'], message: v }) },
  {
    plugin: 'ldap-auth',
    at: 'anonymous',
    config: (v) => ({ ...ldap, anonymous: v }),
    options: { consumers: [{ username: 'team' }] },
  },
  {
    plugin: 'proxy-cache',
    at: 'vary_query_params[0]',
    config: (v) => ({ strategy: 'memory', vary_query_params: [v] }),
  },
  { plugin: 'proxy-cache', at: 'vary_headers[0]', config: (v) => ({ strategy: 'memory', vary_headers: [v] }) },
  { plugin: 'request-transformer', at: 'remove.body[0]', config: (v) => ({ remove: { body: [v] } }) },
  { plugin: 'request-transformer', at: 'remove.headers[0]', config: (v) => ({ remove: { headers: [v] } }) },
  { plugin: 'request-transformer', at: 'remove.querystring[0]', config: (v) => ({ remove: { querystring: [v] } }) },
  { plugin: 'response-transformer', at: 'remove.json[0]', config: (v) => ({ remove: { json: [v] } }) },
  { plugin: 'response-transformer', at: 'remove.headers[0]', config: (v) => ({ remove: { headers: [v] } }) },
  { plugin: 'statsd', at: 'prefix', config: (v) => ({ prefix: v }) },
  { plugin: 'tcp-log', at: 'tls_sni', config: (v) => ({ host: '127.0.0.1', port: 9, tls: true, tls_sni: v }) },
  { plugin: 'zipkin', at: 'local_service_name', config: (v) => ({ local_service_name: v }) },
  { plugin: 'zipkin', at: 'default_service_name', config: (v) => ({ default_service_name: v }) },
  { plugin: 'zipkin', at: 'static_tags[0].name', config: (v) => ({ static_tags: [{ name: v, value: 'x' }] }) },
  { plugin: 'zipkin', at: 'static_tags[0].value', config: (v) => ({ static_tags: [{ name: 'team', value: v }] }) },
  {
    plugin: 'opentelemetry',
    at: 'resource_attributes.team',
    config: (v) => ({ traces_endpoint: 'http://127.0.0.1:9/v1/traces', resource_attributes: { team: v } }),
  },
  { plugin: 'oidc', at: 'realm', config: (v) => ({ ...oidc, realm: v }) },
];
for (const [plugin, base] of [
  ['rate-limiting', redis],
  ['response-ratelimiting', responseLimits],
] as const) {
  cases.push(
    { plugin, at: 'redis.username', config: (v) => base({ redis: { username: v } }) },
    { plugin, at: 'redis.server_name', config: (v) => base({ redis: { server_name: v } }) },
    { plugin, at: 'redis_host', config: (v) => base({ redis_host: v }) },
    { plugin, at: 'redis_username', config: (v) => base({ redis_username: v }) },
    { plugin, at: 'redis_server_name', config: (v) => base({ redis_server_name: v }) },
  );
}
cases.push({ plugin: 'rate-limiting', at: 'error_message', config: (v) => redis({ error_message: v }) });

// Every auth plugin's realm: `realm: ""` would send a challenge naming no realm (`Basic realm=""`).
const realmPlugins: Record<string, Record<string, unknown>> = {
  'basic-auth': {},
  'key-auth': {},
  jwt: {},
  'hmac-auth': {},
  'ldap-auth': ldap,
};
for (const [plugin, required] of Object.entries(realmPlugins)) {
  cases.push({ plugin, at: 'realm', config: (v) => ({ ...required, realm: v }), ok: 'api' });
}

for (const { plugin, at, config, ok = 'team', options } of cases) {
  test(`${plugin}: an empty ${at} is refused at load as Kong refuses it, a set one loads`, async () => {
    const def = builtinPlugins.get(plugin)!;
    await assert.rejects(startPlugin(def, config(''), options), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.ok(
        e.message.includes(`config.${at}: length must be at least 1`),
        `expected config.${at}: length must be at least 1 in:\n${e.message}`,
      );
      return true;
    });
    const runner = await startPlugin(def, config(ok), options);
    await runner.close();
  });
}

// Kong's `len_min = 0`: an empty Redis password loads (no AUTH is sent), in both spellings.
for (const plugin of ['rate-limiting', 'response-ratelimiting']) {
  test(`${plugin}: an empty Redis password loads, as Kong's len_min = 0 allows`, async () => {
    const def = builtinPlugins.get(plugin)!;
    const base = plugin === 'rate-limiting' ? redis : responseLimits;
    for (const config of [base({ redis: { password: '' } }), base({ redis_password: '' })]) {
      const runner = await startPlugin(def, config);
      await runner.close();
    }
  });
}

for (const [plugin, required] of Object.entries(realmPlugins)) {
  test(`${plugin}: a set realm is the challenge's`, async () => {
    const res = await runPlugin(builtinPlugins.get(plugin)!, { ...required, realm: 'api' }, {});
    assert.equal(res.status, 401);
    assert.match(String(res.responseHeaders['www-authenticate']), /realm="api"/);
  });
}
