import type { PluginLogger } from '../../pipeline/plugin.ts';

/**
 * A warning that can recur once per request, such as a counter store that is down while
 * `fault_tolerant` lets requests through. It is logged at once the first time, then at most once
 * per `intervalMs`, with `repeated`: how many times it recurred without a line since the last
 * one. So a failing dependency under load writes a line a second, not one per request (Kong
 * logs each; at thousands of requests a second that buries every other line).
 */
export class RepeatedWarning {
  readonly #log: PluginLogger;
  readonly #message: string;
  readonly #intervalMs: number;
  readonly #level: 'warn' | 'error';
  #quietUntil = 0;
  #held = 0;

  constructor(log: PluginLogger, message: string, intervalMs = 1000, level: 'warn' | 'error' = 'warn') {
    this.#log = log;
    this.#message = message;
    this.#intervalMs = intervalMs;
    this.#level = level;
  }

  /** Logs `message` (the constructor's by default) with `fields`, unless within the interval of the last line. */
  report(fields: Record<string, unknown>, message = this.#message): void {
    const now = Date.now();
    if (now < this.#quietUntil) {
      this.#held++;
      return;
    }
    this.#quietUntil = now + this.#intervalMs;
    const held = this.#held;
    this.#held = 0;
    this.#log[this.#level](message, held === 0 ? fields : { ...fields, repeated: held });
  }
}
