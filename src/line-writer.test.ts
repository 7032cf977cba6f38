// LineWriter on real file descriptors. A pipe nobody reads is covered end to end, through a real
// gateway process, by test/ops/stdout.test.ts.
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LineWriter } from './line-writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-lines-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('lines are held until the batch fills or a flush, then written whole and in order', () => {
  const file = join(dir, 'batch.log');
  const fd = openSync(file, 'w');
  try {
    const w = new LineWriter(fd, { batchBytes: 1024 });
    w.write('{"n":1}\n');
    w.write('{"n":2,"s":"é"}\n');
    assert.equal(readFileSync(file, 'utf8'), '', 'held in the batch');
    w.writeNow('{"n":3}\n');
    assert.equal(readFileSync(file, 'utf8'), '{"n":1}\n{"n":2,"s":"é"}\n{"n":3}\n');
    for (let i = 0; i < 200; i++) w.write(`{"i":${i}}\n`);
    assert.ok(w.pendingBytes < 1024, 'a full batch is written without a flush');
    w.flush();
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 203);
    assert.equal(lines.at(-1), '{"i":199}');
    assert.equal(w.dropped, 0);
  } finally {
    closeSync(fd);
  }
});

test('a line longer than the batch is kept whole', () => {
  const file = join(dir, 'long.log');
  const fd = openSync(file, 'w');
  try {
    const w = new LineWriter(fd, { batchBytes: 64 });
    const long = `{"path":"/${'x'.repeat(10_000)}"}\n`;
    w.write(long);
    w.flush();
    assert.equal(readFileSync(file, 'utf8'), long);
  } finally {
    closeSync(fd);
  }
});

test('once the fd is gone, lines are dropped and counted, never thrown', () => {
  const fd = openSync(join(dir, 'closed.log'), 'w');
  const w = new LineWriter(fd, { batchBytes: 64 });
  closeSync(fd);
  w.writeNow('{"n":1}\n');
  w.write('{"n":2}\n');
  w.write('{"n":3}\n');
  w.flush();
  assert.equal(w.dropped, 3, 'the line that failed and those after it');
  assert.equal(w.pendingBytes, 0);
});
