// docs/operations.md's metrics table names exactly the tollgate_* families the gateway registers,
// with the type it registers them as.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GatewayMetrics } from '../../src/admin/metrics.ts';

const page = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');

/** Rows of the "| Tollgate | Kong | Type | Labels |" table: each tollgate_* name with its type. */
function documented(): Map<string, string> {
  const section = page.slice(page.indexOf('| Tollgate | Kong | Type | Labels |'));
  const out = new Map<string, string>();
  for (const line of section.split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    const [names, , type] = line
      .split('|')
      .slice(1, 4)
      .map((c) => c.trim());
    const list = [...names!.matchAll(/`(tollgate_[a-z_]+)`/g)].map((m) => m[1]!);
    const types = type!.split(',').map((t) => t.trim());
    list.forEach((n, i) => out.set(n, types[i] ?? types[0]!));
  }
  return out;
}

test('the metrics table in docs/operations.md lists every tollgate_* metric with its type, and nothing else', async () => {
  const m = new GatewayMetrics({ traffic: true, reloads: true, process: false });
  m.registerWorkers();
  const text = await m.registry.metrics();
  const registered = new Map(
    [...text.matchAll(/^# TYPE (tollgate_\S+) (\S+)$/gm)].map((x) => [x[1]!, x[2]!] as [string, string]),
  );
  assert.ok(registered.has('tollgate_upstream_target_health'));
  const docs = documented();
  assert.deepEqual([...docs.keys()].sort(), [...registered.keys()].sort());
  for (const [name, type] of registered) assert.equal(docs.get(name), type, name);
});
