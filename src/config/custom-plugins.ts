/**
 * Custom plugins: `_tollgate.custom_plugins` lists plugin folders or module files, relative to
 * the config file. Each is a TypeScript or JavaScript ES module whose default export is a
 * `PluginDefinition` (the contract the built-ins use). They load with `import()` under tsx, so
 * a `.ts` plugin needs no build step.
 *
 * Why a resolve hook: ES modules cannot be unloaded, and `import()` of a URL already imported
 * returns the cached module. A plugin is imported under a URL carrying a content token
 * (`?tollgate-plugin=<sha256 of the plugin's files>`), and the hook below passes that token on
 * to every file the plugin imports (outside node_modules and Tollgate itself). A change to any
 * file of a plugin folder gives a new token, hence a fresh module graph; an unchanged plugin keeps
 * its token and its already-loaded modules, so reloads that do not touch plugins cost nothing
 * and do not grow memory.
 *
 * Problems are reported as located issues (code CUSTOM_PLUGIN) at `_tollgate.custom_plugins[i]`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import nodeModule from 'node:module';
import { dirname, isAbsolute, join, relative, resolve as resolvePath, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError, type ConfigIssue, configIssue } from '../errors.ts';
import type { PluginDefinition } from '../pipeline/plugin.ts';
import { entityDeclarationProblem } from './entity-schema.ts';
import { type LoadOptions, loadConfigText } from './load.ts';
import type { GatewayConfig } from './model.ts';
import { parseYamlOffThread } from './parse-off-thread.ts';
import { MAX_FILES, sourceFiles } from './plugin-folders.ts';
import { pluginValidator, validateGateway } from './schema.ts';
import { type ParsedYaml, parseYaml } from './yaml.ts';

/** What `loadCustomPlugins` found. */
export interface CustomPluginSet {
  /** The base plugins (built-ins by default) plus every custom plugin that loaded. */
  plugins: Map<string, PluginDefinition>;
  /** Names of the custom plugins (their async phases are bounded by `plugin_timeout`). */
  names: Set<string>;
  /** Absolute paths of the plugins' files and (ending in '/') folders, for the config watcher. */
  files: string[];
  /** sha256 over the plugins' files, '' when there are none. */
  hash: string;
  /** Located problems; empty when every listed plugin loaded. */
  issues: ConfigIssue[];
  /** Names of plugins listed but not loaded (null for one whose module did not even import). */
  failed: (string | null)[];
}

const MODULE_EXTS = ['.ts', '.mts', '.js', '.mjs'];
const NAME = /^[a-z][a-z0-9_-]*$/;
/** A plugin instance's protocols when it lists none (Kong's plugin entity default). */
const INSTANCE_DEFAULT = ['grpc', 'grpcs', 'http', 'https'];
const TOKEN = 'tollgate-plugin';

/** Tollgate's own sources: a plugin's `tollgate` import must reach the running gateway's copy. */
const OWN_SRC = new URL('../', import.meta.url).href;
/** Running from the compiled tree (bin/compiled.mjs) rather than the TypeScript sources. */
const COMPILED = import.meta.url.endsWith('.js');

/**
 * `tollgate` and its subpaths (`tollgate/testing`, ...), as package.json exports them, resolve to
 * the running gateway's own files from anywhere: a plugin in a config repository needs no
 * node_modules, and its `instanceof PluginConfigError` is the gateway's class.
 */
const SELF_EXPORTS = selfExports();

function selfExports(): Record<string, string> {
  const root = new URL('../../', import.meta.url);
  // Compiled (dist/, see bin/compiled.mjs), `./src/x.ts` is `dist/x.js`: this very tree.
  const own = (target: string): string =>
    COMPILED && target.startsWith('./src/')
      ? new URL(target.slice(6).replace(/\.ts$/, '.js'), OWN_SRC).href
      : new URL(target, root).href;
  const out: Record<string, string> = {};
  try {
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
      name?: string;
      exports?: Record<string, string>;
    };
    for (const [sub, target] of Object.entries(pkg.exports ?? {})) {
      if (typeof target !== 'string') continue;
      out[sub === '.' ? (pkg.name ?? 'tollgate') : `${pkg.name ?? 'tollgate'}/${sub.replace(/^\.\//, '')}`] =
        own(target);
    }
  } catch {
    // Without package.json (a trimmed image), plugins resolve `tollgate` through node_modules.
  }
  return out;
}

// A plugin's module files load as ES modules wherever they are: a config repository has no
// package.json with "type": "module", and Node would otherwise read a .ts or .js file there as CommonJS.
const HOOK = `
let exclude = [];
let self = {};
let roots = [];
export function initialize(data) { exclude = data.exclude; self = data.self; roots = data.roots; }
export async function resolve(specifier, context, next) {
  // Through the rest of the chain, not short-circuited: tsx's resolve must see a .ts URL to load it.
  if (Object.hasOwn(self, specifier)) return next(self[specifier], context);
  const result = await next(specifier, context);
  let url = result.url;
  const parent = context.parentURL;
  const m = parent === undefined ? null : /[?&]${TOKEN}=([0-9a-f]+)/.exec(parent);
  if (m !== null && url.startsWith('file:') && !url.includes('/node_modules/') && !url.includes('${TOKEN}=') &&
      !exclude.some((p) => url.startsWith(p)))
    url = url + (url.includes('?') ? '&' : '?') + '${TOKEN}=' + m[1];
  const own = url.includes('${TOKEN}=') ||
    (roots.some((r) => url.startsWith(r)) && !url.includes('/node_modules/'));
  if (own && /\\.(?:m?ts|m?js)(?:\\?|$)/.test(url)) return { ...result, url, format: 'module' };
  return url === result.url ? result : { ...result, url };
}
`;

/** `module.registerHooks` (Node >= 22.15): synchronous hooks, run in the loading thread. */
type SyncResolve = (
  specifier: string,
  context: { parentURL?: string },
  next: (specifier: string, context: { parentURL?: string }) => { url: string; format?: string | null },
) => { url: string; format?: string | null; shortCircuit?: boolean };
const registerHooks = (nodeModule as unknown as { registerHooks?: (hooks: { resolve: SyncResolve }) => unknown })
  .registerHooks;

const TOKEN_IN_URL = new RegExp(`[?&]${TOKEN}=([0-9a-f]+)`);
const PLUGIN_MODULE = /\.(?:m?ts|m?js)$/;

/**
 * The same resolution as HOOK, in-thread. Where Node strips TypeScript itself (22.18+, 24) tsx
 * registers synchronous hooks too, and reads a `.ts` file outside any `"type": "module"` package
 * as CommonJS: its `import ... from 'tollgate'` then becomes a `require` that no asynchronous
 * hook sees. Hooks registered later run first, so this one answers before tsx: `tollgate`
 * resolves to this gateway, and a plugin's own files resolve (tsx finds them: `./x.js` may be
 * `x.ts`) to their plain file URL with the content token, as ES modules (tsx's load hook then
 * strips their types as ES module source).
 */
const syncResolve: SyncResolve = (specifier, context, next) => {
  const self = SELF_EXPORTS[specifier];
  if (self !== undefined) return { url: self, shortCircuit: true };
  const token = TOKEN_IN_URL.exec(specifier)?.[1] ?? TOKEN_IN_URL.exec(context.parentURL ?? '')?.[1];
  if (token === undefined) {
    const result = next(specifier, context);
    return underRoot(result.url) && PLUGIN_MODULE.test(result.url)
      ? { ...result, format: 'module', shortCircuit: true }
      : result;
  }
  const plain = (u: string): string => u.replace(/\?.*$/, '');
  const parentURL = context.parentURL === undefined ? undefined : plain(context.parentURL);
  const result = next(specifier.startsWith('file:') ? plain(specifier) : specifier, { ...context, parentURL });
  const file = plain(result.url);
  if (!file.startsWith('file:') || file.includes('/node_modules/') || file.startsWith(OWN_SRC)) return result;
  const format = PLUGIN_MODULE.test(file) ? 'module' : result.format;
  return { url: `${file}?${TOKEN}=${token}`, format, shortCircuit: true };
};

let typeScriptRegistered = false;
/**
 * The compiled gateway runs without tsx; a plugin written in TypeScript needs it (as the sources
 * do, through bin/gateway), registered before the resolve hook so that the hook answers first.
 */
async function ensureTypeScript(): Promise<void> {
  if (typeScriptRegistered || !COMPILED) return;
  typeScriptRegistered = true;
  const { register } = await import('tsx/esm/api');
  register();
}

/**
 * Folders (file URLs ending in '/') whose module files load as ES modules without a content
 * token: `gateway plugin test` passes the plugin folders, whose test files node loads directly.
 */
let moduleRoots: string[] = [];
const underRoot = (url: string): boolean =>
  !url.includes('/node_modules/') && moduleRoots.some((r) => url.startsWith(r));

let hookRegistered = false;
/**
 * Registers the module hook (once): plugins get fresh module graphs per content, and `tollgate`
 * resolves to this gateway. `roots`: folders whose module files are ES modules wherever they are.
 */
export function ensureHook(roots: readonly string[] = []): void {
  if (hookRegistered) return;
  hookRegistered = true;
  moduleRoots = roots.map((r) => pathToFileURL(r.endsWith('/') ? r : `${r}/`).href);
  if (registerHooks !== undefined) {
    registerHooks({ resolve: syncResolve });
    return;
  }
  nodeModule.register(`data:text/javascript,${encodeURIComponent(HOOK)}`, {
    data: { exclude: [OWN_SRC], self: SELF_EXPORTS, roots: moduleRoots },
  });
}

/**
 * Reads `_tollgate.custom_plugins` from config text and imports each plugin. Never throws for a
 * plugin's problem: those come back as located issues, and the plugin is left out.
 *
 * @param text gateway.yaml's text (YAML errors are left to the config loader)
 * @param file the config file as the user named it: issues name it, relative entries resolve against it
 */
export async function loadCustomPlugins(
  text: string,
  file: string,
  opts: { plugins?: ReadonlyMap<string, PluginDefinition>; baseDir?: string; parsed?: ParsedYaml } = {},
): Promise<CustomPluginSet> {
  const registry = await import('../plugins/registry.ts');
  const taken = opts.plugins ?? registry.builtinPluginNames;
  const out: CustomPluginSet = {
    plugins: new Map(),
    names: new Set(),
    files: [],
    hash: '',
    issues: [],
    failed: [],
  };
  const parsed = opts.parsed ?? parseYaml(text, file);
  const list = customPluginList(parsed.data);
  const custom =
    list.length === 0
      ? new Map<string, PluginDefinition>()
      : await importCustomPlugins(
          list,
          taken,
          entityOwners(opts.plugins, registry.builtinEntityOwners),
          out,
          parsed,
          file,
          opts.baseDir,
          loadTimeout(parsed.data),
        );
  // The built-ins the config uses (all of them when it names one that is neither built in nor custom).
  const base =
    opts.plugins ??
    (await registry.loadBuiltinPlugins(registry.builtinPluginsUsedBy(parsed.data, out.names) ?? undefined));
  out.plugins = new Map([...base, ...custom]);
  return out;
}

/** Entity kind -> the plugin declaring it, among the given plugins (else the built-ins). */
function entityOwners(
  plugins: ReadonlyMap<string, PluginDefinition> | undefined,
  builtin: Readonly<Record<string, string>>,
): Map<string, string> {
  if (plugins === undefined) return new Map(Object.entries(builtin));
  const out = new Map<string, string>();
  for (const p of plugins.values()) for (const e of p.entities ?? []) out.set(e.name, p.name);
  return out;
}

class ImportTimeout extends Error {}

/**
 * How long a plugin module may take to import: `_tollgate.plugin_create_timeout` as written (the
 * plugins load before the file is validated), which bounds the rest of a plugin's loading too.
 */
function loadTimeout(data: unknown): number {
  const t = (data as { _tollgate?: { plugin_create_timeout?: unknown } } | null)?._tollgate?.plugin_create_timeout;
  return Number.isInteger(t) && (t as number) > 0 ? (t as number) : 30_000;
}

/** Imports the listed custom plugins; their names and problems go into `out`. */
async function importCustomPlugins(
  list: unknown[],
  taken: { has(name: string): boolean },
  entityOwners: Map<string, string>,
  out: CustomPluginSet,
  parsed: ParsedYaml,
  file: string,
  baseDir: string | undefined,
  timeoutMs: number,
): Promise<Map<string, PluginDefinition>> {
  const custom = new Map<string, PluginDefinition>();
  const dir = baseDir ?? dirname(resolvePath(file));
  const hash = createHash('sha256');
  for (let i = 0; i < list.length; i++) {
    const entry = list[i];
    const path = ['_tollgate', 'custom_plugins', i];
    const fail = (message: string, name: string | null = null): void => {
      out.issues.push(configIssue('CUSTOM_PLUGIN', message, path, parsed.map.locate(path)));
      out.failed.push(name);
    };
    if (typeof entry !== 'string' || entry === '') continue; // the schema reports it
    const target = isAbsolute(entry) ? entry : resolvePath(dir, entry);
    const found = await locateModule(target);
    if (typeof found === 'string') {
      fail(`custom plugin '${entry}': ${found}`);
      continue;
    }
    out.files.push(...found.files);
    const token = found.hash.slice(0, 16);
    hash.update(found.hash);
    let mod: Record<string, unknown>;
    let timer: NodeJS.Timeout | undefined;
    try {
      await ensureTypeScript();
      ensureHook();
      const loading = import(`${pathToFileURL(found.entry).href}?${TOKEN}=${token}`) as Promise<
        Record<string, unknown>
      >;
      // A module whose top-level await never settles never finishes importing: `start` and
      // `validate` waited for ever (or, with nothing else pending, node exited with code 13 and
      // no message). Its failure after the deadline has nobody to tell.
      loading.catch(() => undefined);
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ImportTimeout()), timeoutMs);
      });
      mod = await Promise.race([loading, deadline]);
    } catch (err) {
      fail(
        err instanceof ImportTimeout
          ? `custom plugin '${entry}' did not finish loading within ${timeoutMs} ms (_tollgate.plugin_create_timeout): its module, or one it imports, awaits at the top level something that never settles`
          : `custom plugin '${entry}' failed to load: ${importMessage(err, found.entry)}`,
      );
      continue;
    } finally {
      clearTimeout(timer);
    }
    const def = definitionOf(mod);
    const rel = relative(dir, found.entry);
    const shown = rel === '' || rel.startsWith('..') ? found.entry : rel;
    if (def === null) {
      fail(
        `custom plugin '${entry}': ${found.entry === target ? 'the module' : shown} has no default export; write \`export default definePlugin({ name, version, priority, schema, create })\``,
      );
      continue;
    }
    const problem = checkDefinition(def);
    const name = typeof def.name === 'string' && def.name !== '' ? def.name : null;
    if (problem !== null) {
      fail(`custom plugin '${entry}'${found.entry === target ? '' : ` (${shown})`}: ${problem}`, name);
      continue;
    }
    const ok = def as PluginDefinition;
    if (taken.has(ok.name)) {
      fail(
        `custom plugin '${entry}': the name '${ok.name}' is a built-in plugin's; give the custom plugin another name`,
        ok.name,
      );
      continue;
    }
    if (out.names.has(ok.name)) {
      fail(`custom plugin '${entry}': another custom plugin listed above is also named '${ok.name}'`, ok.name);
      continue;
    }
    const entityProblem = checkEntities(ok, entityOwners, custom.values());
    if (entityProblem !== null) {
      fail(`custom plugin '${entry}': ${entityProblem}`, ok.name);
      continue;
    }
    const v = pluginValidator(ok);
    if (v instanceof Error) {
      fail(
        `custom plugin '${entry}': its config schema is not a valid JSON Schema: ${v.message.replace(/^plugin '[^']*' has an invalid config schema: /, '')}`,
        ok.name,
      );
      continue;
    }
    custom.set(ok.name, ok);
    out.names.add(ok.name);
    for (const e of ok.entities ?? []) entityOwners.set(e.name, ok.name);
  }
  out.hash = out.files.length > 0 ? hash.digest('hex') : '';
  return custom;
}

/** A config loaded with its custom plugins, ready for `compileRuntime(config, { plugins, customPlugins })`. */
export interface LoadedConfig {
  config: GatewayConfig;
  plugins: ReadonlyMap<string, PluginDefinition>;
  customPlugins: ReadonlySet<string>;
}

/**
 * `loadConfigText` with custom plugins: loads the plugins the text lists, validates the config
 * against them, adds their files to `source.referenced_files` (so the watcher reloads when they
 * change) and their content to `source.hash`. Throws one ConfigError with every problem.
 */
export async function loadConfigWithPlugins(text: string, file: string, opts: LoadOptions = {}): Promise<LoadedConfig> {
  // Parsed once (off the event loop when large), read here for custom_plugins, then loaded.
  const parsed = opts.parsed ?? (await parseYamlOffThread(text, file));
  const custom = await loadCustomPlugins(text, file, { plugins: opts.plugins, baseDir: opts.baseDir, parsed });
  let config: GatewayConfig;
  try {
    config = await loadWithBuiltins(text, file, { ...opts, parsed }, custom);
  } catch (err) {
    if (!(err instanceof ConfigError) || custom.issues.length === 0) throw err;
    throw new ConfigError(sortIssues([...custom.issues, ...withoutNoise(err.issues, custom)]));
  }
  if (custom.issues.length > 0)
    throw new ConfigError(sortIssues([...custom.issues, ...(config.source.warnings ?? [])]));
  if (custom.files.length > 0) {
    config.source.referenced_files = [...new Set([...config.source.referenced_files, ...custom.files])];
    config.source.hash = createHash('sha256')
      .update(config.source.hash)
      .update('\u0000')
      .update(custom.hash)
      .digest('hex');
  }
  return { config, plugins: custom.plugins, customPlugins: custom.names };
}

/**
 * `loadConfigText` with the built-ins the config uses. A config refused with those is checked
 * again with every built-in installed, so that its problems read exactly as they would (an entity
 * kind of a plugin it does not enable, "did you mean" among all plugins).
 */
async function loadWithBuiltins(
  text: string,
  file: string,
  opts: LoadOptions,
  custom: CustomPluginSet,
): Promise<GatewayConfig> {
  try {
    return await loadConfigText(text, file, { ...opts, plugins: custom.plugins });
  } catch (err) {
    if (!(err instanceof ConfigError) || opts.plugins !== undefined) throw err;
    const { loadBuiltinPlugins } = await import('../plugins/registry.ts');
    const all = await loadBuiltinPlugins();
    if (all.size === [...custom.plugins.keys()].filter((n) => !custom.names.has(n)).length) throw err;
    for (const name of custom.names) all.set(name, custom.plugins.get(name)!);
    custom.plugins = all;
    // Parsed again: the first pass pruned what it rejected and applied defaults in place.
    return await loadConfigText(text, file, { ...opts, parsed: undefined, plugins: all });
  }
}

/** Reads the file (as `readConfigFile` does: one FILE issue when it cannot), then `loadConfigWithPlugins`. */
export async function loadConfigFileWithPlugins(file: string, opts: LoadOptions = {}): Promise<LoadedConfig> {
  const { readConfigFile } = await import('./load.ts');
  return loadConfigWithPlugins(await readConfigFile(file), file, opts);
}

/** A plugin that failed to load makes every use of it "not enabled": that is noise. */
function withoutNoise(issues: ConfigIssue[], custom: CustomPluginSet): ConfigIssue[] {
  const anyUnnamed = custom.failed.includes(null);
  return issues.filter((i) => {
    if (i.code !== 'UNKNOWN_PLUGIN') return true;
    if (anyUnnamed) return false;
    const m = /^plugin '([^']*)'/.exec(i.message);
    return m === null || !custom.failed.includes(m[1]!);
  });
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.col - b.col);
}

function customPluginList(data: unknown): unknown[] {
  if (data === null || typeof data !== 'object') return [];
  const t = (data as Record<string, unknown>)._tollgate;
  if (t === null || typeof t !== 'object') return [];
  const list = (t as Record<string, unknown>).custom_plugins;
  return Array.isArray(list) ? list : [];
}

/**
 * A folder → its index module and every source file in it; a file (extension optional) → itself.
 * Returns a reason string when there is nothing to load.
 */
async function locateModule(target: string): Promise<{ entry: string; files: string[]; hash: string } | string> {
  const st = await stat(target).catch(() => null);
  let entry: string | null = null;
  let files: string[];
  const folders: string[] = [];
  if (st?.isDirectory()) {
    for (const ext of MODULE_EXTS) {
      const f = join(target, `index${ext}`);
      if ((await stat(f).catch(() => null))?.isFile()) {
        entry = f;
        break;
      }
    }
    if (entry === null) return `${target} has no index.ts, index.mts, index.js or index.mjs`;
    files = await sourceFiles(target, folders);
    if (files.length > MAX_FILES)
      return `${target} holds more than ${MAX_FILES} source files; point custom_plugins at the plugin's own folder`;
  } else if (st?.isFile()) {
    entry = target;
    files = [target];
  } else {
    for (const ext of MODULE_EXTS) {
      if ((await stat(target + ext).catch(() => null))?.isFile()) {
        entry = target + ext;
        break;
      }
    }
    if (entry === null) return `no such file or folder: ${target}`;
    files = [entry];
  }
  const h = createHash('sha256');
  for (const f of files)
    h.update(f)
      .update('\u0000')
      .update(await readFile(f))
      .update('\u0000');
  // A folder is listed with a trailing '/': the watcher reloads when a source file appears in it.
  return { entry, files: [...files, ...folders.map((d) => `${d}${sep}`)], hash: h.digest('hex') };
}

/** The plugin definition a module exports: its default export (unwrapping CommonJS interop). */
function definitionOf(mod: Record<string, unknown>): Partial<PluginDefinition> | null {
  let d = mod.default;
  if (d !== null && typeof d === 'object' && !('name' in d) && 'default' in d) d = (d as { default: unknown }).default;
  return d !== null && typeof d === 'object' ? (d as Partial<PluginDefinition>) : null;
}

/** What is wrong with an exported definition, or null. */
function checkDefinition(def: Partial<PluginDefinition>): string | null {
  if (typeof def.name !== 'string' || def.name === '')
    return "the definition has no 'name' (a string such as 'tenant-header')";
  if (!NAME.test(def.name))
    return `name '${def.name}' must be lower-case letters, digits, '-' or '_', starting with a letter`;
  if (typeof def.version !== 'string' || def.version === '')
    return `plugin '${def.name}' has no 'version' (a string such as '1.0.0')`;
  if (typeof def.priority !== 'number' || !Number.isFinite(def.priority))
    return `plugin '${def.name}': 'priority' must be a finite number (higher runs first)`;
  if (def.schema === null || typeof def.schema !== 'object' || Array.isArray(def.schema))
    return `plugin '${def.name}' has no 'schema' (the JSON Schema of its config)`;
  if (def.schema.type !== 'object') return `plugin '${def.name}': its schema must describe a mapping (type: 'object')`;
  if (typeof def.create !== 'function')
    return `plugin '${def.name}': 'create' must be a function returning the phase handlers`;
  if (def.consumerScoped !== undefined && typeof def.consumerScoped !== 'boolean')
    return `plugin '${def.name}': 'consumerScoped' must be true or false`;
  const protocols: unknown = def.protocols;
  // An instance that lists no protocols gets these (Kong's default for a plugin entity), applied
  // before the loader sees it: a plugin refusing one of them would refuse every such instance.
  const listed = Array.isArray(protocols) && protocols.every((x) => typeof x === 'string') ? protocols : [];
  if (protocols !== undefined && !INSTANCE_DEFAULT.every((x) => listed.includes(x)))
    return `plugin '${def.name}': 'protocols' must be a list holding ${INSTANCE_DEFAULT.join(', ')} (an instance's default protocols), such as HTTP_PROTOCOLS of tollgate/kong-config`;
  if (def.configIssues !== undefined && typeof def.configIssues !== 'function')
    return `plugin '${def.name}': 'configIssues' must be a function returning a list of { at, message, severity }`;
  return null;
}

/**
 * What is wrong with the entity kinds a plugin declares, or null: each declaration's shape, a
 * name another installed plugin already declares (`taken`: kind -> plugin), and a schema the
 * gateway schema cannot compile (with the kinds of the custom plugins `accepted` before it).
 */
function checkEntities(
  def: PluginDefinition,
  taken: ReadonlyMap<string, string>,
  accepted: Iterable<PluginDefinition>,
): string | null {
  if (def.entities === undefined) return null;
  if (!Array.isArray(def.entities)) return `plugin '${def.name}': 'entities' must be a list of entity declarations`;
  const mine = new Set<string>();
  for (const e of def.entities) {
    const problem = entityDeclarationProblem(e, new Set());
    if (problem !== null) return `plugin '${def.name}': ${problem}`;
    const owner = taken.get(e.name);
    if (owner !== undefined || mine.has(e.name))
      return `plugin '${def.name}': entity '${e.name}' is already declared by plugin '${owner ?? def.name}'`;
    mine.add(e.name);
  }
  const all = [...[...accepted].flatMap((p) => p.entities ?? []), ...def.entities];
  try {
    // Compiles (and caches) the gateway schema with these kinds, as the load will.
    validateGateway({ _format_version: '3.0' }, all);
  } catch (err) {
    return `plugin '${def.name}': an entity schema is not a valid JSON Schema: ${(err as Error).message}`;
  }
  return null;
}

/** An import failure in one line, with its location when the error has one, and a hint for the usual cause. */
function importMessage(err: unknown, entry: string): string {
  const e = err as NodeJS.ErrnoException;
  const strip = (t: string): string => t.replace(new RegExp(`\\?${TOKEN}=[0-9a-f]+`, 'g'), '');
  const lines = strip(e instanceof Error ? e.message : String(err)).split('\n');
  // esbuild (through tsx): "Transform failed with 1 error:\n/path/x.ts:3:0: ERROR: ..."
  let msg =
    /^Transform failed/.test(lines[0]!) && lines[1] !== undefined ? lines[1].replace(': ERROR:', ':') : lines[0]!;
  // V8's SyntaxError names the file and line only in the stack's first line.
  if (e instanceof SyntaxError && typeof e.stack === 'string') {
    const where = /^(file:\/\/\S+?:\d+)$/m.exec(strip(e.stack.split('\n')[0] ?? ''));
    if (where !== null)
      msg = `${fileURLToPath(where[1]!.replace(/:\d+$/, ''))}:${/:(\d+)$/.exec(where[1]!)![1]}: ${msg}`;
  }
  if ((e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') && /'tollgate\//.test(msg)) {
    return `${msg}; the gateway provides ${Object.keys(SELF_EXPORTS).join(', ')} to plugins (imported from ${entry})`;
  }
  return msg;
}
