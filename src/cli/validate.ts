/**
 * `gateway validate [FILE] [--config FILE] [--format text|json|github]`: the CI check.
 * Exit 0 valid (one-line summary), 1 invalid (every problem, located), 2 usage error or
 * unreadable file.
 */
import { type LoadedConfig, loadConfigFileWithPlugins } from '../config/custom-plugins.ts';
import type { GatewayConfig } from '../config/model.ts';
import { ConfigError, type ConfigIssue } from '../errors.ts';

const USAGE = 'Usage: gateway validate [FILE] [--config FILE] [--format text|json|github]\n';
const FORMATS = ['text', 'json', 'github'] as const;
type Format = (typeof FORMATS)[number];

interface Args {
  file: string;
  format: Format;
}

function parseArgs(argv: string[]): Args | string {
  let file: string | undefined;
  let format: Format = 'text';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    let name: string | undefined;
    let value: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq === -1 ? a : a.slice(0, eq);
      value = eq === -1 ? undefined : a.slice(eq + 1);
      if (name === '--help') return 'help';
      if (name !== '--config' && name !== '--format') return `unknown option '${name}'`;
      if (value === undefined) {
        value = argv[++i];
        if (value === undefined) return `${name} needs a value`;
      }
      if (name === '--format') {
        if (!(FORMATS as readonly string[]).includes(value))
          return `unknown format '${value}' (expected text, json or github)`;
        format = value as Format;
      } else {
        if (file !== undefined) return 'give one config file';
        file = value;
      }
    } else if (a === '-h') return 'help';
    else if (a.startsWith('-') && a !== '-') return `unknown option '${a}'`;
    else {
      if (file !== undefined) return 'give one config file';
      file = a;
    }
  }
  return { file: file ?? 'gateway.yaml', format };
}

/** GitHub workflow command escaping: data and property values. */
function ghData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
function ghProp(s: string): string {
  return ghData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** Where validate writes; tests pass their own. */
export interface ValidateIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

function print(issues: ConfigIssue[], format: Format, io: ValidateIO): void {
  if (format === 'json') {
    io.stdout.write(`${JSON.stringify(issues, null, 2)}\n`);
    return;
  }
  const lines = issues.map((i) =>
    format === 'github'
      ? `::${i.severity === 'warning' ? 'warning' : 'error'} file=${ghProp(i.file)},line=${i.line},col=${i.col}::${ghData(i.path ? `${i.path}: ${i.message}` : i.message)}`
      : `${i.file}:${i.line}:${i.col}  ${i.path || '.'}  ${i.severity === 'warning' ? 'warning: ' : ''}${i.message}`,
  );
  if (lines.length) io.stdout.write(`${lines.join('\n')}\n`);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function summary(file: string, c: GatewayConfig): string {
  return `${file}: valid (${plural(c.services.length, 'service')}, ${plural(c.routes.length, 'route')}, ${plural(c.consumers.length, 'consumer')}, ${plural(c.plugins.length, 'plugin')})`;
}

/** Runs `gateway validate`; returns the exit code. */
export async function runValidate(argv: string[], io: ValidateIO = process): Promise<number> {
  const args = parseArgs(argv);
  if (args === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  if (typeof args === 'string') {
    io.stderr.write(`gateway validate: ${args}\n${USAGE}`);
    return 2;
  }

  let loaded: LoadedConfig;
  try {
    loaded = await loadConfigFileWithPlugins(args.file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    if (e.issues.length === 1 && e.issues[0]!.code === 'FILE') {
      if (args.format === 'text') io.stderr.write(`gateway validate: ${e.issues[0]!.message}\n`);
      else print(e.issues, args.format, io);
      return 2;
    }
    print(e.issues, args.format, io);
    if (args.format === 'text') {
      const n = e.issues.filter((i) => i.severity === 'error').length;
      io.stderr.write(`${args.file}: invalid (${plural(n, 'error')})\n`);
    }
    return 1;
  }

  const { compileCheck } = await import('../pipeline/compile.ts');
  const { config, plugins, customPlugins } = loaded;
  const compileIssues = await compileCheck(config, { plugins, customPlugins });
  const issues = [...(config.source.warnings ?? []), ...compileIssues].sort((a, b) => a.line - b.line || a.col - b.col);
  const errors = issues.filter((i) => i.severity === 'error').length;
  print(issues, args.format, io);
  if (errors > 0) {
    if (args.format === 'text') io.stderr.write(`${args.file}: invalid (${plural(errors, 'error')})\n`);
    return 1;
  }
  if (args.format !== 'json') io.stdout.write(`${summary(args.file, config)}\n`);
  return 0;
}
