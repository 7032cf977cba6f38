/**
 * `npm run soak [-- --workers N] [-- --connections C]`: steady load on a real `gateway start`
 * while gateway.yaml is rewritten 100 times (two valid configs taking turns, and a few invalid
 * ones). Reports requests sent, non-2xx responses, socket errors, reload results, and how long each
 * change took to go live (or to be rejected with the old config still serving).
 *
 * Target: zero failed requests, every valid change live within one second, every invalid one
 * rejected. Exit code 1 when a target is missed.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startGatewayProcess, stopGatewayProcess } from './gateway-process.ts';

const { values: opts } = parseArgs({
  options: {
    workers: { type: 'string', default: '1' },
    connections: { type: 'string', default: '16' },
    rewrites: { type: 'string', default: '100' },
  },
});
const REWRITES = Number(opts.rewrites);

const valid = (name: 'blue' | 'green'): string => `_format_version: "3.0"
# ${name} ${'#'.repeat(name === 'blue' ? 10 : 40)}
services:
  - name: echo
    url: echo://
    routes:
      - name: steady
        paths: [/steady]
      - name: ${name}
        paths: [/${name}]
`;
const INVALID: [string, string][] = [
  ['syntax error', `${valid('blue')}      - name: [unclosed\n`],
  ['schema error', valid('blue').replace('paths: [/steady]', 'paths: [/steady]\n        strip_path: maybe')],
  ['missing env var', `${valid('blue')}consumers:\n  - username: \${TOLLGATE_SOAK_UNSET}\n`],
  [
    'missing file',
    `${valid('blue')}consumers:\n  - username: x\n    jwt_secrets:\n      - key: x\n        algorithm: RS256\n        rsa_public_key: \${file:missing.pem}\n`,
  ],
];

async function main(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-soak-'));
  const file = join(dir, 'gateway.yaml');
  await writeFile(file, valid('blue'));
  const gateway = await startGatewayProcess(file, opts.workers!);
  const child = gateway.child;
  const addr = { proxy: gateway.proxy, admin: gateway.admin };

  const autocannon = (await import('autocannon' as string)).default as (o: Record<string, unknown>) => {
    stop(): void;
    on(ev: 'done', cb: (r: AutocannonResult) => void): void;
  };
  const load = autocannon({
    url: `${addr.proxy}/steady`,
    connections: Number(opts.connections),
    duration: 3600,
    pipelining: 1,
  });
  const done = new Promise<AutocannonResult>((r) => load.on('done', r));

  const status = async (path: string): Promise<number> => {
    const r = await fetch(`${addr.proxy}${path}`, { headers: { connection: 'close' } });
    await r.arrayBuffer();
    return r.status;
  };
  const lastReload = async (): Promise<{ ok: boolean; at: string }> =>
    ((await (await fetch(`${addr.admin}/status`)).json()) as { last_reload: { ok: boolean; at: string } }).last_reload;

  const live: number[] = [];
  const rejected: number[] = [];
  const problems: string[] = [];
  let serving: 'blue' | 'green' = 'blue';
  let invalidIndex = 0;
  for (let i = 0; i < REWRITES; i++) {
    const invalid = i % 10 === 9;
    const started = performance.now();
    if (invalid) {
      const [what, text] = INVALID[invalidIndex++ % INVALID.length]!;
      const before = (await lastReload()).at;
      await writeFile(file, text);
      for (;;) {
        const r = await lastReload();
        if (r.at !== before) {
          if (r.ok) problems.push(`rewrite ${i} (${what}) was accepted`);
          break;
        }
        if (performance.now() - started > 10_000) {
          problems.push(`rewrite ${i} (${what}) was never reported`);
          break;
        }
        await sleep(20);
      }
      rejected.push(performance.now() - started);
      if ((await status(`/${serving}`)) !== 200)
        problems.push(`rewrite ${i} (${what}): the old config stopped serving`);
    } else {
      const next: 'blue' | 'green' = serving === 'blue' ? 'green' : 'blue';
      await writeFile(file, valid(next));
      while ((await status(`/${next}`)) !== 200) {
        if (performance.now() - started > 10_000) {
          problems.push(`rewrite ${i}: ${next} never went live`);
          break;
        }
        await sleep(10);
      }
      live.push(performance.now() - started);
      if ((await status(`/${serving}`)) !== 404)
        problems.push(`rewrite ${i}: ${serving} still answering after ${next} went live`);
      serving = next;
    }
    await sleep(50);
  }
  load.stop();
  const res = await done;
  const metrics = await (await fetch(`${addr.admin}/metrics`)).text();
  const reloads = (result: string): number =>
    Number(new RegExp(`tollgate_config_reloads_total\\{result="${result}"\\} (\\d+)`).exec(metrics)?.[1] ?? NaN);

  const exitCode = await stopGatewayProcess(child);
  await rm(dir, { recursive: true, force: true });

  const sorted = [...live].sort((a, b) => a - b);
  const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
  const socketErrors = res.errors + res.timeouts;
  const report = {
    workers: Number(opts.workers),
    connections: Number(opts.connections),
    duration_s: Math.round(res.duration * 10) / 10,
    requests: res.requests.total,
    requests_per_s: Math.round(res.requests.average),
    non_2xx: res.non2xx,
    socket_errors: res.errors,
    timeouts: res.timeouts,
    rewrites: REWRITES,
    valid_changes: live.length,
    valid_live_within_1s: live.filter((t) => t <= 1000).length,
    time_to_live_ms: { p50: round(pct(50)), p95: round(pct(95)), max: round(sorted[sorted.length - 1] ?? NaN) },
    invalid_changes: rejected.length,
    invalid_rejection_ms_max: round(Math.max(...rejected)),
    reloads: { success: reloads('success'), failure: reloads('failure') },
    gateway_exit_code: exitCode,
    problems,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  const ok =
    res.non2xx === 0 &&
    socketErrors === 0 &&
    problems.length === 0 &&
    report.valid_live_within_1s === live.length &&
    exitCode === 0;
  process.stdout.write(ok ? 'soak: PASS\n' : 'soak: FAIL\n');
  return ok ? 0 : 1;
}

interface AutocannonResult {
  duration: number;
  requests: { total: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

process.exitCode = await main();
