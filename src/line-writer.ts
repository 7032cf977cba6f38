// Log lines for stdout, which may be a pipe nobody is reading: a log shipper that hangs, a container
// runtime whose buffer is full. Node leaves a piped stdout non-blocking, so a write then fails with
// EAGAIN instead of waiting. nginx's worker blocks on a stuck access log; a gateway must keep
// serving instead. So no write here waits: what cannot be written yet stays in a bounded buffer,
// later lines that do not fit are dropped and counted, and once output flows again one warning
// line says how many were lost.
import cluster from 'node:cluster';
import { fstatSync, writeSync } from 'node:fs';
import { isoNow } from './proxy/clock.ts';

/** Bytes of lines kept while the reader is not reading; beyond them lines are dropped. */
export const PENDING_LIMIT_BYTES = 4 * 1024 * 1024;
/** After EAGAIN, how long the writer waits before it tries again (the reader is not keeping up). */
const RETRY_AFTER_MS = 50;
/**
 * POSIX: a write of at most PIPE_BUF bytes (4096 on Linux) to a pipe is never interleaved with
 * another process's, and a non-blocking one writes all or nothing.
 */
const PIPE_BUF = 4096;
const NEWLINE = 0x0a;

export interface LineWriterOptions {
  /** Lines are written once this many bytes are waiting (or at the next interval). */
  batchBytes?: number;
  /** Bytes kept while the fd does not accept writes. */
  pendingLimitBytes?: number;
  /** Waiting lines are written at least this often. */
  intervalMs?: number;
}

/** Lines of one file descriptor, written in batches, never blocking, never holding more than a bound. */
export class LineWriter {
  readonly #fd: number;
  readonly #batchBytes: number;
  readonly #pendingLimit: number;
  /** The fd is a pipe or a socket, which other processes of the cluster may write to as well. */
  readonly #pipe: boolean;
  #buf: Buffer;
  #used = 0;
  /** When the fd refused a write (EAGAIN): no write is tried before this time. */
  #retryAt = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  /** The fd is gone (EPIPE, EBADF): every later line is dropped. */
  #closed = false;
  #dropped = 0;
  #unreported = 0;

  constructor(fd: number, opts: LineWriterOptions = {}) {
    this.#fd = fd;
    this.#batchBytes = opts.batchBytes ?? 16 * 1024;
    this.#pendingLimit = Math.max(opts.pendingLimitBytes ?? PENDING_LIMIT_BYTES, this.#batchBytes * 2);
    const pipe = isPipe(fd);
    // libuv opens a piped stdout non-blocking when node creates `process.stdout` (uv_pipe_open):
    // a write to fd 1 then fails with EAGAIN where it would wait for the reader.
    if (pipe && fd === 1) void process.stdout;
    this.#pipe = pipe;
    this.#buf = Buffer.allocUnsafe(this.#batchBytes * 2);
    const timer = setInterval(() => this.flush(), opts.intervalMs ?? 1000);
    timer.unref();
    process.once('exit', () => {
      this.#retryAt = 0;
      this.flush();
    });
  }

  /** Lines dropped so far: the fd did not accept them and the pending buffer was full, or it is closed. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Bytes waiting to be written. */
  get pendingBytes(): number {
    return this.#used;
  }

  /** Appends one whole line (with its newline); written with the batch. */
  write(line: string): void {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    const most = line.length * 3;
    if (this.#buf.length - this.#used < most) {
      this.flush();
      if (this.#buf.length - this.#used < most && !this.#grow(most)) {
        this.#dropped++;
        this.#unreported++;
        return;
      }
    }
    this.#used += this.#buf.write(line, this.#used);
    if (this.#used >= this.#batchBytes) this.flush();
  }

  /** Appends one whole line and writes everything waiting now (lines that must not wait for the batch). */
  writeNow(line: string): void {
    this.write(line);
    this.flush();
  }

  /** Writes what is waiting, as far as the fd accepts it without blocking. */
  flush(): void {
    if (this.#used === 0 || this.#closed) return;
    if (this.#retryAt !== 0) {
      if (performance.now() < this.#retryAt) return;
      this.#retryAt = 0;
    }
    const atomic = this.#pipe && clustered();
    let off = 0;
    while (off < this.#used) {
      const end = atomic ? this.#chunkEnd(off) : this.#used;
      try {
        off += writeSync(this.#fd, this.#buf, off, end - off);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          this.#retryLater();
          break;
        }
        // No reader will ever come back (EPIPE) or there is no stdout (EBADF).
        this.#closed = true;
        this.#dropped += this.#linesFrom(off);
        this.#used = 0;
        return;
      }
    }
    if (off < this.#used) {
      this.#buf.copy(this.#buf, 0, off, this.#used);
      this.#used -= off;
      return;
    }
    this.#used = 0;
    if (this.#buf.length > this.#batchBytes * 2) this.#buf = Buffer.allocUnsafe(this.#batchBytes * 2);
    if (this.#unreported > 0) this.#reportDropped();
  }

  /** The reader is behind: try again shortly (the timer drains the backlog even when no line comes). */
  #retryLater(): void {
    this.#retryAt = performance.now() + RETRY_AFTER_MS;
    if (this.#retryTimer !== null) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#retryAt = 0;
      this.flush();
    }, RETRY_AFTER_MS);
    this.#retryTimer.unref();
  }

  /** The end of the next write from `off`: whole lines, at most PIPE_BUF bytes unless one line is longer. */
  #chunkEnd(off: number): number {
    if (this.#used - off <= PIPE_BUF) return this.#used;
    const last = this.#buf.lastIndexOf(NEWLINE, off + PIPE_BUF - 1);
    if (last >= off) return last + 1;
    const next = this.#buf.indexOf(NEWLINE, off);
    return next === -1 || next >= this.#used ? this.#used : next + 1;
  }

  /** Lines waiting from `off` on (a partly written one counts). */
  #linesFrom(off: number): number {
    let n = 0;
    for (let i = this.#buf.indexOf(NEWLINE, off); i !== -1 && i < this.#used; i = this.#buf.indexOf(NEWLINE, i + 1))
      n++;
    return n;
  }

  /** Makes room for `need` more bytes within the pending limit; false when it cannot. */
  #grow(need: number): boolean {
    if (this.#used + need > this.#pendingLimit) return false;
    const size = Math.min(this.#pendingLimit, Math.max(this.#buf.length * 2, this.#used + need));
    const next = Buffer.allocUnsafe(size);
    this.#buf.copy(next, 0, 0, this.#used);
    this.#buf = next;
    return true;
  }

  #reportDropped(): void {
    const n = this.#unreported;
    this.#unreported = 0;
    this.writeNow(
      `{"level":"warn","time":"${isoNow()}","dropped":${n},"msg":"log lines dropped: stdout was not being read and ${this.#pendingLimit} bytes were waiting"}\n`,
    );
  }
}

/**
 * Several processes (the cluster's primary and workers) share the pipe: each write then holds whole
 * lines and at most PIPE_BUF bytes, so one process's line is never cut by another's.
 */
function clustered(): boolean {
  if (cluster.isWorker) return true;
  for (const _ in cluster.workers) return true;
  return false;
}

function isPipe(fd: number): boolean {
  try {
    const s = fstatSync(fd);
    return s.isFIFO() || s.isSocket();
  } catch {
    return false;
  }
}
