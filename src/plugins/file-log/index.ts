/**
 * The `file-log` plugin: Kong 3's file-log. Every request's Kong-shaped entry (tollgate/log) is
 * appended to `path` as one JSON line. Lines are queued in memory (bounded: 10,000 lines, the
 * oldest dropped and counted when the disk cannot keep up) and written asynchronously in batches,
 * so a slow disk never delays a response. With `reopen` the file is opened for every batch, so a
 * file that logrotate moved away is followed (Kong reopens it for every line).
 */
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import schema from '../../../schemas/plugins/file-log.schema.json' with { type: 'json' };
import type { DependencyHealth, GatewayRequest, LogEntry, PluginHandlers } from '../../index.ts';
import { definePlugin, PluginConfigError } from '../../index.ts';
import {
  type CustomFields,
  compileCustomFields,
  LogQueue,
  queueHealth,
  serializeKong,
  withCustomFields,
} from '../../lib/log/index.ts';

export interface FileLogConfig {
  path: string;
  reopen: boolean;
  custom_fields_by_lua: Record<string, string> | null;
  custom_fields: Record<string, string> | null;
}

/**
 * Append, create, and never wait: a FIFO nobody reads fails to open (ENXIO) and a pipe whose reader
 * stalled (a container's stdout) fails a write (EAGAIN), both retried by the queue. Opened in
 * blocking mode, each would hold one of libuv's four threads for good, and with them DNS lookups,
 * file reads and crypto for the whole gateway. Regular files ignore the flag.
 */
const OPEN_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK;

/**
 * Kong's file-log path rule (its schema's `match`, error "not a valid filename"): no whitespace
 * at either end (a stray space in YAML would otherwise name a different file) and none of
 * `*`, `&`, `%`, `\`, and the backtick anywhere. A NUL cannot reach open(2) either. Kong's pattern
 * also wants two characters at least; a one-character name is a file here all the same.
 */
const VALID_PATH = /^[^\t\n\v\f\r *&%\\`\0](?:[^*&%\\`\0]*[^\t\n\v\f\r *&%\\`\0])?$/;

/** Lines wait at most this long to be written together. */
const BATCH_DELAY_S = 0.05;

class FileLog implements PluginHandlers {
  private readonly fields: CustomFields | null;
  private queue: LogQueue<string> | null = null;
  private file: FileHandle | null = null;

  constructor(
    private readonly config: FileLogConfig,
    private readonly path: string,
    private readonly warn: (msg: string) => void,
  ) {
    this.fields = compileCustomFields(config);
  }

  log(req: GatewayRequest, entry: LogEntry): void {
    this.queue ??= new LogQueue<string>(
      'file-log',
      {
        max_batch_size: 1000,
        max_coalescing_delay: BATCH_DELAY_S,
        max_entries: 10_000,
        max_bytes: null,
        max_retry_time: 5,
        initial_retry_delay: 0.05,
        max_retry_delay: 1,
        concurrency_limit: 1,
      },
      (lines) => this.write(lines),
      this.warn,
    );
    this.queue.add(`${JSON.stringify(withCustomFields(serializeKong(req, entry), req, this.fields))}\n`);
  }

  private async write(lines: string[]): Promise<void> {
    const text = lines.join('');
    if (this.config.reopen) {
      const fh = await this.openFile();
      try {
        await fh.appendFile(text);
      } finally {
        await fh.close();
      }
      return;
    }
    this.file ??= await this.openFile();
    try {
      await this.file.appendFile(text);
    } catch (err) {
      // A broken handle (the disk went away, say) is opened again on the retry.
      const fh = this.file;
      this.file = null;
      await fh.close().catch(() => {});
      throw err;
    }
  }

  /** The file, or Kong's words for why not (`failed to open the file: ...`, logged by the queue). */
  private async openFile(): Promise<FileHandle> {
    try {
      return await open(this.path, OPEN_FLAGS, 0o644);
    } catch (err) {
      throw new Error(`failed to open the file: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  health(): DependencyHealth[] {
    return [queueHealth('file-log', this.path, this.queue as LogQueue<unknown> | null)];
  }

  async close(): Promise<void> {
    await this.queue?.close();
    await this.file?.close().catch(() => {});
    this.file = null;
  }
}

export default definePlugin<FileLogConfig>({
  name: 'file-log',
  version: '1.0.0',
  // Kong's priority for file-log.
  priority: 9,
  schema,
  create(config, context) {
    if (!VALID_PATH.test(config.path)) throw new PluginConfigError('path', 'not a valid filename');
    const path = isAbsolute(config.path) ? config.path : resolve(context.services.configDir, config.path);
    return new FileLog(config, path, (msg) => context.log.warn(msg));
  },
});
