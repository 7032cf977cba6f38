// `${file:...}` reads only regular files, capped and with a deadline: a FIFO, a device or a huge
// file is a located error at once, the serving config stays, and the next reload runs.

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readRegularFile } from '../../src/config/read.ts';
import { TollgateInstance } from '../../src/instance.ts';
import { createLogger } from '../../src/log.ts';
import { lineSink } from '../../src/testing/run-plugin.ts';
import { json, spawnGateway, statusOf } from './support.ts';

const BIN = fileURLToPath(new URL('../../bin/gateway', import.meta.url));

function config(tokenRef: string, extraRoute = ''): string {
  return `_format_version: "3.0"
services:
  - name: echo
    url: echo://
    routes:
      - name: pub
        paths: [/pub]
        plugins:
          - name: request-transformer
            config:
              add:
                headers: ["x-token:${tokenRef}"]
${extraRoute}`;
}

function validate(file: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'validate', file], { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

test('a FIFO, a device or a huge referenced file fails the reload at once with a located error; the next reload runs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-reads-'));
  const file = join(dir, 'gateway.yaml');
  const token = join(dir, 'token.txt');
  await writeFile(token, 'first-token\n');
  await writeFile(file, config('${file:token.txt}'));
  const gw = await spawnGateway(file, ['--no-watch']);
  try {
    assert.equal(await statusOf(`${gw.proxy}/pub`), 200);
    const before = (await json(`${gw.admin}/status`)).config_hash as string;

    // A named pipe nobody writes to: reading it the ordinary way would wait forever.
    await unlink(token);
    execFileSync('mkfifo', [token]);
    await writeFile(file, config('${file:token.txt}', '      - { name: more, paths: [/more] }\n'));
    for (const [what, ref, expect] of [
      ['a FIFO', '${file:token.txt}', /token\.txt.*FIFO/],
      ['a device', '${file:/dev/zero}', /\/dev\/zero.*device/],
    ] as const) {
      await writeFile(file, config(ref, '      - { name: more, paths: [/more] }\n'));
      const r = await json(`${gw.admin}/reload`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
      assert.equal(r.ok, false, what);
      assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
      assert.match(r.errors[0].message, expect);
      assert.equal(r.errors[0].line, 12, `${what}: located at the reference`);
      assert.equal(r.config_hash, before);
      assert.equal(await statusOf(`${gw.proxy}/pub`), 200, 'the old config keeps serving');
      assert.equal(await statusOf(`${gw.proxy}/more`), 404);
      const v = await validate(file);
      assert.equal(v.code, 1, v.out);
      assert.match(v.out, /gateway\.yaml:12:\d+ .*(FIFO|device)/);
    }

    await unlink(token);
    await writeFile(token, 'x'.repeat(2 * 1024 * 1024));
    await writeFile(file, config('${file:token.txt}', '      - { name: more, paths: [/more] }\n'));
    const big = await json(`${gw.admin}/reload`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
    assert.equal(big.ok, false);
    assert.match(big.errors[0].message, /larger than the 1 MiB limit/);

    // Fixed: the next reload applies.
    await writeFile(token, 'second-token\n');
    const ok = await json(`${gw.admin}/reload`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
    assert.equal(ok.ok, true, JSON.stringify(ok.errors));
    assert.equal(await statusOf(`${gw.proxy}/more`), 200);
  } finally {
    await gw.kill();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a FIFO as gateway.yaml itself is refused by start, not waited on', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-reads-'));
  const file = join(dir, 'gateway.yaml');
  execFileSync('mkfifo', [file]);
  try {
    const v = await validate(file);
    assert.equal(v.code, 2, v.out);
    assert.match(v.out, /FIFO/);
    const r = await readRegularFile(file, 1024);
    assert.equal(r.ok, false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a reload stuck past its deadline is reported failed, the old config serves, and the next reload runs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-reads-'));
  const file = join(dir, 'gateway.yaml');
  // A custom plugin module whose top-level await never settles: its import() never returns.
  await writeFile(
    join(dir, 'stuck.mjs'),
    "process.emit('tollgate-test-stuck');\nawait new Promise(() => {});\nexport default {};\n",
  );
  const routes = (extra: string) =>
    `services:\n  - name: echo\n    url: echo://\n    routes:\n      - { name: pub, paths: [/pub] }\n${extra}`;
  await writeFile(file, `_format_version: "3.0"\n${routes('')}`);
  const inst = await TollgateInstance.start({
    configFile: file,
    env: {},
    proxyListen: ['127.0.0.1:0'],
    adminListen: [],
    // The deadline under test: short, as a reload of this file takes milliseconds even on a loaded machine.
    reloadTimeoutMs: 3000,
    log: createLogger({ level: 'fatal', destination: lineSink([]) as never }),
  });
  try {
    const proxy = `http://${inst.proxyAddresses[0]}`;
    const before = inst.runtime.config.source.hash;
    await writeFile(
      file,
      // The module's import has its own bound (plugin_create_timeout, 30 s by default), whose timer
      // held this process that long after the test; set past the reload's deadline, which it must
      // not pre-empt (it starts later, once the file is read).
      `_format_version: "3.0"\n_tollgate:\n  plugin_create_timeout: 5000\n  custom_plugins: [./stuck.mjs]\n${routes('      - { name: more, paths: [/more] }\n')}`,
    );
    const loading = once(process, 'tollgate-test-stuck', { signal: AbortSignal.timeout(10_000) });
    const stuck = inst.reload({ trigger: 'api' });
    await loading;
    // Asked while the first one hangs: it runs as soon as the first is given up.
    await writeFile(file, `_format_version: "3.0"\n${routes('      - { name: more, paths: [/more] }\n')}`);
    const next = inst.reload({ trigger: 'api' });
    const r1 = await stuck;
    assert.equal(r1.ok, false);
    assert.match(r1.errors[0]!.message, /did not finish within 3000 ms/);
    assert.equal(r1.hash, before);
    assert.equal(await statusOf(`${proxy}/more`), 404);
    assert.equal(await statusOf(`${proxy}/pub`), 200);
    const r2 = await next;
    assert.equal(r2.ok, true, JSON.stringify(r2.errors));
    assert.equal(await statusOf(`${proxy}/more`), 200);
  } finally {
    await inst.close(0);
    await rm(dir, { recursive: true, force: true });
  }
});
