// The gateway's logger: JSON lines (pino) on stdout, one access-log line per request.
import { writeSync } from 'node:fs';
import { type DestinationStream, type Logger, pino } from 'pino';
import { knownSecrets, secretValues } from './config/secrets.ts';
import type { PluginLogger } from './pipeline/plugin.ts';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Where lines go; default stdout (every line written at once, access lines batched). */
  destination?: DestinationStream;
}

/** Where access lines go: many small writes, so they are batched. */
export interface LineSink {
  /** One whole line, with its newline. */
  write(line: string): void;
  flush(): void;
}

const accessSinks = new WeakMap<Logger, LineSink>();
/** One batch for stdout per process, however many loggers write to it. */
let stdoutLines: BatchedLines | null = null;

export function createLogger(opts: LoggerOptions = {}): Logger {
  // Ordinary lines are rare and written at once (so "listening" and errors are never held back);
  // access lines go through a batching sink of their own (see accessSink).
  const destination = opts.destination ?? pino.destination({ dest: 1, sync: true });
  const logger = pino(
    {
      level: opts.level ?? 'info',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      messageKey: 'msg',
      hooks: { logMethod: scrubLogArgs },
    },
    destination,
  );
  const sink: LineSink =
    opts.destination !== undefined
      ? { write: (line) => void destination.write(line), flush: () => undefined }
      : (stdoutLines ??= new BatchedLines(1));
  accessSinks.set(logger, sink);
  return logger;
}

/** The access-line sink of a logger made by createLogger (null for a foreign logger). */
export function accessSink(logger: Logger): LineSink | null {
  return accessSinks.get(logger) ?? null;
}

/**
 * Lines copied into one buffer and written with one write(2) per 16 KiB, or within a second.
 * Cheaper than a stream per line: no per-line buffer bookkeeping, one syscall for ~50 lines.
 * A batch holds whole lines only, so workers sharing stdout never split each other's lines.
 */
export class BatchedLines implements LineSink {
  private buf: Buffer;
  private used = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly fd: number,
    private readonly limit = 16 * 1024,
    intervalMs = 1000,
  ) {
    this.buf = Buffer.allocUnsafe(limit * 2);
    this.timer = setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
    process.once('exit', () => this.flush());
  }

  write(line: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    const most = line.length * 3;
    if (this.buf.length - this.used < most) {
      this.flush();
      if (this.buf.length - this.used < most) this.grow(most);
    }
    this.used += this.buf.write(line, this.used);
    if (this.used >= this.limit) this.flush();
  }

  private grow(need: number): void {
    const next = Buffer.allocUnsafe(this.used + need);
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
  }

  flush(): void {
    let off = 0;
    while (off < this.used) {
      try {
        off += writeSync(this.fd, this.buf, off, this.used - off);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
          this.used = 0; // a closed stdout: nothing to do
          return;
        }
        // A slow reader: keep the rest for the next flush rather than spinning.
        this.buf.copy(this.buf, 0, off, this.used);
        this.used -= off;
        return;
      }
    }
    this.used = 0;
  }
}

/** A logger for one plugin instance: every line carries the plugin name; debug only when `config.debug` is true. */
export function pluginLogger(base: Logger, plugin: string, debug: boolean): PluginLogger {
  const child = base.child({ plugin });
  return {
    debug: (msg, fields) => {
      if (debug) child.info(fields ?? {}, msg);
    },
    info: (msg, fields) => child.info(fields ?? {}, msg),
    warn: (msg, fields) => child.warn(fields ?? {}, msg),
    error: (msg, fields) => child.error(fields ?? {}, msg),
  };
}

/** Replaces every secret value, and every form derived from one, in a message with `[redacted]`. */
export function redact(text: string, secrets: ReadonlySet<string>): string {
  return secretValues(secrets).scrubMessage(text);
}

/**
 * Every log line's fields and message pass through the secrets the process has read, whoever
 * logs them (core, plugins, custom plugins): an upstream error naming a host that came from
 * `${...}` prints `[redacted]`.
 */
function scrubLogArgs(this: Logger, args: unknown[], method: (...a: unknown[]) => void): void {
  const known = knownSecrets();
  if (known.empty) return method.apply(this, args);
  return method.apply(
    this,
    args.map((a) => known.scrubDeep(a, true)),
  );
}
