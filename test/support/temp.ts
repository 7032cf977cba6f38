/**
 * Temp dirs for a test file, removed when its process exits: `node --test` runs each file in a
 * process of its own, so a dir outlives every test of the file that may still read it (a gateway
 * child's config, a CA's keys) and is gone before the next run, pass or fail.
 *
 * @example
 * const dir = tempDir('tollgate-cli');
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();

function removeAll(): void {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
}

/** A fresh dir `<tmpdir>/<prefix>-XXXXXX`, removed at the process's exit. */
export function tempDir(prefix: string): string {
  if (made.size === 0) process.once('exit', removeAll);
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  made.add(dir);
  return dir;
}
