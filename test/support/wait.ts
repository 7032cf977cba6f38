/**
 * Waiting with a deadline, shorter than the test runner's: an event that never comes fails the
 * test with what was awaited, instead of holding the run until the runner gives up.
 *
 * @example
 * await within(upstreamSawRequest, 10_000, 'the request reaching the upstream');
 * await until('the refresh to end', () => jwks.open.size === 0);
 */
import type { ChildProcess } from 'node:child_process';

/**
 * A child process's end, once its output is read: its 'close' (stdout and stderr ended after it
 * exited), or `graceMs` after its 'exit' when something it started still holds those pipes (a
 * process left behind by a build step, say), so that a test never waits on a grandchild.
 */
export function ended(
  child: ChildProcess,
  graceMs = 2000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    let grace: NodeJS.Timeout | undefined;
    child.once('exit', (code, signal) => {
      grace = setTimeout(() => resolve({ code, signal }), graceMs);
    });
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(grace);
      resolve({ code, signal });
    });
  });
}

/** Resolves as `promise` does, or rejects after `ms` naming `what`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Resolves once `check` holds, looking every `everyMs`; rejects after `ms` naming `what`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 15_000,
  everyMs = 20,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Waits until the current minute has at least `ms` left. Rate-limit windows are aligned to the
 * clock (as Kong's are), so requests a test counts against one minute window must not straddle
 * a minute boundary.
 */
export async function startOfMinute(ms = 5000): Promise<void> {
  const into = Date.now() % 60_000;
  if (60_000 - into < ms) await new Promise((r) => setTimeout(r, 60_000 - into + 5));
}
