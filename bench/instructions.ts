/**
 * Instructions per request, counted by valgrind's callgrind: unlike CPU time, the count does not
 * move with what else the machine is doing, so changes of a few percent can be seen on a shared
 * machine. Usage: `npm run bench:instructions [minimal] [dispatch] [dispatch-jwt] [one] [no-log] [jwt] [key-auth] [acl] [tls-h1] [h2]` (default: all ten; `dispatch` is bench/dispatch-proxy.ts, the floor of a proxy on undici's `dispatch()`, and `dispatch-jwt` the same carrying the jwt row's token; `key-auth` and `acl` are the `npm run bench` rows of those names; the last two are one route behind an ssl listener, loaded over HTTPS with HTTP/1.1 and with HTTP/2).
 *
 * Method: the process runs under callgrind with instrumentation off and with TurboFan compiling on
 * the main thread (`--no-concurrent-recompilation`; under valgrind's serialized threads a
 * background compile would leave the hot code in the interpreter), and without V8's memory reducer
 * (valgrind's slowdown looks like an idle process to it; see the flag). Warm-up is two h2load runs on
 * one connection each: the second connection's socket is a new object shape, and the wave of
 * deoptimization it brings is over before counting starts. Then instrumentation goes on, the
 * measured requests run on a third connection, and the main thread's count is divided by them.
 * The access log goes to a pipe this script drains, as a log shipper would: a pipe left full makes
 * each refused write cost a stack trace (EAGAIN), which the count would then include.
 * Needs valgrind and h2load (Debian: valgrind, nghttp2-client).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { routeConfig } from './config.ts';
import { jwtRoute, KEY_AUTH, KEY_AUTH_ACL } from './rows.ts';
import { tlsRoute } from './tls.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Split over two connections (see above). */
const WARMUP_EACH = Math.ceil(Number(process.env.INSTR_WARMUP ?? 40_000) / 2);
const MEASURED = Number(process.env.INSTR_REQUESTS ?? 10_000);
const ROWS = [
  'minimal',
  'dispatch',
  'dispatch-jwt',
  'one',
  'no-log',
  'jwt',
  'key-auth',
  'acl',
  'tls-h1',
  'h2',
] as const;
type Row = (typeof ROWS)[number];

/** The first line of `child`'s stdout that `pick` recognises; the rest of its output is drained. */
function firstLine<T>(child: ChildProcess, pick: (text: string) => T | null): Promise<T> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk;
      const found = pick(text);
      if (found === null) return;
      child.stdout!.off('data', onData);
      child.stdout!.resume();
      resolve(found);
    };
    child.stdout!.on('data', onData);
    child.once('exit', () => reject(new Error(`process exited before it was ready: ${text.slice(-500)}`)));
  });
}

/** h2load over one connection; asynchronous, so this process keeps draining the gateway's log pipe meanwhile. */
async function h2load(url: string, n: number, headers: Record<string, string>, h2 = false): Promise<void> {
  const h = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const child = spawn('h2load', [...(h2 ? [] : ['--h1']), '-n', String(n), '-c', '1', ...h, url], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  // A missing h2load is a spawn 'error' with no 'close' after it: fail the run instead of waiting.
  await new Promise((resolve, reject) => child.once('close', resolve).once('error', reject));
  if (!out.includes(`${n} succeeded, 0 failed`)) throw new Error(`h2load: not every request succeeded\n${out}`);
}

async function count(row: Row, upstream: string, dir: string): Promise<number> {
  let command: string[];
  let headers: Record<string, string> = {};
  let path = '/bench/hello';
  if (row === 'minimal' || row === 'dispatch' || row === 'dispatch-jwt') {
    command = ['--import', 'tsx', join(ROOT, `bench/${row === 'minimal' ? 'minimal' : 'dispatch'}-proxy.ts`), upstream];
    // The jwt row's token, carried by a proxy that does nothing with it: what forwarding it costs.
    if (row === 'dispatch-jwt') ({ headers } = await jwtRoute());
    path = '/hello';
  } else {
    let config = routeConfig();
    if (row === 'jwt') ({ config, headers } = await jwtRoute());
    if (row === 'key-auth') ({ config, headers } = KEY_AUTH);
    if (row === 'acl') ({ config, headers } = KEY_AUTH_ACL);
    if (row === 'tls-h1' || row === 'h2') ({ config } = await tlsRoute());
    const file = join(dir, `${row}.yaml`);
    writeFileSync(file, config.replaceAll('__UPSTREAM__', upstream));
    const tls = row === 'tls-h1' || row === 'h2' ? ' ssl' : '';
    command = [join(ROOT, 'bin/gateway'), 'start', '--config', file, '--proxy-listen', `127.0.0.1:0${tls}`];
    command.push('--admin-listen', '127.0.0.1:0', ...(row === 'no-log' ? ['--no-access-log'] : []));
  }
  const out = join(dir, `${row}.callgrind`);
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      '--separate-threads=yes',
      `--callgrind-out-file=${out}`,
      process.execPath,
      '--no-concurrent-recompilation',
      // V8's memory reducer reads a low allocation rate per wall-clock second as idleness and runs
      // full collections: under valgrind, slowed the more the machine is loaded, it ran in the
      // measured window and put one route at 202,000-215,000 instructions, 171,500 without it.
      '--no-memory-reducer',
      ...(process.env.INSTR_NODE_FLAGS ?? '').split(' ').filter(Boolean),
      // Names the JIT code (regular expressions included) in /tmp/perf-<pid>.map for callgrind_annotate.
      ...(process.env.INSTR_KEEP ? ['--perf-basic-prof'] : []),
      ...command,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  try {
    const address = await firstLine(child, (text) => {
      const port = /\{"port":(\d+)\}/.exec(text);
      if (port) return `127.0.0.1:${port[1]}`;
      const listening = /"proxy":\["([^"]+)"[^\n]*"msg":"listening"/.exec(text);
      return listening ? listening[1]! : null;
    });
    const url = `${row === 'tls-h1' || row === 'h2' ? 'https' : 'http'}://${address}${path}`;
    const h2 = row === 'h2';
    await h2load(url, WARMUP_EACH, headers, h2);
    await h2load(url, WARMUP_EACH, headers, h2);
    execFileSync('callgrind_control', ['-i', 'on', String(child.pid)], { stdio: 'ignore' });
    await h2load(url, MEASURED, headers, h2);
    execFileSync('callgrind_control', ['-d', String(child.pid)], { stdio: 'ignore' });
  } finally {
    child.kill('SIGKILL');
  }
  // With --separate-threads, thread 1 (the main thread) of the dump is `<out>.1-01`.
  const main = readdirSync(dir).find((f) => f.startsWith(`${row}.callgrind`) && f.endsWith('-01'));
  if (main === undefined) throw new Error(`no callgrind dump of the main thread for ${row}`);
  const summary = /^summary: (\d+)$/m.exec(readFileSync(join(dir, main), 'utf8'));
  if (summary === null) throw new Error(`no summary line in ${main}`);
  return Number(summary[1]) / MEASURED;
}

const asked = process.argv.slice(2) as Row[];
for (const r of asked) if (!ROWS.includes(r)) throw new Error(`unknown row ${r}; rows: ${ROWS.join(', ')}`);
const rows = asked.length > 0 ? asked : [...ROWS];
const dir = mkdtempSync(join(tmpdir(), 'tollgate-instructions-'));
const upstream = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/upstream.ts')], {
  cwd: ROOT,
  stdio: ['ignore', 'pipe', 'inherit'],
});
try {
  const port = await firstLine(upstream, (text) => /\{"port":(\d+)\}/.exec(text)?.[1] ?? null);
  const results = new Map<Row, number>();
  for (const row of rows) {
    results.set(row, await count(row, `http://127.0.0.1:${port}`, dir));
    const ratio = (of: Row): string => {
      const base = results.get(of);
      return base === undefined ? '' : `  ${(results.get(row)! / base).toFixed(3)}× ${of}`;
    };
    console.log(
      `${row.padEnd(12)} ${Math.round(results.get(row)!).toLocaleString('en')} instructions/request${ratio('minimal')}${ratio('one')}${row === 'h2' ? ratio('tls-h1') : ''}${row === 'dispatch-jwt' ? ratio('dispatch') : ''}`,
    );
  }
} finally {
  upstream.kill();
  if (!process.env.INSTR_KEEP) rmSync(dir, { recursive: true, force: true });
}
