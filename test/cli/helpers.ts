// Runs the real `bin/gateway` process, as a user or a CI job would.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/temp.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin/gateway');

export interface RunResult {
  code: number | null;
  out: string;
  err: string;
}

/** Environment without any AUTH0_* / SESSION_SECRET / ACME_* variable, as in a CI job without secrets. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(AUTH0_|SESSION_SECRET|ACME_|UPSTREAM_URL|TOLLGATE_)/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

/** Runs `gateway ARGS...`; resolves on exit, rejects after `timeoutMs`. */
export function gateway(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? cleanEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`gateway ${args.join(' ')} did not exit within ${opts.timeoutMs ?? 150_000} ms\n${out}\n${err}`),
      );
    }, opts.timeoutMs ?? 150_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

export function tmp(): string {
  return tempDir('tollgate-cli');
}

export function write(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
