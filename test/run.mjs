// `npm run test:unit`: the suite on JavaScript compiled once, instead of every test process
// loading tsx.
//
// Why: node's test runner starts one process per file, and tsx costs each of them 0.4 s of CPU
// to start plus a transform per module, its loader hooks running off-thread on Node 20; over 400
// files that was about a third of the suite's time. Here esbuild compiles src/, test/, examples/
// and bench/ once (a few seconds) into .cache/test-build/, each `x.ts` as `x.js` at the same
// path, beside links to the repository's other top-level entries (node_modules, package.json,
// bin, schemas). Each file's `import.meta.url` is its source's, so every path a test or the
// gateway builds from it (fixtures, schemas, docs, sources to read) is the repository's own, and
// the tree holds nothing a test listing a folder could trip on. Child processes a test starts
// run bin/gateway, or tsx where they name it, as before.
//
//   node test/run.mjs [node --test options] [test files, default: every *.test.ts]
//
// TOLLGATE_TEST_TSX=1 runs the files through tsx instead.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { oneFilePerSource } from '../bin/compiled.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const OUT = join(ROOT, '.cache', 'test-build');
/** The folders holding TypeScript; everything else in the repository is linked as it is. */
const TREES = ['src', 'test', 'examples', 'bench'];
/**
 * Modules that find the gateway's own modules from their URL, and so keep the compiled one: the
 * custom plugin loader resolves `tollgate` to the tree it runs from (one copy of ProxyError).
 */
const OWN_URL = new Set(['src/config/custom-plugins.ts']);
/**
 * Test files run at once: one more than the cores. Many files spend seconds waiting on timers,
 * sockets and child processes (a worker's missed heartbeats, an IdP's deadline), so with one file
 * per core the cores sat idle for a fifth of the run; a whole `npm test` on 2 cores took 691 s at
 * 2 files and 611 s at 3. At most 4, so a large machine does not start dozens of gateways and
 * browsers at once.
 */
const CONCURRENCY = Math.min(availableParallelism() + 1, 4);
const NODE_TEST = ['--test-reporter=spec', `--test-concurrency=${CONCURRENCY}`, '--test-timeout=180000'];

/**
 * The image tests' build cache for this run (test/packaging/layer-cache.ts): their replays install
 * the same lockfile once, as Docker reuses a layer. Emptied before the run and removed after it.
 */
const LAYERS = join(ROOT, '.cache', 'image-layers');

const args = process.argv.slice(2);
const options = args.filter((a) => a.startsWith('--'));
const named = args.filter((a) => !a.startsWith('--'));
const files = named.length > 0 ? named.map((f) => resolve(f)) : testFiles();

if (process.env.TOLLGATE_TEST_TSX === '1') {
  run(['--import', 'tsx', '--test', ...NODE_TEST, ...options, ...files]);
} else {
  await buildMirror();
  const compiled = files.map((f) => join(OUT, relative(ROOT, f)).replace(/\.ts$/, '.js'));
  run(['--enable-source-maps', '--test', ...NODE_TEST, ...options, ...compiled]);
}

function testFiles() {
  const out = [];
  for (const tree of ['test', 'src', 'examples']) {
    for (const f of readdirSync(join(ROOT, tree), { recursive: true })) {
      const path = String(f);
      if (path.endsWith('.test.ts') && !path.includes('node_modules')) out.push(join(ROOT, tree, path));
    }
  }
  return out.sort();
}

async function buildMirror() {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  for (const e of readdirSync(ROOT)) {
    if (e !== '.cache' && e !== '.git' && !TREES.includes(e)) symlinkSync(join(ROOT, e), join(OUT, e));
  }
  const sources = TREES.flatMap((tree) =>
    readdirSync(join(ROOT, tree), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.includes('node_modules'))
      .map((f) => join(ROOT, tree, f)),
  );
  const esbuild = createRequire(join(ROOT, 'package.json'))('esbuild');
  await esbuild.build({
    entryPoints: sources,
    outdir: OUT,
    outbase: ROOT,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'inline',
    sourcesContent: false,
    logLevel: 'warning',
    plugins: [sourceLocation(), oneFilePerSource(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')))],
  });
}

/** An esbuild plugin: `import.meta.url`, `dirname` and `filename` name the source file, not the compiled one. */
function sourceLocation() {
  return {
    name: 'source-location',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, (a) => {
        const text = readFileSync(a.path, 'utf8');
        if (OWN_URL.has(relative(ROOT, a.path))) return { contents: text, loader: 'ts' };
        const contents = text
          .replaceAll(/\bimport\.meta\.url\b/g, JSON.stringify(pathToFileURL(a.path).href))
          .replaceAll(/\bimport\.meta\.dirname\b/g, JSON.stringify(dirname(a.path)))
          .replaceAll(/\bimport\.meta\.filename\b/g, JSON.stringify(a.path));
        return { contents, loader: 'ts' };
      });
    },
  };
}

function run(argv) {
  rmSync(LAYERS, { recursive: true, force: true });
  const env = { ...process.env, TOLLGATE_IMAGE_LAYERS: LAYERS };
  const child = spawn(process.execPath, argv, { stdio: 'inherit', env });
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  child.on('exit', (code, signal) => {
    rmSync(LAYERS, { recursive: true, force: true });
    process.exitCode = code ?? (signal === null ? 1 : 128);
  });
}
