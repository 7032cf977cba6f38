/**
 * `npm run soak:hostile [-- --baseline 10 --attack 20 --normal 8]`: normal clients send steady
 * traffic to a real `gateway start` while hostile clients send the classes of attack the gateway
 * must shrug off: pathological headers (30 KiB whitespace runs, separators, unclosed quotes),
 * distinct long keys against a local rate limit, slow uploads, requests to an upstream that never
 * answers, and tokens with unknown `kid`s against a slow JWKS endpoint.
 *
 * Reports the normal clients' request count, p50/p99 latency and errors before and during the
 * attack, what the hostile clients got, and the gateway's RSS. Target: normal p99 during the
 * attack within 3x of before, zero normal-client errors, RSS bounded. Loopback only; every
 * hostile class is bounded in connections and in time. Exit code 1 when a target is missed.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, request, type Server } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exportJWK, SignJWT } from 'jose';

const { values: opts } = parseArgs({
  options: {
    baseline: { type: 'string', default: '10' },
    attack: { type: 'string', default: '20' },
    normal: { type: 'string', default: '8' },
    'jwks-delay': { type: 'string', default: '3000' },
  },
});
const BASELINE_S = Number(opts.baseline);
const ATTACK_S = Number(opts.attack);
const NORMAL_CLIENTS = Number(opts.normal);
const JWKS_DELAY_MS = Number(opts['jwks-delay']);
const BIN = fileURLToPath(new URL('../bin/gateway', import.meta.url));
const ISSUER = 'https://idp.soak.test/';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function listenOn(server: Server | ReturnType<typeof createNetServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

interface Sample {
  ms: number;
  ok: boolean;
}

/** One HTTP exchange; `ok` when the status is the one expected. Never rejects. */
function exchange(
  agent: Agent,
  port: number,
  path: string,
  opts: { headers?: Record<string, string>; method?: string; body?: string; expect?: number; timeoutMs?: number } = {},
): Promise<Sample & { status: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const done = (status: number): void =>
      resolve({ ms: performance.now() - started, ok: status === (opts.expect ?? 200), status });
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent,
        maxHeaderSize: 256 * 1024,
        timeout: opts.timeoutMs ?? 120_000,
      },
      (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
        res.on('error', () => done(0));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => done(0));
    req.end(opts.body);
  });
}

function pct(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (n: number): number => Math.round(n * 10) / 10;

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return round(kb / 1024);
}

/** Pathological header values (30 KiB: under the listener's 32 KiB limit for the whole head). */
function pathological(i: number): Record<string, string> {
  const n = 30 * 1024;
  const shapes = [
    `x${' '.repeat(n)}x`,
    `B${'\t'.repeat(n)}B`,
    `Bearer${' \t'.repeat(n / 2)}!`,
    ','.repeat(n),
    'a=;'.repeat(n / 3),
    `"${'a'.repeat(n)}`,
    '='.repeat(n),
    `=${' '.repeat(n)}=`,
  ];
  const v = shapes[i % shapes.length]!;
  const field = ['authorization', 'cookie', 'origin', 'x-forwarded-for', 'x-version'][i % 5]!;
  return { 'x-version': 'v1', [field]: v };
}

async function main(): Promise<number> {
  // The identity provider's JWKS endpoint: slow (every answer takes JWKS_DELAY_MS).
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  let jwksFetches = 0;
  const jwks = createServer((_req, res) => {
    jwksFetches++;
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    }, JWKS_DELAY_MS);
  });
  const jwksPort = await listenOn(jwks);

  // An upstream that accepts connections and never answers.
  const hung: Socket[] = [];
  const hanging = createNetServer((s) => {
    hung.push(s);
    s.on('error', () => undefined);
  });
  const hangingPort = await listenOn(hanging);

  const dir = await mkdtemp(join(tmpdir(), 'tollgate-soak-hostile-'));
  const file = join(dir, 'gateway.yaml');
  await writeFile(
    file,
    `_format_version: "3.0"
consumers:
  - username: app
    jwt_secrets:
      - key: ${ISSUER}
        algorithm: RS256
        jwks_uri: http://127.0.0.1:${jwksPort}/jwks.json
services:
  - name: echo
    url: echo://
    routes:
      - name: plain
        paths: [/plain]
      - name: auth
        paths: [/auth]
        headers: { x-version: ["~*^v\\\\d+$", "v1"] }
        plugins:
          - name: jwt
            config: { claims_to_verify: [exp] }
          - name: cors
            config: { origins: ["https://app.example.com", "https://[a-z0-9-]+\\\\.example\\\\.org"] }
      - name: limited
        paths: [/limited]
        plugins:
          - name: rate-limiting
            config: { minute: 1000000, policy: local, limit_by: header, header_name: x-key }
      - name: upload
        paths: [/upload]
  - name: hanging
    url: http://127.0.0.1:${hangingPort}
    read_timeout: 60000
    routes:
      - name: hang
        paths: [/hang]
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
      '--workers',
      '1',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env } },
  );
  const proxyPort = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      for (const line of buf.split('\n')) {
        if (!line.includes('"msg":"listening"')) continue;
        const l = JSON.parse(line) as { proxy: string[] };
        resolve(Number(l.proxy[0]!.split(':').pop()));
      }
    });
    child.once('exit', () => reject(new Error('gateway exited before listening')));
  });
  child.stdout!.resume();
  const pid = child.pid!;

  const goodToken = await new SignJWT({ sub: 'client' })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(privateKey);

  // Warm up: the first token fetches the JWKS (slow), then every normal request is served from memory.
  const normalAgent = new Agent({ keepAlive: true, maxSockets: NORMAL_CLIENTS });
  const warm = await exchange(normalAgent, proxyPort, '/auth', {
    headers: { authorization: `Bearer ${goodToken}`, 'x-version': 'v1' },
    timeoutMs: 30_000,
  });
  if (!warm.ok) throw new Error(`warm-up request failed with status ${warm.status}`);

  // Normal clients: steady traffic, half plain, half with a valid token, keep-alive.
  let phase: 'baseline' | 'attack' | 'stop' = 'baseline';
  const samples: Record<'baseline' | 'attack', Sample[]> = { baseline: [], attack: [] };
  const normal = Array.from({ length: NORMAL_CLIENTS }, async (_, c) => {
    for (let i = 0; phase !== 'stop'; i++) {
      const at = phase;
      const s =
        (i + c) % 2 === 0
          ? await exchange(normalAgent, proxyPort, '/plain/x')
          : await exchange(normalAgent, proxyPort, '/auth/x', {
              headers: { authorization: `Bearer ${goodToken}`, 'x-version': 'v1' },
            });
      if (phase === at) samples[at].push(s);
      await sleep(5);
    }
  });

  const rss: number[] = [await rssMiB(pid)];
  const sampler = setInterval(() => void rssMiB(pid).then((v) => rss.push(v)), 500);
  await sleep(BASELINE_S * 1000);
  const rssBefore = Math.max(...rss);

  // The attack.
  phase = 'attack';
  const attackEnds = performance.now() + ATTACK_S * 1000;
  const hostileAgent = new Agent({ keepAlive: false, maxSockets: 1024 });
  const hostile: Record<string, { sent: number; statuses: Record<string, number> }> = {};
  const count = (cls: string, status: number): void => {
    const h = (hostile[cls] ??= { sent: 0, statuses: {} });
    h.sent++;
    h.statuses[status] = (h.statuses[status] ?? 0) + 1;
  };
  const loops = (cls: string, n: number, one: (i: number) => Promise<number>): Promise<void>[] =>
    Array.from({ length: n }, async (_, k) => {
      for (let i = k; performance.now() < attackEnds; i += n) count(cls, await one(i));
    });

  const attacks = [
    // 8 clients of pathological headers on the authenticated route.
    ...loops(
      'pathological headers',
      8,
      async (i) => (await exchange(hostileAgent, proxyPort, '/auth/x', { headers: pathological(i) })).status,
    ),
    // 4 clients of distinct 2 KiB keys against the local rate limit.
    ...loops(
      'distinct long rate-limit keys',
      4,
      async () =>
        (
          await exchange(hostileAgent, proxyPort, '/limited/x', {
            headers: { 'x-key': randomBytes(1024).toString('hex') },
          })
        ).status,
    ),
    // 4 clients of tokens with unknown kids (each forces a look at the slow JWKS).
    ...loops('unknown kid tokens', 4, async () => {
      const token = await new SignJWT({ sub: 'x' })
        .setProtectedHeader({ alg: 'RS256', kid: randomBytes(8).toString('hex') })
        .setIssuer(ISSUER)
        .setExpirationTime('1h')
        .sign(privateKey);
      return (
        await exchange(hostileAgent, proxyPort, '/auth/x', {
          headers: { authorization: `Bearer ${token}`, 'x-version': 'v1' },
          timeoutMs: 30_000,
        })
      ).status;
    }),
    // 100 requests at a time to the upstream that never answers.
    ...loops('hanging endpoint', 100, async () => {
      const left = attackEnds - performance.now();
      return (await exchange(hostileAgent, proxyPort, '/hang/x', { timeoutMs: Math.max(1, left) })).status;
    }),
    // 50 slow uploads: a 1 MiB body announced, one byte a second.
    ...loops('slow uploads', 50, (i) => slowUpload(proxyPort, i, attackEnds)),
  ];
  await Promise.all(attacks);
  phase = 'stop';
  await Promise.all(normal);
  clearInterval(sampler);
  const rssDuring = Math.max(...rss);
  hostileAgent.destroy();
  normalAgent.destroy();
  const rssAfter = await rssMiB(pid);

  child.kill('SIGTERM');
  const exitCode = await new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  for (const s of hung) s.destroy();
  hanging.close();
  jwks.close();
  jwks.closeAllConnections();
  await rm(dir, { recursive: true, force: true });

  const summary = (list: Sample[]) => ({
    requests: list.length,
    errors: list.filter((s) => !s.ok).length,
    p50_ms: round(
      pct(
        list.map((s) => s.ms),
        50,
      ),
    ),
    p99_ms: round(
      pct(
        list.map((s) => s.ms),
        99,
      ),
    ),
    max_ms: round(Math.max(...list.map((s) => s.ms))),
  });
  const before = summary(samples.baseline);
  const during = summary(samples.attack);
  const report = {
    baseline_s: BASELINE_S,
    attack_s: ATTACK_S,
    normal_clients: NORMAL_CLIENTS,
    jwks_delay_ms: JWKS_DELAY_MS,
    normal_before: before,
    normal_during: during,
    p99_ratio: round(during.p99_ms / before.p99_ms),
    hostile,
    jwks_fetches: jwksFetches,
    rss_mib: { before: rssBefore, max_during: rssDuring, after: rssAfter },
    gateway_exit_code: exitCode,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  const ok = during.errors === 0 && before.errors === 0 && report.p99_ratio <= 3 && exitCode === 0;
  process.stdout.write(ok ? 'soak:hostile: PASS\n' : 'soak:hostile: FAIL\n');
  return ok ? 0 : 1;
}

/** A POST announcing 1 MiB and sending one byte a second until the gateway gives up or the attack ends. */
function slowUpload(port: number, i: number, until: number): Promise<number> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearInterval(timer);
      s.destroy();
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0));
    };
    s.on('connect', () => {
      s.write(`POST /upload/${i} HTTP/1.1\r\nHost: soak\r\nContent-Length: 1048576\r\n\r\n`);
      timer = setInterval(() => {
        if (performance.now() > until) finish();
        else s.write('x');
      }, 1000);
    });
    s.setEncoding('latin1');
    s.on('data', (d: string) => (answer += d));
    s.on('close', finish);
    s.on('error', finish);
  });
}

process.exitCode = await main();
