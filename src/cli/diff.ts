/**
 * `gateway diff OLD NEW [--format text|json|markdown|github]` and `gateway diff --git REV [FILE]`:
 * the semantic diff of config/semantic-diff.ts, printed for a terminal, a machine, a pull-request
 * comment, or GitHub annotations. Exit 0 equal, 1 different, 2 error, like diff(1).
 *
 * References compare as written: the process environment is not read (only --env-file), so an
 * unset `${NAME}` is a placeholder on both sides and a secret never reaches the output.
 */
import { execFile } from 'node:child_process';
import { basename, dirname, resolve } from 'node:path';
import { loadConfigWithPlugins } from '../config/custom-plugins.ts';
import { placeholder } from '../config/refs.ts';
import { type ConfigDiff, diffConfigs, type EntityChange } from '../config/semantic-diff.ts';
import { ConfigError } from '../errors.ts';
import { parseArgs, UsageError } from './args.ts';
import { commandHelp, usageOf } from './commands.ts';
import { defaultConfigFile, envFromArgs, InputError, issueLine, printable, readConfigText } from './config-input.ts';
import type { CliIO } from './explain.ts';
import { ghData, ghProp } from './validate.ts';

interface Side {
  name: string;
  text: string;
  /** Directory relative references of this side resolve against. */
  dir: string;
}

/** What git says when REV has no such file (git 2.x): the file is new since REV. */
const NOT_IN_REV = /exists on disk, but not in '|does not exist in '/;

/**
 * `git show REV:./FILE`, run in FILE's directory, with a deadline; null when the file is not in
 * REV (the pull request that adds the config: everything in it is new, as `git diff` shows it).
 */
function gitShow(rev: string, file: string): Promise<string | null> {
  return new Promise((ok, fail) => {
    execFile(
      'git',
      ['-C', dirname(resolve(file)), 'show', `${rev}:./${basename(file)}`],
      // git's messages in English, whatever the locale: NOT_IN_REV reads them.
      { timeout: 30_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } },
      (err, stdout, stderr) => {
        if (err === null) ok(stdout);
        else if (NOT_IN_REV.test(stderr)) ok(null);
        else fail(new InputError(`git show ${rev}:${file} failed: ${(stderr || err.message).trim()}`));
      },
    );
  });
}

async function side(file: string): Promise<Side> {
  try {
    const { text, name } = await readConfigText(file);
    return { name, text, dir: dirname(resolve(file === '-' ? '.' : file)) };
  } catch (e) {
    if (e instanceof ConfigError) throw new InputError(e.issues[0]!.message);
    throw e;
  }
}

export async function runDiff(argv: string[], io: CliIO = process): Promise<number> {
  const help = commandHelp('diff')!;
  const fail = (message: string): number => {
    io.stderr.write(`gateway diff: ${message}\n`);
    return 2;
  };
  let diff: ConfigDiff;
  let names: [string, string];
  let format: string;
  try {
    const args = parseArgs(argv, help.options);
    if (args.help) {
      io.stdout.write(usageOf(help));
      return 0;
    }
    format = args.values.get('format') ?? 'text';
    const rev = args.values.get('git');
    let a: Side;
    let b: Side;
    if (rev !== undefined) {
      if (args.positionals.length > 1) throw new UsageError('with --git REV give at most one FILE');
      // git would take it as one of its options (`--output=FILE` writes FILE), not as a revision.
      if (rev.startsWith('-')) throw new UsageError(`--git '${rev}' is an option, not a revision`);
      const file = args.positionals[0] ?? defaultConfigFile();
      b = await side(file);
      const committed = await gitShow(rev, file);
      a =
        committed === null
          ? { name: `${rev}:${file} (not in ${rev})`, text: '_format_version: "3.0"\n', dir: b.dir }
          : { name: `${rev}:${file}`, text: committed, dir: b.dir };
    } else {
      if (args.positionals.length !== 2) throw new UsageError('give OLD and NEW files (or --git REV [FILE])');
      a = await side(args.positionals[0]!);
      b = await side(args.positionals[1]!);
    }
    const env = await envFromArgs(args);
    // Only --env-file values: the process environment is not the config's to show.
    const fileEnv = Object.fromEntries(Object.entries(env.env).filter(([k, v]) => process.env[k] !== v));
    const load = async (s: Side) => {
      try {
        return (
          await loadConfigWithPlugins(s.text, s.name, {
            env: fileEnv,
            allowUnsetEnv: true,
            baseDir: s.dir,
            defaultCertificate: env.defaultCertificate,
          })
        ).config;
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        for (const i of e.issues) io.stderr.write(`${issueLine(i)}\n`);
        throw new InputError(`${s.name} cannot be loaded`);
      }
    };
    const [ca, cb] = [await load(a), await load(b)];
    const display = placeholderNames(`${a.text}\n${b.text}`);
    diff = diffConfigs(ca, cb, display);
    names = [a.name, b.name];
  } catch (e) {
    if (e instanceof UsageError) return fail(`${e.message}\nRun 'gateway help diff' for the options.`);
    if (e instanceof InputError) return fail(e.message);
    throw e;
  }
  if (format === 'json') io.stdout.write(`${JSON.stringify({ old: names[0], new: names[1], ...diff }, null, 2)}\n`);
  else if (format === 'markdown') io.stdout.write(markdown(diff, names));
  else {
    if (format === 'github') io.stdout.write(github(diff));
    io.stdout.write(text(diff, names));
  }
  return diff.equal ? 0 : 1;
}

/** Maps each placeholder back to the `${NAME}` it stands for, for printing. */
function placeholderNames(texts: string): (s: string) => string {
  const map = new Map<string, string>();
  for (const m of texts.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)) map.set(placeholder(m[1]!), `\${${m[1]}}`);
  if (map.size === 0) return (s) => s;
  const re = new RegExp([...map.keys()].sort((x, y) => y.length - x.length).join('|'), 'g');
  return (s) => s.replace(re, (p) => map.get(p)!);
}

const SIGN = { added: '+', removed: '-', changed: '~' } as const;

function fieldLines(c: EntityChange): string[] {
  return c.fields.map((f) =>
    f.secret
      ? `${f.field}: changed (secret, value not shown)`
      : `${f.field}: ${f.old === undefined ? '(unset)' : f.old} → ${f.new === undefined ? '(unset)' : f.new}`,
  );
}

function text(d: ConfigDiff, [a, b]: [string, string]): string {
  if (d.equal && d.security.length === 0) return `${a} and ${b}: no difference\n`;
  const out = [`--- ${a}`, `+++ ${b}`];
  if (d.security.length > 0) {
    out.push('', `Security summary (${d.security.length}):`);
    for (const s of d.security) out.push(`  ! ${s.message}  (${s.at.file}:${s.at.line})`);
  } else out.push('', 'Security summary: nothing that changes authentication, exposure, CORS, rate limits or TLS');
  out.push('', `Changes (${d.changes.length}):`);
  for (const c of d.changes) {
    out.push(`  ${SIGN[c.kind]} ${c.name}  (${c.at.file}:${c.at.line})`);
    for (const f of fieldLines(c)) out.push(`      ${f}`);
  }
  return `${out.map(printable).join('\n')}\n`;
}

function code(s: string): string {
  return `\`${printable(s.replace(/`/g, "'").replace(/\|/g, '\\|'))}\``;
}

function markdown(d: ConfigDiff, [a, b]: [string, string]): string {
  const out = [`### Gateway config: ${code(a)} → ${code(b)}`, ''];
  if (d.equal) return `${out.join('\n')}No semantic difference.\n`;
  if (d.security.length > 0) {
    out.push('> [!WARNING]', `> **Security summary** (${d.security.length})`, '>');
    for (const s of d.security)
      out.push(`> - ${printable(s.message)} (${code(`${basename(s.at.file)}:${s.at.line}`)})`);
  } else out.push('**Security summary:** nothing that changes authentication, exposure, CORS, rate limits or TLS.');
  out.push('', `#### Changes (${d.changes.length})`, '', '| | entity | what changed |', '|---|---|---|');
  for (const c of d.changes) {
    const what =
      c.kind === 'changed'
        ? c.fields
            .map((f) =>
              f.secret
                ? `${code(f.field)} changed (secret)`
                : `${code(f.field)}: ${f.old === undefined ? '_unset_' : code(f.old)} → ${f.new === undefined ? '_unset_' : code(f.new)}`,
            )
            .join('<br>')
        : c.kind;
    out.push(
      `| ${c.kind === 'added' ? '➕' : c.kind === 'removed' ? '➖' : '✏️'} | ${printable(c.name.replace(/\|/g, '\\|'))} | ${what} |`,
    );
  }
  return `${out.join('\n')}\n`;
}

function github(d: ConfigDiff): string {
  const lines: string[] = [];
  for (const s of d.security)
    lines.push(`::warning file=${ghProp(s.at.file)},line=${s.at.line},title=Security::${ghData(s.message)}`);
  for (const c of d.changes)
    lines.push(
      `::notice file=${ghProp(c.at.file)},line=${c.at.line}::${ghData(`${c.kind} ${c.name}${c.fields.length ? `: ${fieldLines(c).join('; ')}` : ''}`)}`,
    );
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
