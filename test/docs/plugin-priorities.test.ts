// docs/plugin-api.md's priority table lists every built-in plugin with the priority it runs at, so a
// custom plugin's author can place it among them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { builtinPlugins } from '../../src/plugins/index.ts';

const page = readFileSync(new URL('../../docs/plugin-api.md', import.meta.url), 'utf8');

/** The "| plugin | priority | | plugin | priority |" table: two name-priority pairs per row. */
function documented(): Map<string, number> {
  const section = page.slice(page.indexOf('| plugin | priority | | plugin | priority |'));
  const out = new Map<string, number>();
  for (const line of section.split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split('|').map((c) => c.trim());
    for (const at of [1, 4]) if (cells[at]) out.set(cells[at]!, Number(cells[at + 1]));
  }
  return out;
}

test('the priority table in docs/plugin-api.md lists every built-in plugin with its priority', () => {
  const builtins = new Map([...builtinPlugins].map(([name, def]) => [name, def.priority]));
  assert.deepEqual(
    [...documented()].sort(([a], [b]) => (a < b ? -1 : 1)),
    [...builtins].sort(([a], [b]) => (a < b ? -1 : 1)),
  );
});
