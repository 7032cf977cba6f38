// The gateway's logger: JSON lines (pino) on stdout, one access-log line per request.
import { pino, type Logger, type DestinationStream } from 'pino';
import type { PluginLogger } from './pipeline/plugin.ts';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Where lines go; default stdout through an asynchronous sonic-boom destination. */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  // Access lines are many and buffered (written in 4 KiB batches, at most a second late); every other
  // line is rare and flushed at once, so "listening" and errors are never held back.
  const buffered = opts.destination === undefined;
  const destination = opts.destination ?? pino.destination({ dest: 1, sync: true, minLength: 4096, periodicFlush: 1000 });
  const flushNow = buffered ? (destination as unknown as { flush(): void }) : null;
  return pino(
    {
      level: opts.level ?? 'info',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      messageKey: 'msg',
      hooks: {
        logMethod(args, method) {
          method.apply(this, args);
          flushNow?.flush();
        },
      },
    },
    destination,
  );
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

/** Replaces every secret value in a string (errors, log lines) with `[redacted]`. */
export function redact(text: string, secrets: ReadonlySet<string>): string {
  let out = text;
  for (const s of secrets) {
    if (s.length >= 4 && out.includes(s)) out = out.split(s).join('[redacted]');
  }
  return out;
}
