/**
 * How the offline commands (validate, explain, test-routes, diff) get a config: a file or standard
 * input (`-`), the environment plus `--env-file` files, unset variables as errors or (with
 * `--allow-unset-env`) placeholders. One place, so every command reads configs the same way.
 */
import { readFile } from 'node:fs/promises';
import { type LoadedConfig, loadConfigWithPlugins } from '../config/custom-plugins.ts';
import { DotenvError, parseDotenv } from '../config/dotenv.ts';
import { decodeText } from '../config/encoding.ts';
import type { LoadOptions } from '../config/load.ts';
import { formatBytes, MAX_CONFIG_BYTES, type ReadOutcome } from '../config/read.ts';
import { knownSecrets } from '../config/secrets.ts';
import { ConfigError, configIssue } from '../errors.ts';
import type { ParsedArgs } from './args.ts';
import { CONFIG_STRING_NAME, readKongEnv } from './kong-env.ts';
import { readKongSslCert } from './kong-ssl-cert.ts';

/** A problem that is not in a config: an unreadable file, a bad env file (exit 2). */
export class InputError extends Error {}

export interface EnvOptions {
  env: Record<string, string | undefined>;
  allowUnsetEnv: boolean;
  /** KONG_SSL_CERT and KONG_SSL_CERT_KEY give the ssl listeners a certificate (as `gateway start` reads them). */
  defaultCertificate: boolean;
  /** KONG_PROXY_LISTEN, which start opens in place of the file's proxy listeners. */
  kongProxyListen?: string;
}

/** Name standard input is reported under. */
export const STDIN_NAME = '<stdin>';

/**
 * The config a command reads when none is given: the one `gateway start` reads, Kong's
 * KONG_DECLARATIVE_CONFIG when set, else KONG_DECLARATIVE_CONFIG_STRING's text (named so), else
 * gateway.yaml. A CI job with the deployment's environment checks the config start will load.
 */
export function defaultConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  const set = env.KONG_DECLARATIVE_CONFIG?.trim();
  if (set) return set;
  return env[CONFIG_STRING_NAME]?.trim() ? CONFIG_STRING_NAME : 'gateway.yaml';
}

/** The environment for `${NAME}`: the process's, then each `--env-file` for what it does not set. */
export async function envFromArgs(args: ParsedArgs): Promise<EnvOptions> {
  const env: Record<string, string | undefined> = {};
  for (const file of args.lists.get('env-file') ?? []) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new InputError(`cannot read env file ${file}: ${why(e)}`);
    }
    try {
      for (const [k, v] of parseDotenv(text)) if (!(k in env)) env[k] = v;
    } catch (e) {
      if (e instanceof DotenvError) throw new InputError(`${file}:${e.line}: ${e.message}`);
      throw e;
    }
  }
  // Like docker compose and dotenv: a variable set in the process wins over the file.
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  // Read as start reads them, so that a CI run's verdict on an ssl listener is start's: start
  // serves their certificate where the file has none, and refuses (exit 2) values it cannot serve.
  const kong = readKongEnv(env);
  if (kong.error !== null) throw new InputError(kong.error);
  const certificate = readKongSslCert(kong.sslCert, kong.sslCertKey);
  if (typeof certificate === 'string') throw new InputError(certificate);
  const listen = kong.options['proxy-listen']?.join(', ');
  return {
    env,
    allowUnsetEnv: args.flags.has('allow-unset-env'),
    defaultCertificate: certificate !== undefined,
    ...(listen === undefined ? {} : { kongProxyListen: listen }),
  };
}

export function why(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT'
    ? 'no such file'
    : code === 'EISDIR'
      ? 'it is a directory'
      : code === 'EACCES'
        ? 'permission denied'
        : (code ?? String(e));
}

let stdinText: Promise<ReadOutcome> | null = null;
/**
 * Standard input, read once (several `-` arguments get the same text), as a config file is read:
 * at most MAX_CONFIG_BYTES (a larger input stops being read, and is an error rather than a
 * process that fills its memory), and decoded the same way (UTF-16 with a byte-order mark, and
 * invalid UTF-8 refused with its place rather than loaded as U+FFFD characters).
 */
export function readStdin(): Promise<ReadOutcome> {
  stdinText ??= new Promise<ReadOutcome>((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      chunks.push(c);
      size += c.length;
      if (size <= MAX_CONFIG_BYTES) return;
      process.stdin.off('data', onData);
      process.stdin.pause();
      process.stdin.destroy();
      resolve({ ok: false, why: `it is larger than the ${formatBytes(MAX_CONFIG_BYTES)} limit`, code: 'EFBIG' });
    };
    process.stdin.on('data', onData);
    process.stdin.on('end', () => {
      const d = decodeText(Buffer.concat(chunks));
      resolve(d.ok ? d : { ...d, code: 'EILSEQ' });
    });
    process.stdin.on('error', (e) => resolve({ ok: false, why: e.message, code: 'EIO' }));
  });
  return stdinText;
}

/** Reads a config source; `-` is standard input. Throws a ConfigError with one FILE issue when unreadable. */
export async function readConfigText(file: string): Promise<{ text: string; name: string }> {
  // The variable's text, while it is set (bounded by the system: 128 KiB for one variable on Linux).
  const inEnv = file === CONFIG_STRING_NAME ? process.env[CONFIG_STRING_NAME] : undefined;
  if (inEnv !== undefined && inEnv.trim() !== '') return { text: inEnv, name: CONFIG_STRING_NAME };
  if (file === '-') {
    const r = await readStdin();
    if (r.ok) return { text: r.text, name: STDIN_NAME };
    throw new ConfigError([
      configIssue('FILE', `cannot read ${STDIN_NAME}: ${r.why}`, [], {
        file: STDIN_NAME,
        line: r.line ?? 1,
        col: r.col ?? 1,
      }),
    ]);
  }
  // A regular file, capped, with a deadline (a FIFO or a device is an error, never a wait).
  const { readConfigFile } = await import('../config/load.ts');
  return { text: await readConfigFile(file), name: file };
}

/** Loads and validates one config (with its custom plugins), as start would. Throws ConfigError. */
export async function loadForCli(
  file: string,
  env: EnvOptions,
  onRefused?: LoadOptions['onRefused'],
): Promise<LoadedConfig & { name: string }> {
  const { text, name } = await readConfigText(file);
  const loaded = await loadConfigWithPlugins(text, name, {
    env: env.env,
    allowUnsetEnv: env.allowUnsetEnv,
    defaultCertificate: env.defaultCertificate,
    kongProxyListen: env.kongProxyListen,
    onRefused,
  });
  return { ...loaded, name };
}

/** Loads a config and compiles it (no listener, no connection); the caller closes the runtime. */
export async function compileForCli(file: string, env: EnvOptions) {
  const loaded = await loadForCli(file, env);
  const { compileRuntime } = await import('../pipeline/compile.ts');
  const { createLogger } = await import('../log.ts');
  const log = createLogger({ level: 'error', destination: { write: () => undefined } as never });
  const runtime = await compileRuntime(loaded.config, {
    plugins: loaded.plugins,
    customPlugins: loaded.customPlugins,
    log,
  });
  return { ...loaded, runtime };
}

/** C0 and C1 controls, DEL and the Unicode line separators. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Text from a config (a name, a value, a message quoting one) as it is printed in one line of text
 * output: control characters escaped as JSON escapes them. A line break in a consumer's username
 * or a plugin's field otherwise started a line of its own: a CI runner reads `::error ...` or
 * `::stop-commands::` at the start of any line of a step's output as a workflow command, and a
 * terminal obeys escape sequences.
 */
export function printable(s: string): string {
  return s.replace(CONTROL, (c) => JSON.stringify(c).slice(1, -1));
}

/** A located issue in one line (the format validate prints). */
export function issueLine(i: {
  file: string;
  line: number;
  col: number;
  path: string;
  severity: string;
  message: string;
}) {
  return printable(
    `${i.file}:${i.line}:${i.col}  ${i.path || '.'}  ${i.severity === 'warning' ? 'warning: ' : ''}${i.message}`,
  );
}

interface Writer {
  write(s: string): unknown;
}

/**
 * `io` with every line it writes scrubbed of the secrets of the configs read so far: what a
 * command prints about a config (an upstream URL, a Host header, a plugin's field) may hold a
 * value from `${...}` or a form derived from it.
 */
export function scrubbingIO<T extends { stdout: Writer; stderr: Writer }>(io: T): T {
  const scrubbed = (w: Writer): Writer => ({ write: (s: string) => w.write(knownSecrets().scrub(s)) });
  return { ...io, stdout: scrubbed(io.stdout), stderr: scrubbed(io.stderr) };
}
