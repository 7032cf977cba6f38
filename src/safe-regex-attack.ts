/**
 * A second opinion on recheck's fuzzer. When it cannot decide a regex by automata theory, it
 * fuzzes, and it takes an attack as proven when its match runs past `attackTimeout` (1 s) in its
 * own interpreter: on a loaded machine a linear regex's attack string ran that long, and the regex
 * was refused as "2nd degree polynomial". (Its own recall validation, which re-runs the attack on
 * a real engine, needs its Java or native backend; the gateway image has neither.)
 *
 * So a fuzzed attack is run here on V8's own engine, the one that would match request data, on a
 * worker thread: a super-linear regex is still matching after ATTACK_CONFIRM_MS (the attack string
 * is sized for seconds of backtracking), where a linear one is done in about a millisecond. The
 * clock starts once the worker has started and compiled the regex, so a slow start on a busy
 * machine does not count.
 */
import { Worker } from 'node:worker_threads';

/** How long a fuzzed attack must keep V8's engine matching to confirm the regex is super-linear. */
export const ATTACK_CONFIRM_MS = 1000;

/** Compiles, says it is about to match, matches, says it is done. */
const MATCHER = `
const { parentPort, workerData } = require('node:worker_threads');
const re = new RegExp(workerData.source, workerData.flags);
parentPort.postMessage('matching');
re.exec(workerData.attack);
parentPort.postMessage('done');
`;

/**
 * Whether matching `attack` with the regex keeps V8 busy for ATTACK_CONFIRM_MS: true (confirmed),
 * false (done sooner), or null when it could not be told (the worker did not start or threw, e.g.
 * on a flag this Node does not know).
 */
export function attackRunsLong(source: string, flags: string, attack: string): Promise<boolean | null> {
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(MATCHER, { eval: true, workerData: { source, flags, attack } });
    } catch {
      resolve(null);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = (verdict: boolean | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(verdict);
      // Terminating interrupts a match still backtracking: the thread does not run on.
      void worker.terminate();
    };
    worker.on('message', (m) => {
      if (m === 'matching') timer = setTimeout(settle, ATTACK_CONFIRM_MS, true);
      else settle(false);
    });
    worker.once('error', () => settle(null));
    worker.once('exit', () => settle(null));
  });
}
