// The compiled tree: `dist/` holds src/ as plain JavaScript, one file per source file at the same
// depth (so `new URL('../../schemas/...', import.meta.url)` still points at the repository), plus
// single-file bundles of the third-party packages the gateway loads at start-up (dist/vendor/).
//
// Why: running the sources through tsx costs 0.7-1 s of CPU and ~35 MB at start-up on Node 20
// (its loader hooks run for every module, off-thread), and resolving CommonJS packages file by file
// (undici alone is ~100 files) costs as much again. `npm install` and `npm ci` build the tree (the
// `prepare` script); bin/gateway uses it only while it is as new as src/ (else it runs the sources
// through tsx, so an edited checkout never runs stale code).
//
// `node bin/compiled.mjs` (and `prepare`) builds, then fills the validator cache (see
// warmValidatorCache); bin/gateway imports `compiledEntry()`.
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SRC = join(ROOT, 'src');
const SCHEMAS = join(ROOT, 'schemas');
const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, 'build.json');
/** Bumped when the layout of dist/ changes, so an older tree is not used. */
const LAYOUT = 3;

/**
 * Packages bundled into dist/vendor/<name>.js for the static imports of the sources (a dynamic
 * `import()` of a package stays a plain import: those are loaded only when a config needs them).
 * undici's bundle holds only the dispatcher API the gateway uses (its index also loads fetch,
 * WebSocket, the cache stores and the mocks, ~70 ms more).
 */
const VENDOR = {
  undici: (dir) => `
    import Client from ${JSON.stringify(join(dir, 'lib/dispatcher/client.js'))};
    import Dispatcher from ${JSON.stringify(join(dir, 'lib/dispatcher/dispatcher.js'))};
    import Agent from ${JSON.stringify(join(dir, 'lib/dispatcher/agent.js'))};
    import Pool from ${JSON.stringify(join(dir, 'lib/dispatcher/pool.js'))};
    import ProxyAgent from ${JSON.stringify(join(dir, 'lib/dispatcher/proxy-agent.js'))};
    import api from ${JSON.stringify(join(dir, 'lib/api/index.js'))};
    import errors from ${JSON.stringify(join(dir, 'lib/core/errors.js'))};
    import globals from ${JSON.stringify(join(dir, 'lib/global.js'))};
    import constants from ${JSON.stringify(join(dir, 'lib/core/constants.js'))};
    import buildConnector from ${JSON.stringify(join(dir, 'lib/core/connect.js'))};
    // As undici's index does: request()/stream()/upgrade() on every dispatcher.
    Object.assign(Dispatcher.prototype, api);
    // undici's top-level request(): the same call on the dispatcher in opts, else the global one.
    function request(url, opts) {
      const u = typeof url === 'string' ? new URL(url) : url;
      const { dispatcher = globals.getGlobalDispatcher(), ...rest } = opts ?? {};
      return api.request.call(dispatcher, {
        ...rest,
        origin: u.origin,
        path: u.search ? u.pathname + u.search : u.pathname,
        method: rest.method || (rest.body ? 'PUT' : 'GET'),
      });
    }
    // The table of well-known header names the gateway adds its own to (src/upstream/header-names.ts).
    const { headerNameLowerCasedRecord } = constants;
    export { Agent, buildConnector, Client, Dispatcher, errors, headerNameLowerCasedRecord, Pool, ProxyAgent, request };`,
  yaml: commonJs('yaml'),
  pino: commonJs('pino'),
  jose: () => `export * from 'jose';`,
  chokidar: () => `export * from 'chokidar';`,
};

/** A CommonJS package's exports as ES module named exports (the names it has when built). */
function commonJs(name) {
  return () => {
    const m = createRequire(join(ROOT, 'package.json'))(name);
    const names = Object.keys(m).filter((k) => k !== 'default' && /^[A-Za-z_$][\w$]*$/.test(k));
    return `import m from '${name}';\nexport const { ${names.join(', ')} } = m;\nexport default m;`;
  };
}

/**
 * What the tree is built from: package.json, the installed packages, src/'s folders and files, and
 * schemas/' (inlined into the modules that import them: a changed default must not run stale).
 */
function inputs() {
  const paths = [join(ROOT, 'package.json'), join(ROOT, 'node_modules/.package-lock.json'), SRC, SCHEMAS];
  for (const f of readdirSync(SRC, { recursive: true, withFileTypes: true })) {
    const path = join(f.parentPath ?? f.path, f.name);
    if (f.isDirectory() || (/\.(?:ts|mjs)$/.test(f.name) && !f.name.endsWith('.test.ts'))) paths.push(path);
  }
  for (const f of readdirSync(SCHEMAS, { recursive: true, withFileTypes: true })) {
    if (f.isDirectory() || f.name.endsWith('.json')) paths.push(join(f.parentPath ?? f.path, f.name));
  }
  return paths;
}

/** The newest modification time among `paths` (a folder's changes when a file is added or removed), or Infinity if one is gone. */
function newest(paths) {
  let max = 0;
  for (const p of paths) {
    const s = statSync(p, { throwIfNoEntry: false });
    if (s === undefined) return Number.POSITIVE_INFINITY;
    if (s.mtimeMs > max) max = s.mtimeMs;
  }
  return max;
}

/**
 * The compiled CLI's URL when dist/ is built and nothing it was built from changed since, else
 * null. Set TOLLGATE_RUN_SOURCES=1 to run the sources through tsx regardless.
 */
export function compiledEntry() {
  if (process.env.TOLLGATE_RUN_SOURCES === '1') return null;
  try {
    const stamp = JSON.parse(readFileSync(STAMP, 'utf8'));
    if (stamp.layout !== LAYOUT) return null;
    // Stats only (no directory walk): a few ms, paid by every start.
    if (newest(stamp.inputs.map((p) => join(ROOT, p))) > stamp.newest) return null;
    return pathToFileURL(join(DIST, 'cli/main.js')).href;
  } catch {
    return null;
  }
}

/**
 * An esbuild plugin that compiles each entry point to one file of its own: every import stays an
 * import, `./x.ts` becomes `./x.js`, and `tollgate` or `tollgate/x` becomes the relative path of
 * the file package.json exports. JSON imports are inlined (Node 20 warns on JSON modules). With
 * `vendorDir`, the packages in VENDOR resolve to their bundles there (dist/'s layout).
 *
 * @param {{ name: string, exports: Record<string, string> }} pkg package.json
 * @param {string} [vendorDir] where the vendor bundles are, as seen from the sources
 */
export function oneFilePerSource(pkg, vendorDir) {
  const selfExport = (spec) => {
    if (spec !== pkg.name && !spec.startsWith(`${pkg.name}/`)) return undefined;
    return pkg.exports[spec === pkg.name ? '.' : `./${spec.slice(pkg.name.length + 1)}`];
  };
  const relativeJs = (from, to) => {
    const rel = relative(dirname(from), to).replace(/\.ts$/, '.js');
    return rel.startsWith('.') ? rel : `./${rel}`;
  };
  return {
    name: 'one-file-per-source',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (a) => {
        if (a.kind === 'entry-point') return undefined;
        if (a.path.endsWith('.json')) return undefined;
        if (a.path.startsWith('.')) return { path: a.path.replace(/\.ts$/, '.js'), external: true };
        const self = selfExport(a.path);
        if (self !== undefined) return { path: relativeJs(a.importer, join(ROOT, self)), external: true };
        if (vendorDir === undefined) return { path: a.path, external: true };
        if (a.kind === 'import-statement' && Object.hasOwn(VENDOR, a.path)) {
          return { path: relativeJs(a.importer, join(vendorDir, `${a.path}.js`)), external: true };
        }
        // undici's internal header table: the bundled undici's own copy, which its requests read.
        if (a.path === 'undici/lib/core/constants.js') {
          return { path: relativeJs(a.importer, join(vendorDir, 'undici.js')), external: true };
        }
        return { path: a.path, external: true };
      });
    },
  };
}

/** Builds dist/ with esbuild (a direct dependency; tsx pins the same minor). */
export async function build() {
  const paths = inputs().filter((p) => existsSync(p));
  const state = { newest: newest(paths), inputs: paths.map((p) => relative(ROOT, p)) };
  const require = createRequire(createRequire(import.meta.url).resolve('tsx/package.json'));
  const esbuild = require('esbuild');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  rmSync(DIST, { recursive: true, force: true });
  const banner = {
    js: "import { createRequire as __tollgateRequire } from 'node:module';\nconst require = __tollgateRequire(import.meta.url);",
  };
  const common = {
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
    legalComments: 'none',
  };

  const packageDir = (name) => dirname(createRequire(join(ROOT, 'package.json')).resolve(name));
  for (const [name, entry] of Object.entries(VENDOR)) {
    const contents = entry(name === 'undici' ? packageDir('undici') : '');
    await esbuild.build({
      ...common,
      stdin: { contents, resolveDir: ROOT, loader: 'js', sourcefile: `vendor-${name}.js` },
      outfile: join(DIST, 'vendor', `${name}.js`),
      banner,
    });
  }

  const files = readdirSync(SRC, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  await esbuild.build({
    ...common,
    entryPoints: files.map((f) => join(SRC, f)),
    outdir: DIST,
    outbase: SRC,
    plugins: [oneFilePerSource(pkg, join(SRC, 'vendor'))],
  });
  copyFileSync(join(SRC, 'config/parse-worker.mjs'), join(DIST, 'config/parse-worker.mjs'));
  writeFileSync(STAMP, `${JSON.stringify({ layout: LAYOUT, ...state })}\n`);
}

/** `npm install`'s build: never fails the install (without dist/, bin/gateway runs the sources through tsx). */
export async function buildOrExplain() {
  try {
    await build();
  } catch (err) {
    rmSync(DIST, { recursive: true, force: true });
    process.stderr.write(`tollgate: no compiled tree (${err.message}); bin/gateway will run the sources through tsx\n`);
  }
  await warmValidatorCache();
}

/**
 * Fills the Ajv standalone cache (node_modules/.cache/tollgate) before the first start or
 * validate: compiling a validator costs that process 50-350 ms of CPU. Validated once, together:
 * the root gateway.yaml; a file naming every built-in plugin (each plugin's config validator);
 * and, since the file's validator depends on which credential kinds the config's plugins declare,
 * one file per credential plugin alone and with acl (the common sets: a config using key-auth and
 * rate-limiting needs the key-auth one). The sample files are invalid on purpose (no plugin
 * config): compiling is what counts. A failure changes nothing (the first start compiles instead).
 */
async function warmValidatorCache() {
  const files = [];
  const config = join(ROOT, 'gateway.yaml');
  if (existsSync(config)) files.push(config);
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-warm-'));
  try {
    if (existsSync(join(DIST, 'plugins/registry.js'))) {
      const registry = await import(pathToFileURL(join(DIST, 'plugins/registry.js')).href);
      const sample = (name, plugins) => {
        const file = join(dir, `${name}.yaml`);
        const list = plugins.map((p) => `  - name: ${p}`).join('\n');
        writeFileSync(file, `_format_version: "3.0"\nplugins:\n${list}\n`);
        files.push(file);
      };
      sample('all', [...registry.builtinPluginNames]);
      for (const owner of new Set(Object.values(registry.builtinEntityOwners))) {
        sample(owner, [owner]);
        if (owner !== 'acl') sample(`${owner}-acl`, [owner, 'acl']);
      }
    }
    if (files.length > 0) {
      spawnSync(process.execPath, [join(ROOT, 'bin/gateway'), 'validate', ...files], {
        stdio: 'ignore',
        timeout: 120_000,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await build();
  await warmValidatorCache();
}
