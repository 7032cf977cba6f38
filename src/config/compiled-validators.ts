/**
 * Ajv validators, compiled once per schema and kept on disk as Ajv "standalone" code.
 *
 * Compiling the gateway schema (every entity, with verbose errors) costs a third of a second of
 * CPU, most of `gateway start`'s own start-up and of every `gateway validate`. The generated
 * code depends only on the schema, the options and the Ajv version, so it is written once to
 * `node_modules/.cache/tollgate/` (the conventional place for a package's derived files, owned
 * by whoever installed the dependencies) under a SHA-256 of those three, and later processes
 * evaluate it instead of compiling. Nothing here is keyed by request or config data other than
 * schemas, and the folder holds one file per distinct schema: built-ins plus each set of custom
 * plugins, or a plugin's own config schema.
 *
 * Where the folder is not writable (a read-only image), validators are compiled in memory as
 * before. Ajv itself is loaded only on a cache miss: a start with a warm cache never loads it.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Options, ValidateFunction } from 'ajv';

// Ajv and its runtime helpers are CommonJS: a synchronous require keeps `pluginValidator` synchronous.
const require = createRequire(import.meta.url);

const CACHE_DIR =
  process.env.TOLLGATE_CACHE_DIR ?? fileURLToPath(new URL('../../node_modules/.cache/tollgate/', import.meta.url));

let ajvVersion: string | undefined;
function versionOfAjv(): string {
  if (ajvVersion === undefined) {
    try {
      ajvVersion = (JSON.parse(readFileSync(require.resolve('ajv/package.json'), 'utf8')) as { version: string })
        .version;
    } catch {
      ajvVersion = 'unknown';
    }
  }
  return ajvVersion;
}

export type Dialect = 'draft-07' | '2020-12';

/**
 * The validator of `schema` under `options` (Ajv's options; `code.source` is added here).
 * `prepare` runs on the Ajv instance before compiling (formats). Throws what Ajv throws for an
 * invalid schema.
 */
export function compiledValidator(
  schema: object,
  dialect: Dialect,
  options: Options,
  prepare: (ajv: unknown) => void,
): ValidateFunction {
  const key = createHash('sha256')
    .update(`${versionOfAjv()}\u0000${dialect}\u0000${JSON.stringify(options)}\u0000${JSON.stringify(schema)}`)
    .digest('hex')
    .slice(0, 32);
  const file = join(CACHE_DIR, `validator-${key}.cjs`);
  let code: string | null = null;
  try {
    code = readFileSync(file, 'utf8');
  } catch {
    // Not cached yet (or no cache): compile below.
  }
  if (code !== null) {
    try {
      return evaluate(code);
    } catch {
      // A truncated or foreign file: compile again and overwrite it.
    }
  }
  const { default: standaloneCode } = require('ajv/dist/standalone/index.js') as {
    default: (ajv: unknown, v: ValidateFunction) => string;
  };
  const Ctor =
    dialect === '2020-12'
      ? (require('ajv/dist/2020.js') as { Ajv2020: new (o: Options) => unknown }).Ajv2020
      : (require('ajv') as { Ajv: new (o: Options) => unknown }).Ajv;
  const ajv = new Ctor({ ...options, code: { ...options.code, source: true } }) as {
    compile(s: object): ValidateFunction;
  };
  prepare(ajv);
  const validate = ajv.compile(schema);
  try {
    const source = standaloneCode(ajv, validate);
    mkdirSync(CACHE_DIR, { recursive: true });
    // Written aside and renamed: a process reading the cache never sees half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, source);
    renameSync(tmp, file);
  } catch {
    // A read-only installation: this process keeps its in-memory validator.
  }
  return validate;
}

/** Runs standalone code (CommonJS: `module.exports = validate`) with Tollgate's own `require`. */
function evaluate(code: string): ValidateFunction {
  const module = { exports: {} as unknown };
  new Function('require', 'module', 'exports', code)(require, module, module.exports);
  const v = module.exports as ValidateFunction;
  if (typeof v !== 'function') throw new Error('not a validator');
  return v;
}
