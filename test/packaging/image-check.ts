/**
 * Replays the Dockerfile without a Docker engine, and proves the result starts and serves.
 *
 * It reads the Dockerfile (it does not restate its steps, so the two cannot drift apart): every
 * stage gets an empty folder standing for its filesystem root; COPY copies from the build context
 * (filtered by .dockerignore) or from an earlier stage; RUN runs the same `npm ci` (from the local
 * npm cache); ENV, WORKDIR and USER are applied. Then it starts ENTRYPOINT + CMD as the image's
 * user (through setpriv when running as root), requests `/echo/...` on the proxy and `/status` on
 * the admin listener, runs the HEALTHCHECK command, sends SIGTERM and expects exit code 0.
 *
 * What differs from a container, on purpose or by necessity:
 * - Node is the host's (CI runs 20 and 24), not the base image's; the base image is only recorded.
 * - The listen addresses are replaced by 127.0.0.1:0 (tests use loopback and free ports only).
 * - Absolute paths in the command (`/etc/tollgate/gateway.yaml`) are mapped into the stage folder.
 * - Not root: the user cannot be switched, so the gateway runs as the current (non-root) user.
 *
 * Anything it does not understand (ADD, a RUN other than `npm ci`, shell-form ENTRYPOINT/CMD, a
 * USER that is a name or root) fails the check: extend this file together with the Dockerfile.
 *
 * CLI: `npm run image:check [-- --dockerfile FILE] [--context DIR] [--keep]`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { chmod, cp, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One Dockerfile instruction, continuation lines joined. */
export interface Instruction {
  keyword: string;
  /** The text after the keyword, trimmed. */
  args: string;
  line: number;
}

/** Parses a Dockerfile into instructions (comments, parser directives and blank lines dropped). */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ');
      i++;
      // Comment lines inside a continuation are dropped, as Docker does.
      if (!/^\s*#/.test(lines[i]!)) line += lines[i]!;
    }
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile:${start + 1}: cannot parse ${JSON.stringify(line)}`);
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start + 1 });
  }
  return out;
}

/** The exec (JSON array) form of ENTRYPOINT/CMD/RUN/HEALTHCHECK CMD, or null for the shell form. */
export function execForm(args: string): string[] | null {
  if (!args.startsWith('[')) return null;
  try {
    const v: unknown = JSON.parse(args);
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : null;
  } catch {
    return null;
  }
}

/** Leading `--name=value` flags of COPY/HEALTHCHECK, and the rest. */
function splitFlags(args: string): { flags: Map<string, string>; rest: string } {
  const flags = new Map<string, string>();
  let rest = args;
  for (let m; (m = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest)); ) {
    flags.set(m[1]!, m[2] ?? 'true');
    rest = rest.slice(m[0].length);
  }
  return { flags, rest: rest.trim() };
}

// ---------------------------------------------------------------------------------------------
// .dockerignore (Docker's rules: patterns are relative to the context root, `**` spans
// directories, a pattern matching a directory excludes what is in it, `!` re-includes, last match wins)

interface IgnoreRule {
  negate: boolean;
  re: RegExp;
  /** For `!` rules: the literal directory prefix, so that an excluded parent is still walked. */
  prefix: string;
}

export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (let raw of text.split(/\r?\n/)) {
    raw = raw.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const negate = raw.startsWith('!');
    const pattern = posix
      .normalize(negate ? raw.slice(1).trim() : raw)
      .replace(/^\/+/, '')
      .replace(/\/+$/, '');
    let re = '';
    const segs = pattern.split('/');
    segs.forEach((seg, i) => {
      const last = i === segs.length - 1;
      if (seg === '**') {
        re += last ? '.*' : '(?:.*/)?';
        return;
      }
      for (let j = 0; j < seg.length; j++) {
        const c = seg[j]!;
        if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else if (c === '[') {
          const end = seg.indexOf(']', j);
          re += end > j ? seg.slice(j, end + 1).replace('[!', '[^') : '\\[';
          if (end > j) j = end;
        } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
      }
      if (!last) re += '/';
    });
    const literal = /^[^*?[]*/.exec(pattern)![0];
    rules.push({
      negate,
      re: new RegExp(`^${re}$`),
      prefix: literal.includes('/') ? literal.slice(0, literal.lastIndexOf('/')) : '',
    });
  }
  return rules;
}

/** Whether a context-relative path (posix separators) is left out of the build context. */
export function isIgnored(rules: readonly IgnoreRule[], rel: string): boolean {
  const parts = rel.split('/');
  let ignored = false;
  for (const r of rules) {
    let hit = false;
    for (let n = parts.length; n >= 1 && !hit; n--) hit = r.re.test(parts.slice(0, n).join('/'));
    if (hit) ignored = !r.negate;
  }
  return ignored;
}

/** Whether an ignored directory may still hold a re-included path (then it must be walked). */
function mayReinclude(rules: readonly IgnoreRule[], rel: string): boolean {
  return rules.some((r) => r.negate && (r.prefix === rel || r.prefix.startsWith(`${rel}/`) || r.prefix === ''));
}

// ---------------------------------------------------------------------------------------------
// The replay

export interface ImageCheckOptions {
  dockerfile: string;
  /** Build context; default the Dockerfile's folder. */
  context?: string;
  /** Progress lines; default silent. */
  log?: (line: string) => void;
  /** Keep the temporary folder (its path is in the result). */
  keep?: boolean;
  /** How long the gateway may take to print its "listening" line. */
  startTimeoutMs?: number;
}

export interface ImageCheckResult {
  baseImages: string[];
  exposed: number[];
  /** The command as the Dockerfile states it (ENTRYPOINT + CMD). */
  command: string[];
  user: string;
  /** uid the gateway process actually ran as (from /proc), or null where /proc is absent. */
  ranAsUid: number | null;
  /** Why the user could not be switched, when it could not. */
  userNote: string | null;
  echo: { status: number; body: Record<string, unknown> };
  status: { status: number; body: Record<string, unknown> };
  healthcheckExit: number | null;
  exitCode: number | null;
  signal: string | null;
  /** The gateway's stdout + stderr. */
  output: string;
  tmp: string;
}

/** Failure of the check, with the gateway's output when it got that far. */
export class ImageCheckError extends Error {
  constructor(
    message: string,
    readonly output = '',
  ) {
    super(output ? `${message}\n--- gateway output ---\n${output.trimEnd()}` : message);
  }
}

interface Stage {
  name: string;
  base: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
}

const LOOPBACK_LISTEN = '127.0.0.1:0';

export async function checkImage(opts: ImageCheckOptions): Promise<ImageCheckResult> {
  const log = opts.log ?? (() => {});
  const dockerfile = resolve(opts.dockerfile);
  const context = resolve(opts.context ?? dirname(dockerfile));
  const instructions = parseDockerfile(await readFile(dockerfile, 'utf8'));
  let ignoreText = '';
  try {
    ignoreText = await readFile(join(context, '.dockerignore'), 'utf8');
  } catch {
    // No .dockerignore: the whole context is sent, as with Docker.
  }
  const ignore = parseDockerignore(ignoreText);

  const tmp = await mkdtemp(join(tmpdir(), 'tollgate-image-'));
  // The image's user must be able to reach the files, as in a container.
  await chmod(tmp, 0o755);
  let stages: Stage[] = [];
  let child: ChildProcess | null = null;
  const at = (ins: Instruction): string => `Dockerfile:${ins.line} ${ins.keyword}`;

  /**
   * Walks the instructions. `dry` checks every step without touching files, so that a wrong
   * command form or user fails at once rather than after the install.
   */
  const walk = async (dry: boolean) => {
    stages = [];
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
            `${at(ins)}: this checker does not replay ${ins.keyword}; teach test/packaging/image-check.ts the new step`,
          );
      }
    }
    if (!stage) throw new ImageCheckError('the Dockerfile has no FROM');
    return { stage, entrypoint, cmd, user, healthcheck, exposed };
  };

  try {
    // --- what can be checked before building: the final stage's user and command
    const plan = await walk(true);
    const { user } = plan;
    if (!/^\d+(:\d+)?$/.test(user)) {
      throw new ImageCheckError(
        `USER must be numeric (UID[:GID]), not '${user}': Kubernetes' runAsNonRoot cannot verify a user name`,
      );
    }
    const [uid, gid = uid] = user.split(':').map(Number) as [number, number?];
    if (uid === 0) throw new ImageCheckError('the image runs as root: add USER with a non-root UID to the final stage');
    const command = [...(plan.entrypoint ?? []), ...(plan.cmd ?? [])];
    if (command.length === 0) throw new ImageCheckError('the image has neither ENTRYPOINT nor CMD');

    // --- the build
    const { stage, healthcheck, exposed } = await walk(false);

    // --- production dependencies only
    const pkgPath = inStage(stage, 'package.json');
    if (existsSync(pkgPath)) {
      const pkg = JSON.parse(await readFile(pkgPath, 'utf8')) as { devDependencies?: Record<string, string> };
      const dev = Object.keys(pkg.devDependencies ?? {}).filter((n) =>
        existsSync(inStage(stage!, posix.join('node_modules', n))),
      );
      if (dev.length > 0)
        throw new ImageCheckError(`devDependencies in the image: ${dev.join(', ')} (install with npm ci --omit=dev)`);
    }

    // --- the run
    const run = localCommand(command, stage);
    let userNote: string | null = null;
    // Docker runs both the command and the HEALTHCHECK as the image's user.
    let asUser: string[] = [];
    if (process.getuid?.() === 0) {
      const setpriv = spawnSync('setpriv', ['--version']);
      if (setpriv.error === undefined && setpriv.status === 0) {
        asUser = ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--'];
      } else userNote = 'running as root: setpriv (util-linux) not found to switch to the image user';
    } else userNote = `not root: running as the current uid ${process.getuid?.()} instead of ${uid}`;
    if (userNote) log(`note: ${userNote}`);
    const argv = [...asUser, ...run];

    const env: Record<string, string> = {
      PATH: hostPath(),
      HOME: '/',
      HOSTNAME: 'image-check',
      ...stage.env,
    };
    log(`start (uid ${uid}): ${run.join(' ')}`);
    child = spawn(argv[0]!, argv.slice(1), {
      cwd: inStage(stage, stage.workdir),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = child;
    let output = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
    const exited = new Promise<{ code: number | null; signal: string | null }>((res) =>
      proc.once('exit', (code, signal) => res({ code, signal })),
    );
    proc.once('error', (e) => (output += `spawn failed: ${e.message}\n`));

    const listening = await waitForListening(() => output, exited, opts.startTimeoutMs ?? 45_000);
    if ('exit' in listening)
      throw new ImageCheckError(`the entry command exited (${listening.exit}) before listening`, output);
    const proxy = listening.proxy[0];
    const admin = listening.admin[0];
    if (!proxy || !admin) throw new ImageCheckError('the "listening" line lacks a proxy or admin address', output);
    log(`listening: proxy ${proxy}, admin ${admin}`);

    const ranAsUid = await procUid(proc.pid!);
    if (ranAsUid === 0) throw new ImageCheckError('the gateway process runs as root', output);

    const echo = await getJson(`http://${proxy}/echo/image-check?probe=1`);
    if (echo.status !== 200 || echo.body.path !== '/image-check') {
      throw new ImageCheckError(
        `GET /echo/image-check answered ${echo.status} ${JSON.stringify(echo.body)}; expected 200 from the echo upstream with path /image-check`,
        output,
      );
    }
    const status = await getJson(`http://${admin}/status`);
    if (status.status !== 200 || status.body.status !== 'up') {
      throw new ImageCheckError(`admin GET /status answered ${status.status} ${JSON.stringify(status.body)}`, output);
    }
    log(`GET /echo/image-check → ${echo.status}; admin GET /status → ${status.status} ${String(status.body.status)}`);

    let healthcheckExit: number | null = null;
    if (healthcheck) {
      // The HEALTHCHECK targets the admin port inside the container; here it is a free port.
      const hc = [...asUser, ...healthcheck].map((a) =>
        a.replaceAll('127.0.0.1:8001', admin).replaceAll('localhost:8001', admin),
      );
      if (!hc.some((a) => a.includes(admin)))
        throw new ImageCheckError(
          'the HEALTHCHECK does not target 127.0.0.1:8001 (the admin listener inside the container)',
        );
      const r = spawnSync(hc[0]!, hc.slice(1), {
        cwd: inStage(stage, stage.workdir),
        env,
        encoding: 'utf8',
        timeout: 10_000,
      });
      healthcheckExit = r.status;
      if (r.status !== 0)
        throw new ImageCheckError(`the HEALTHCHECK command exited ${r.status ?? r.signal}: ${r.stderr}`, output);
      log('HEALTHCHECK → exit 0');
    }

    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    const exit = await exited;
    clearTimeout(timer);
    child = null;
    log(`SIGTERM → exit ${exit.code ?? exit.signal}`);
    if (exit.code !== 0)
      throw new ImageCheckError(
        `after SIGTERM the gateway exited with ${exit.code ?? exit.signal}, expected 0`,
        output,
      );

    return {
      baseImages: stages.map((s) => s.base),
      exposed: [...exposed],
      command,
      user,
      ranAsUid,
      userNote,
      echo,
      status,
      healthcheckExit,
      exitCode: exit.code,
      signal: exit.signal,
      output,
      tmp,
    };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const c = child;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    }
    if (!opts.keep) await rm(tmp, { recursive: true, force: true });
  }
}

/** Path inside a stage folder for an absolute container path. */
function inStage(stage: Stage, containerPath: string): string {
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

/** The argv of a RUN step this checker can replay (a plain `npm ci ...`), or an error. */
function runArgv(ins: Instruction): string[] {
  const argv = execForm(ins.args) ?? (/[;&|<>$`\\"']/.test(ins.args) ? null : ins.args.split(/\s+/));
  if (argv?.[0] !== 'npm' || argv[1] !== 'ci') {
    throw new ImageCheckError(
      `Dockerfile:${ins.line} RUN ${ins.args}: only a plain \`npm ci ...\` is replayed; teach test/packaging/image-check.ts the new step`,
    );
  }
  return argv;
}

async function replayRun(ins: Instruction, stage: Stage, log: (l: string) => void): Promise<void> {
  const argv = runArgv(ins);
  log(`RUN ${argv.join(' ')}`);
  // The same command, from the local npm cache (CI has it; the network may not be there).
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
  const r = await new Promise<{ code: number | null; out: string }>((res) => {
    const p = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.once('error', (e) => res({ code: -1, out: `${out}${e.message}` }));
    p.once('exit', (code) => res({ code, out }));
  });
  if (r.code !== 0)
    throw new ImageCheckError(`Dockerfile:${ins.line} RUN ${argv.join(' ')} failed (exit ${r.code})`, r.out);
}

/** The host's PATH without the node_modules/.bin folders `npm run` puts in front: the image has none. */
function hostPath(): string {
  return (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin')
    .split(':')
    .filter((d) => !/[/\\]node_modules[/\\]\.bin$/.test(d))
    .join(':');
}

/** ENTRYPOINT + CMD with container paths mapped into the stage and loopback listen addresses. */
function localCommand(command: readonly string[], stage: Stage): string[] {
  const out: string[] = [];
  for (let i = 0; i < command.length; i++) {
    const a = command[i]!;
    if (a === '--proxy-listen' || a === '--admin-listen') {
      i++;
      continue;
    }
    if (a.startsWith('--proxy-listen=') || a.startsWith('--admin-listen=')) continue;
    // Absolute paths the stage does not hold are the base image's programs (/usr/local/bin/node): kept.
    out.push(a.startsWith('/') && existsSync(join(stage.root, a)) ? join(stage.root, a) : a);
  }
  return [...out, '--proxy-listen', LOOPBACK_LISTEN, '--admin-listen', LOOPBACK_LISTEN];
}

function waitForListening(
  output: () => string,
  exited: Promise<{ code: number | null; signal: string | null }>,
  timeoutMs: number,
): Promise<{ proxy: string[]; admin: string[] } | { exit: string }> {
  return new Promise((res) => {
    let done = false;
    const finish = (v: { proxy: string[]; admin: string[] } | { exit: string }): void => {
      if (done) return;
      done = true;
      clearInterval(poll);
      clearTimeout(timer);
      res(v);
    };
    const poll = setInterval(() => {
      for (const line of output().split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const j = JSON.parse(line) as { msg?: string; proxy?: string[]; admin?: string[] };
          if (j.msg === 'listening') return finish({ proxy: j.proxy ?? [], admin: j.admin ?? [] });
        } catch {
          // A partial line: read again on the next tick.
        }
      }
    }, 50);
    const timer = setTimeout(() => finish({ exit: `no "listening" line within ${timeoutMs} ms` }), timeoutMs);
    void exited.then((e) => setTimeout(() => finish({ exit: `exit ${e.code ?? e.signal}` }), 100));
  });
}

async function procUid(pid: number): Promise<number | null> {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await r.text();
  try {
    return { status: r.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return { status: r.status, body: { text } };
  }
}

// ---------------------------------------------------------------------------------------------
// CLI

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const dockerfile = flag('--dockerfile') ?? join(root, 'Dockerfile');
  try {
    const r = await checkImage({
      dockerfile,
      context: flag('--context') ?? root,
      keep: args.includes('--keep'),
      log: (l) => process.stdout.write(`image-check: ${l}\n`),
    });
    process.stdout.write(
      `image-check: OK (${r.baseImages.at(-1)}, user ${r.user}, ran as uid ${r.ranAsUid ?? '?'}${r.userNote ? `; ${r.userNote}` : ''})${args.includes('--keep') ? ` in ${r.tmp}` : ''}\n`,
    );
  } catch (err) {
    process.stderr.write(`image-check: FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
