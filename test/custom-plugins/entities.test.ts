// A custom plugin declares its own credential entity: the gateway lifts it from consumers[] and
// the top level, validates, checks uniqueness, redacts its secret field, and hands it to the plugin.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { runValidate } from '../../src/cli/validate.ts';
import { startGateway } from '../../src/testing/index.ts';
import { echoConfig, type TempProject, tempProject } from './helpers.ts';

const ALICE_KEY = 'alice-partner-key-0123456789';
const BOB_KEY = 'bob-partner-key-9876543210';

let project: TempProject;
before(async () => {
  project = await tempProject();
  await project.copyFixture('partner-key', 'plugins/partner-key');
});
after(() => project.remove());

function config(consumers: unknown[], top: unknown[] = []): Record<string, unknown> {
  return {
    ...echoConfig(['./plugins/partner-key'], [{ name: 'partner-key' }]),
    consumers,
    ...(top.length ? { partnerkey_credentials: top } : {}),
  };
}

async function validate(file: string): Promise<{ code: number; out: string }> {
  let out = '';
  const sink = { write: (s: string) => (out += s) };
  const code = await runValidate([file], { stdout: sink, stderr: sink });
  return { code, out };
}

test('nested and top-level entities of a custom kind authenticate through the gateway; the admin API redacts the secret field', async () => {
  const gw = await startGateway({
    dir: project.dir,
    config: config(
      [
        { username: 'alice', partnerkey_credentials: [{ name: 'alice-prod', key: ALICE_KEY, scope: 'write' }] },
        { username: 'bob' },
      ],
      [{ consumer: 'bob', name: 'bob-prod', key: BOB_KEY }],
    ),
  });
  try {
    const as = async (key: string | null) => {
      const res = await fetch(`${gw.url}/api`, { headers: key === null ? {} : { 'x-partner-key': key } });
      return { status: res.status, body: (await res.json()) as { headers?: Record<string, string> } };
    };
    const alice = await as(ALICE_KEY);
    assert.equal(alice.status, 200);
    assert.equal(alice.body.headers?.['x-consumer-username'], 'alice');
    assert.equal(alice.body.headers?.['x-partner-scope'], 'write');
    assert.equal(alice.body.headers?.['x-credential-identifier'], 'alice-prod');
    const bob = await as(BOB_KEY);
    assert.equal(bob.status, 200);
    assert.equal(bob.body.headers?.['x-consumer-username'], 'bob');
    assert.equal(bob.body.headers?.['x-partner-scope'], 'read', 'the schema default applies');
    assert.equal((await as(`${ALICE_KEY}x`)).status, 401);
    assert.equal((await as(null)).status, 401);

    const text = await (await fetch(`${gw.adminUrl}/config`)).text();
    const cfg = JSON.parse(text) as { partnerkey_credentials: { name: string; key: string; consumer: string }[] };
    assert.deepEqual(
      cfg.partnerkey_credentials.map((c) => [c.name, c.key]),
      [
        ['alice-prod', '[redacted]'],
        ['bob-prod', '[redacted]'],
      ],
    );
    assert.ok(!text.includes(ALICE_KEY) && !text.includes(BOB_KEY));
  } finally {
    await gw.close();
  }
});

test('the custom kind is validated, uniqueness-checked and load-checked with located errors, secrets unquoted', async () => {
  const file = await project.write(
    'bad.yaml',
    stringify(
      config(
        [
          {
            username: 'alice',
            partnerkey_credentials: [
              { name: 'alice-prod', key: ALICE_KEY, scpe: 'read' },
              { name: 'alice-test', key: 'short' },
            ],
          },
        ],
        [
          { consumer: 'alice', name: 'alice-prod', key: ALICE_KEY },
          { consumer: 'nobody', name: 'x', key: BOB_KEY },
        ],
      ),
    ),
  );
  const { code, out } = await validate(file);
  assert.equal(code, 1, out);
  const lines = out.split('\n').filter((l) => l.includes('partnerkey_credentials'));
  const at = (path: string) => lines.find((l) => l.split(/\s{2,}/)[1] === path) ?? '';
  assert.match(at('consumers[0].partnerkey_credentials[0].scpe'), /unknown field 'scpe' \(did you mean 'scope'\?\)/);
  assert.match(at('consumers[0].partnerkey_credentials[1].key'), /a partner key has at least 16 characters/);
  assert.match(
    at('partnerkey_credentials[0].name'),
    /uniqueness violation: 'partnerkey_credentials' entity with name set to 'alice-prod' already declared/,
  );
  assert.match(at('partnerkey_credentials[0].key'), /with key set to the same value already declared/);
  assert.match(at('partnerkey_credentials[1].consumer'), /invalid reference 'consumer: nobody'/);
  assert.ok(!out.includes(ALICE_KEY), 'the secret value is never quoted');
});

test('a declaration that takes a built-in kind or a reserved field is a located custom plugin error', async () => {
  await project.write(
    'plugins/steal-kind.ts',
    `import { definePlugin } from 'tollgate';
export default definePlugin({ name: 'steal-kind', version: '1.0.0', priority: 1, schema: { type: 'object' },
  entities: [{ name: 'keyauth_credentials', schema: { type: 'object', properties: { key: { type: 'string' } } } }],
  create: () => ({}) });\n`,
  );
  await project.write(
    'plugins/reserved-field.ts',
    `import { definePlugin } from 'tollgate';
export default definePlugin({ name: 'reserved-field', version: '1.0.0', priority: 1, schema: { type: 'object' },
  entities: [{ name: 'odd_credentials', schema: { type: 'object', properties: { consumer: { type: 'string' } } } }],
  create: () => ({}) });\n`,
  );
  const file = await project.write(
    'taken.yaml',
    stringify(echoConfig(['./plugins/steal-kind.ts', './plugins/reserved-field.ts'])),
  );
  const { code, out } = await validate(file);
  assert.equal(code, 1, out);
  assert.match(out, /custom_plugins\[0\].*entity 'keyauth_credentials' is already declared by plugin 'key-auth'/);
  assert.match(out, /custom_plugins\[1\].*field 'consumer' is the gateway's; remove it/);
});

test("a kind's idKey() that throws or returns no string, and a load() that returns no entity, are located errors", async () => {
  await project.write(
    'plugins/odd-hooks.ts',
    `import { definePlugin } from 'tollgate';
export default definePlugin({ name: 'odd-hooks', version: '1.0.0', priority: 1, schema: { type: 'object' },
  entities: [{ name: 'odd_credentials', schema: { type: 'object', properties: { token: { type: 'string' }, mode: { type: 'string' } } },
    secrets: ['token'],
    idKey(e) { if (e.mode === 'throw') throw new Error('no key for ' + e.token); return e.mode === 'number' ? 7 : String(e.mode); },
    load(e) { return e.mode === 'null' ? null : e.mode === 'text' ? 'x' : undefined; } }],
  create: () => ({}) });\n`,
  );
  const file = await project.write(
    'odd.yaml',
    stringify({
      ...echoConfig(['./plugins/odd-hooks.ts']),
      consumers: [
        {
          username: 'alice',
          odd_credentials: ['throw', 'number', 'null', 'text', 'fine'].map((mode) => ({ token: ALICE_KEY, mode })),
        },
      ],
    }),
  );
  const { code, out } = await validate(file);
  assert.equal(code, 1, out);
  const at = (i: number) =>
    out.split('\n').find((l) => l.split(/\s{2,}/)[1] === `consumers[0].odd_credentials[${i}]`) ?? '';
  assert.match(at(0), /odd-hooks: idKey\(\) failed: no key for \[redacted\]/);
  assert.match(at(1), /odd-hooks: idKey\(\) returned number, not a string/);
  assert.match(at(2), /odd-hooks: load\(\) returned null, not the entity/);
  assert.match(at(3), /odd-hooks: load\(\) returned string, not the entity/);
  assert.equal(at(4), '', 'a well-behaved entity is fine');
  assert.ok(!out.includes(ALICE_KEY), 'the secret value is never quoted');
});

test("a kind's index is built once for the instances asking with one key, again for another key; a failed build fails each", async () => {
  await project.write(
    'plugins/indexed.ts',
    `import { definePlugin, PluginConfigError } from 'tollgate';
let builds = 0;
export default definePlugin({ name: 'indexed', version: '1.0.0', priority: 1,
  schema: { type: 'object', properties: { variant: { type: 'string', default: 'a' } } },
  entities: [{ name: 'indexed_credentials', schema: { type: 'object', properties: { token: { type: 'string' } } } }],
  create(config, { services }) {
    const index = services.consumers.index('indexed_credentials', 'indexed:' + config.variant, (list) => {
      builds++;
      if (config.variant === 'broken') throw new PluginConfigError('variant', 'the tokens cannot be indexed');
      return { build: builds, tokens: list.length };
    });
    return { access(req) { req.setUpstreamHeader('x-index', index.build + '/' + index.tokens); } };
  } });\n`,
  );
  const routes = (variants: string[]) =>
    variants.map((variant, i) => ({
      name: `r${i}`,
      paths: [`/r${i}`],
      plugins: [{ name: 'indexed', config: { variant } }],
    }));
  const indexedConfig = (variants: string[]) => ({
    _format_version: '3.0',
    _tollgate: { custom_plugins: ['./plugins/indexed.ts'] },
    services: [{ name: 'echo', url: 'echo://', routes: routes(variants) }],
    consumers: [{ username: 'alice', indexed_credentials: [{ token: 't1' }, { token: 't2' }] }],
  });

  const gw = await startGateway({ dir: project.dir, config: indexedConfig(['a', 'a', 'b', 'a']) });
  try {
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${gw.url}/r${i}`);
      assert.equal(res.status, 200);
      seen.push(((await res.json()) as { headers: Record<string, string> }).headers['x-index'] ?? '');
    }
    assert.ok(
      seen.every((s) => s.endsWith('/2')),
      `every index holds both tokens: ${seen}`,
    );
    assert.equal(seen[1], seen[0], 'the same key: the same index');
    assert.equal(seen[3], seen[0]);
    assert.notEqual(seen[2], seen[0], 'another key: its own index');
    assert.equal(new Set(seen).size, 2, `two builds in all: ${seen}`);
  } finally {
    await gw.close();
  }

  const file = await project.write('broken.yaml', stringify(indexedConfig(['broken', 'a', 'broken'])));
  const { code, out } = await validate(file);
  assert.equal(code, 1, out);
  const failed = out.split('\n').filter((l) => l.includes('the tokens cannot be indexed'));
  assert.deepEqual(
    failed.map((l) => l.split(/\s{2,}/)[1]),
    ['services[0].routes[0].plugins[0].config.variant', 'services[0].routes[2].plugins[0].config.variant'],
    out,
  );
});
