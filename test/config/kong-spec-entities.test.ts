// Kong's entity schema spec (spec/01-unit/01-db/01-schema/04-entities_schema_spec.lua, Kong commit
// 22246ef2), as a user meets it: Kong refuses an entity definition whose fields use a type it has
// no such thing as. Tollgate's entity definitions are a custom plugin's `entities`, written in
// JSON Schema; one that is no valid JSON Schema is refused at its custom_plugins entry by
// `gateway validate`. Left out: Kong's 'nilable' attribute and map keys that are not strings, which
// are about Lua tables (a JSON object's keys are always strings, and JSON Schema's null is a type).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { runValidate } from '../../src/cli/validate.ts';
import { echoConfig, type TempProject, tempProject } from '../custom-plugins/helpers.ts';

let project: TempProject;
before(async () => {
  project = await tempProject();
});
after(() => project.remove());

async function validate(file: string): Promise<{ code: number; out: string }> {
  let out = '';
  const write = (s: string): boolean => {
    out += s;
    return true;
  };
  const code = await runValidate([file], { stdout: { write }, stderr: { write } });
  return { code, out };
}

/** A custom plugin declaring one entity kind whose `token` field has JSON Schema type `type`. */
const plugin = (name: string, type: string): string => `import { definePlugin } from 'tollgate';
export default definePlugin({ name: '${name}', version: '1.0.0', priority: 1, schema: { type: 'object' },
  entities: [{ name: '${name.replaceAll('-', '_')}_credentials', schema: { type: 'object', properties: { token: { type: '${type}' } } } }],
  create: () => ({}) });\n`;

test("an entity field of type 'function' is refused, where a string field loads", async () => {
  await project.write('plugins/fn-kind.ts', plugin('fn-kind', 'function'));
  await project.write('plugins/str-kind.ts', plugin('str-kind', 'string'));
  const bad = await project.write('bad.yaml', stringify(echoConfig(['./plugins/fn-kind.ts'])));
  const r = await validate(bad);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /custom_plugins\[0\].*plugin 'fn-kind': an entity schema is not a valid JSON Schema: .*type/);
  const good = await project.write('good.yaml', stringify(echoConfig(['./plugins/str-kind.ts'])));
  const ok = await validate(good);
  assert.equal(ok.code, 0, ok.out);
});
