import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';
import { currentPlugins, expectedSchemaText } from '../../src/config/plugin-schema-refs.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv,
) => Ajv;

test('schemas/gateway.schema.json references every registered plugin schema (else run src/config/plugin-schema-refs.ts)', async () => {
  const have = readFileSync(`${root}schemas/gateway.schema.json`, 'utf8');
  const want = expectedSchemaText(await currentPlugins());
  assert.ok(
    have === want,
    'schemas/gateway.schema.json is stale: run `node --import tsx src/config/plugin-schema-refs.ts` and commit the result',
  );
});

test('the whole schema, with the plugin schemas it references, compiles in Ajv strict mode and accepts the examples', () => {
  const ajv = new Ajv({ strict: true, strictRequired: false, allErrors: true, allowUnionTypes: true });
  addFormats(ajv);
  for (const f of readdirSync(`${root}schemas/plugins`)) {
    const s = JSON.parse(readFileSync(`${root}schemas/plugins/${f}`, 'utf8')) as Record<string, unknown>;
    delete s.$id;
    ajv.addSchema(s, `plugins/${f}`);
  }
  const validate = ajv.compile(JSON.parse(readFileSync(`${root}schemas/gateway.schema.json`, 'utf8')) as object);
  const files = [
    'gateway.yaml',
    ...readdirSync(`${root}examples`)
      .filter((f) => /\.ya?ml$/.test(f) && f !== 'broken.yaml')
      .map((f) => `examples/${f}`),
  ];
  for (const f of files) {
    const text = readFileSync(`${root}${f}`, 'utf8');
    assert.match(
      text,
      /^# yaml-language-server: \$schema=(\.\.\/|\.\/)schemas\/gateway\.schema\.json\n/,
      `${f} starts with the schema modeline`,
    );
    assert.ok(validate(parse(text)), `${f}: ${JSON.stringify(validate.errors)}`);
  }
  // The editor schema catches a typo'd plugin config field as the loader does.
  const bad = { _format_version: '3.0', plugins: [{ name: 'key-auth', config: { key_nmes: ['x'] } }] };
  assert.equal(validate(bad), false);
});
