/**
 * `npm run bench:stream-memory`: a 200 MB download and a 200 MB upload through `gateway start`,
 * with the gateway's RSS (whole process tree) sampled every 20 ms; prints the peak rise over the
 * idle RSS measured just before each transfer. The target: under 32 MB each (see docs/bench.md).
 *
 * Environment: STREAM_MB (default 200), STREAM_SLOW_CLIENT=1 (the download's client reads at about
 * 20 MB/s, so the gateway must hold back the upstream instead of buffering).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { treeRss } from './startup.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const MB = Number(process.env.STREAM_MB ?? 200);
const SLOW = process.env.STREAM_SLOW_CLIENT === '1';
const CHUNK = Buffer.alloc(64 * 1024, 'x');

// The upstream: GET /dl streams MB megabytes, POST /ul counts and discards what it receives.
const upstream = createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(MB * 1024 * 1024) });
    let left = (MB * 1024 * 1024) / CHUNK.length;
    const pump = (): void => {
      while (left > 0) {
        left--;
        if (!res.write(CHUNK)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
    return;
  }
  let n = 0;
  req.on('data', (c: Buffer) => {
    n += c.length;
  });
  req.on('end', () => res.end(String(n)));
});
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
const upPort = (upstream.address() as { port: number }).port;

const file = join(tmpdir(), `tollgate-stream-${process.pid}.yaml`);
writeFileSync(
  file,
  `_format_version: "3.0"\nservices:\n  - name: big\n    url: http://127.0.0.1:${upPort}\n    routes:\n      - name: big\n        paths: [/big]\n`,
);
const port = 20000 + Math.floor(Math.random() * 20000);
const gw = spawn(
  process.execPath,
  [
    `${root}bin/gateway`,
    'start',
    '--config',
    file,
    '--proxy-listen',
    `127.0.0.1:${port}`,
    '--admin-listen',
    '127.0.0.1:0',
    '--no-watch',
    '--no-access-log',
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
const url = `http://127.0.0.1:${port}/big`;
for (let i = 0; i < 600; i++) {
  try {
    const r = await request(url, { method: 'POST', body: 'warm' });
    await r.body.dump();
    break;
  } catch {
    await sleep(50);
  }
}

async function peakDuring(work: () => Promise<void>): Promise<{ idle: number; peak: number }> {
  global.gc?.();
  await sleep(1000);
  const idle = treeRss(gw.pid!);
  let peak = idle;
  const timer = setInterval(() => {
    peak = Math.max(peak, treeRss(gw.pid!));
  }, 20);
  await work();
  clearInterval(timer);
  peak = Math.max(peak, treeRss(gw.pid!));
  return { idle, peak };
}

const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
try {
  const down = await peakDuring(async () => {
    const res = await request(`${url}/dl`);
    let n = 0;
    for await (const c of res.body) {
      n += (c as Buffer).length;
      if (SLOW) await sleep(3);
    }
    if (n !== MB * 1024 * 1024) throw new Error(`download got ${n} bytes`);
  });
  process.stdout.write(
    `download ${MB} MB: idle ${mb(down.idle)} MB, peak ${mb(down.peak)} MB, rise ${mb(down.peak - down.idle)} MB\n`,
  );
  const up = await peakDuring(async () => {
    let left = (MB * 1024 * 1024) / CHUNK.length;
    const body = Readable.from(
      (function* () {
        while (left-- > 0) yield CHUNK;
      })(),
    );
    const res = await request(`${url}/ul`, { method: 'POST', body });
    const got = Number(await res.body.text());
    if (got !== MB * 1024 * 1024) throw new Error(`upload delivered ${got} bytes`);
  });
  process.stdout.write(
    `upload ${MB} MB: idle ${mb(up.idle)} MB, peak ${mb(up.peak)} MB, rise ${mb(up.peak - up.idle)} MB\n`,
  );
} finally {
  gw.kill('SIGTERM');
  upstream.close();
}
