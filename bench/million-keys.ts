/**
 * `npm run bench:keys [-- --requests 1000000 --connections 32]`: a real `gateway start` with a local
 * `rate-limiting` keyed by a request header, loaded by wrk three times: every request with the same
 * key, every request with a new short key (40 bytes), every request with a new long key (300
 * bytes, past the 256-byte threshold where keys are hashed). Reports requests per second of each
 * run, the ratio to the one-key run, and the gateway's RSS (before, peak, after each run).
 * wrk cannot stop after a number of requests: the one-key run lasts 10 s and the others long enough
 * to send `--requests` at its rate (each reports how many it sent).
 * Targets: distinct-key runs within 2x of the one-key rate, RSS within the documented bound
 * (docs/bench.md). A script, not a test: its figures depend on the machine. Exit code 1 when a
 * target is missed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    requests: { type: 'string', default: '1000000' },
    connections: { type: 'string', default: '32' },
    'rss-bound': { type: 'string', default: '400' },
  },
});
const REQUESTS = Number(opts.requests);
const CONNECTIONS = Number(opts.connections);
/** MiB the gateway's RSS must stay under (the counters' 64 MiB byte cap plus the process). */
const RSS_BOUND_MIB = Number(opts['rss-bound']);
const BIN = fileURLToPath(new URL('../bin/gateway', import.meta.url));

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) / 102.4) / 10;
}

/** wrk's Lua: `mode` one | short | long (a new key on every request of every thread). */
function lua(mode: string): string {
  return `
local n = 0
local tid = 0
local pad = string.rep("k", 260)
setup = function(thread) tid = tid + 1; thread:set("tid", tid) end
request = function()
  n = n + 1
  local key = "the-same-key"
  if "${mode}" == "short" then key = string.format("t%d-%030d", tid or 0, n) end
  if "${mode}" == "long" then key = string.format("t%d-%s-%030d", tid or 0, pad, n) end
  return wrk.format("GET", "/limited/x", { ["x-key"] = key })
end
`;
}

async function main(): Promise<number> {
  if (spawnSync('wrk', ['-v']).error !== undefined) throw new Error('wrk not found (apt-get install wrk)');
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-keys-'));
  const file = join(dir, 'gateway.yaml');
  await writeFile(
    file,
    `_format_version: "3.0"
services:
  - name: echo
    url: echo://
    routes:
      - name: limited
        paths: [/limited]
        plugins:
          - name: rate-limiting
            config: { minute: 1000000000, policy: local, limit_by: header, header_name: x-key }
`,
  );
  const child = spawn(
    process.execPath,
    [
      BIN,
      'start',
      '--config',
      file,
      '--proxy-listen',
      '127.0.0.1:0',
      '--admin-listen',
      '127.0.0.1:0',
      '--no-access-log',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  process.once('exit', () => child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      const m = /"proxy":\["[^"]*:(\d+)"/.exec(buf);
      if (m !== null) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error('gateway exited before listening')));
  });
  child.stdout!.resume();
  const pid = child.pid!;

  const runs: Record<string, { requests_per_s: number; requests: number; rss_before: number; rss_peak: number }> = {};
  for (const mode of ['one', 'short', 'long']) {
    const script = join(dir, `${mode}.lua`);
    await writeFile(script, lua(mode));
    // The one-key run lasts 10 s; the distinct-key runs long enough for REQUESTS at that rate, and more.
    const seconds = mode === 'one' ? 10 : Math.ceil((1.3 * REQUESTS) / Math.max(1, runs.one!.requests_per_s));
    const before = await rssMiB(pid);
    let peak = before;
    const sampler = setInterval(() => void rssMiB(pid).then((v) => (peak = Math.max(peak, v))), 250);
    const out = await new Promise<string>((resolve) => {
      const w = spawn('wrk', ['-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '-s', script, `http://127.0.0.1:${port}/`]);
      let text = '';
      w.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
      // 'close': wrk's whole report has been read.
      w.once('close', () => resolve(text));
    });
    clearInterval(sampler);
    const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
    const count = Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    if (non2xx > 0) process.stderr.write(`${mode}: ${non2xx} non-2xx answers\n`);
    runs[mode] = { requests_per_s: Math.round(rate), requests: count, rss_before: before, rss_peak: peak };
  }
  const rssAfter = await rssMiB(pid);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await rm(dir, { recursive: true, force: true });

  const one = runs.one!.requests_per_s;
  const report = {
    requests_per_run: REQUESTS,
    connections: CONNECTIONS,
    runs,
    ratio_short: Math.round((one / runs.short!.requests_per_s) * 100) / 100,
    ratio_long: Math.round((one / runs.long!.requests_per_s) * 100) / 100,
    rss_after_mib: rssAfter,
    rss_bound_mib: RSS_BOUND_MIB,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  const peak = Math.max(...Object.values(runs).map((r) => r.rss_peak));
  const ok = report.ratio_short <= 2 && report.ratio_long <= 2 && peak <= RSS_BOUND_MIB;
  process.stdout.write(ok ? 'bench:keys: PASS\n' : 'bench:keys: FAIL\n');
  return ok ? 0 : 1;
}

process.exitCode = await main();
