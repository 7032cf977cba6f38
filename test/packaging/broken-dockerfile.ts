// Broken copies of the real Dockerfile, for the tests that the image check refuses them.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkImage } from './image-check.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const original = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
const scratch = await mkdtemp(join(tmpdir(), 'tollgate-dockerfiles-'));
after(() => rm(scratch, { recursive: true, force: true }));

let n = 0;
/** A copy of the real Dockerfile with one change; the change must apply, or the test is stale. */
export async function brokenCopy(from: string | RegExp, to: string): Promise<string> {
  const changed = original.replace(from, to);
  assert.notEqual(changed, original, `the Dockerfile no longer contains ${String(from)}: update this test`);
  const file = join(scratch, `Dockerfile.${++n}`);
  await writeFile(file, changed);
  return file;
}

/** The image check of `dockerfile` (with the repository as its context) fails, saying `why`. */
export function failsCheck(dockerfile: string, why: RegExp): Promise<void> {
  return assert.rejects(checkImage({ dockerfile, context: ROOT }), why);
}
