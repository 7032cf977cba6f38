// A stdout nobody reads (a hung log shipper, a full container log pipe) must not stall traffic: a
// real `gateway start` whose stdout pipe the test stops reading keeps answering, holds a bounded
// backlog, drops and counts what does not fit, and says so once the pipe is read again.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Pool } from 'undici';
import { eventually, type GatewayProcess, parsePrometheus, spawnGateway, sumOf } from './support.ts';

let dir: string;
let file: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-stdout-'));
  file = join(dir, 'gateway.yaml');
  await writeFile(
    file,
    '_format_version: "3.0"\nservices:\n  - { name: echo, url: "echo://", routes: [{ name: echo, paths: [/echo] }] }\n',
  );
});
after(() => rm(dir, { recursive: true, force: true }));

/** Access lines are about 6 KB each: 2,000 of them are more than the 4 MiB each gateway process keeps waiting. */
const PATH = `/echo/${'a'.repeat(6000)}`;
const REQUESTS = 2000;

test('a stdout that is not read: every request is answered, the overflow is dropped, counted and reported', async () => {
  const gw = await spawnGateway(file);
  try {
    await stuckStdout(gw);
  } finally {
    await gw.kill();
  }
});

test('with --workers 2 sharing the pipe, every line arrives whole', async () => {
  const gw = await spawnGateway(file, ['--workers', '2']);
  try {
    await stuckStdout(gw);
  } finally {
    await gw.kill();
  }
});

async function stuckStdout(gw: GatewayProcess): Promise<void> {
  const accessLines = () =>
    gw.lines.filter((l) => l.type === 'access' && String(l.path).startsWith('/echo/aaa')).length;
  gw.proc.stdout!.pause();

  const pool = new Pool(gw.proxy, { connections: 8 });
  try {
    let next = 0;
    const statuses: number[] = [];
    const client = async () => {
      while (next < REQUESTS) {
        next++;
        // A stalled gateway fails here: no answer within the deadline.
        const res = await pool.request({ path: PATH, method: 'GET', headersTimeout: 20_000, bodyTimeout: 20_000 });
        await res.body.dump();
        statuses.push(res.statusCode);
      }
    };
    await Promise.all(Array.from({ length: 8 }, client));
    assert.equal(statuses.length, REQUESTS);
    assert.deepEqual(new Set(statuses), new Set([200]));
  } finally {
    await pool.close();
  }

  // The metric says lines were dropped while nobody read.
  const metrics = parsePrometheus(await (await fetch(`${gw.admin}/metrics`)).text());
  const dropped = sumOf(metrics, 'tollgate_stdout_lines_dropped_total');
  assert.ok(dropped > 0, 'some lines were dropped');
  assert.ok(dropped < REQUESTS, 'the backlog was kept, not thrown away');

  gw.proc.stdout!.resume();
  // Once read again: the backlog arrives as whole lines, one warning counts what was lost, and
  // every request is either logged or counted, none twice.
  const warning = await gw.waitForLine(
    (l) => String(l.msg).startsWith('log lines dropped'),
    'the dropped-lines warning',
    10_000,
  );
  assert.equal(warning.level, 'warn');
  await eventually(async () => {
    assert.deepEqual(
      gw.lines.filter((l) => l.unparsed === true),
      [],
      'no line was cut',
    );
    const reported = gw.lines
      .filter((l) => String(l.msg).startsWith('log lines dropped'))
      .reduce((n, l) => n + Number(l.dropped), 0);
    return accessLines() + reported === REQUESTS ? true : undefined;
  }, 'every request logged or counted as dropped');
  assert.equal(
    sumOf(parsePrometheus(await (await fetch(`${gw.admin}/metrics`)).text()), 'tollgate_stdout_lines_dropped_total'),
    dropped,
  );

  // And logging goes on.
  const logged = accessLines();
  assert.equal((await fetch(`${gw.proxy}${PATH}`)).status, 200);
  await eventually(async () => (accessLines() === logged + 1 ? true : undefined), 'the next access line');
}
