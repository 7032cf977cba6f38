/**
 * Docker's build cache, for the `npm ci` steps of the image replays (image-replay.ts) of one test
 * run.
 *
 * Docker reuses a RUN step's layer when the step and what it starts from are the same. The image
 * tests replay the same Dockerfile, broken in one place each, and every replay installed the same
 * lockfile again: 8 s of CPU each on a 2-core machine, most of a replay. When
 * TOLLGATE_IMAGE_LAYERS names a folder (test/run.mjs sets one for its run and empties it first), a
 * step's result is kept there, keyed by the command, the stage's environment, the Node.js version
 * and every file of the working folder before the step except node_modules (which `npm ci` removes
 * first): package.json, the lockfile and an .npmrc are what it reads, and its lifecycle scripts may
 * read the rest. The entry is the working folder as the step left it, and a replay with the same
 * key gets it back, linked (see linkTree). Without the variable every replay runs the step, as
 * `npm run image:check` does.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a replay waits for another one running the same step before running it itself. */
const WAIT_MS = 10 * 60_000;

/**
 * Runs `step` in `dir`, or restores what the same step left there earlier in this test run.
 * Replays that ask for the same step at once wait for the first, so the install runs once.
 */
export async function cachedStep(
  dir: string,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  step: () => Promise<void>,
  log: (line: string) => void,
): Promise<void> {
  const root = process.env.TOLLGATE_IMAGE_LAYERS;
  if (root === undefined || root === '') return step();
  const entry = join(root, await stepKey(dir, argv, env));
  const lock = `${entry}.lock`;
  await mkdir(root, { recursive: true });
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    if (existsSync(entry)) {
      await restore(entry, dir);
      log('  (the same step ran earlier in this run: its result reused, as Docker reuses a layer)');
      return;
    }
    if (await tryLock(lock)) break;
    // Another replay runs this step: its result, once there, is this one's. Past the deadline
    // (a replay that died holding the lock), the step runs here uncached.
    if (Date.now() > deadline) return step();
    await sleep(200);
  }
  try {
    await step();
    const staged = `${entry}.${process.pid}.tmp`;
    linkTree(dir, staged);
    await rename(staged, entry);
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function tryLock(lock: string): Promise<boolean> {
  try {
    await mkdir(lock);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** The working folder becomes the entry: what the step removed is gone, what it wrote is there. */
async function restore(entry: string, dir: string): Promise<void> {
  for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
  linkTree(entry, dir);
}

/**
 * `cp -al`: the folders made anew, every file a hard link to the same inode. A copy of an install
 * cost half of what the install does (6,600 files); links cost a fortieth. Linked, a file changed
 * in place would change in every stage holding it: the steps replayed after `npm ci` (COPY --from,
 * which copies, and `node` scripts writing new files) never write into an install.
 */
function linkTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    if (e.isDirectory()) linkTree(src, dst);
    else if (e.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
    else linkOrCopy(src, dst);
  }
}

/** A link, or a copy where the two folders are on different filesystems (a /tmp of its own). */
function linkOrCopy(src: string, dst: string): void {
  try {
    linkSync(src, dst);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    copyFileSync(src, dst);
  }
}

async function stepKey(dir: string, argv: readonly string[], env: Readonly<Record<string, string>>): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify([process.version, argv, Object.entries(env).sort()]));
  for (const rel of await filesOf(dir, '')) {
    const abs = join(dir, rel);
    const st = await lstat(abs);
    hash.update(`\0${rel}\0${st.mode}\0`);
    if (st.isSymbolicLink()) hash.update(await readlink(abs));
    else if (st.isFile()) hash.update(await readFile(abs));
  }
  return hash.digest('hex');
}

/** Every path under `dir` but its node_modules, sorted, so the key does not depend on listing order. */
async function filesOf(dir: string, rel: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(join(dir, rel), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (rel === '' && e.name === 'node_modules') continue;
    const path = rel === '' ? e.name : `${rel}/${e.name}`;
    out.push(path);
    if (e.isDirectory()) out.push(...(await filesOf(dir, path)));
  }
  return out;
}
