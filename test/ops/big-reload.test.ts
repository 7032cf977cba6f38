// A reload of a large config (parsed in slices, validated, built and compiled with yields between
// phases and passes) never holds the requests served on the current config throughout: they are
// answered while the reload runs. How long the longest pause is, is speed: `bench/large-reload.ts`
// measures it (the longest gap between two ticks of a 2 ms timer during the reload).

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfigText } from '../../src/config/load.ts';
import { OFF_THREAD_PARSE_BYTES } from '../../src/config/parse-off-thread.ts';
import { parsePlainYaml } from '../../src/config/yaml-fast.ts';
import { ConfigError } from '../../src/errors.ts';
import { TollgateInstance } from '../../src/instance.ts';
import { createLogger } from '../../src/log.ts';
import { lineSink } from '../../src/testing/run-plugin.ts';

const BASE = `_format_version: "3.0"
services:
  - name: live
    url: echo://
    routes:
      - name: live
        paths: [/live]
`;

/** BASE plus `n` services, each with a route and two plugins, and a marker route. */
function bigConfig(n: number): string {
  const parts = [BASE, '      - name: marker\n        paths: [/marker]\n'];
  for (let i = 0; i < n; i++) {
    parts.push(`  - name: svc-${i}
    url: http://127.0.0.1:${1024 + i}/base/${i}
    routes:
      - name: route-${i}
        paths: [/api/v1/resource-${i}, /api/v2/resource-${i}]
        methods: [GET, POST]
        hosts: [h${i}.example.com]
        plugins:
          - name: request-transformer
            config: { add: { headers: ["x-svc:${i}", "x-pad:${'p'.repeat(200)}"] } }
          - name: cors
            config: { origins: ["https://app${i}.example.com"] }
`);
  }
  return parts.join('');
}

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 60_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer on ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

test('requests on the serving config are answered while a large config reloads', { timeout: 170_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-big-'));
  const file = join(dir, 'gateway.yaml');
  await writeFile(file, BASE);
  const inst = await TollgateInstance.start({
    configFile: file,
    env: {},
    proxyListen: ['127.0.0.1:0'],
    adminListen: [],
    log: createLogger({ level: 'error', destination: lineSink([]) as never }),
    reloadTimeoutMs: 150_000,
  });
  try {
    const port = Number(inst.proxyAddresses[0]!.split(':').pop());
    assert.equal(await get(port, '/live/x'), 200);
    assert.equal(await get(port, '/marker'), 404);
    const text = bigConfig(1500);
    assert.ok(text.length > OFF_THREAD_PARSE_BYTES, 'the file is large enough to be parsed off the event loop');
    await writeFile(file, text);

    let reloaded = false;
    const reloading = inst.reload({ trigger: 'admin' }).then((r) => {
      reloaded = true;
      return r;
    });
    let answeredDuring = 0;
    while (!reloaded) {
      const status = await get(port, '/live/x');
      assert.equal(status, 200);
      if (!reloaded) answeredDuring++;
    }
    const r = await reloading;
    assert.equal(r.ok, true, JSON.stringify(r.errors));
    // A reload that held the loop through its parse, validation, building and compile would answer
    // none of these before it ended; sliced, its longest pause is a single pass over the entities
    // (about 150 ms of CPU for this file), with requests answered between the passes.
    assert.ok(answeredDuring >= 5, `only ${answeredDuring} request(s) answered while the reload ran`);
    // The reload did land: the marker route of the large config answers.
    assert.equal(await get(port, '/marker'), 200);
    assert.equal(inst.runtime.routes.length, 1502);
  } finally {
    await inst.close(0);
    await rm(dir, { recursive: true, force: true });
  }
});

test('a large file parsed off the event loop reports its problems at their file:line:col', async () => {
  const plain = bigConfig(1500).replace('    url: http://127.0.0.1:2224/base/1200\n', '    url: 12345\n');
  // A tag takes the file off the plain-YAML fast path: the yaml package parses it on a worker thread.
  const tagged = plain.replace('  - name: live\n', '  - name: !!str live\n');
  assert.notEqual(parsePlainYaml(plain, 'big.yaml'), null);
  assert.equal(parsePlainYaml(tagged, 'big.yaml'), null);
  for (const text of [plain, tagged]) {
    assert.ok(text.length > OFF_THREAD_PARSE_BYTES);
    const line = text.split('\n').indexOf('    url: 12345') + 1;
    const err = await loadConfigText(text, 'big.yaml', { env: {} }).then(
      () => null,
      (e: unknown) => e as ConfigError,
    );
    assert.ok(err instanceof ConfigError, 'the file is refused');
    const issue = err.issues.find((i) => i.path === 'services[1201].url');
    assert.ok(issue !== undefined, JSON.stringify(err.issues.slice(0, 3)));
    assert.deepEqual([issue.file, issue.line, issue.col], ['big.yaml', line, 10]);
  }
});
