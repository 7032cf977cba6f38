/**
 * A breaker for a dependency that can hang with its connection open. A stopped or overloaded
 * Redis answers nothing, yet its TCP connection stays up, so the client's own connection state
 * never says so and every command waits its full timeout. After `tripAfter` failed calls in a
 * row the breaker opens: calls fail at once for `coolDownMs`, then one call goes through as a
 * trial. Its success closes the breaker; its failure opens it for another `coolDownMs`. So while
 * the dependency hangs, one call per cool-down waits for the timeout instead of every request.
 */
export class Breaker {
  readonly #tripAfter: number;
  readonly #coolDownMs: number;
  readonly #name: string;
  /** Failed calls since the last success. */
  #streak = 0;
  /** The error open calls fail with; null while the breaker is closed. */
  #open: Error | null = null;
  #openUntil = 0;
  #trialInFlight = false;

  constructor(name: string, tripAfter: number, coolDownMs: number) {
    this.#name = name;
    this.#tripAfter = tripAfter;
    this.#coolDownMs = coolDownMs;
  }

  /** Whether the breaker is open (calls fail fast, or wait for a trial's outcome). */
  get isOpen(): boolean {
    return this.#open !== null;
  }

  /**
   * Whether a call may go now, and if so whether it is the open breaker's trial (to be passed
   * back to `failed`); otherwise the error to fail the call with, without sending it.
   */
  admit(): { trial: boolean } | Error {
    if (this.#open === null) return NOT_A_TRIAL;
    if (this.#trialInFlight || Date.now() < this.#openUntil) return this.#open;
    this.#trialInFlight = true;
    return A_TRIAL;
  }

  /** A call succeeded. True when that closed an open breaker. */
  succeeded(): boolean {
    this.#streak = 0;
    if (this.#open === null) return false;
    this.#open = null;
    this.#trialInFlight = false;
    return true;
  }

  /**
   * A call failed. True when that opened the breaker. While it is open, only its trial's outcome
   * counts: a call sent before it opened that fails now says nothing new.
   */
  failed(message: string, trial: boolean): boolean {
    this.#streak++;
    if (this.#open !== null && !trial) return false;
    if (this.#open === null && this.#streak < this.#tripAfter) return false;
    const opened = this.#open === null;
    this.#trialInFlight = false;
    this.#openUntil = Date.now() + this.#coolDownMs;
    this.#open = new Error(
      `${this.#name} unresponsive: ${this.#streak} calls in a row failed (last: ${message}); next try in ${this.#coolDownMs} ms`,
    );
    return opened;
  }

  /** Forgets every failure (a fresh connection was made). */
  reset(): void {
    this.#streak = 0;
    this.#open = null;
    this.#trialInFlight = false;
  }
}

const NOT_A_TRIAL = Object.freeze({ trial: false });
const A_TRIAL = Object.freeze({ trial: true });
