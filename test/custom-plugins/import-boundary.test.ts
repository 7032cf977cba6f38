// The built-in plugins use exactly what a custom plugin can use: `tollgate` (src/index.ts) and its
// subpath exports (`tollgate/log`, ...), their own folder, their schema JSON, node: built-ins and
// npm dependencies of the package.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join, normalize } from 'node:path';
import { test } from 'node:test';
import { REPO } from './helpers.ts';

const PLUGINS = join(REPO, 'src/plugins');
const IMPORT =
  /\b(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (/\.(ts|mts|js|mjs)$/.test(e.name) && !/\.test\.ts$/.test(e.name)) out.push(p);
  }
  return out;
}

test('built-in plugins import nothing from Tollgate internals that a custom plugin could not import', async () => {
  const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    exports: Record<string, string>;
  };
  const exported = new Set(Object.values(pkg.exports).map((p) => join(REPO, p)));
  const deps = new Set(Object.keys(pkg.dependencies));
  const folders = (await readdir(PLUGINS, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  assert.ok(folders.length >= 5, 'built-in plugin folders found');
  const violations: string[] = [];
  let checked = 0;
  for (const name of folders) {
    const own = join(PLUGINS, name);
    for (const file of await sources(own)) {
      const text = (await readFile(file, 'utf8')).replace(/\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm, '');
      for (const m of text.matchAll(IMPORT)) {
        const spec = (m[1] ?? m[2])!;
        checked++;
        const where = `${file.slice(REPO.length + 1)}: '${spec}'`;
        if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
        if (spec.startsWith('.')) {
          const target = normalize(join(file, '..', spec));
          if (target === join(REPO, 'src/index.ts') || exported.has(target)) continue;
          if (target.startsWith(`${own}/`)) continue;
          if (target === join(REPO, 'schemas/plugins', `${name}.schema.json`)) continue;
          violations.push(`${where} reaches into Tollgate's internals (use 'tollgate' or one of its subpath exports)`);
          continue;
        }
        const pkgName = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (pkgName === 'tollgate') continue;
        if (!deps.has(pkgName)) violations.push(`${where} is not a dependency in package.json`);
      }
    }
  }
  assert.ok(checked > 20, `imports found (${checked})`);
  assert.deepEqual(violations, []);
});

/** The names `src/index.ts` exports, from its explicit export lists (a wildcard export fails the test). */
function exportedNames(text: string): { names: string[]; wildcards: string[] } {
  const code = text.replace(/\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm, '');
  const wildcards = [...code.matchAll(/\bexport\s+(?:type\s+)?\*[^;]*;/g)].map((m) => m[0]);
  const names: string[] = [];
  for (const m of code.matchAll(/\bexport\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of m[1]!.split(',')) {
      const name = part
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)
        .at(-1)!;
      if (name !== '') names.push(name);
    }
  }
  for (const m of code.matchAll(/\bexport\s+(?:async\s+)?(?:function|class|const|let|interface|type)\s+(\w+)/g))
    names.push(m[1]!);
  return { names, wildcards };
}

test('`tollgate` exports only the plugin API: named exports, each documented or used by a built-in, no config model', async () => {
  const index = await readFile(join(REPO, 'src/index.ts'), 'utf8');
  const { names, wildcards } = exportedNames(index);
  assert.deepEqual(wildcards, [], 'every export is named, so nothing internal slips out with a module');
  assert.ok(names.includes('definePlugin') && names.includes('GatewayRequest'), `exports found: ${names.join(', ')}`);

  const model = await readFile(join(REPO, 'src/config/model.ts'), 'utf8');
  const modelNames = [...model.matchAll(/^export\s+(?:interface|type|class|const|function)\s+(\w+)/gm)].map(
    (m) => m[1]!,
  );
  assert.ok(modelNames.includes('GatewayConfig'), 'config model names found');
  assert.deepEqual(
    names.filter((n) => modelNames.includes(n)),
    [],
    'no type of the internal config model is public',
  );

  for (const spec of index.matchAll(/\bfrom\s+'([^']+)'/g)) {
    const target = normalize(join(REPO, 'src', spec[1]!));
    assert.ok(!target.startsWith(join(REPO, 'src/plugins')), `src/index.ts imports a plugin: ${spec[1]}`);
    assert.ok(
      !target.startsWith(join(REPO, 'src/config')) &&
        !target.startsWith(join(REPO, 'src/proxy')) &&
        !target.startsWith(join(REPO, 'src/admin')),
      `src/index.ts re-exports an internal module: ${spec[1]}`,
    );
  }

  // The guide and the two reference pages together document the API.
  let docs = '';
  for (const page of ['docs/plugins.md', 'docs/plugin-api.md', 'docs/plugin-api-services.md']) {
    docs += await readFile(join(REPO, page), 'utf8');
  }
  let pluginCode = '';
  for (const e of await readdir(PLUGINS, { withFileTypes: true })) {
    if (e.isDirectory()) for (const f of await sources(join(PLUGINS, e.name))) pluginCode += await readFile(f, 'utf8');
  }
  const unexplained = names.filter(
    (n) => !new RegExp(`\\b${n}\\b`).test(docs) && !new RegExp(`\\b${n}\\b`).test(pluginCode),
  );
  assert.deepEqual(
    unexplained,
    [],
    'every export is documented in docs/plugins.md, docs/plugin-api.md, docs/plugin-api-services.md or used by a built-in plugin',
  );
});
