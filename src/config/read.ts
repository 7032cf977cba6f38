/**
 * Reading gateway.yaml and the files it references, so that no file can wedge a load or a reload.
 *
 * `readFile` on a FIFO waits for a writer forever and holds one of libuv's four threadpool
 * threads while it waits; on a character device (`/dev/zero`, `/dev/urandom`) it reads until
 * memory runs out. Here the file is opened non-blocking (opening a FIFO then returns at once),
 * checked with fstat on the opened descriptor (no race with a rename in between) to be a regular
 * file no larger than the cap, and read with a deadline. Anything else is a reason, which the
 * caller turns into a located error.
 */
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { decodeText } from './encoding.ts';

/** Largest gateway.yaml read (see docs/operations.md, "Config size"). */
export const MAX_CONFIG_BYTES = 64 * 1024 * 1024;
/** Largest file a `${file:...}` reference reads (a PEM bundle, a key, a secret). */
export const MAX_REFERENCED_BYTES = 1024 * 1024;
/** How long one file may take to read (a hung network mount fails, it does not hold the reload). */
export const READ_DEADLINE_MS = 5_000;

export type ReadOutcome =
  | { ok: true; text: string }
  | { ok: false; why: string; code: string; line?: number; col?: number };

function kind(st: {
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
  isDirectory(): boolean;
}): string {
  if (st.isDirectory()) return 'it is a directory';
  if (st.isFIFO()) return 'it is a FIFO (named pipe), not a regular file';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'it is a device, not a regular file';
  if (st.isSocket()) return 'it is a socket, not a regular file';
  return 'it is not a regular file';
}

function errnoWhy(e: unknown): { why: string; code: string } {
  const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EISDIR'
        ? 'it is a directory'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'ELOOP'
            ? 'too many levels of symbolic links'
            : code;
  return { why, code };
}

/** Reads a regular file of at most `maxBytes` as UTF-8 (or UTF-16 with a BOM), within `deadlineMs`. Never throws. */
export async function readRegularFile(
  path: string,
  maxBytes: number,
  deadlineMs = READ_DEADLINE_MS,
): Promise<ReadOutcome> {
  let fh: FileHandle | null = null;
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const work = (async (): Promise<ReadOutcome> => {
    try {
      fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
      if (timedOut) return { ok: false, why: 'timed out', code: 'ETIMEDOUT' };
      const st = await fh.stat();
      if (!st.isFile()) return { ok: false, why: kind(st), code: 'ENOTREG' };
      if (st.size > maxBytes)
        return {
          ok: false,
          why: `it is larger than the ${formatBytes(maxBytes)} limit (${formatBytes(st.size)})`,
          code: 'EFBIG',
        };
      // The size may grow while reading (a file being written): never more than one byte past the cap.
      let buf = Buffer.allocUnsafe(Math.min(maxBytes + 1, st.size + 1));
      let n = 0;
      for (;;) {
        if (timedOut) return { ok: false, why: 'timed out', code: 'ETIMEDOUT' };
        if (n === buf.length) {
          if (n > maxBytes) return tooLarge(maxBytes);
          const more = Buffer.allocUnsafe(Math.min(maxBytes + 1, buf.length * 2));
          buf.copy(more, 0, 0, n);
          buf = more;
        }
        const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      if (n > maxBytes) return tooLarge(maxBytes);
      const decoded = decodeText(buf.subarray(0, n));
      if (!decoded.ok) return { ok: false, why: decoded.why, code: 'EILSEQ', line: decoded.line, col: decoded.col };
      return decoded;
    } catch (e) {
      return { ok: false, ...errnoWhy(e) };
    }
  })();
  const deadline = new Promise<ReadOutcome>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      resolve({ ok: false, why: `reading it took longer than ${deadlineMs} ms`, code: 'ETIMEDOUT' });
    }, deadlineMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    // A read that is still stuck closes its descriptor whenever it returns.
    void work.finally(() => (fh as FileHandle | null)?.close().catch(() => undefined));
  }
}

function tooLarge(maxBytes: number): ReadOutcome {
  return { ok: false, why: `it is larger than the ${formatBytes(maxBytes)} limit`, code: 'EFBIG' };
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Math.round((n / (1024 * 1024)) * 10) / 10} MiB`;
  if (n >= 1024) return `${Math.round((n / 1024) * 10) / 10} KiB`;
  return `${n} bytes`;
}
