/**
 * `npm run bench`: measures Tollgate against the upstream direct, a minimal node:http + undici
 * stream() proxy (the floor) and the same on dispatch() (the floor of that path), on the same load,
 * in one run. See docs/bench.md.
 *
 * Environment: BENCH_DURATION (seconds per target, default 10), BENCH_WARMUP (seconds, default 3),
 * BENCH_CONNECTIONS (default 50), BENCH_TOOL (`wrk` or `autocannon`; default wrk when installed),
 * BENCH_ROUNDS (default 1: more rounds run the targets interleaved and report each one's median),
 * BENCH_ONLY (comma-separated target names, or parts of names, to run a subset),
 * BENCH_REPEAT (default 1: measure each target this many times in a row, each a row of its own, so the
 * noise between runs of the same config is visible),
 * BENCH_JSON (a file to write the results to, as JSON),
 * BENCH_BASELINE (another checkout: every Tollgate row runs twice, this tree's and that one's, interleaved).
 *
 * Besides req/s and latency, every row has the CPU time the process under test (all its workers)
 * spent per request over the measured window; the ratio columns are built from it (bench/cpu.ts).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Agent, fetch as undiciFetch } from 'undici';
import { routeConfig } from './config.ts';
import { CPU_MEASURABLE, treeCpu } from './cpu.ts';
import { RATE_LIMITING_LOCAL, rateLimitingRedisRoute } from './rate-limiting.ts';
import { jwtRoute, KEY_AUTH, KEY_AUTH_ACL, oidcRoute } from './rows.ts';
import { H2LOAD, runH2load, tlsRoute } from './tls.ts';

const root = fileURLToPath(new URL('../', import.meta.url));

/**
 * One row of the table. `config` is gateway.yaml text for a Tollgate target (`__UPSTREAM__` is
 * replaced by the upstream's URL), or null for a non-Tollgate target named by `kind`.
 */
interface Target {
  name: string;
  config: string | null;
  kind?: 'direct' | 'minimal' | 'dispatch' | 'nginx';
  /** Path requested, default `/bench/hello`. */
  path?: string;
  /** Request headers sent with every request (an Authorization header, say). */
  headers?: Record<string, string>;
  /** Extra `gateway start` arguments. */
  args?: string[];
  /** Builds config and headers at run time (keys, signed tokens, sealed cookies); overrides `config`/`headers`. */
  prepare?: () => Promise<{ config: string; headers?: Record<string, string> }>;
  /** Served on an ssl listener and loaded over HTTPS: HTTP/1.1 (wrk/autocannon) or HTTP/2 (h2load). */
  tls?: 'h1' | 'h2';
  /** Loaded with h2load whatever the protocol (`--h1` for HTTP/1.1): HTTP/2 against HTTP/1.1 with one client. */
  h2load?: boolean;
  /** Run from another checkout's `bin/gateway` (BENCH_BASELINE) instead of this one's. */
  tree?: string;
}

const ONE_ROUTE = routeConfig();

/** N prefix routes (1,000, 10,000); the measured one sits in the middle, so no ordering luck helps it. */
function manyRoutes(n: number): string {
  const route = (i: number) => `- name: r${i}\n  paths: [/api/v${i % 7}/r${i}, /svc${i}]`;
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => route(from + k)).join('\n');
  return routeConfig({ routesBefore: range(0, n / 2), routesAfter: range(n / 2 + 1, n) });
}

const TARGETS: Target[] = [
  { name: 'upstream direct', config: null, kind: 'direct', path: '/hello' },
  { name: 'nginx', config: null, kind: 'nginx', path: '/hello' },
  { name: 'minimal proxy', config: null, kind: 'minimal', path: '/hello' },
  { name: 'dispatch() proxy', config: null, kind: 'dispatch', path: '/hello' },
  { name: 'tollgate 1 route', config: ONE_ROUTE },
  { name: 'tollgate 1,000 routes', config: manyRoutes(1000) },
  { name: 'tollgate 10,000 routes', config: manyRoutes(10000) },
  { name: 'tollgate 1 route, no access log', config: ONE_ROUTE, args: ['--no-access-log'] },
  // The cluster primary and both workers share the process-under-test's core: CPU per request
  // shows what the cluster costs, not how it scales (docs/bench.md).
  { name: 'tollgate 1 route, 2 workers', config: ONE_ROUTE, args: ['--workers', '2'] },
  { name: 'tollgate jwt RS256', config: null, prepare: jwtRoute },
  { name: 'tollgate key-auth', config: KEY_AUTH.config, headers: KEY_AUTH.headers },
  { name: 'tollgate key-auth + acl', config: KEY_AUTH_ACL.config, headers: KEY_AUTH_ACL.headers },
  { name: 'tollgate oidc session', config: null, prepare: oidcRoute },
  { name: 'tollgate rate-limiting local', config: RATE_LIMITING_LOCAL },
  { name: 'tollgate rate-limiting redis', config: null, prepare: rateLimitingRedisRoute },
  { name: 'tollgate 1 route, HTTPS (HTTP/1.1)', config: null, prepare: tlsRoute, tls: 'h1' },
  { name: 'tollgate 1 route, HTTPS (HTTP/1.1, h2load)', config: null, prepare: tlsRoute, tls: 'h1', h2load: true },
  { name: 'tollgate 1 route, HTTP/2 over TLS (h2load)', config: null, prepare: tlsRoute, tls: 'h2', h2load: true },
];

// ---------------------------------------------------------------------------------------------

const DURATION = positive('BENCH_DURATION', 10);
const WARMUP = positive('BENCH_WARMUP', 3, true);
const CONNECTIONS = positive('BENCH_CONNECTIONS', 50);
const ROUNDS = Math.round(positive('BENCH_ROUNDS', 1));
const REPEAT = Math.round(positive('BENCH_REPEAT', 1));
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p)) ?? null;
const WRK = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((p) => existsSync(p)) ?? null;
const TOOL = process.env.BENCH_TOOL ?? (WRK !== null ? 'wrk' : 'autocannon');
const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p)) ?? null;
const PIN = TASKSET !== null && availableParallelism() >= 2;
/** The process under test gets core 0 alone; load generator and upstream share core 1. */
const PROXY_CORE = '0';
const LOAD_CORE = '1';

function positive(name: string, dflt: number, zeroOk = false): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !zeroOk)) {
    process.stderr.write(`${name} must be a positive number, not ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return n;
}

interface Result {
  name: string;
  rps: number;
  /** Requests completed in the measured window. */
  requests: number;
  /** CPU microseconds the process under test spent per request (NaN where not measured). */
  cpu: number;
  p50: number;
  p99: number;
  /** Non-2xx responses plus socket errors: a row with errors measured something else. */
  errors: number;
}

const work = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
const children = new Set<ChildProcess>();

/** Starts a process (pinned when possible) with output in a file; resolves once `ready` matches a line. */
async function launch(
  label: string,
  core: string,
  argv: string[],
  ready: (line: string) => unknown,
  probe?: () => Promise<unknown>,
): Promise<{ child: ChildProcess; info: unknown }> {
  const out = join(work, `${label.replace(/\W+/g, '_')}.log`);
  const fd = openSync(out, 'w');
  const cmd = PIN ? [TASKSET!, '-c', core, ...argv] : argv;
  // Output goes to a file, not a pipe: reading an access log here would steal the load core.
  const child = spawn(cmd[0]!, cmd.slice(1), { cwd: root, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  children.add(child);
  child.once('exit', () => children.delete(child));
  for (let waited = 0; waited < 30_000; waited += 50) {
    if (child.exitCode !== null) break;
    for (const line of readFileSync(out, 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const info = ready(line);
        if (info !== undefined) return { child, info };
      } catch {
        // Not JSON yet (a partial line).
      }
    }
    if (probe !== undefined) {
      const info = await probe();
      if (info !== undefined) return { child, info };
    }
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`${label} did not start; its output:\n${readFileSync(out, 'utf8').slice(-2000)}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

const tsx = [process.execPath, '--import', 'tsx'];
const portLine = (line: string): number | undefined => (JSON.parse(line) as { port?: number }).port;

async function startTarget(t: Target, upstream: string): Promise<{ child: ChildProcess | null; base: string }> {
  if (t.config === null && t.kind === 'direct') return { child: null, base: upstream };
  if (t.config === null && (t.kind === 'minimal' || t.kind === 'dispatch')) {
    const script = `bench/${t.kind}-proxy.ts`;
    const { child, info } = await launch(t.name, PROXY_CORE, [...tsx, script, upstream], portLine);
    return { child, base: `http://127.0.0.1:${info as number}` };
  }
  if (t.config === null && t.kind === 'nginx') return startNginx(upstream);
  const file = join(work, `${t.name.replace(/\W+/g, '_')}.yaml`);
  writeFileSync(file, t.config!.replaceAll('__UPSTREAM__', upstream));
  const args = t.args ?? [];
  // A port chosen here, so readiness can be probed even when the startup line sits in a log buffer.
  const port = await freePort();
  const argv = [
    process.execPath,
    join(t.tree ?? root, 'bin/gateway'),
    'start',
    '--config',
    file,
    '--proxy-listen',
    `127.0.0.1:${port}${t.tls !== undefined ? ' ssl' : ''}`,
    '--admin-listen',
    '127.0.0.1:0',
    '--no-watch',
    ...args,
  ];
  const { child, info } = await launch(
    t.name,
    PROXY_CORE,
    argv,
    (line) => {
      const log = JSON.parse(line) as { msg?: string; proxy?: string[] };
      return log.msg === 'listening' && Array.isArray(log.proxy) ? log.proxy[0] : undefined;
    },
    async () => ((await accepts(port)) ? `127.0.0.1:${port}` : undefined),
  );
  const hostPort = info as string;
  return {
    child,
    base: `${t.tls !== undefined ? 'https' : 'http'}://127.0.0.1:${hostPort.slice(hostPort.lastIndexOf(':') + 1)}`,
  };
}

/** nginx as a reference proxy: one worker process, upstream keep-alive, no access log. */
async function startNginx(upstream: string): Promise<{ child: ChildProcess; base: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(work, 'nginx-'));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off; master_process off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  upstream bench { server ${new URL(upstream).host}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://bench; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`,
  );
  const { child } = await launch(
    'nginx',
    PROXY_CORE,
    [NGINX!, '-c', conf, '-p', dir],
    () => undefined,
    async () => ((await accepts(port)) ? true : undefined),
  );
  return { child, base: `http://127.0.0.1:${port}` };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

// ---------------------------------------------------------------------------------------------
// Load generators

const WRK_SCRIPT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\n{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
`;

type Load = Omit<Result, 'name' | 'requests' | 'cpu'> & { requests?: number };

function runLoad(url: string, seconds: number, headers: Record<string, string>): Promise<Load> {
  const h = Object.entries(headers);
  let argv: string[];
  if (TOOL === 'wrk') {
    const script = join(work, 'report.lua');
    if (!existsSync(script)) writeFileSync(script, WRK_SCRIPT);
    argv = [
      WRK ?? 'wrk',
      '-t1',
      `-c${CONNECTIONS}`,
      `-d${seconds}s`,
      '--timeout',
      '10s',
      '-s',
      script,
      ...h.flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
      url,
    ];
  } else {
    argv = [
      process.execPath,
      join(root, 'node_modules/autocannon/autocannon.js'),
      '-c',
      String(CONNECTIONS),
      '-d',
      String(seconds),
      '-j',
      ...h.flatMap(([k, v]) => ['-H', `${k}=${v}`]),
      url,
    ];
  }
  const cmd = PIN ? [TASKSET!, '-c', LOAD_CORE, ...argv] : argv;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => (out += c));
    child.stderr!.on('data', (c: Buffer) => (err += c));
    child.once('error', reject);
    // 'close', not 'exit': the report is parsed only once the tool's output has ended.
    child.once('close', (code) => {
      children.delete(child);
      if (code !== 0) return reject(new Error(`${TOOL} exited ${code}: ${err || out}`));
      try {
        resolve(TOOL === 'wrk' ? parseWrk(out) : parseAutocannon(out));
      } catch (e) {
        reject(new Error(`cannot read ${TOOL} output (${(e as Error).message}):\n${out}\n${err}`));
      }
    });
  });
}

function parseWrk(out: string): Omit<Result, 'name'> {
  const line = out
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{"requests"'));
  if (line === undefined) throw new Error('no report line');
  const r = JSON.parse(line) as {
    requests: number;
    duration_us: number;
    p50_us: number;
    p99_us: number;
    errors: number;
  };
  return {
    rps: r.requests / (r.duration_us / 1e6),
    requests: r.requests,
    cpu: Number.NaN,
    p50: r.p50_us / 1000,
    p99: r.p99_us / 1000,
    errors: r.errors,
  };
}

function parseAutocannon(out: string): Omit<Result, 'name'> {
  const r = JSON.parse(out) as {
    requests: { total: number };
    duration: number;
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
    timeouts: number;
  };
  return {
    rps: r.requests.total / r.duration,
    requests: r.requests.total,
    cpu: Number.NaN,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.non2xx + r.errors + r.timeouts,
  };
}

/** One request before the load: a target that answers wrongly must not get a figure. */
async function check(url: string, headers: Record<string, string>, expected: string): Promise<void> {
  // HTTPS rows use a throwaway self-signed certificate.
  const res = url.startsWith('https:')
    ? await undiciFetch(url, { headers, dispatcher: insecure })
    : await fetch(url, { headers });
  const body = await res.text();
  if (res.status !== 200 || body !== expected) {
    throw new Error(
      `${url} answered ${res.status} ${JSON.stringify(body.slice(0, 200))}, expected 200 ${JSON.stringify(expected)}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------

const insecure = new Agent({ connect: { rejectUnauthorized: false } });

function fmt(n: number, digits: number): string {
  if (Number.isNaN(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function table(results: Result[]): string {
  // With BENCH_REPEAT the references are their first measurement.
  const ref = (name: string) => results.find((r) => r.name === name || r.name === `${name} #1`);
  const floor = ref('minimal proxy');
  const one = ref('tollgate 1 route');
  // CPU per request: lower is better, so a ratio under 1 means cheaper than the reference.
  const cpuRatio = (r: Result, ref: Result | undefined) =>
    ref && Number.isFinite(r.cpu) && Number.isFinite(ref.cpu) ? `${fmt(r.cpu / ref.cpu, 2)}×` : '-';
  const head = [
    'target',
    'req/s',
    'p50 ms',
    'p99 ms',
    'errors',
    'CPU µs/req',
    'CPU × minimal proxy',
    'CPU × tollgate 1 route',
    'req/s × minimal proxy',
    'req/s × tollgate 1 route',
  ];
  const rows = results.map((r) => [
    r.name,
    fmt(r.rps, 0),
    fmt(r.p50, 2),
    fmt(r.p99, 2),
    String(r.errors),
    fmt(r.cpu, 1),
    cpuRatio(r, floor),
    cpuRatio(r, one),
    floor ? `${fmt(r.rps / floor.rps, 2)}×` : '-',
    one ? `${fmt(r.rps / one.rps, 2)}×` : '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [
    line(head),
    `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`,
    ...rows.map(line),
  ].join('\n');
}

/** Runs the measured window, with the CPU the process under test spent in it. */
async function measure(t: Target, child: ChildProcess | null, load: () => Promise<Load>): Promise<Result> {
  const pid = child?.pid;
  const before = pid !== undefined && CPU_MEASURABLE ? treeCpu(pid) : Number.NaN;
  const r = await load();
  const used = pid !== undefined && CPU_MEASURABLE ? treeCpu(pid) - before : Number.NaN;
  const requests = r.requests ?? Math.round(r.rps * DURATION);
  return { name: t.name, ...r, requests, cpu: requests > 0 ? used / requests : Number.NaN };
}

async function main(): Promise<void> {
  const only = (process.env.BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  // A whole target name selects that target alone; any other text, every target whose name holds it.
  const selects = (t: Target, o: string) => t.name === o || (!TARGETS.some((x) => x.name === o) && t.name.includes(o));
  let targets = only.length === 0 ? TARGETS : TARGETS.filter((t) => only.some((o) => selects(t, o)));
  if (NGINX === null && targets.some((t) => t.kind === 'nginx')) {
    console.log('skipping the nginx row: nginx is not installed (apt-get install nginx-light)');
    targets = targets.filter((t) => t.kind !== 'nginx');
  }
  if (H2LOAD === null && targets.some((t) => t.h2load === true)) {
    console.log('skipping the h2load rows (HTTP/2): h2load is not installed (apt-get install nghttp2-client)');
    targets = targets.filter((t) => t.h2load !== true);
  }
  const baseline = process.env.BENCH_BASELINE;
  if (baseline !== undefined && baseline !== '') {
    // Each Tollgate row twice in a row, this checkout's and the baseline's, so both see the same machine.
    targets = targets.flatMap((t) =>
      t.kind === undefined ? [t, { ...t, name: `${t.name} @baseline`, tree: resolve(baseline) }] : [t],
    );
  }
  if (targets.length === 0)
    throw new Error(`BENCH_ONLY matches no target; targets: ${TARGETS.map((t) => t.name).join(', ')}`);
  if (TOOL === 'wrk' && WRK === null) throw new Error('BENCH_TOOL=wrk but wrk is not installed');

  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim();
  console.log(
    `Tollgate benchmark ${git ? `@ ${git} ` : ''}on Node ${process.version}, ${availableParallelism()} cores`,
  );
  console.log(
    `load: ${TOOL === 'wrk' ? 'wrk (1 thread)' : 'autocannon'}, ${CONNECTIONS} connections, GET, ${WARMUP}s warm-up then ${DURATION}s per target${ROUNDS > 1 ? `, ${ROUNDS} rounds (median)` : ''}${REPEAT > 1 ? `, each target ${REPEAT} times` : ''}; CPU per request of the process under test`,
  );
  const load = loadavg()[0]!;
  if (load > 0.5)
    console.log(
      `warning: the machine is busy (load average ${load.toFixed(2)}): figures will be noisy; BENCH_ROUNDS=3 helps`,
    );
  console.log(
    PIN
      ? `pinning: process under test on core ${PROXY_CORE}; load generator and upstream on core ${LOAD_CORE} (taskset)`
      : `pinning: none (${TASKSET === null ? 'taskset not installed' : 'fewer than 2 cores'}); figures are noisier`,
  );

  const up = await launch('upstream', LOAD_CORE, [...tsx, 'bench/upstream.ts'], portLine);
  const upstream = `http://127.0.0.1:${up.info as number}`;
  // What every target must answer: the upstream's own body, unchanged.
  const expected = await (await fetch(`${upstream}/hello`)).text();
  const labels = targets.flatMap((t) =>
    REPEAT > 1 ? Array.from({ length: REPEAT }, (_, k) => `${t.name} #${k + 1}`) : [t.name],
  );
  const runs = new Map<string, Result[]>(labels.map((l) => [l, []]));
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of targets) {
        for (let rep = 1; rep <= REPEAT; rep++) {
          const label = `${t.name}${REPEAT > 1 ? ` #${rep}` : ''}`;
          process.stdout.write(`… ${label}${ROUNDS > 1 ? ` (round ${round}/${ROUNDS})` : ''}\n`);
          if (t.prepare !== undefined) {
            // Fresh keys, tokens and sessions for every round, as a browser or client would hold them now.
            const prepared = await t.prepare();
            t.config = prepared.config;
            t.headers = { ...t.headers, ...prepared.headers };
          }
          const { child, base } = await startTarget(t, upstream);
          try {
            const url = `${base}${t.path ?? '/bench/hello'}`;
            await check(url, t.headers ?? {}, expected);
            const loadFn =
              t.h2load === true
                ? (u: string, s: number, h: Record<string, string>) =>
                    runH2load(PIN ? [TASKSET!, '-c', LOAD_CORE] : [], t.tls ?? 'h1', u, s, CONNECTIONS, h)
                : runLoad;
            try {
              if (WARMUP > 0) await loadFn(url, WARMUP, t.headers ?? {});
              const result = await measure(t, child, () => loadFn(url, DURATION, t.headers ?? {}));
              runs.get(label)!.push({ ...result, name: label });
            } catch (e) {
              // One row's failure (a load generator left waiting on streams, say) loses that row, not the run.
              process.stdout.write(`  ${label} failed: ${(e as Error).message.slice(0, 300)}\n`);
            }
          } finally {
            if (child !== null) await stop(child);
          }
        }
      }
    }
  } finally {
    await stop(up.child);
  }
  // The round with the median CPU per request (the steadier figure) stands for the target, latencies included.
  const key = (r: Result) => (Number.isNaN(r.cpu) ? -r.rps : r.cpu);
  const results = [...runs.values()]
    .filter((rs) => rs.length > 0)
    .map((rs) => [...rs].sort((a, b) => key(a) - key(b))[Math.floor((rs.length - 1) / 2)]!);
  console.log(`\n${table(results)}\n`);
  if (results.some((r) => r.errors > 0))
    console.log('Rows with errors measured failures too: do not trust their figures.');
  if (process.env.BENCH_JSON) {
    writeFileSync(
      process.env.BENCH_JSON,
      JSON.stringify(
        {
          tool: TOOL,
          connections: CONNECTIONS,
          duration: DURATION,
          rounds: ROUNDS,
          repeat: REPEAT,
          pinned: PIN,
          results,
          runs: Object.fromEntries(runs),
        },
        null,
        2,
      ),
    );
  }
}

function cleanup(): void {
  for (const c of children) c.kill('SIGKILL');
  if (!process.env.BENCH_KEEP) rmSync(work, { recursive: true, force: true });
}

process.once('SIGINT', () => {
  cleanup();
  process.exit(130);
});

try {
  await main();
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  cleanup();
}
