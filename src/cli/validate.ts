/**
 * `gateway validate [FILE|-]... [--config FILE] [--format text|json|github] [--strict]
 * [--allow-unset-env] [--env-file FILE]`: the CI check. Each file is loaded with its custom plugins
 * and compiled as `gateway start` would (nothing listens, nothing connects); every error and every
 * warning start would log is printed, located. Exit 0 valid, 1 invalid (or a warning under
 * --strict), 2 usage error or unreadable file.
 */
import type { GatewayConfig } from '../config/model.ts';
import { scrubIssues } from '../config/secrets.ts';
import { ConfigError, type ConfigIssue, formatYamlPath } from '../errors.ts';
import type { PluginDefinition } from '../pipeline/plugin.ts';
import { parseArgs, UsageError } from './args.ts';
import { commandHelp, usageOf } from './commands.ts';
import { defaultConfigFile, type EnvOptions, envFromArgs, InputError, issueLine, loadForCli } from './config-input.ts';

type Format = 'text' | 'json' | 'github';

/** GitHub workflow command escaping: data and property values. */
export function ghData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
export function ghProp(s: string): string {
  return ghData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** Where validate writes; tests pass their own. */
export interface ValidateIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

function print(all: ConfigIssue[], format: Format, io: ValidateIO): void {
  if (format === 'json' || all.length === 0) return;
  // Whatever produced an issue, the values the config read never reach the output.
  const issues = scrubIssues(all);
  const lines = issues.map((i) =>
    format === 'github'
      ? `::${i.severity === 'warning' ? 'warning' : 'error'} file=${ghProp(i.file)},line=${i.line},col=${i.col}::${ghData(i.path ? `${i.path}: ${i.message}` : i.message)}`
      : issueLine(i),
  );
  io.stdout.write(`${lines.join('\n')}\n`);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function summary(file: string, c: GatewayConfig, warnings: number): string {
  return `${file}: valid (${plural(c.services.length, 'service')}, ${plural(c.routes.length, 'route')}, ${plural(c.consumers.length, 'consumer')}, ${plural(c.plugins.length, 'plugin')}${warnings > 0 ? `; ${plural(warnings, 'warning')}` : ''})`;
}

/** A warning --strict fails on: all but the notice that --allow-unset-env itself asked for. */
function strictFailure(i: ConfigIssue): boolean {
  return i.severity === 'warning' && i.code !== 'UNSET_ENV';
}

/** What was built of a refused config, and the plugins it was checked with. */
interface Refused {
  config: GatewayConfig;
  plugins: ReadonlyMap<string, PluginDefinition>;
}

/** Every formatted path an error is at or under (`a`, `a.b`, `a.b[0]`): entities holding one are not created. */
function failedPaths(issues: readonly ConfigIssue[]): Set<string> {
  const out = new Set<string>();
  for (const i of issues) {
    if (i.severity !== 'error') continue;
    out.add(i.path);
    for (let k = 1; k < i.path.length; k++) if (i.path[k] === '.' || i.path[k] === '[') out.add(i.path.slice(0, k));
  }
  return out;
}

/**
 * The plugins' create() errors in a refused config, so that a CI run shows them along with the
 * loader's instead of only once those are fixed. create() runs, as start would run it, on the
 * plugins with no error of their own (a plugin the schema rejected, or pruned a field of, is not
 * created: its config is not what the file says).
 */
async function createErrors(refused: Refused, issues: readonly ConfigIssue[]): Promise<ConfigIssue[]> {
  const failed = failedPaths(issues);
  const plugins = refused.config.plugins.filter((p) => !failed.has(formatYamlPath(p.yaml_path)));
  if (plugins.length === 0) return [];
  const config = { ...refused.config, plugins };
  const { compileCheck } = await import('../pipeline/compile.ts');
  // Every create() bounded by plugin_create_timeout: a custom one that never settles cannot hold the run.
  const found = await compileCheck(config, {
    plugins: refused.plugins,
    boundedCreate: new Set(refused.plugins.keys()),
  });
  const unknown = config.source.unresolved ?? [];
  return found.filter(
    (i) =>
      i.severity === 'error' &&
      (i.code === 'PLUGIN_CONFIG' || i.code === 'PLUGIN_CREATE') &&
      !unknown.some((u) => i.path === u || i.path.startsWith(`${u}.`) || i.path.startsWith(`${u}[`)),
  );
}

/** Checks one file; returns its exit code and its issues. */
async function validateOne(
  file: string,
  env: EnvOptions,
  format: Format,
  strict: boolean,
  io: ValidateIO,
): Promise<{ code: number; issues: ConfigIssue[] }> {
  let loaded: Awaited<ReturnType<typeof loadForCli>>;
  let refused: Refused | null = null;
  try {
    loaded = await loadForCli(file, env, (config, plugins) => {
      refused = { config, plugins };
    });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    if (e.issues.length === 1 && e.issues[0]!.code === 'FILE') {
      if (format === 'text') io.stderr.write(`gateway validate: ${scrubIssues(e.issues)[0]!.message}\n`);
      else print(e.issues, format, io);
      return { code: 2, issues: e.issues };
    }
    const issues = refused === null ? e.issues : [...e.issues, ...(await createErrors(refused, e.issues))];
    issues.sort((a, b) => a.line - b.line || a.col - b.col);
    print(issues, format, io);
    const name = issues[0]?.file ?? file;
    if (format === 'text')
      io.stderr.write(`${name}: invalid (${plural(issues.filter((i) => i.severity === 'error').length, 'error')})\n`);
    return { code: 1, issues };
  }
  const { compileCheck } = await import('../pipeline/compile.ts');
  const { config, plugins, customPlugins, name } = loaded;
  // Checks of a value that is only a placeholder (an unset variable) are meaningless: skipped.
  const unknown = config.source.unresolved ?? [];
  const compiled = (await compileCheck(config, { plugins, customPlugins, checkFiles: true })).filter(
    (i) => !unknown.some((u) => i.path === u || i.path.startsWith(`${u}.`) || i.path.startsWith(`${u}[`)),
  );
  const issues = [...(config.source.warnings ?? []), ...compiled].sort((a, b) => a.line - b.line || a.col - b.col);
  print(issues, format, io);
  const errors = issues.filter((i) => i.severity === 'error').length;
  if (errors > 0) {
    if (format === 'text') io.stderr.write(`${name}: invalid (${plural(errors, 'error')})\n`);
    return { code: 1, issues };
  }
  const warnings = issues.filter((i) => i.severity === 'warning').length;
  const failing = strict ? issues.filter(strictFailure).length : 0;
  if (failing > 0) {
    if (format === 'text') io.stderr.write(`${name}: invalid under --strict (${plural(failing, 'warning')})\n`);
    return { code: 1, issues };
  }
  if (format !== 'json') io.stdout.write(`${summary(name, config, warnings)}\n`);
  return { code: 0, issues };
}

/** Runs `gateway validate`; returns the exit code. */
export async function runValidate(argv: string[], io: ValidateIO = process): Promise<number> {
  const help = commandHelp('validate')!;
  let files: string[];
  let format: Format;
  let env: EnvOptions;
  let strict: boolean;
  try {
    const args = parseArgs(argv, help.options);
    if (args.help) {
      io.stdout.write(usageOf(help));
      return 0;
    }
    files = [...(args.values.has('config') ? [args.values.get('config')!] : []), ...args.positionals];
    if (files.length === 0) files = [defaultConfigFile()];
    format = (args.values.get('format') ?? 'text') as Format;
    strict = args.flags.has('strict');
    env = await envFromArgs(args);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`gateway validate: ${e.message}\nRun 'gateway help validate' for the options.\n`);
      return 2;
    }
    if (e instanceof InputError) {
      io.stderr.write(`gateway validate: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  let code = 0;
  const all: ConfigIssue[] = [];
  for (const file of files) {
    const r = await validateOne(file, env, format, strict, io);
    code = Math.max(code, r.code);
    all.push(...r.issues);
  }
  if (format === 'json') io.stdout.write(`${JSON.stringify(scrubIssues(all), null, 2)}\n`);
  return code;
}
