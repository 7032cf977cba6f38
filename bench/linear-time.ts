/**
 * `npm run bench:linear-time`: the hostile inputs the tests send to check their answers (long
 * runs of separators, repeated keys, a megabyte of tiny headers), timed here against a budget
 * each: work linear in the input takes a fraction of it, a quadratic or backtracking path takes
 * many times it. Prints each case's time and exits 1 when one is over its budget. See
 * docs/bench.md.
 *
 * CPU budgets count this process's CPU (gateway, receivers and client all run in it), which other
 * processes of a busy machine do not stretch; wall budgets are for cases whose work is one
 * synchronous call or whose requests include a wait. `LINEAR_TIME_SCALE=2` doubles every budget
 * (a slow machine); `LINEAR_TIME_ONLY=jwt` runs the cases whose name holds that word.
 */

import { request as httpRequest } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { compileTemplate, matchTemplate, splitPath } from '../src/plugins/grpc-gateway/template.ts';
import jwtPlugin from '../src/plugins/jwt/index.ts';
import { startPlugin } from '../src/testing/index.ts';
import { startServiceGateway } from '../test/support/gateway.ts';
import { HEADER_BYTES, HEADER_FIELDS, shapes, startHostileGateway } from '../test/support/hostile-gateway.ts';
import { httpReceiver } from '../test/support/receivers.ts';

const scale = Number(process.env.LINEAR_TIME_SCALE ?? 1);
const only = process.env.LINEAR_TIME_ONLY;

interface Case {
  name: string;
  /** `cpu`: this process's CPU time; `wall`: elapsed time; `max wall`: the slowest of many requests. */
  kind: 'cpu' | 'wall' | 'max wall';
  budgetMs: number;
  /** Runs the case and returns its time in ms (throws when an answer is wrong). */
  run: () => Promise<number>;
}

function fail(what: string): never {
  throw new Error(what);
}

async function cpu(work: () => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  await work();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

async function wall(work: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

/** A TCP server answering every connection with a 1 MB head of 200,000 one-byte headers. */
async function manyHeadersServer(): Promise<{ url: string; answered: () => number; close: () => Promise<void> }> {
  const head = Buffer.from(`HTTP/1.1 200 OK\r\n${'a:1\r\n'.repeat(200_000)}Content-Length: 0\r\n\r\n`);
  let answered = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock.once('close', () => sockets.delete(sock)));
    sock.on('error', () => undefined);
    sock.once('data', () => {
      answered++;
      sock.end(head);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answered: () => answered,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!done()) fail('gave up waiting');
}

async function status(url: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(url, { headers });
  await res.arrayBuffer();
  return res.status;
}

const cases: Case[] = [
  {
    // First, as in src/upstream/header-overflow.test.ts: no undici connection exists before it.
    name: 'http-log: 8 sends to a receiver answering a megabyte of tiny headers',
    kind: 'cpu',
    // Unguarded, about 200 ms per answer; guarded, about 30.
    budgetMs: 8 * 100,
    run: async () => {
      const bad = await manyHeadersServer();
      const gw = await startServiceGateway([
        {
          name: 'logged',
          paths: ['/logged'],
          plugins: [{ name: 'http-log', config: { http_endpoint: `${bad.url}/`, queue: { max_retry_time: 0 } } }],
        },
      ]);
      try {
        // Warmed up first: the gateway's first requests compile its code.
        for (let i = 0; i < 4; i++) (await status(`${gw.url}/logged`)) === 200 || fail('not 200');
        await waitFor(() => bad.answered() >= 4);
        const target = bad.answered() + 8;
        return await cpu(async () => {
          for (let i = 0; i < 8; i++) (await status(`${gw.url}/logged`)) === 200 || fail('not 200');
          await waitFor(() => bad.answered() >= target);
          // Let the last answer's bytes reach the client's parser.
          await new Promise((r) => setTimeout(r, 200));
        });
      } finally {
        await gw.close();
        await bad.close();
      }
    },
  },
  {
    name: 'proxy: 16 upstream answers of a megabyte of tiny headers (502)',
    kind: 'cpu',
    // Unguarded, 2 to 3.6 s; stopped at the limit, about 0.6 s.
    budgetMs: 1200,
    run: async () => {
      const bad = await manyHeadersServer();
      const gw = await startServiceGateway([{ name: 'many', paths: ['/many'] }], { url: bad.url });
      try {
        (await status(`${gw.url}/many`)) === 502 || fail('not 502');
        return await cpu(async () => {
          const all = await Promise.all(Array.from({ length: 16 }, () => status(`${gw.url}/many`)));
          if (all.some((s) => s !== 502)) fail(`statuses ${all}`);
        });
      } finally {
        await gw.close();
        await bad.close();
      }
    },
  },
  {
    name: 'http-log: the entry of a query repeating one key 15,000 times',
    kind: 'cpu',
    budgetMs: 1500,
    run: async () => {
      const receiver = await httpReceiver();
      const gw = await startServiceGateway([
        {
          name: 'q',
          paths: ['/q'],
          plugins: [{ name: 'http-log', config: { http_endpoint: `http://127.0.0.1:${receiver.port}/` } }],
        },
      ]);
      try {
        return await cpu(async () => {
          await status(`${gw.url}/q?${Array(15_000).fill('a').join('&')}`);
          const entry = JSON.parse((await receiver.next()).body);
          if (entry.request.querystring.a.length !== 100) fail('not the first 100 values');
        });
      } finally {
        await gw.close();
        await receiver.close();
      }
    },
  },
  {
    name: 'jwt: 40,000 distinct ?jwt= tokens (401 Multiple tokens provided)',
    kind: 'cpu',
    budgetMs: 1000,
    run: async () => {
      const runner = await startPlugin(jwtPlugin, {});
      try {
        const query = Array.from({ length: 40_000 }, (_, i) => `jwt=t${i}`).join('&');
        return await cpu(async () => {
          const r = await runner.run({ query });
          if (r.status !== 401) fail(`status ${r.status}`);
        });
      } finally {
        await runner.close();
      }
    },
  },
  {
    name: 'jwt: 6,000 empty ?jwt= values (401 Unauthorized)',
    kind: 'cpu',
    budgetMs: 500,
    run: async () => {
      const runner = await startPlugin(jwtPlugin, {});
      try {
        return await cpu(async () => {
          const r = await runner.run({ query: 'jwt=&'.repeat(6000) });
          if (r.status !== 401) fail(`status ${r.status}`);
        });
      } finally {
        await runner.close();
      }
    },
  },
  {
    name: 'grpc-gateway: 100 matches of a 100,000-segment path on /v1/{a=*/*/*}/x/{b=**}',
    kind: 'wall',
    budgetMs: 2000,
    run: async () => {
      const t = compileTemplate('/v1/{a=*/*/*}/x/{b=**}');
      const parts = splitPath(`/v1/${'a/'.repeat(100_000)}y`)!;
      return wall(() => {
        for (let i = 0; i < 100; i++) if (matchTemplate(t, parts, [])) fail('matched');
      });
    },
  },
  {
    name: 'regexes with .*: a 20,000-character Origin, X-Version, path; an 8,000-character User-Agent',
    kind: 'max wall',
    budgetMs: 2000,
    run: async () => {
      const gw = await startServiceGateway([
        {
          name: 'c',
          paths: ['/c'],
          plugins: [
            {
              name: 'cors',
              config: { origins: ['http://.*example.*', '(?i)https://.*\\.EXAMPLE\\.com', '.*\\.example\\.org'] },
            },
          ],
        },
        { name: 'h', paths: ['/h'], headers: { 'X-Version': ['~*^v.*-beta.*$', '~*^https://.*\\.example\\.com$'] } },
        { name: 'docs', paths: ['~/docs/.*guide.*$'] },
        {
          name: 'dot',
          paths: ['/dot'],
          plugins: [{ name: 'bot-detection', config: { allow: ['^.*Googlebot.*$'], deny: ['^.*evil.*$'] } }],
        },
      ]);
      try {
        const probes: [string, Record<string, string>, number][] = [
          [`${gw.url}/c`, { origin: `http://${'x'.repeat(20_000)}` }, 200],
          [`${gw.url}/h`, { 'x-version': `v${'-'.repeat(20_000)}` }, 404],
          [`${gw.url}/docs/${'g'.repeat(20_000)}`, {}, 404],
          [`${gw.url}/dot`, { 'user-agent': `M${'e'.repeat(8000)}` }, 200],
        ];
        let slowest = 0;
        for (const [url, headers, want] of probes) {
          const ms = await wall(async () => ((await status(url, headers)) === want ? 0 : fail(`${url}: not ${want}`)));
          slowest = Math.max(slowest, ms);
        }
        return slowest;
      } finally {
        await gw.close();
      }
    },
  },
  {
    name: 'built-ins: 30 KiB pathological values in every header a plugin parses, one at a time',
    kind: 'max wall',
    budgetMs: 2000,
    run: async () => {
      const hostile = await startHostileGateway();
      const url = new URL(hostile.gw.url);
      const send = (path: string, method: string, headers: Record<string, string>) =>
        new Promise<number>((resolve, reject) => {
          const req = httpRequest(
            { host: url.hostname, port: url.port, path, method, headers, maxHeaderSize: 256 * 1024 },
            (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            },
          );
          req.on('error', reject);
          req.end();
        });
      try {
        let slowest = 0;
        for (const [route, header] of HEADER_FIELDS) {
          for (const value of Object.values(shapes(HEADER_BYTES))) {
            const headers: Record<string, string> = { [header]: value, connection: 'close' };
            if (route === '/cors') headers['access-control-request-method'] = 'GET';
            const method = route === '/cors' ? 'OPTIONS' : 'GET';
            const ms = await wall(async () => {
              const s = await send(`${route}/x`, method, headers);
              if (s <= 0 || s >= 600) fail(`${route} ${header}: status ${s}`);
            });
            slowest = Math.max(slowest, ms);
          }
        }
        return slowest;
      } finally {
        await hostile.close();
      }
    },
  },
];

let over = 0;
for (const c of cases) {
  if (only !== undefined && !c.name.includes(only)) continue;
  const budget = c.budgetMs * scale;
  const ms = await c.run();
  const verdict = ms < budget ? 'ok' : 'OVER';
  if (verdict === 'OVER') over++;
  process.stdout.write(
    `${verdict.padEnd(4)} ${ms.toFixed(0).padStart(6)} ms ${c.kind.padEnd(8)} (budget ${budget} ms)  ${c.name}\n`,
  );
}
if (over > 0) {
  process.stdout.write(`${over} case(s) over budget: super-linear work, or a machine too busy to tell (rerun)\n`);
  process.exit(1);
}
process.exit(0);
