// The config watcher against real files: what it records as handled is the state its decision was made on.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { ConfigWatcher, fileRefsIn, type WatchTarget } from '../../src/config/watch.ts';
import { createLogger } from '../../src/log.ts';
import { eventually } from '../ops/support.ts';

/** A target whose "config" is good when the file starts with `good`; it references the `${file:...}` it names. */
class FileTarget implements WatchTarget {
  readonly loaded: string[] = [];
  readonly reported: string[] = [];
  /** What each good reload read from the files its config references, in order. */
  readonly refContents: string[][] = [];
  refs: string[] = [];
  /** Runs while a reload is under way, or right after a failure is reported (an operator's next save). */
  duringReload: (() => void) | null = null;
  afterReport: (() => void) | null = null;
  /** Runs once a good config and its referenced files have been read, before the reload returns. */
  afterLoad: (() => void) | null = null;
  private lastText = '';

  constructor(readonly file: string) {}

  async reload(): Promise<{ ok: boolean }> {
    const text = readFileSync(this.file, 'utf8');
    this.lastText = text;
    const hook = this.duringReload;
    this.duringReload = null;
    hook?.();
    if (!text.startsWith('good')) return { ok: false };
    this.loaded.push(text);
    this.refs = fileRefsIn(text, dirname(this.file));
    this.refContents.push(this.refs.map((f) => readFileSync(f, 'utf8')));
    const after = this.afterLoad;
    this.afterLoad = null;
    after?.();
    return { ok: true };
  }
  reportFailure(): void {
    this.reported.push(this.lastText);
    const hook = this.afterReport;
    this.afterReport = null;
    hook?.();
  }
  referencedFiles(): readonly string[] {
    return this.refs;
  }
}

async function watching(
  first: string,
  fn: (file: string, target: FileTarget, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-watch-'));
  const file = join(dir, 'gateway.yaml');
  await writeFile(file, first);
  const target = new FileTarget(file);
  const w = new ConfigWatcher({ configFile: file, target, log: createLogger({ level: 'silent' }), settleMs: 100 });
  await w.start();
  try {
    await fn(file, target, dir);
  } finally {
    await w.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('a save made while a failed config is being reported is reported too, when the failed one referenced a new directory', async () => {
  await watching('good v1\n', async (file, target) => {
    // The broken config names a file in a directory the watcher did not watch: it starts watching it.
    target.afterReport = () => writeFileSync(file, 'bad second\n');
    await writeFile(file, 'bad first ${file:keys/new.pem}\n');
    await eventually(async () => (target.reported.length >= 1 ? true : undefined), 'the first failure');
    await eventually(async () => (target.reported.length >= 2 ? true : undefined), 'the save made meanwhile');
    assert.deepEqual(target.reported, ['bad first ${file:keys/new.pem}\n', 'bad second\n']);
  });
});

test('a save made while a good config is loading is loaded next, when the loaded one referenced a new directory', async () => {
  await watching('good v1\n', async (file, target, dir) => {
    await mkdir(join(dir, 'keys'));
    await writeFile(join(dir, 'keys', 'key.pem'), 'pem');
    target.duringReload = () => writeFileSync(file, 'good v3\n');
    await writeFile(file, 'good v2 ${file:keys/key.pem}\n');
    await eventually(async () => (target.loaded.at(-1) === 'good v3\n' ? true : undefined), 'the save made meanwhile');
    assert.deepEqual(target.loaded, ['good v2 ${file:keys/key.pem}\n', 'good v3\n']);
  });
});

for (const where of ['the config directory', 'a new directory']) {
  test(`a file first referenced by a reload and changed right after it was read is loaded again, in ${where}`, async () => {
    await watching('good v1\n', async (file, target, dir) => {
      const sub = where === 'a new directory' ? 'keys' : '.';
      await mkdir(join(dir, sub), { recursive: true });
      const pem = join(dir, sub, 'partner.pem');
      await writeFile(pem, 'key A');
      // The operator's next save lands between the loader's read and the watcher's look at the new file.
      target.afterLoad = () => writeFileSync(pem, 'key B');
      await writeFile(file, `good v2 \${file:${sub}/partner.pem}\n`);
      await eventually(
        async () => (target.refContents.at(-1)?.[0] === 'key B' ? true : undefined),
        'the changed file loaded',
      );
      assert.deepEqual(
        target.refContents.map((c) => c[0]),
        ['key A', 'key B'],
      );
    });
  });
}
