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
  const destination = opts.destination ?? pino.destination({ dest: 1, sync: false });
  return pino(
    {
      level: opts.level ?? 'info',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      messageKey: 'msg',
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
