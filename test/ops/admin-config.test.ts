// GET /config: the effective config, with every resolved secret and credential redacted.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { TollgateInstance } from '../../src/instance.ts';
import { createLogger } from '../../src/log.ts';
import { startGateway } from '../../src/testing/index.ts';
import { lineSink } from '../../src/testing/run-plugin.ts';
import { TestCa, tool } from '../tls/support.ts';

test('/config never shows a value from ${NAME} or ${file:...}, nor a credential secret or key', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-cfg-'));
  const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;
  await writeFile(join(dir, 'partner.pem'), pem);
  const literalHs = 'literal-hs256-secret-in-the-file';
  const literalKey = 'literal-api-key-in-the-file';
  const env = {
    API_KEY: 'env-api-key-value-1234',
    HS_SECRET: 'env-hs-secret-value-5678',
    UPSTREAM_TAG: 'env-tag-value-91011',
  };
  const gw = await startGateway({
    dir,
    env,
    config: `_format_version: "3.0"
services:
  - name: echo
    url: echo://
    tags: ["\${UPSTREAM_TAG}"]
    routes:
      - name: a
        paths: [/a]
        plugins:
          - name: key-auth
consumers:
  - username: alice
    keyauth_credentials:
      - key: \${API_KEY}
      - key: ${literalKey}
    jwt_secrets:
      - key: alice-hs
        algorithm: HS256
        secret: \${HS_SECRET}
      - key: alice-hs-literal
        algorithm: HS256
        secret: ${literalHs}
      - key: alice-rs
        algorithm: RS256
        rsa_public_key: \${file:partner.pem}
`,
  });
  try {
    const res = await fetch(`${gw.adminUrl}/config`);
    assert.equal(res.status, 200);
    const text = await res.text();
    const cfg = JSON.parse(text) as Record<string, any>;
    for (const secret of [...Object.values(env), literalHs, literalKey, pem.trim(), pem.split('\n')[1]!]) {
      assert.ok(!text.includes(secret), `/config shows ${secret.slice(0, 12)}...`);
    }
    // the effective config is still there, with defaults applied
    assert.equal(cfg.services[0].name, 'echo');
    assert.equal(cfg.routes[0].strip_path, true);
    assert.equal(cfg.consumers[0].username, 'alice');
    assert.deepEqual(
      cfg.keyauth_credentials.map((k: any) => k.key),
      ['[redacted]', '[redacted]'],
    );
    assert.ok(cfg.jwt_secrets.every((s: any) => s.secret === null || s.secret === '[redacted]'));
    assert.equal(cfg.jwt_secrets.find((s: any) => s.key === 'alice-rs').rsa_public_key, '[redacted]');
    assert.deepEqual(cfg.services[0].tags, ['[redacted]']);
    assert.ok(!('yaml_path' in cfg.services[0]));
  } finally {
    await gw.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("Kong's {vault://env/...} references: a key-auth key from one lets its client in, and neither it nor a tag from one shows in /config", async () => {
  const env = { PARTNER_API_KEY: 'vault-api-key-value-1234', DEPLOY: '{"tag":"vault-tag-value-5678"}' };
  const gw = await startGateway({
    env,
    config: `_format_version: "3.0"
services:
  - name: echo
    url: echo://
    tags: ["{vault://env/deploy/tag}"]
    routes:
      - name: a
        paths: [/a]
        plugins:
          - name: key-auth
consumers:
  - username: partner
    keyauth_credentials:
      - key: "{vault://env/partner-api-key}"
`,
  });
  try {
    const allowed = await fetch(`${gw.url}/a`, { headers: { apikey: env.PARTNER_API_KEY } });
    assert.equal(allowed.status, 200);
    const literal = await fetch(`${gw.url}/a`, { headers: { apikey: '{vault://env/partner-api-key}' } });
    assert.equal(literal.status, 401, 'the reference itself is not the key');
    const text = await (await fetch(`${gw.adminUrl}/config`)).text();
    for (const secret of [env.PARTNER_API_KEY, 'vault-tag-value-5678']) assert.ok(!text.includes(secret), secret);
    assert.deepEqual(JSON.parse(text).services[0].tags, ['[redacted]']);
  } finally {
    await gw.close();
  }
});

test('/config redacts secret fields of plugin configs (oidc client_secret, session_secret, redis password) and keeps the rest', async () => {
  const { effectiveConfig } = await import('../../src/admin/config-views.ts');
  const config = {
    format_version: '3.0',
    services: [],
    routes: [],
    consumers: [],
    plugin_entities: {},
    entity_kinds: {},
    upstreams: [],
    ca_certificates: [],
    certificates: [
      {
        id: 'c',
        cert: 'CERT',
        key: 'PRIVATE',
        cert_alt: null,
        key_alt: null,
        snis: [],
        sni_entities: [],
        tags: [],
        yaml_path: [],
      },
    ],
    settings: { log_level: 'info' },
    plugins: [
      {
        id: 'p',
        name: 'oidc',
        enabled: true,
        protocols: ['http'],
        service: null,
        route: null,
        consumer: null,
        tags: [],
        yaml_path: [],
        config: {
          client_id: 'app',
          client_secret: 'cs-value',
          session_secret: ['ss-1', 'ss-2'],
          redis: { host: 'r', password: 'pw' },
          scopes: ['openid'],
        },
      },
    ],
    source: {
      file: '/x',
      dir: '/',
      hash: 'h',
      referenced_files: [],
      secrets: new Set<string>(),
      locate: () => ({ file: '/x', line: 1, col: 1 }),
    },
  };
  const out = effectiveConfig(config as never) as any;
  const text = JSON.stringify(out);
  for (const s of ['cs-value', 'ss-1', 'ss-2', '"pw"', 'PRIVATE']) assert.ok(!text.includes(s), s);
  assert.equal(out.plugins[0].config.client_id, 'app');
  assert.deepEqual(out.plugins[0].config.scopes, ['openid']);
  assert.equal(out.plugins[0].config.redis.host, 'r');
  assert.equal(out.certificates[0].cert, 'CERT');
});

test('start warns when the admin listener is bound beyond loopback, from the file or from --admin-listen', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-admin-'));
  const file = join(dir, 'gateway.yaml');
  await writeFile(file, '_format_version: "3.0"\n_tollgate:\n  admin_listen: ["0.0.0.0:0"]\nservices: []\n');
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'info', destination: lineSink(lines) as never });
  const fromFile = await TollgateInstance.start({ configFile: file, env: {}, proxyListen: ['127.0.0.1:0'], log });
  await fromFile.close(0);
  const fileWarnings = lines.length;
  await writeFile(file, '_format_version: "3.0"\nservices: []\n');
  const override = await TollgateInstance.start({
    configFile: file,
    env: {},
    proxyListen: ['127.0.0.1:0'],
    adminListen: ['127.0.0.1:0', '0.0.0.0:0'],
    log,
  });
  await override.close(0);
  await rm(dir, { recursive: true, force: true });
  const exposed = (from: Record<string, unknown>[]): string[] =>
    from
      .map((l) => JSON.stringify(l))
      .filter((m) => /admin API listens on 0\.0\.0\.0:0, which is not a loopback address/.test(m));
  // The file's entry, then the command line's; never the loopback one.
  assert.equal(exposed(lines.slice(0, fileWarnings)).length, 1, JSON.stringify(lines));
  assert.equal(exposed(lines.slice(fileWarnings)).length, 1, JSON.stringify(lines));
  const warned = lines.map((l) => JSON.stringify(l));
  assert.ok(
    warned.every((m) => !m.includes('127.0.0.1:0, which')),
    JSON.stringify(warned),
  );
});

test('/config redacts credentials written literally: the user info of a URL and credential headers of a plugin', async () => {
  const gw = await startGateway({
    config: `_format_version: "3.0"
services:
  - name: echo
    url: echo://
    routes:
      - name: a
        paths: [/a]
        plugins:
          - name: request-transformer
            config:
              add:
                headers: ["Authorization:Bearer upstream-token-in-the-file", "X-Team:payments"]
                querystring: ["api_key:upstream-qs-key-in-the-file", "team:payments"]
                body: ["client_secret:upstream-body-secret-in-the-file"]
              replace: { querystring: ["access_token:upstream-qs-token-in-the-file"] }
              rename: { querystring: ["api_key:key"] }
plugins:
  - name: http-log
    config:
      http_endpoint: http://127.0.0.1:9/log
      headers: { Authorization: "Bearer http-log-token-in-the-file", X-Api-Key: api-key-in-the-file, X-Env: prod }
  - name: zipkin
    config:
      http_endpoint: http://zipkin-user:zipkin-password-in-the-file@127.0.0.1:9/api/v2/spans
  - name: opentelemetry
    config:
      traces_endpoint: http://127.0.0.1:9/v1/traces
      headers: { x-auth-token: otel-token-in-the-file }
`,
  });
  try {
    const res = await fetch(`${gw.adminUrl}/config`);
    assert.equal(res.status, 200);
    const text = await res.text();
    for (const secret of [
      'upstream-token-in-the-file',
      'http-log-token-in-the-file',
      'api-key-in-the-file',
      'zipkin-password-in-the-file',
      'zipkin-user',
      'otel-token-in-the-file',
      'upstream-qs-key-in-the-file',
      'upstream-body-secret-in-the-file',
      'upstream-qs-token-in-the-file',
    ])
      assert.ok(!text.includes(secret), secret);
    const config = JSON.parse(text);
    const plugin = (name: string) => config.plugins.find((p: { name: string }) => p.name === name).config;
    // What is not a credential stays readable: the other headers, the receiver's address.
    assert.deepEqual(plugin('http-log').headers, {
      Authorization: '[redacted]',
      'X-Api-Key': '[redacted]',
      'X-Env': 'prod',
    });
    assert.equal(plugin('zipkin').http_endpoint, 'http://[redacted]@127.0.0.1:9/api/v2/spans');
    assert.deepEqual(plugin('request-transformer').add.headers, ['Authorization:[redacted]', 'X-Team:payments']);
    // a query argument or body field sent upstream under a secret's name is the upstream's credential
    assert.deepEqual(plugin('request-transformer').add.querystring, ['api_key:[redacted]', 'team:payments']);
    assert.deepEqual(plugin('request-transformer').add.body, ['client_secret:[redacted]']);
    assert.deepEqual(plugin('request-transformer').replace.querystring, ['access_token:[redacted]']);
    // a rename names two arguments: nothing to hide
    assert.deepEqual(plugin('request-transformer').rename.querystring, ['api_key:key']);
  } finally {
    await gw.close();
  }
});

test("/config and /plugins redact a query argument of a plugin's URL named as a secret (a log receiver's api_key)", async () => {
  const gw = await startGateway({
    config: `_format_version: "3.0"
plugins:
  - name: http-log
    config:
      http_endpoint: http://127.0.0.1:9/log?source=gw&api_key=log-key-in-the-url&access_token=log-token-in-the-url
`,
  });
  try {
    for (const path of ['/config', '/plugins']) {
      const text = await (await fetch(`${gw.adminUrl}${path}`)).text();
      for (const secret of ['log-key-in-the-url', 'log-token-in-the-url']) assert.ok(!text.includes(secret), path);
      // the receiver's address and the other arguments stay readable
      assert.ok(
        text.includes('http://127.0.0.1:9/log?source=gw&api_key=[redacted]&access_token=[redacted]'),
        `${path}: ${text}`,
      );
    }
  } finally {
    await gw.close();
  }
});

test("/config and /routes redact credential headers of entities too: an upstream's active health check, a route's header match", async () => {
  const gw = await startGateway({
    config: `_format_version: "3.0"
upstreams:
  - name: pool
    targets: [{ target: "127.0.0.1:9" }]
    healthchecks:
      active:
        http_path: /health
        headers: { Authorization: ["Bearer probe-token-in-the-file"], X-Probe: ["yes"] }
services:
  - name: s
    host: pool
    routes:
      - name: internal
        paths: [/internal]
        headers: { x-internal-key: [route-key-in-the-file] }
`,
  });
  try {
    const text = await (await fetch(`${gw.adminUrl}/config`)).text();
    for (const secret of ['probe-token-in-the-file', 'route-key-in-the-file'])
      assert.ok(!text.includes(secret), secret);
    const config = JSON.parse(text);
    assert.deepEqual(config.upstreams[0].healthchecks.active.headers, {
      Authorization: ['[redacted]'],
      'X-Probe': ['yes'],
    });
    assert.deepEqual(config.routes[0].headers, { 'x-internal-key': ['[redacted]'] });
    const routes = (await (await fetch(`${gw.adminUrl}/routes`)).json()) as any;
    assert.deepEqual(routes.data[0].headers, { 'x-internal-key': ['[redacted]'] });
  } finally {
    await gw.close();
  }
});

test('/config is made once per config: a repeat is the same text, a secret the process learns later is redacted from then on', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-cfg-'));
  const shared = 'shared-literal-value-4242';
  const config = (service: string) => `_format_version: "3.0"
services:
  - name: echo
    url: echo://
${service}
    routes:
      - name: a
        paths: [/a]
`;
  const gw = await startGateway({ dir, env: { LATER: shared }, config: config(`    tags: ["${shared}"]`) });
  try {
    const read = () => fetch(`${gw.adminUrl}/config`).then((r) => r.text());
    const first = await read();
    assert.ok(first.includes(shared), 'a literal tag shows');
    assert.equal(await read(), first);
    // A refused config reads ${LATER}: from then on the process knows that value as a secret.
    const refused = await gw.reload(config(`    tags: ["\${LATER}"]\n    connect_timeout: -1`));
    assert.equal(refused.ok, false);
    const after = await read();
    assert.ok(!after.includes(shared), 'the value learned as a secret is redacted in the config still serving');
    assert.deepEqual(JSON.parse(after).services[0].tags, ['[redacted]']);
    const loaded = await gw.reload(config('    tags: [fresh]'));
    assert.equal(loaded.ok, true);
    assert.deepEqual(JSON.parse(await read()).services[0].tags, ['fresh']);
  } finally {
    await gw.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("a certificate's private key written in the file is a secret wherever its value goes, a plugin's config included", async (t) => {
  const missing = tool('openssl');
  if (missing !== false) {
    t.skip(missing);
    return;
  }
  const pair = new TestCa().issue('admin-config', []);
  const indent = (pem: string) => pem.trim().split('\n').join('\n          ');
  const gw = await startGateway({
    config: `_format_version: "3.0"
certificates:
  - id: 0b7e9a1c-0000-4000-8000-00000000c3e8
    cert: |
          ${indent(pair.cert)}
    key: |
          ${indent(pair.key)}
services:
  - name: echo
    url: echo://
    routes:
      - name: a
        paths: [/a]
        plugins:
          - name: request-termination
            config:
              status_code: 200
              message: |
                  ${pair.key.trim().split('\n').join('\n                  ')}
`,
  });
  try {
    const text = await (await fetch(`${gw.adminUrl}/config`)).text();
    const keyLine = pair.key.split('\n')[1]!;
    assert.ok(!text.includes(keyLine), 'the key, copied into a plugin field, is redacted');
    assert.match(text, /BEGIN CERTIFICATE/, 'the certificate is public');
  } finally {
    await gw.close();
  }
});
