/**
 * Replays the Dockerfile without a Docker engine, and proves the result starts and serves.
 *
 * It reads the Dockerfile (it does not restate its steps, so the two cannot drift apart):
 * image-replay.ts builds every stage in a folder standing for its filesystem root (COPY, the RUN
 * steps `npm ci`, `npm run SCRIPT` and `node FILE`, ENV, WORKDIR, USER). Then this file starts
 * ENTRYPOINT + CMD as the image's user (through setpriv when running as root), checks from its
 * "listening" line that it runs the compiled tree (dist/), requests `/echo/...` on the proxy and
 * `/status` on the admin listener, runs the HEALTHCHECK command, sends SIGTERM and expects exit
 * code 0. It also reports the config validators the start had to compile and write to
 * node_modules/.cache/tollgate: none when the build warmed that cache.
 *
 * What differs from a container, on purpose or by necessity:
 * - Node is the host's (CI runs 20 and 24), not the base image's; the base image is only recorded.
 *   So are npm and node in RUN steps, which run as the current user (Docker: root).
 * - The listen addresses are replaced by 127.0.0.1:0 (tests use loopback and free ports only).
 * - Absolute paths in commands (`/etc/tollgate/gateway.yaml`) are mapped into the stage folder.
 * - Not root: the user cannot be switched, so the gateway runs as the current (non-root) user.
 *
 * Anything it does not understand (ADD, another RUN, shell-form ENTRYPOINT/CMD, a USER that is a
 * name or root) fails the check: extend image-replay.ts together with the Dockerfile.
 *
 * CLI: `npm run image:check [-- --dockerfile FILE] [--context DIR] [--keep]`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ended } from '../support/wait.ts';
import { parseDockerfile, parseDockerignore } from './dockerfile.ts';
import {
  containerPathsInStage,
  hostPath,
  ImageCheckError,
  inStage,
  type ReplayInput,
  replayDockerfile,
  type Stage,
} from './image-replay.ts';

export { ImageCheckError } from './image-replay.ts';

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
  /** The tree the gateway said it runs in its "listening" line: 'dist' (compiled) or 'src'. */
  tree: string;
  /**
   * Validator files the started gateway added to node_modules/.cache/tollgate: none when the build
   * filled the cache (always none when the image's user cannot write there).
   */
  validatorsWrittenAtStart: string[];
  exitCode: number | null;
  signal: string | null;
  /** The gateway's stdout + stderr. */
  output: string;
  tmp: string;
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
  const input: ReplayInput = { instructions, context, ignore, tmp, log };
  let child: ChildProcess | null = null;

  try {
    // --- what can be checked before building: the final stage's user and command
    const plan = await replayDockerfile(input, true);
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
    const { stages, stage, healthcheck, exposed } = await replayDockerfile(input, false);
    const warmedValidators = await validatorCache(stage);

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
    // Once stdout and stderr have ended, so `output` holds every line the gateway wrote (its last
    // line, "stopped", can arrive after 'exit').
    const exited = ended(proc);
    proc.once('error', (e) => (output += `spawn failed: ${e.message}\n`));

    const listening = await waitForListening(() => output, exited, opts.startTimeoutMs ?? 45_000);
    if ('exit' in listening)
      throw new ImageCheckError(`the entry command exited (${listening.exit}) before listening`, output);
    const proxy = listening.proxy[0];
    const admin = listening.admin[0];
    if (!proxy || !admin) throw new ImageCheckError('the "listening" line lacks a proxy or admin address', output);
    log(`listening: proxy ${proxy}, admin ${admin}, tree ${listening.tree}`);
    // bin/gateway falls back to the sources through tsx when dist/ is missing or older than src/:
    // it would still serve, only slower to start and heavier.
    if (listening.tree !== 'dist') {
      throw new ImageCheckError(
        `the gateway runs the tree '${listening.tree}', not the compiled 'dist': build it after copying the sources (RUN ["node", "bin/compiled.mjs"]), and copy nothing it is built from afterwards`,
        output,
      );
    }

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
    const validatorsWrittenAtStart = (await validatorCache(stage)).filter((f) => !warmedValidators.includes(f));

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
      tree: listening.tree,
      validatorsWrittenAtStart,
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
    out.push(a);
  }
  return [...containerPathsInStage(out, stage), '--proxy-listen', LOOPBACK_LISTEN, '--admin-listen', LOOPBACK_LISTEN];
}

/** The validator files in the stage's node_modules/.cache/tollgate (src/config/compiled-validators.ts). */
async function validatorCache(stage: Stage): Promise<string[]> {
  try {
    return (await readdir(inStage(stage, posix.join(stage.workdir, 'node_modules/.cache/tollgate')))).sort();
  } catch {
    return [];
  }
}

/** What the gateway's "listening" line says. */
interface Listening {
  proxy: string[];
  admin: string[];
  tree: string;
}

function waitForListening(
  output: () => string,
  exited: Promise<{ code: number | null; signal: string | null }>,
  timeoutMs: number,
): Promise<Listening | { exit: string }> {
  return new Promise((res) => {
    let done = false;
    const finish = (v: Listening | { exit: string }): void => {
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
          const j = JSON.parse(line) as { msg?: string; proxy?: string[]; admin?: string[]; tree?: string };
          if (j.msg === 'listening')
            return finish({ proxy: j.proxy ?? [], admin: j.admin ?? [], tree: j.tree ?? '(not logged)' });
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
      `image-check: OK (${r.baseImages.at(-1)}, user ${r.user}, tree ${r.tree}, ran as uid ${r.ranAsUid ?? '?'}${r.userNote ? `; ${r.userNote}` : ''})${args.includes('--keep') ? ` in ${r.tmp}` : ''}\n`,
    );
  } catch (err) {
    process.stderr.write(`image-check: FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
