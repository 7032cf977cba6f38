/**
 * `npm run bench:startup`: how long `gateway start` takes to answer its first proxied request,
 * the CPU time the gateway spent until then (steadier than wall time on a busy machine), and the
 * resident memory (RSS, whole process tree) once it idles. See docs/bench.md.
 *
 * Environment: STARTUP_CONFIG (default the repository's gateway.yaml), STARTUP_PATH (default
 * /echo, the root config's echo route), STARTUP_REPEAT (default 5), STARTUP_ARGS (extra
 * `gateway start` arguments, space-separated), STARTUP_NODE_ARGS (options for node itself),
 * STARTUP_NODE (another node binary, e.g. a Node 24 to compare type stripping with tsx).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { treeCpu } from './cpu.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const config = process.env.STARTUP_CONFIG ?? `${root}gateway.yaml`;
const path = process.env.STARTUP_PATH ?? '/echo';
const repeat = Number(process.env.STARTUP_REPEAT ?? 5);
const extra = (process.env.STARTUP_ARGS ?? '').split(' ').filter((a) => a !== '');
const nodeArgs = (process.env.STARTUP_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Resident set size of a process and its descendants, in bytes. */
export function treeRss(pid: number): number {
  let total = 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    for (const c of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)) {
      if (c !== '') total += treeRss(Number(c));
    }
  } catch {
    // gone
  }
  return total;
}

async function once(): Promise<Run> {
  const [proxy, admin] = [await freePort(), await freePort()];
  const t0 = performance.now();
  const child = spawn(
    process.env.STARTUP_NODE ?? process.execPath,
    [
      ...nodeArgs,
      process.env.STARTUP_BIN ?? `${root}bin/gateway`,
      'start',
      '--config',
      config,
      '--proxy-listen',
      `127.0.0.1:${proxy}`,
      '--admin-listen',
      `127.0.0.1:${admin}`,
      '--no-watch',
      ...extra,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  let firstMs = Number.NaN;
  let cpuMs = Number.NaN;
  const deadline = t0 + 20_000;
  while (performance.now() < deadline) {
    try {
      const res = await request(`http://127.0.0.1:${proxy}${path}`, { headersTimeout: 2000, bodyTimeout: 2000 });
      await res.body.dump();
      if (res.statusCode < 500) {
        firstMs = performance.now() - t0;
        cpuMs = treeCpu(child.pid!) / 1000;
        break;
      }
    } catch {
      // not listening yet
    }
    await sleep(5);
  }
  // Idle: let start-up garbage be collected the way it would on a quiet gateway.
  await sleep(3000);
  const rssMb = treeRss(child.pid!) / 1024 / 1024;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return { firstMs, cpuMs, rssMb };
}

interface Run {
  firstMs: number;
  cpuMs: number;
  rssMb: number;
}

if (import.meta.url === `file://${process.argv[1]}`) await report();

async function report(): Promise<void> {
  const results: Run[] = [];
  for (let i = 0; i < repeat; i++) {
    const r = await once();
    results.push(r);
    process.stdout.write(
      `run ${i + 1}: first response ${r.firstMs.toFixed(0)} ms (CPU ${r.cpuMs.toFixed(0)} ms), idle RSS ${r.rssMb.toFixed(1)} MB\n`,
    );
  }
  const sorted = (k: keyof Run) => results.map((r) => r[k]).sort((a, b) => a - b);
  const med = (a: number[]) => a[Math.floor(a.length / 2)]!;
  const f = sorted('firstMs');
  const m = sorted('rssMb');
  const c = sorted('cpuMs');
  process.stdout.write(
    `first response: median ${med(f).toFixed(0)} ms (range ${f[0]!.toFixed(0)}-${f.at(-1)!.toFixed(0)}), CPU until then ${med(c).toFixed(0)} ms (range ${c[0]!.toFixed(0)}-${c.at(-1)!.toFixed(0)}); idle RSS: median ${med(m).toFixed(1)} MB (range ${m[0]!.toFixed(1)}-${m.at(-1)!.toFixed(1)})\n`,
  );
}
