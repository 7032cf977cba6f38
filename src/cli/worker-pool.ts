/**
 * The cluster primary's view of its workers: each worker's state (ready, the config it serves,
 * its listeners, its heartbeat), and the questions the primary asks them over IPC, each matched
 * to its answer by worker and id, with a timeout. The primary's reload protocol
 * (primary-coordinator.ts) and its worker lifecycle (workers.ts) both go through it.
 */
import type { Worker } from 'node:cluster';
import type { TollgateInstance } from '../instance.ts';
import type { FromWorker, ToWorker } from './worker-messages.ts';

export const ASK_TIMEOUT_MS = 60_000;
/** `/status` waits this long for a worker's connection counts; one that has not answered is left out. */
export const STATS_TIMEOUT_MS = 2_000;
/**
 * The primary pings every serving worker this often. A worker stopped (SIGSTOP, a debugger) or
 * spinning in a loop still holds its share of the listening socket: connections handed to it hang,
 * and nothing else would notice. After UNRESPONSIVE_AFTER pings in a row without an answer `/ready`
 * says 503 (the balancer in front sends new connections elsewhere); after KILL_AFTER the worker is
 * killed and replaced. A worker busy for seconds (a reload compiling a large file) misses a ping or
 * two, not ten.
 */
export const HEARTBEAT_MS = 2_000;
export const UNRESPONSIVE_AFTER = 3;
export const KILL_AFTER = 10;

export type WorkerReply = FromWorker & { t: 'tollgate:reply' };

export interface WorkerState {
  worker: Worker;
  ready: boolean;
  hash: string | null;
  listeners: TollgateInstance['proxyListeners'];
  startedAt: number;
  /**
   * Heartbeat periods since the worker last answered (see HEARTBEAT_MS), counted from the clock: a
   * ping that times out just after the interval's tick skips that tick, and counting pings would
   * then stretch KILL_AFTER to twice its time on a loaded machine.
   */
  missed: number;
  /** When the worker last answered a ping, or became ready. */
  answeredAt: number;
  pinging: boolean;
}

/** A just-forked worker's state: not serving yet, its heartbeat clock starting now. */
export function newWorkerState(worker: Worker): WorkerState {
  const now = Date.now();
  return {
    worker,
    ready: false,
    hash: null,
    listeners: [],
    startedAt: now,
    missed: 0,
    answeredAt: now,
    pinging: false,
  };
}

/** A write that fails to a worker about to be reported exited: its 'exit' handler does the rest. */
const ignore = (): void => undefined;

export class WorkerPool {
  /** Every forked worker not yet exited, by cluster id. */
  readonly states = new Map<number, WorkerState>();
  private readonly waiting = new Map<string, { resolve: (m: WorkerReply) => void; reject: (e: Error) => void }>();
  private seq = 0;
  /** A reload found no worker to apply it: the next worker that comes up triggers it again. */
  retryWhenReady = false;

  /** A fresh message id (one sequence for every question, so a late answer matches nothing). */
  nextId(): number {
    return ++this.seq;
  }

  /** The workers that are serving and still connected. */
  alive(): WorkerState[] {
    return [...this.states.values()].filter((s) => s.ready && s.worker.isConnected());
  }

  /**
   * Sends `m` if the worker's channel is open; `failed` hears a write that fails. A worker killed
   * a moment ago (SIGKILL, the OOM killer) still counts as connected until the primary reads its
   * channel's end, and a write to it fails with EPIPE: with a callback, node hands that error to
   * it; without one, it is an 'error' event on the worker that, unheard, ends the primary.
   */
  send(w: Worker, m: ToWorker, failed: (err: Error) => void = ignore): void {
    if (w.isConnected()) w.send(m, undefined, (err) => err && failed(err));
  }

  /** Sends a question and waits for the worker's reply with the same id; rejects past `timeoutMs` or if it exits. */
  ask(s: WorkerState, m: ToWorker & { id: number }, timeoutMs = ASK_TIMEOUT_MS): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      const key = `${s.worker.id}:${m.id}`;
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        reject(new Error(`worker ${s.worker.process.pid} did not answer`));
      }, timeoutMs);
      this.waiting.set(key, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          this.waiting.delete(key);
          reject(e);
        },
      });
      this.send(s.worker, m, (err) => this.waiting.get(key)?.reject(err));
    });
  }

  /** A worker's reply arrived: the question waiting for it is answered. */
  answered(worker: Worker, m: WorkerReply): void {
    const key = `${worker.id}:${m.id}`;
    const w = this.waiting.get(key);
    this.waiting.delete(key);
    w?.resolve(m);
  }

  /** A worker exited: it leaves the pool, and every question still waiting for it fails. */
  exited(worker: Worker): void {
    this.states.delete(worker.id);
    for (const [key, w] of this.waiting) {
      if (key.startsWith(`${worker.id}:`)) {
        this.waiting.delete(key);
        w.reject(new Error('worker exited'));
      }
    }
  }
}
