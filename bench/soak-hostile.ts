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
 *
 * The hostile clients run in a child process: their own work (signing tokens, building 30 KiB
 * headers) must not delay the normal clients' event loop, or the script would measure itself.
 */
import { fork } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, request, type Server } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exportJWK, SignJWT } from 'jose';
import { startGatewayProcess, stopGatewayProcess } from './gateway-process.ts';

const { values: opts } = parseArgs({
  options: {
    baseline: { type: 'string', default: '10' },
    attack: { type: 'string', default: '20' },
    normal: { type: 'string', default: '8' },
    'jwks-delay': { type: 'string', default: '3000' },
    /** Internal: this process is the hostile clients' child. */
    'hostile-child': { type: 'boolean', default: false },
    'body-timeout': { type: 'string', default: '5000' },
    'read-timeout': { type: 'string', default: '5000' },
  },
});
const BASELINE_S = Number(opts.baseline);
const ATTACK_S = Number(opts.attack);
const NORMAL_CLIENTS = Number(opts.normal);
const JWKS_DELAY_MS = Number(opts['jwks-delay']);
/** The gateway's client_body_timeout; slow uploads send a byte less often than this. */
const BODY_TIMEOUT_MS = Number(opts['body-timeout']);
/** The hanging service's read_timeout. */
const READ_TIMEOUT_MS = Number(opts['read-timeout']);
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
_tollgate:
  client_body_timeout: ${BODY_TIMEOUT_MS}
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
    read_timeout: ${READ_TIMEOUT_MS}
    routes:
      - name: hang
        paths: [/hang]
`,
  );
  const gateway = await startGatewayProcess(file, 1);
  const child = gateway.child;
  const proxyPort = gateway.proxyPort;
  const pid = child.pid!;

  const goodToken = await new SignJWT({ sub: 'client' })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(privateKey);

  // Warm up: the first token starts the (slow) JWKS fetch and may get 401 while it runs; once the
  // keys are in, every normal request is served from memory.
  const normalAgent = new Agent({ keepAlive: true, maxSockets: NORMAL_CLIENTS });
  const warmUntil = performance.now() + 30_000;
  for (;;) {
    const warm = await exchange(normalAgent, proxyPort, '/auth', {
      headers: { authorization: `Bearer ${goodToken}`, 'x-version': 'v1' },
      timeoutMs: 30_000,
    });
    if (warm.ok) break;
    if (performance.now() > warmUntil) throw new Error(`warm-up request failed with status ${warm.status}`);
    await sleep(500);
  }

  // The hostile clients get ready (tokens signed, headers built) before anything is measured.
  const hostileWorker = fork(fileURLToPath(import.meta.url), ['--hostile-child'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // The child says hello once it listens for messages, then gets its orders.
  await new Promise<void>((resolve) => hostileWorker.once('message', () => resolve()));
  hostileWorker.send({
    port: proxyPort,
    attackMs: ATTACK_S * 1000,
    bodyTimeoutMs: BODY_TIMEOUT_MS,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
  });
  const hostileReady = new Promise<void>((resolve) =>
    hostileWorker.once('message', (m: { ready?: boolean }) => m.ready === true && resolve()),
  );
  await hostileReady;

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

  // The attack, from the worker; it answers with what each hostile class got.
  phase = 'attack';
  const hostileDone = new Promise<Record<string, HostileCount>>((resolve) =>
    hostileWorker.once('message', (m: { hostile: Record<string, HostileCount> }) => resolve(m.hostile)),
  );
  hostileWorker.send({ start: true });
  const hostile = await hostileDone;
  phase = 'stop';
  await Promise.all(normal);
  hostileWorker.kill();
  clearInterval(sampler);
  const rssDuring = Math.max(...rss);
  normalAgent.destroy();
  const rssAfter = await rssMiB(pid);

  const exitCode = await stopGatewayProcess(child);
  for (const s of hung) s.destroy();
  hanging.close();
  jwks.close();
  jwks.closeAllConnections();
  await rm(dir, { recursive: true, force: true });

  const summary = (list: Sample[]) => {
    const ms = list.map((s) => s.ms);
    return {
      requests: list.length,
      errors: list.filter((s) => !s.ok).length,
      p50_ms: round(pct(ms, 50)),
      p99_ms: round(pct(ms, 99)),
      max_ms: round(Math.max(...ms)),
    };
  };
  const before = summary(samples.baseline);
  const during = summary(samples.attack);
  const report = {
    baseline_s: BASELINE_S,
    attack_s: ATTACK_S,
    normal_clients: NORMAL_CLIENTS,
    jwks_delay_ms: JWKS_DELAY_MS,
    client_body_timeout_ms: BODY_TIMEOUT_MS,
    hanging_read_timeout_ms: READ_TIMEOUT_MS,
    normal_before: before,
    normal_during: during,
    p99_ratio: round(during.p99_ms / before.p99_ms),
    hostile,
    jwks_fetches: jwksFetches,
    rss_mib: { before: rssBefore, max_during: rssDuring, after: rssAfter },
    gateway_exit_code: exitCode,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  // Slow uploads and hanging requests must have been answered (408, 504), not left to the client's patience.
  const answered = (cls: string, status: string): boolean => (hostile[cls]?.statuses[status] ?? 0) > 0;
  const ok =
    during.errors === 0 &&
    before.errors === 0 &&
    report.p99_ratio <= 3 &&
    exitCode === 0 &&
    answered('slow uploads', '408') &&
    answered('hanging endpoint', '504');
  process.stdout.write(ok ? 'soak:hostile: PASS\n' : 'soak:hostile: FAIL\n');
  return ok ? 0 : 1;
}

interface HostileCount {
  sent: number;
  statuses: Record<string, number>;
  /** Slowest answer in ms. */
  max_ms: number;
}

/** The child: every hostile class, from `start` until the attack's time is up. */
async function hostileClients(): Promise<void> {
  const data = await new Promise<{ port: number; attackMs: number; bodyTimeoutMs: number; privateKeyPem: string }>(
    (resolve) => {
      process.once('message', resolve);
      process.send!({ hello: true });
    },
  );
  const { port } = data;
  const privateKey = createPrivateKey(data.privateKeyPem);
  // Tokens with distinct unknown kids, signed in advance (RSA signing is the client's cost, not the gateway's).
  const unknownKid: string[] = [];
  for (let i = 0; i < 400; i++) {
    unknownKid.push(
      await new SignJWT({ sub: 'x' })
        .setProtectedHeader({ alg: 'RS256', kid: randomBytes(8).toString('hex') })
        .setIssuer(ISSUER)
        .setExpirationTime('1h')
        .sign(privateKey),
    );
  }
  const headers = Array.from({ length: 40 }, (_, i) => pathological(i));
  process.send!({ ready: true });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));

  const attackEnds = performance.now() + data.attackMs;
  const hostileAgent = new Agent({ keepAlive: false, maxSockets: 1024 });
  const hostile: Record<string, HostileCount> = {};
  const count = (cls: string, r: { status: number; ms: number }): void => {
    const h = (hostile[cls] ??= { sent: 0, statuses: {}, max_ms: 0 });
    h.sent++;
    h.statuses[r.status] = (h.statuses[r.status] ?? 0) + 1;
    h.max_ms = Math.max(h.max_ms, Math.round(r.ms));
  };
  const loops = (cls: string, n: number, one: (i: number) => Promise<{ status: number; ms: number }>) =>
    Array.from({ length: n }, async (_, k) => {
      for (let i = k; performance.now() < attackEnds; i += n) count(cls, await one(i));
    });
  const left = (): number => Math.max(1, attackEnds - performance.now());
  await Promise.all([
    // 8 clients of pathological headers on the authenticated route.
    ...loops('pathological headers', 8, (i) =>
      exchange(hostileAgent, port, '/auth/x', { headers: headers[i % headers.length]!, timeoutMs: left() }),
    ),
    // 4 clients of distinct 2 KiB keys against the local rate limit.
    ...loops('distinct long rate-limit keys', 4, () =>
      exchange(hostileAgent, port, '/limited/x', {
        headers: { 'x-key': randomBytes(1024).toString('hex') },
        timeoutMs: left(),
      }),
    ),
    // 4 clients of tokens with unknown kids (each may make the gateway look at the slow JWKS).
    ...loops('unknown kid tokens', 4, (i) =>
      exchange(hostileAgent, port, '/auth/x', {
        headers: { authorization: `Bearer ${unknownKid[i % unknownKid.length]}`, 'x-version': 'v1' },
        timeoutMs: left(),
      }),
    ),
    // 100 requests at a time to the upstream that never answers.
    ...loops('hanging endpoint', 100, () => exchange(hostileAgent, port, '/hang/x', { timeoutMs: left() })),
    // 50 slow uploads: a 1 MiB body announced, a byte less often than client_body_timeout.
    ...loops('slow uploads', 50, (i) => slowUpload(port, i, attackEnds, data.bodyTimeoutMs + 1000)),
  ]);
  hostileAgent.destroy();
  process.send!({ hostile });
}

/** A POST announcing 1 MiB and sending a byte every `everyMs` until the gateway answers or the attack ends. */
function slowUpload(port: number, i: number, until: number, everyMs: number): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    let stop: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearInterval(timer);
      clearTimeout(stop);
      s.destroy();
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0), ms: performance.now() - started });
    };
    s.on('connect', () => {
      s.write(`POST /upload/${i} HTTP/1.1\r\nHost: soak\r\nContent-Length: 1048576\r\n\r\nx`);
      timer = setInterval(() => s.write('x'), everyMs);
      stop = setTimeout(finish, Math.max(1, until - performance.now()));
    });
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      answer += d;
      if (answer.includes('\r\n\r\n')) finish();
    });
    s.on('close', finish);
    s.on('error', finish);
  });
}

if (opts['hostile-child']) await hostileClients();
else process.exitCode = await main();
