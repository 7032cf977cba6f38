// The gateway's logger: JSON lines (pino) on stdout, one access-log line per request.
import { type DestinationStream, type Logger, pino } from 'pino';
import { knownSecrets, secretValues } from './config/secrets.ts';
import { logCaptureActive, observeLogLine } from './lib/log/capture.ts';
import { LineWriter } from './line-writer.ts';
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
/** One writer for stdout per process, however many loggers write to it. */
let stdoutLines: LineWriter | null = null;

function stdout(): LineWriter {
  stdoutLines ??= new LineWriter(1);
  return stdoutLines;
}

/** Lines this process could not write to stdout (it was not being read and its buffer was full). */
export function stdoutLinesDropped(): number {
  return stdoutLines?.dropped ?? 0;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  // Ordinary lines are rare and written at once (so "listening" and errors are never held back);
  // access lines are batched. Both go through one writer that never blocks on a stuck stdout.
  const destination: DestinationStream = opts.destination ?? { write: (line: string) => stdout().writeNow(line) };
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
      : stdout();
  accessSinks.set(logger, sink);
  return logger;
}

/** The access-line sink of a logger made by createLogger (null for a foreign logger). */
export function accessSink(logger: Logger): LineSink | null {
  return accessSinks.get(logger) ?? null;
}

/** A logger for one plugin instance: every line carries the plugin name; debug only when `config.debug` is true. */
export function pluginLogger(base: Logger, plugin: string, debug: boolean): PluginLogger {
  const child = base.child({ plugin });
  return {
    debug: (msg, fields) => {
      if (debug) child.info(ownFields(fields), msg);
    },
    info: (msg, fields) => child.info(ownFields(fields), msg),
    warn: (msg, fields) => child.warn(ownFields(fields), msg),
    error: (msg, fields) => child.error(ownFields(fields), msg),
  };
}

/** The keys the logger writes on every plugin line. */
const LINE_KEYS: ReadonlySet<string> = new Set(['level', 'time', 'msg', 'plugin']);

/**
 * A plugin's fields with the line's own keys renamed `field_<key>`: pino writes them after its
 * own, so `{ time: 12 }` or `{ plugin: 'jwt' }` gave the line two `time` or `plugin` keys, which
 * a JSON reader takes as the plugin's (a line claiming another plugin's name or level) or refuses
 * (Elasticsearch's duplicate-field error).
 */
function ownFields(fields: Record<string, unknown> | undefined): Record<string, unknown> {
  if (fields === undefined || fields === null) return {};
  let out: Record<string, unknown> | null = null;
  for (const k of Object.keys(fields)) {
    if (!LINE_KEYS.has(k)) continue;
    out ??= { ...fields };
    out[`field_${k}`] = out[k];
    delete out[k];
  }
  return out ?? fields;
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
function scrubLogArgs(this: Logger, args: unknown[], method: (...a: unknown[]) => void, level: number): void {
  const known = knownSecrets();
  const scrubbed = known.empty ? args : args.map((a) => known.scrubDeep(a, true));
  // OTLP log export (opentelemetry's logs_endpoint) sees the line as written, secrets scrubbed.
  if (logCaptureActive()) observeLogLine(level, scrubbed, pluginOf(this));
  return method.apply(this, scrubbed);
}

/** The plugin a child logger of pluginLogger writes for (its `plugin` binding), or null. */
function pluginOf(logger: Logger): string | null {
  const plugin = logger.bindings().plugin;
  return typeof plugin === 'string' ? plugin : null;
}
