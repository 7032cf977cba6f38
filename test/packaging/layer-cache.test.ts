// The image replays' build cache (layer-cache.ts): a step runs once per key, and any change to what
// it starts from runs it again.
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { tempDir } from '../support/temp.ts';
import { cachedStep } from './layer-cache.ts';

const root = tempDir('tollgate-layer-cache');
const saved = process.env.TOLLGATE_IMAGE_LAYERS;
before(() => {
  process.env.TOLLGATE_IMAGE_LAYERS = join(root, 'layers');
});
after(() => {
  if (saved === undefined) delete process.env.TOLLGATE_IMAGE_LAYERS;
  else process.env.TOLLGATE_IMAGE_LAYERS = saved;
});

let n = 0;
/** A working folder holding package.json with `text`, and a stale node_modules the step replaces. */
async function workdir(text: string): Promise<string> {
  const dir = join(root, `stage${++n}`);
  await mkdir(join(dir, 'node_modules', 'stale'), { recursive: true });
  await writeFile(join(dir, 'package.json'), text);
  return dir;
}

/** A stand-in for `npm ci`: replaces node_modules with one file naming its run. */
function install(runs: string[], dir: string): () => Promise<void> {
  return async () => {
    runs.push(dir);
    await rm(join(dir, 'node_modules'), { recursive: true, force: true });
    await mkdir(join(dir, 'node_modules'));
    await writeFile(join(dir, 'node_modules', 'installed'), `${runs.length}`);
  };
}

const quiet = (): void => {};

test('the same step on the same files runs once; the others get its result, the stale install gone', async () => {
  const runs: string[] = [];
  const a = await workdir('{"name":"a"}');
  const b = await workdir('{"name":"a"}');
  await cachedStep(a, ['npm', 'ci'], {}, install(runs, a), quiet);
  await cachedStep(b, ['npm', 'ci'], {}, install(runs, b), quiet);
  assert.deepEqual(runs, [a]);
  assert.equal(await readFile(join(b, 'node_modules', 'installed'), 'utf8'), '1');
  await assert.rejects(stat(join(b, 'node_modules', 'stale')), { code: 'ENOENT' });
  assert.equal(await readFile(join(b, 'package.json'), 'utf8'), '{"name":"a"}');
});

test('another file content, command or environment runs the step again', async () => {
  const runs: string[] = [];
  const base = await workdir('{"name":"b"}');
  await cachedStep(base, ['npm', 'ci'], {}, install(runs, base), quiet);
  const content = await workdir('{"name":"b2"}');
  await cachedStep(content, ['npm', 'ci'], {}, install(runs, content), quiet);
  const command = await workdir('{"name":"b"}');
  await cachedStep(command, ['npm', 'ci', '--omit=dev'], {}, install(runs, command), quiet);
  const env = await workdir('{"name":"b"}');
  await cachedStep(env, ['npm', 'ci'], { NODE_ENV: 'production' }, install(runs, env), quiet);
  const extra = await workdir('{"name":"b"}');
  await writeFile(join(extra, '.npmrc'), 'omit=dev\n');
  await cachedStep(extra, ['npm', 'ci'], {}, install(runs, extra), quiet);
  assert.deepEqual(runs, [base, content, command, env, extra]);
});

test('steps asked for at once run once, and a step that fails leaves nothing to reuse', async () => {
  const runs: string[] = [];
  const dirs = await Promise.all([1, 2, 3].map(() => workdir('{"name":"c"}')));
  await Promise.all(dirs.map((d) => cachedStep(d, ['npm', 'ci'], {}, install(runs, d), quiet)));
  assert.equal(runs.length, 1);
  for (const d of dirs) assert.equal(await readFile(join(d, 'node_modules', 'installed'), 'utf8'), '1');

  const failing = await workdir('{"name":"d"}');
  const refused = async (): Promise<void> => {
    runs.push(failing);
    throw new Error('npm ci refused');
  };
  await assert.rejects(cachedStep(failing, ['npm', 'ci'], {}, refused, quiet), /refused/);
  const again = await workdir('{"name":"d"}');
  await cachedStep(again, ['npm', 'ci'], {}, install(runs, again), quiet);
  assert.deepEqual(runs.slice(1), [failing, again]);
});
