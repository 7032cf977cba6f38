import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfigFile } from '../../src/config/load.ts';
import type { GatewayConfig } from '../../src/config/model.ts';
import { ConfigError } from '../../src/errors.ts';
import { startGateway } from '../../src/testing/index.ts';
import { brief, issuesOf, load, testPlugins, tmpDir, V3, writeTmp } from './helpers.ts';

test('YAML syntax errors are located', async () => {
  const issues = await issuesOf(`${V3}services:\n  - name: [a\n`);
  assert.equal(issues[0]!.code, 'YAML_SYNTAX');
  assert.equal(issues[0]!.file, 'test.yaml');
  assert.ok(issues[0]!.line >= 3);
});

const warned = (c: GatewayConfig): string[] =>
  (c.source.warnings ?? []).map((w) => `${w.line}:${w.col} ${w.path} ${w.message}`);

test('a repeated key loads as Kong loads it, the last value winning, with a warning at the repeated key', async () => {
  const top = await load(`${V3}services: []\nservices:\n  - name: s\n    url: echo://\n`);
  assert.deepEqual(
    top.services.map((s) => s.name),
    ['s'],
  );
  assert.deepEqual(warned(top), [
    "3:1 services duplicate key 'services': the last value is used (as Kong's YAML parser does) and the earlier one is ignored; write the key once",
  ]);
  const nested = await load(
    `${V3}services:\n  - name: s1\n    url: http://a\n    url: http://b:81\n    port: x\n`,
    {},
    'n.yaml',
  ).catch((e: unknown) => e);
  // Issues inside the repeated key are located at the value that is used.
  assert.ok(nested instanceof ConfigError);
  assert.deepEqual(
    nested.issues.map((i) => `${i.line}:${i.col} ${i.path} ${i.severity}`),
    ['5:5 services[0].url warning', '6:11 services[0].port error'],
  );
  const c = await load(`${V3}services:\n  - name: s1\n    url: http://a\n    url: http://b:81\n`);
  assert.deepEqual([c.services[0]!.host, c.services[0]!.port], ['b', 81]);
});

test('YAML hazards are located errors: several documents, tabs, empty file', async () => {
  assert.deepEqual(brief(await issuesOf(`${V3}---\n${V3}`)), [
    '2:1  several YAML documents in one file; a config file holds exactly one',
  ]);
  const tabs = await issuesOf(`${V3}_tollgate:\n\tlog_level: info\n`);
  assert.equal(tabs[0]!.code, 'YAML_HAZARD');
  assert.equal(tabs[0]!.line, 3);
  assert.match(tabs[0]!.message, /tab character in indentation/);
  for (const empty of ['', '# only a comment\n', '\n\n']) {
    const [i] = await issuesOf(empty);
    assert.equal(i!.code, 'YAML_HAZARD');
    assert.match(i!.message, /the file is empty/);
    assert.deepEqual([i!.line, i!.col], [1, 1]);
  }
});

test("the YAML parser's warnings are located at their node, not at the top of the file", async () => {
  const c = await load(`${V3}services:\n  - name: !foo bar\n    url: echo://\n`);
  assert.deepEqual(
    c.source.warnings!.map((w) => `${w.line}:${w.col} ${w.path} ${w.message}`),
    ['3:11 services[0].name Unresolved tag: !foo'],
  );
});

test('prototype-polluting keys are rejected where they appear', async () => {
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    const issues = await issuesOf(`${V3}services:\n  - name: s\n    url: echo://\n    ${key}: { admin: true }\n`);
    assert.deepEqual(brief(issues), [
      `5:5 services[0].${key} the key '${key}' is not allowed (prototype pollution guard)`,
    ]);
  }
  assert.equal(({} as Record<string, unknown>).admin, undefined);
});

test('an alias bomb is a located error, not a hang', async () => {
  const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    levels.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  const issues = await issuesOf(`${V3}_ignore:\n  - ${levels.join('\n  - ')}\n`);
  assert.equal(issues[0]!.code, 'YAML_HAZARD');
  assert.match(issues[0]!.message, /alias bomb/);
});

test('a long string or key aliased many times is an alias bomb too, counted in characters', async () => {
  const dir = tmpDir();
  const big = 'y'.repeat(1024 * 1024);
  // 1 MiB each, 40 times: within the node budget, past the 16 MiB of text. A file this size is
  // parsed on the worker thread, whose copy of the tree was where each occurrence cost its length.
  const value = writeTmp(
    dir,
    'value.yaml',
    `${V3}_ignore:\n  - &s "${big}"\n  - [${Array(40).fill('*s').join(', ')}]\n`,
  );
  const key = writeTmp(
    dir,
    'key.yaml',
    `${V3}_ignore:\n  - &m { "${big}": 1 }\n  - [${Array(40).fill('*m').join(', ')}]\n`,
  );
  for (const file of [value, key]) {
    const issues = await loadConfigFile(file, { env: {}, plugins: testPlugins }).then(
      () => assert.fail(`${file} loaded`),
      (e: ConfigError) => e.issues,
    );
    assert.deepEqual(
      issues.map((i) => `${i.line} ${i.code} ${i.message}`),
      ['4 YAML_HAZARD aliases expand to more than 16 MiB of text (an alias bomb?)'],
    );
  }
  // A PEM-sized anchor reused a few hundred times is what real files do: it loads.
  const pem = 'p'.repeat(4096);
  const c = await load(
    `${V3}_ignore:\n  - &pem "${pem}"\n  - [${Array(300).fill('*pem').join(', ')}]\nservices: [{ name: a, url: "echo://", tags: [ok] }]\n`,
  );
  assert.equal(c.services.length, 1);
});

test('flow collections nested past 256 levels are a located error, in JSON or YAML, and a running gateway keeps its config', async () => {
  // Either parser recursing this deep overflows the stack; the yaml package can do it inside V8's
  // regular expression compiler, which aborts the process.
  const json = `{"_format_version":"3.0","services":${'['.repeat(1000)}${']'.repeat(1000)}}`;
  const yaml = `${V3}services: ${'['.repeat(3000)}${']'.repeat(3000)}\n`;
  assert.deepEqual(brief(await issuesOf(json)), [
    '1:292  flow collections ([ ] or { }) nested more than 256 levels deep; a config nests a few',
  ]);
  assert.deepEqual(brief(await issuesOf(yaml)), [
    '2:267  flow collections ([ ] or { }) nested more than 256 levels deep; a config nests a few',
  ]);
  // Quoted brackets and comments do not count; real nesting a few levels deep loads.
  await load(
    `${V3}_comment: "${'['.repeat(400)}" # ${'{'.repeat(400)}\nservices: [{ name: a, url: "echo://", tags: [x] }]\n`,
  );
  const gw = await startGateway({
    config: `${V3}services: [{ name: a, url: "echo://", routes: [{ name: r, paths: [/a] }] }]\n`,
  });
  try {
    const result = await gw.reload(json);
    assert.equal(result.ok, false);
    assert.equal((await fetch(`${gw.url}/a`)).status, 200, 'the last good config still serves');
  } finally {
    await gw.close();
  }
});

test('block collections nested past 512 levels (indentation, or compact `- - -` sequences) are a located error, not a stack overflow', async () => {
  let deep = `${V3}_ignore:\n`;
  for (let i = 1; i <= 4000; i++) deep += `${' '.repeat(i)}k:\n`;
  assert.deepEqual(brief(await issuesOf(deep)), [
    '514:1  block collections (indentation) nested more than 512 levels deep; a config nests a few',
  ]);
  const compact = `${V3}_ignore:\n  ${'- '.repeat(5000)}x\n`;
  assert.deepEqual(brief(await issuesOf(compact)), [
    '3:1  block collections (indentation) nested more than 512 levels deep; a config nests a few',
  ]);
  // A block scalar's indented lines and ordinary nesting load.
  await load(`${V3}_comment: |\n${Array.from({ length: 100 }, (_, i) => `  ${' '.repeat(i)}{`).join('\n')}\n`);
});

test('an alias names the last node anchored with its name before it, and thousands of aliases load (each resolved once)', {
  timeout: 20_000,
}, async () => {
  const c = await load(
    `${V3}consumers:\n  - { username: first, tags: &t [one] }\n  - { username: second, tags: *t }\n  - { username: third, tags: &t [two] }\n  - { username: fourth, tags: *t }\n`,
  );
  assert.deepEqual(
    c.consumers.map((x) => x.tags),
    [['one'], ['one'], ['two'], ['two']],
  );
  const many = `${V3}_ignore:\n  - &t [a]\n${'  - *t\n'.repeat(10_000)}`;
  await load(many);
});

test('duplicate keys are found in time linear in the keys: one mapping of 60,000 keys with a duplicate, and `1` beside "1"', {
  timeout: 30_000,
}, async () => {
  // The anchor keeps the file off the fast path, so the yaml package's document model reads it:
  // its own check compared each key with every earlier one (70 s here).
  const keys = Array.from({ length: 60_000 }, (_, i) => `    k${i}: v\n`).join('');
  assert.deepEqual(warned(await load(`${V3}_ignore:\n  - &m\n${keys}    k7: w\n`)), [
    "60004:5 _ignore[0].k7 duplicate key 'k7': the last value is used (as Kong's YAML parser does) and the earlier one is ignored; write the key once",
  ]);
  // Both name the same field once loaded: the second replaces the first, which is said.
  assert.deepEqual(warned(await load(`${V3}_ignore:\n  - 1: a\n    "1": b\n`)), [
    "4:5 _ignore[0].1 duplicate key '1': the last value is used (as Kong's YAML parser does) and the earlier one is ignored; write the key once",
  ]);
  // A merged key is no duplicate: the mapping's own key wins over it, as YAML's merge says.
  await load(`${V3}_ignore:\n  - &a { k: 1 }\n  - { <<: *a, k: 2 }\n`);
});

test('a non-mapping top level and a missing _format_version are errors', async () => {
  assert.match((await issuesOf('- a\n'))[0]!.message, /top level must be a mapping/);
  assert.deepEqual(brief(await issuesOf('services: []\n')), [
    '1:1 _format_version required field missing: Kong\'s declarative files start with _format_version: "3.0"',
  ]);
  assert.match(
    (await issuesOf('_format_version: 3.0\n'))[0]!.message,
    /^expected a string: quote it, _format_version: "3.0"$/,
  );
  assert.match((await issuesOf('_format_version: "4.0"\n'))[0]!.message, /^expected one of: 1.1, 2.1, 3.0 \(/);
});

test('${NAME} and ${NAME:-default} resolve from the environment and are recorded as secrets', async () => {
  const c = await load(
    `${V3}consumers:
  - username: \${USER_NAME}
    jwt_secrets: [{ key: "iss-\${ISS:-fallback}", secret: "\${JWT_SECRET}" }]
    acls: [{ group: "$\${literal}" }]
`,
    { env: { USER_NAME: 'alice', JWT_SECRET: 'hunter2-very-secret' } },
  );
  assert.equal(c.consumers[0]!.username, 'alice');
  assert.equal(c.plugin_entities.jwt_secrets![0]!.key, 'iss-fallback');
  assert.equal(c.plugin_entities.jwt_secrets![0]!.secret, 'hunter2-very-secret');
  assert.equal(c.plugin_entities.acls![0]!.group, '${literal}');
  assert.deepEqual([...c.source.secrets].sort(), ['alice', 'hunter2-very-secret']);
});

test('a missing variable, a malformed reference and a missing file are located errors', async () => {
  const issues = await issuesOf(`${V3}consumers:
  - username: \${NOPE}
    custom_id: \${bad name}
    jwt_secrets: [{ key: k, algorithm: RS256, rsa_public_key: "\${file:missing.pem}" }]
    tags: ["\${TAG:-\${OTHER}}"]
`);
  assert.deepEqual(brief(issues), [
    '3:15 consumers[0].username environment variable NOPE is not set (write ${NOPE:-default} to give a default)',
    '4:16 consumers[0].custom_id invalid reference `${bad name}`: use ${NAME}, ${NAME:-default} or ${file:path} (write `$${` for a literal `${`)',
    `5:63 consumers[0].jwt_secrets[0].rsa_public_key cannot read \${file:missing.pem} (${join(process.cwd(), 'missing.pem')}): no such file`,
    '6:12 consumers[0].tags[0] a default cannot hold a reference: `${TAG:-${...}}` is not expanded; give the default as text, or set TAG',
  ]);
});

test('${file:...} reads relative to the config file, feeds source.hash and referenced_files', async () => {
  const dir = realpathSync(tmpDir());
  writeTmp(dir, 'secret.txt', 'from-a-file-123\n');
  const text = `${V3}consumers: [{ username: a, jwt_secrets: [{ key: k, secret: "\${file:secret.txt}" }] }]\n`;
  const file = writeTmp(dir, 'gateway.yaml', text);
  const c = await loadConfigFile(file, { env: {}, plugins: testPlugins });
  assert.equal(c.plugin_entities.jwt_secrets![0]!.secret, 'from-a-file-123');
  assert.deepEqual(c.source.referenced_files, [join(dir, 'secret.txt')]);
  assert.ok(c.source.secrets.has('from-a-file-123'));
  assert.equal(c.source.file, file);
  assert.equal(c.source.dir, dir);
  const before = c.source.hash;
  assert.notEqual(before, createHash('sha256').update(text).digest('hex'));
  writeTmp(dir, 'secret.txt', 'rotated-secret-456\n');
  const c2 = await loadConfigFile(file, { env: {}, plugins: testPlugins });
  assert.notEqual(c2.source.hash, before);
});

test('two certificates whose ${file:...} PEMs cannot be read are two problems each, not also an id clash', async () => {
  const text = `${V3}certificates:
  - { cert: "\${file:a/cert.pem}", key: "\${file:a/key.pem}" }
  - { cert: "\${file:b/cert.pem}", key: "\${file:b/key.pem}" }
`;
  const issues = await issuesOf(text);
  assert.deepEqual(
    issues.map((i) => `${i.path} ${i.code}`),
    [
      'certificates[0].cert SECRET_REF',
      'certificates[0].key SECRET_REF',
      'certificates[1].cert SECRET_REF',
      'certificates[1].key SECRET_REF',
    ],
  );
});

test("Kong's env vault references resolve as Kong resolves them, and are recorded as secrets", async () => {
  const c = await load(
    `${V3}consumers:
  - username: alice
    keyauth_credentials:
      - key: "{vault://env/alice-api-key}"
      - key: "{vault://env/alice-api-key#2}"
      - key: "{vault://env/app-creds/token}"
      - key: "{vault://env/key?prefix=team-b-}"
    acls: [{ group: "{vault://env/group} is not a reference" }]
`,
    {
      env: {
        ALICE_API_KEY: 'current-key-0123456789',
        ALICE_API_KEY_PREVIOUS: 'previous-key-0123456789',
        APP_CREDS: '{"token":"json-member-0123456789","other":"x"}',
        TEAM_B_KEY: 'prefixed-key-0123456789',
      },
    },
  );
  assert.deepEqual(
    c.plugin_entities.keyauth_credentials!.map((k) => k.key),
    ['current-key-0123456789', 'previous-key-0123456789', 'json-member-0123456789', 'prefixed-key-0123456789'],
  );
  assert.equal(
    c.plugin_entities.acls![0]!.group,
    '{vault://env/group} is not a reference',
    'only a whole value is a reference',
  );
  for (const v of [
    'current-key-0123456789',
    'json-member-0123456789',
    '{"token":"json-member-0123456789","other":"x"}',
  ])
    assert.ok(c.source.secrets.has(v), v);
});

test("a `vaults` entity of Kong's env vault loads: references name it by its prefix, with its config.prefix", async () => {
  const c = await load(
    `${V3}vaults:
  - name: env
    prefix: my-env
    description: the team's variables
    config: { prefix: APP_ }
    tags: [team-a]
  - { name: env, prefix: bare, config: null, id: 6f3c1a2e-0d4b-4c4e-9a55-1b1b2c3d4e5f }
consumers:
  - username: alice
    keyauth_credentials:
      - key: "{vault://my-env/api-key}"
      - key: "{vault://bare/api-key}"
      - key: "{vault://my-env/api-key?prefix=other-}"
`,
    {
      env: {
        APP_API_KEY: 'app-key-0123456789',
        API_KEY: 'bare-key-0123456789',
        OTHER_API_KEY: 'other-key-0123456789',
      },
    },
  );
  assert.deepEqual(
    c.plugin_entities.keyauth_credentials!.map((k) => k.key),
    ['app-key-0123456789', 'bare-key-0123456789', 'other-key-0123456789'],
  );
});

test("a `vaults` entity Kong would refuse is a located error in Kong's words, with the way out", async () => {
  const issues = await issuesOf(
    `${V3}vaults:
  - { name: aws, prefix: aws-prod, config: { region: eu-west-1 } }
  - { name: env, prefix: env }
  - { name: env, prefix: team }
  - { name: env, prefix: team }
  - { name: env, prefix: Team_1 }
consumers:
  - username: a
    custom_id: "{vault://aws-prod/db}"
`,
  );
  assert.deepEqual(brief(issues), [
    "3:13 vaults[0].name vault 'aws' is not installed: Tollgate has Kong's env vault only; use ${NAME} or ${file:path} for other secrets",
    '4:26 vaults[1].prefix must not be one of: env',
    "6:26 vaults[3].prefix uniqueness violation: 'vaults' entity with prefix set to 'team' already declared (at vaults[2])",
    '7:26 vaults[4].prefix invalid value: Team_1: must match the pattern ^[a-z][a-z0-9-]*[a-z0-9]$',
    "10:16 consumers[0].custom_id vault 'aws-prod' is not available ({vault://aws-prod/db}): Tollgate resolves Kong's env vault only ({vault://env/<name>}); use ${NAME} or ${file:path} for other secrets",
  ]);
});

test('vault references that cannot be resolved are located errors that never print the value', async () => {
  const issues = await issuesOf(
    `${V3}consumers:
  - username: a
    custom_id: "{vault://env/nope}"
  - username: b
    custom_id: "{vault://aws/prod/db}"
  - username: c
    custom_id: "{vault://env/not-json/field}"
  - username: d
    custom_id: "{vault://env/creds/missing}"
  - username: e
    custom_id: "{vault://env/x?region=eu}"
`,
    { env: { NOT_JSON: 'plain-secret-value-123', CREDS: '{"token":"json-secret-value-123"}' } },
  );
  assert.deepEqual(brief(issues), [
    '4:16 consumers[0].custom_id environment variable NOPE is not set (write ${NOPE:-default} to give a default)',
    "6:16 consumers[1].custom_id vault 'aws' is not available ({vault://aws/prod/db}): Tollgate resolves Kong's env vault only ({vault://env/<name>}); use ${NAME} or ${file:path} for other secrets",
    '8:16 consumers[2].custom_id {vault://env/not-json/field}: environment variable NOT_JSON is not a JSON object',
    "10:16 consumers[3].custom_id {vault://env/creds/missing}: environment variable CREDS has no 'missing' member",
    "12:16 consumers[4].custom_id vault reference {vault://env/x?region=eu}: the env vault takes only 'prefix', not 'region'",
  ]);
  assert.doesNotMatch(JSON.stringify(issues), /secret-value-123/);
});

test("a reference that cannot be read is one error, without a cascade: decK's ${{ env }} and an unavailable vault in a url", async () => {
  const issues = await issuesOf(
    `${V3}services:\n  - name: a\n    url: \${{ env "DECK_SERVICE_URL" }}\n  - name: b\n    url: "{vault://aws/x/endpoint}"\n`,
  );
  assert.deepEqual(
    issues.map((i) => `${i.line} ${i.path}`),
    ['4 services[0].url', '6 services[1].url'],
  );
  assert.match(
    issues[0]!.message,
    /decK's `\$\{\{ env "DECK_SERVICE_URL" \}\}` is expanded by decK.*write `\$\{DECK_SERVICE_URL\}`/,
  );
});

test("decK's ${{ env }} with a conversion (| toInt, | toBool, | toFloat) is named whole, with a way out that gives the type", async () => {
  const issues = await issuesOf(
    `${V3}services:\n  - name: a\n    url: echo://\n    write_timeout: \${{ env "DECK_WRITE_TIMEOUT" | toInt }}\n    enabled: \${{ env "DECK_ENABLED" |toBool }}\n`,
  );
  assert.deepEqual(
    issues.map((i) => `${i.line} ${i.path} ${i.message}`),
    [
      '5 services[0].write_timeout decK\'s `${{ env "DECK_WRITE_TIMEOUT" | toInt }}` is expanded by decK, not by Kong or Tollgate: write the value itself (a `${DECK_WRITE_TIMEOUT}` reference gives a string), or write the file with `deck file render`',
      '6 services[0].enabled decK\'s `${{ env "DECK_ENABLED" | toBool }}` is expanded by decK, not by Kong or Tollgate: write the value itself (a `${DECK_ENABLED}` reference gives a string), or write the file with `deck file render`',
    ],
  );
});

test('resolved secret values never appear in error messages', async () => {
  const issues = await issuesOf(
    `${V3}services:\n  - name: "\${SVC}"\n    url: echo://\n  - name: "\${SVC}"\n    url: echo://\n`,
    { env: { SVC: 'top-secret-name' } },
  );
  assert.equal(issues.length, 1);
  assert.match(issues[0]!.message, /uniqueness violation/);
  assert.doesNotMatch(JSON.stringify(issues), /top-secret-name/);
  const dup = await issuesOf(
    `${V3}consumers:\n  - username: a\n    keyauth_credentials: [{ key: same-key-value }, { key: same-key-value }]\n`,
  );
  assert.doesNotMatch(JSON.stringify(dup), /same-key-value/);
});

test('a plugin name from a secret gets no "did you mean": it would hint at the value', async () => {
  const issues = await issuesOf(`${V3}plugins:\n  - name: "\${PLUGIN}"\n`, { env: { PLUGIN: 'key-authx' } });
  assert.equal(issues.length, 1);
  assert.doesNotMatch(issues[0]!.message, /did you mean/);
  assert.doesNotMatch(JSON.stringify(issues), /key-authx/);
  const literal = await issuesOf(`${V3}plugins:\n  - name: key-auht\n`);
  assert.match(literal[0]!.message, /did you mean 'key-auth'/);
});

test('a file in UTF-16 with a byte-order mark loads; bytes that are not UTF-8 are a located error, not U+FFFD in a value', async () => {
  const dir = realpathSync(tmpDir());
  const text = `${V3}consumers: [{ username: "jos\u00e9" }]\n`;
  const le = join(dir, 'le.yaml');
  writeFileSync(le, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
  const be = join(dir, 'be.yaml');
  writeFileSync(be, Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(text, 'utf16le').swap16()]));
  for (const f of [le, be])
    assert.equal((await loadConfigFile(f, { env: {}, plugins: testPlugins })).consumers[0]!.username, 'jos\u00e9');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    Buffer.concat([Buffer.from(`${V3}consumers: [{ username: "caf`), Buffer.from([0xe9]), Buffer.from('" }]\n')]),
  );
  await assert.rejects(loadConfigFile(bad, { env: {}, plugins: testPlugins }), (err: ConfigError) => {
    assert.equal(err.issues[0]!.code, 'FILE');
    assert.equal(`${err.issues[0]!.line}:${err.issues[0]!.col}`, '2:29');
    assert.match(err.issues[0]!.message, /it is not UTF-8: byte 0xe9 at line 2, column 29$/);
    return true;
  });
});

test('a file saved with CR line ends (a YAML line break, as libyaml reads it) loads, its errors located by line', async () => {
  const dir = realpathSync(tmpDir());
  const lines = [
    V3.trimEnd(),
    'services:',
    '  - name: s',
    '    url: echo://',
    '    routes:',
    '      - name: r',
    '        paths: [/a]',
  ];
  const cr = join(dir, 'cr.yaml');
  writeFileSync(cr, `${lines.join('\r')}\r`);
  const c = await loadConfigFile(cr, { env: {}, plugins: testPlugins });
  assert.deepEqual(
    c.routes.map((r) => [r.name, r.paths]),
    [['r', ['/a']]],
  );
  // A block scalar's CR line ends are its line breaks too.
  const pem = await load(`${V3}_ignore:\r  - |\r    one\r    two\rservices: [{ name: s, url: "echo://" }]\r`);
  assert.equal(pem.services.length, 1);
  writeFileSync(cr, `${[...lines, '        bogus: 1'].join('\r')}\r`);
  await assert.rejects(loadConfigFile(cr, { env: {}, plugins: testPlugins }), (err: ConfigError) => {
    assert.deepEqual(brief(err.issues), ["8:9 services[0].routes[0].bogus unknown field 'bogus'"]);
    return true;
  });
});

test('an unreadable file is a ConfigError with code FILE', async () => {
  await assert.rejects(loadConfigFile('/nonexistent/gateway.yaml'), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.issues[0]!.code, 'FILE');
    assert.match(e.issues[0]!.message, /cannot read \/nonexistent\/gateway.yaml: no such file/);
    return true;
  });
});
