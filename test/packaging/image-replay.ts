/**
 * The build half of the image check: replays a Dockerfile's instructions into folders that stand
 * for each stage's filesystem root (COPY from the build context or an earlier stage, the RUN steps
 * it knows, ENV, WORKDIR), and collects what the final stage would run (USER, ENTRYPOINT, CMD,
 * HEALTHCHECK, EXPOSE). image-check.ts starts and probes the result.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { cp, lstat, mkdir, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, posix, relative } from 'node:path';
import { ended } from '../support/wait.ts';
import { execForm, type IgnoreRule, type Instruction, isIgnored, mayReinclude, splitFlags } from './dockerfile.ts';
import { cachedStep } from './layer-cache.ts';

/** Failure of the check, with the output of the process that failed when it got that far. */
export class ImageCheckError extends Error {
  constructor(
    message: string,
    readonly output = '',
  ) {
    super(output ? `${message}\n--- gateway output ---\n${output.trimEnd()}` : message);
  }
}

export interface Stage {
  name: string;
  base: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
}

/** What the build leaves: every stage, and what the final one runs. */
export interface Replayed {
  stages: Stage[];
  /** The final stage. */
  stage: Stage;
  entrypoint: string[] | null;
  cmd: string[] | null;
  user: string;
  healthcheck: string[] | null;
  exposed: number[];
}

export interface ReplayInput {
  instructions: readonly Instruction[];
  /** Build context. */
  context: string;
  ignore: readonly IgnoreRule[];
  /** Folder that holds one folder per stage. */
  tmp: string;
  log: (line: string) => void;
}

/**
 * Walks the instructions. `dry` checks every step without touching files, so that a wrong
 * command form or user fails at once rather than after the install.
 */
export async function replayDockerfile(input: ReplayInput, dry: boolean): Promise<Replayed> {
  const { instructions, context, ignore, tmp, log } = input;
  const at = (ins: Instruction): string => `Dockerfile:${ins.line} ${ins.keyword}`;
  const stages: Stage[] = [];
  let stage: Stage | undefined;
  let entrypoint: string[] | null = null;
  let cmd: string[] | null = null;
  let user = '0';
  let healthcheck: string[] | null = null;
  const exposed: number[] = [];
  const say = dry ? () => {} : log;
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new ImageCheckError(`${at(ins)}: cannot parse '${ins.args}'`);
      const from = stages.find((s) => s.name === m[1]);
      const root = join(tmp, `stage${stages.length}`);
      if (!dry) {
        await mkdir(root, { recursive: true, mode: 0o755 });
        if (from) await cp(from.root, root, { recursive: true });
      }
      stage = {
        name: m[2] ?? String(stages.length),
        base: from?.base ?? m[1]!,
        root,
        workdir: from?.workdir ?? '/',
        env: { ...from?.env },
      };
      stages.push(stage);
      // A new stage starts with the base image's defaults.
      entrypoint = null;
      cmd = null;
      user = '0';
      healthcheck = null;
      exposed.length = 0;
      say(`FROM ${stage.base}${m[2] ? ` AS ${m[2]}` : ''}`);
      continue;
    }
    if (!stage) {
      if (ins.keyword === 'ARG') continue;
      throw new ImageCheckError(`${at(ins)} before any FROM`);
    }
    switch (ins.keyword) {
      case 'WORKDIR':
        stage.workdir = posix.resolve(stage.workdir, ins.args);
        if (!dry) await mkdir(inStage(stage, stage.workdir), { recursive: true, mode: 0o755 });
        break;
      case 'ENV': {
        const pairs = [...ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)];
        if (pairs.length === 0) {
          const m = /^(\S+)\s+(.*)$/.exec(ins.args);
          if (!m) throw new ImageCheckError(`${at(ins)}: cannot parse '${ins.args}'`);
          stage.env[m[1]!] = m[2]!;
        }
        for (const p of pairs) stage.env[p[1]!] = p[2]!.startsWith('"') ? (JSON.parse(p[2]!) as string) : p[2]!;
        break;
      }
      case 'COPY':
        if (!dry) await replayCopy(ins, stage, stages, context, ignore, log);
        break;
      case 'RUN':
        if (dry) runArgv(ins);
        else await replayRun(ins, stage, log);
        break;
      case 'USER':
        user = ins.args;
        break;
      case 'EXPOSE':
        for (const p of ins.args.split(/\s+/)) exposed.push(Number(p.replace(/\/tcp$/, '')));
        break;
      case 'ENTRYPOINT':
      case 'CMD': {
        const form = execForm(ins.args);
        if (!form) {
          throw new ImageCheckError(
            `${at(ins)} must use the exec form (a JSON array): the shell form puts /bin/sh in front of the gateway, and SIGTERM would not reach it`,
          );
        }
        if (ins.keyword === 'ENTRYPOINT') {
          entrypoint = form;
          // Docker: setting ENTRYPOINT resets a CMD inherited from the base image.
          cmd = null;
        } else cmd = form;
        break;
      }
      case 'HEALTHCHECK': {
        const { rest } = splitFlags(ins.args);
        if (/^NONE$/i.test(rest)) {
          healthcheck = null;
          break;
        }
        const m = /^CMD\s+(.*)$/i.exec(rest);
        const form = m ? execForm(m[1]!) : null;
        if (!form)
          throw new ImageCheckError(
            `${at(ins)}: the check must be \`CMD [...]\` in exec form (the slim image's shell is not needed)`,
          );
        healthcheck = form;
        break;
      }
      case 'ARG':
      case 'LABEL':
      case 'STOPSIGNAL':
      case 'VOLUME':
        break;
      default:
        throw new ImageCheckError(
          `${at(ins)}: this checker does not replay ${ins.keyword}; teach test/packaging/image-replay.ts the new step`,
        );
    }
  }
  if (!stage) throw new ImageCheckError('the Dockerfile has no FROM');
  return { stages, stage, entrypoint, cmd, user, healthcheck, exposed };
}

/** Path inside a stage folder for an absolute container path. */
export function inStage(stage: Stage, containerPath: string): string {
  return join(stage.root, posix.resolve(stage.workdir, containerPath));
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

async function replayCopy(
  ins: Instruction,
  stage: Stage,
  stages: readonly Stage[],
  context: string,
  ignore: readonly IgnoreRule[],
  log: (l: string) => void,
): Promise<void> {
  const { flags, rest } = splitFlags(ins.args);
  const parts = execForm(rest) ?? rest.split(/\s+/);
  if (parts.length < 2) throw new ImageCheckError(`Dockerfile:${ins.line} COPY needs a source and a destination`);
  const dest = parts.pop()!;
  const fromName = flags.get('from');
  const from = fromName === undefined ? null : stages.find((s) => s.name === fromName);
  if (fromName !== undefined && !from)
    throw new ImageCheckError(
      `Dockerfile:${ins.line} COPY --from=${fromName}: no such stage (external images are not replayed)`,
    );
  const destPath = inStage(stage, dest);
  const destIsDir = dest.endsWith('/') || parts.length > 1;

  for (const src of parts) {
    // Sources: context-relative (never outside it), or a path in the earlier stage.
    const matches = from ? [inStage(from, src)] : await globContext(context, src);
    if (matches.length === 0 || !(await exists(matches[0]!))) {
      throw new ImageCheckError(
        `Dockerfile:${ins.line} COPY ${src}: not found in the ${from ? `stage '${fromName}'` : 'build context'}${from ? '' : ' (or excluded by .dockerignore)'}`,
      );
    }
    for (const abs of matches) {
      const rel = from ? '' : relative(context, abs).split('\\').join('/');
      if (!from && rel !== '' && isIgnored(ignore, rel)) {
        throw new ImageCheckError(`Dockerfile:${ins.line} COPY ${src}: excluded by .dockerignore`);
      }
      const st = await stat(abs);
      if (st.isDirectory()) {
        // Docker copies a directory's contents, not the directory itself.
        const target = destIsDir && matches.length > 1 ? join(destPath, basename(abs)) : destPath;
        await mkdir(target, { recursive: true, mode: 0o755 });
        await cp(abs, target, {
          recursive: true,
          filter: from
            ? undefined
            : (s) => {
                const r = relative(context, s).split('\\').join('/');
                return r === rel || !isIgnored(ignore, r) || (statSync(s).isDirectory() && mayReinclude(ignore, r));
              },
        });
      } else {
        const target = destIsDir || (await isDir(destPath)) ? join(destPath, basename(abs)) : destPath;
        await mkdir(dirname(target), { recursive: true, mode: 0o755 });
        await cp(abs, target);
      }
    }
  }
  log(`COPY ${ins.args}`);
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Context paths for a COPY source (`*` and `?` in the last segment). */
async function globContext(context: string, src: string): Promise<string[]> {
  const norm = posix.normalize(src).replace(/^\/+/, '');
  if (norm.startsWith('..')) throw new ImageCheckError(`COPY ${src}: outside the build context`);
  if (!/[*?[]/.test(norm)) return [join(context, norm === '.' ? '' : norm)];
  const dir = posix.dirname(norm);
  if (/[*?[]/.test(dir)) throw new ImageCheckError(`COPY ${src}: wildcards are replayed in the last path segment only`);
  const re = new RegExp(
    `^${posix
      .basename(norm)
      .replace(/[.+^${}()|\\]/g, '\\$&')
      .replaceAll('*', '[^/]*')
      .replaceAll('?', '[^/]')}$`,
  );
  const names = await readdir(join(context, dir));
  return names
    .filter((n) => re.test(n))
    .sort()
    .map((n) => join(context, dir, n));
}

/**
 * The argv of a RUN step this checker can replay, or an error: `npm ci ...` (the install),
 * `npm run SCRIPT ...` (a package script) and `node FILE ...` (a script of the image).
 */
export function runArgv(ins: Instruction): string[] {
  const argv = execForm(ins.args) ?? (/[;&|<>$`\\"']/.test(ins.args) ? null : ins.args.split(/\s+/));
  const replayable =
    (argv?.[0] === 'npm' && (argv[1] === 'ci' || (argv[1] === 'run' && argv[2] !== undefined))) ||
    (argv?.[0] === 'node' && argv[1] !== undefined && !argv[1].startsWith('-'));
  if (!replayable) {
    throw new ImageCheckError(
      `Dockerfile:${ins.line} RUN ${ins.args}: only a plain \`npm ci ...\`, \`npm run SCRIPT\` or \`node FILE ...\` is replayed; teach test/packaging/image-replay.ts the new step`,
    );
  }
  return argv!;
}

/**
 * Runs a RUN step with the host's npm and node in the stage's working folder (as the current user:
 * Docker runs it as root, before USER), container paths mapped into the stage.
 */
async function replayRun(ins: Instruction, stage: Stage, log: (l: string) => void): Promise<void> {
  const argv = containerPathsInStage(runArgv(ins), stage);
  log(`RUN ${runArgv(ins).join(' ')}`);
  // npm ci from the local npm cache (CI has it; the network may not be there).
  // The host's cache and registry settings, and nothing else of its environment (under `npm test`
  // npm exports its whole config, prefixes included, which must not steer this install).
  const npmSettings = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => /^npm_config_(cache|registry|userconfig)$/i.test(e[0]) && e[1] !== undefined,
    ),
  );
  const env: Record<string, string> = {
    PATH: hostPath(),
    HOME: process.env.HOME ?? '/root',
    ...npmSettings,
    ...stage.env,
    npm_config_prefer_offline: 'true',
    npm_config_update_notifier: 'false',
  };
  const cwd = inStage(stage, stage.workdir);
  const step = async (): Promise<void> => {
    const r = await new Promise<{ code: number | null; out: string }>((res) => {
      const p = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      p.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
      p.once('error', (e) => res({ code: -1, out: `${out}${e.message}` }));
      // Once stdout and stderr have ended, so `out` is complete.
      void ended(p).then(({ code }) => res({ code, out }));
    });
    if (r.code !== 0)
      throw new ImageCheckError(`Dockerfile:${ins.line} RUN ${argv.join(' ')} failed (exit ${r.code})`, r.out);
  };
  // The install writes only its package folder (node_modules, and what lifecycle scripts write).
  if (argv[0] === 'npm' && argv[1] === 'ci') await cachedStep(cwd, argv, stage.env, step, log);
  else await step();
}

/**
 * Absolute container paths the stage holds (`/etc/tollgate/gateway.yaml`), mapped into its folder;
 * other absolute paths are the base image's programs (/usr/local/bin/node) and stay.
 */
export function containerPathsInStage(argv: readonly string[], stage: Stage): string[] {
  return argv.map((a) => (a.startsWith('/') && existsSync(join(stage.root, a)) ? join(stage.root, a) : a));
}

/** The host's PATH without the node_modules/.bin folders `npm run` puts in front: the image has none. */
export function hostPath(): string {
  return (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin')
    .split(':')
    .filter((d) => !/[/\\]node_modules[/\\]\.bin$/.test(d))
    .join(':');
}
