/**
 * Reload of a large config into a running gateway, measured in-process: a TollgateInstance of a
 * tree's compiled `dist/` starts on a one-route file, the file is replaced by the N-route file of
 * large-config.ts, and `reload()` runs once. Prints the reload's process CPU (all threads) and
 * wall time, and the longest gap between two ticks of a 2 ms timer (wall, and process CPU) while
 * it ran: how long requests on the serving config could have waited.
 *
 *   node bin/compiled.mjs    # in each tree measured
 *   BENCH_BASELINE=../main-copy node --import tsx bench/large-reload.ts [routes=10000] [runs=3]
 *
 * LARGE_ROUTES_PER_SERVICE (default 100) sets the file's shape: 1 makes one service per route.
 *
 * Each run is a fresh process (a first reload, as a gateway sees it); with BENCH_BASELINE the
 * runs alternate between this tree and that one, so both see the same machine.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../test/support/temp.ts';
import { largeConfig } from './large-config.ts';

const SMALL =
  '_format_version: "3.0"\nservices:\n  - name: live\n    url: echo://\n    routes:\n      - name: live\n        paths: [/live]\n';

/** One reload of `big` into a gateway of `tree`'s dist/, printed as a JSON line. */
async function child(tree: string, big: string): Promise<void> {
  const { TollgateInstance } = await import(join(tree, 'dist/instance.js'));
  const { createLogger } = await import(join(tree, 'dist/log.js'));
  const file = join(tempDir('tollgate-large-reload'), 'gateway.yaml');
  writeFileSync(file, SMALL);
  const inst = await TollgateInstance.start({
    configFile: file,
    env: {},
    proxyListen: ['127.0.0.1:0'],
    adminListen: [],
    log: createLogger({ level: 'error', destination: { write: () => true } }),
    reloadTimeoutMs: 300_000,
  });
  writeFileSync(file, readFileSync(big));
  let lastWall = performance.now();
  let lastCpu = process.cpuUsage();
  let gapWall = 0;
  let gapCpu = 0;
  const tick = setInterval(() => {
    const wall = performance.now();
    const cpu = process.cpuUsage();
    gapWall = Math.max(gapWall, wall - lastWall);
    gapCpu = Math.max(gapCpu, (cpu.user + cpu.system - lastCpu.user - lastCpu.system) / 1000);
    lastWall = wall;
    lastCpu = cpu;
  }, 2);
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const result = await inst.reload({ trigger: 'admin' });
  const wall = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(tick);
  if (!result.ok) throw new Error(`reload failed: ${JSON.stringify(result.errors).slice(0, 500)}`);
  const ms = (n: number): number => Math.round(n);
  process.stdout.write(
    `${JSON.stringify({
      tree,
      cpu_ms: ms((cpu.user + cpu.system) / 1000),
      wall_ms: ms(wall),
      longest_gap_wall_ms: ms(gapWall),
      longest_gap_cpu_ms: ms(gapCpu),
      routes: inst.runtime.routes.length,
    })}\n`,
  );
  await inst.close(0);
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]!, process.argv[4]!);
  process.exit(0);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const routes = Number(process.argv[2] ?? 10000);
  const runs = Number(process.argv[3] ?? 3);
  const here = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const trees = process.env.BENCH_BASELINE ? [here, resolve(process.env.BENCH_BASELINE)] : [here];
  const big = join(tempDir('tollgate-large'), 'gateway.yaml');
  writeFileSync(big, largeConfig(routes, undefined, Number(process.env.LARGE_ROUTES_PER_SERVICE ?? 100)));
  const self = fileURLToPath(import.meta.url);
  for (let r = 0; r < runs; r++) {
    for (const tree of trees) {
      process.stdout.write(execFileSync(process.execPath, ['--import', 'tsx', self, '--child', tree, big]));
    }
  }
}
