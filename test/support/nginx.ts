/**
 * A real nginx for tests, from Debian's nginx-light: started on loopback with a config the test
 * gives, in a private prefix directory (pid, logs and temp files), stopped with the test.
 * Without the binary the tests skip with the reason, unless env CI is set (CI installs it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BINARY = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p)) ?? null;

/** Why nginx tests cannot run here, or null when they can. */
export function nginxUnavailable(): string | null {
  if (BINARY !== null) return null;
  const reason = 'nginx not found; install Debian nginx-light to run these tests';
  if (process.env.CI) throw new Error(reason);
  console.log(`# skipping nginx tests: ${reason}`);
  return reason;
}

export interface TestNginx {
  url: string;
  /** nginx's error log so far, for failure messages. */
  errors(): Promise<string>;
  stop(): Promise<void>;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/**
 * Starts nginx on `conf` (a whole nginx.conf listening on 127.0.0.1:`port`). The prefix
 * directory holds everything nginx writes; `daemon off` keeps it this process's child.
 */
export async function startNginx(conf: string, port: number): Promise<TestNginx> {
  if (BINARY === null) throw new Error('nginx is not installed');
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-nginx-'));
  const file = join(dir, 'nginx.conf');
  await writeFile(file, conf);
  const errorLog = join(dir, 'error.log');
  const child: ChildProcess = spawn(
    BINARY,
    ['-p', dir, '-c', file, '-g', `daemon off; pid ${dir}/nginx.pid; error_log ${errorLog};`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c));
  const errors = async () => `${stderr}${await readFile(errorLog, 'utf8').catch(() => '')}`;
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not start: ${await errors()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    errors,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGQUIT');
        const force = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(force);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
