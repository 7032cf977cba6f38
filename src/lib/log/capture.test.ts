// The gateway's log lines as capture sees them, through the real logger (src/log.ts): which
// request a line is kept with, and which lines go to the runtime sink.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../log.ts';
import {
  bindRequestLines,
  type CapturedLine,
  captureLogs,
  inRequestScope,
  logCaptureActive,
  takeRequestLines,
} from './capture.ts';

const log = createLogger({ level: 'debug', destination: { write: () => undefined } as never });

test("a line naming another request's id (a pooled connection's callback) is not kept with the scope's request", async () => {
  const runtime: CapturedLine[] = [];
  const release = captureLogs('t1', (l) => runtime.push(l));
  try {
    const req = { id: 'req-a' };
    await inRequestScope(async () => {
      bindRequestLines(req);
      await sleep(1);
      log.info({ request_id: 'req-a' }, 'mine');
      log.error({ request_id: 'req-b' }, 'about another request');
      log.info({ request_id: 'req-b' }, 'another request, info');
    });
    assert.deepEqual(
      takeRequestLines(req)!.lines.map((l) => l.msg),
      ['mine'],
    );
    assert.deepEqual(
      runtime.map((l) => [l.msg, l.fields.request_id]),
      [['about another request', 'req-b']],
    );
  } finally {
    release();
  }
});

test("a line after the request's lines were taken (its log phase) is the runtime's; after the last release nothing is kept", async () => {
  const runtime: CapturedLine[] = [];
  const release = captureLogs('t2', (l) => runtime.push(l));
  const req = { id: 'req-c' };
  let later: Promise<void> = Promise.resolve();
  inRequestScope(() => {
    bindRequestLines(req);
    later = sleep(5).then(() => log.warn('late work of the request'));
  });
  assert.equal(takeRequestLines(req)!.lines.length, 0);
  await later;
  assert.deepEqual(
    runtime.map((l) => l.msg),
    ['late work of the request'],
  );
  release();
  assert.equal(logCaptureActive(), false);
  const next = { id: 'req-d' };
  inRequestScope(() => {
    bindRequestLines(next);
    log.warn('nobody captures');
  });
  assert.equal(takeRequestLines(next), null);
  assert.equal(runtime.length, 1);
});
