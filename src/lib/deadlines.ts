/**
 * Calls that must be over by a fixed time after they start, all with the same allowance: those
 * still pending then are failed. One timer serves all of them (a queue in start order is also a
 * queue in deadline order), so a call costs an array slot rather than a timer of its own. Failing
 * a call that has already settled does nothing (a settled promise ignores its reject).
 */
export class Deadlines {
  readonly #ms: number;
  readonly #error: Error;
  #at: number[] = [];
  #fail: ((err: Error) => void)[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(ms: number, error: Error) {
    this.#ms = ms;
    this.#error = error;
  }

  /** Fails the call with this queue's error unless it has settled `ms` from now. */
  add(fail: (err: Error) => void): void {
    this.#at.push(Date.now() + this.#ms);
    this.#fail.push(fail);
    if (this.#timer === null) this.#arm(this.#ms);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#expire, ms);
    this.#timer.unref();
  }

  readonly #expire = (): void => {
    this.#timer = null;
    const now = Date.now();
    const at = this.#at;
    const fail = this.#fail;
    let head = this.#head;
    while (head < at.length && at[head]! <= now) {
      const f = fail[head]!;
      // Dropped at once: a settled call's reject function holds its promise.
      fail[head] = noop;
      head++;
      f(this.#error);
    }
    if (head === at.length) {
      this.#at = [];
      this.#fail = [];
      this.#head = 0;
      return;
    }
    if (head > 1024 && head * 2 > at.length) {
      this.#at = at.slice(head);
      this.#fail = fail.slice(head);
      head = 0;
    }
    this.#head = head;
    this.#arm(Math.max(1, this.#at[head]! - now));
  };
}

function noop(): void {}
