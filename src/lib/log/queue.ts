/**
 * Kong 3's plugin queue (`kong.tools.queue`) for log deliveries: entries are batched
 * (`max_batch_size`, `max_coalescing_delay`), a failed batch is retried with exponential backoff
 * (`initial_retry_delay` doubling up to `max_retry_delay`) until `max_retry_time` has passed, then
 * dropped. The queue holds at most `max_entries` entries and `max_bytes` bytes: when full the
 * oldest entry is dropped, so a slow or dead receiver costs bounded memory and never delays a
 * response. Kong leaves `max_bytes` unset (no byte bound); here an unset `max_bytes` is
 * DEFAULT_MAX_BYTES, measured by an estimate of the entry's size: 10,000 entries of requests with
 * 30 KiB heads would otherwise hold 300 MB or more per queue. Entries of batches being delivered count against `max_entries` until delivered.
 * A full batch is taken at the end of the turn that filled it, as Kong's timer takes it.
 * `concurrency_limit` 1 sends one batch at a time; -1 sends every batch at once.
 * Every drop is counted (`stats`), and logged in Kong's words (`queue full, dropping old entries
 * until processing is successful again`, `byte capacity exceeded, N queue entries were dropped`,
 * `string to be queued is longer (N bytes) than the queue's max_bytes (M bytes)` for an entry
 * larger than the bound alone, which is refused as Kong refuses it, `handler could not process
 * entries: ERROR` for a failed delivery (retried), `could not send entries due to
 * max_retry_time exceeded. N queue entries were lost`, and the `queue at 80% capacity` warning),
 * each at most once a minute: Kong logs one line per drop.
 */
import type { DependencyHealth } from '../../pipeline/plugin.ts';

/** Kong's `queue` config record (seconds for delays and times). */
export interface QueueConfig {
  max_batch_size: number;
  max_coalescing_delay: number;
  max_entries: number;
  max_bytes: number | null;
  max_retry_time: number;
  initial_retry_delay: number;
  max_retry_delay: number;
  concurrency_limit: number;
}

/** The byte bound of a queue whose `max_bytes` is unset (null). */
export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

/**
 * The bound of all the log queues of a process together (waiting and in flight, by the same
 * measure as each queue's own). Each queue's bound is per plugin instance: ten thousand routes with
 * an http-log instance each and the receiver down could otherwise hold ten thousand times 16 MiB.
 * Past it, the queue that held the most when it last took an entry drops its oldest entries first,
 * so one dead receiver does not crowd out the entries of the others; then the queue taking the
 * entry drops its own oldest, the new one last.
 */
export const PROCESS_MAX_BYTES = 256 * 1024 * 1024;

/**
 * The bytes every open queue of the process holds, and the one that held the most at its last
 * entry (a queue that closes stops being it, and a closed queue takes no entry).
 */
const processQueues: { bytes: number; largest: LogQueue<unknown> | null } = { bytes: 0, largest: null };

/** What the log queues of this process hold together, in bytes (see PROCESS_MAX_BYTES). */
export function processQueueBytes(): number {
  return processQueues.bytes;
}

/**
 * About the heap bytes an entry holds, linear in the entry and without serializing it, to a depth of
 * 6. Calibrated against V8's heap (measured with `process.memoryUsage()` on 20,000 retained
 * entries): a string is its header and characters (two bytes each once one is past Latin-1), a
 * small object about a word per property. An object with many properties (a hostile request's hundred headers or query arguments, each name
 * new) is a hash table whose every entry, with the new name it keys and the table's spare room,
 * costs 80 to 150 bytes (more while few such objects exist: their hidden classes): estimated by the lengths of its strings alone it held 6 times its
 * estimate, and a queue bounded at 16 MiB by the estimate held 100 MB.
 */
export function approxBytes(value: unknown, depth = 0): number {
  if (typeof value === 'string') return STRING_HEADER + (WIDE.test(value) ? 2 : 1) * value.length;
  if (value === null || typeof value !== 'object' || depth > 6) return WORD;
  let n = OBJECT_HEADER;
  if (Array.isArray(value)) {
    for (const v of value) n += WORD + approxBytes(v, depth + 1);
    return n;
  }
  const record = value as Record<string, unknown>;
  let count = 0;
  for (const _ in record) count++;
  const large = count > FAST_PROPERTIES;
  for (const k in record) n += (large ? TABLE_ENTRY + k.length : WORD) + approxBytes(record[k], depth + 1);
  return n;
}

const WORD = 8;
const STRING_HEADER = 16;
/**
 * A character past Latin-1: V8 then holds the whole string at two bytes a character (a query
 * value with one decoded CJK character, and the JSON of an entry holding it). On a Latin-1 string
 * V8 answers without scanning it, so the common case costs nothing.
 */
const WIDE = /[\u0100-\uffff]/;
const OBJECT_HEADER = 24;
/** Beyond this many properties an object is costed as a hash table (V8's dictionary mode). */
const FAST_PROPERTIES = 16;
const TABLE_ENTRY = 160;

export const QUEUE_DEFAULTS: Readonly<QueueConfig> = Object.freeze({
  max_batch_size: 1,
  max_coalescing_delay: 1,
  max_entries: 10_000,
  max_bytes: null,
  max_retry_time: 60,
  initial_retry_delay: 0.01,
  max_retry_delay: 60,
  concurrency_limit: 1,
});

/** Kong 3's deprecated flat queue fields of http-log and statsd (and datadog). */
export interface LegacyQueueFields {
  retry_count?: number | null;
  queue_size?: number | null;
  flush_timeout?: number | null;
}

/**
 * Kong's `Queue.get_plugin_params`: until Kong 4 removes them, a deprecated `queue_size` or
 * `flush_timeout` other than its old default (1, 2) still sets `max_batch_size` or
 * `max_coalescing_delay`, with Kong's deprecation warning; `retry_count` only warns. A Kong 2
 * file with `queue_size: 10` gets its batches (JSON arrays), as in Kong. Values are held to the
 * queue fields' own bounds.
 */
export function withLegacyQueueFields(
  queue: QueueConfig,
  fields: LegacyQueueFields,
  warn: (msg: string, field: string) => void,
): QueueConfig {
  const q = { ...queue };
  if (fields.retry_count != null && fields.retry_count !== 10)
    warn(
      'the retry_count parameter no longer works, please update your configuration to use initial_retry_delay and max_retry_time instead',
      'retry_count',
    );
  if (fields.queue_size != null && fields.queue_size !== 1) {
    q.max_batch_size = Math.min(Math.max(Math.trunc(fields.queue_size), 1), 1_000_000);
    warn(
      'the queue_size parameter is deprecated, please update your configuration to use queue.max_batch_size instead',
      'queue_size',
    );
  }
  if (fields.flush_timeout != null && fields.flush_timeout !== 2) {
    q.max_coalescing_delay = Math.min(Math.max(fields.flush_timeout, 0), 3600);
    warn(
      'the flush_timeout parameter is deprecated, please update your configuration to use queue.max_coalescing_delay instead',
      'flush_timeout',
    );
  }
  return q;
}

/** JSON Schema of Kong's `queue` record, for plugin schemas. */
export const QUEUE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    max_batch_size: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1 },
    max_coalescing_delay: { type: 'number', minimum: 0, maximum: 3600, default: 1 },
    max_entries: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 10_000 },
    max_bytes: { type: ['integer', 'null'], minimum: 1, default: null },
    max_retry_time: { type: 'number', minimum: 0, default: 60 },
    initial_retry_delay: { type: 'number', minimum: 0.001, maximum: 1_000_000, default: 0.01 },
    max_retry_delay: { type: 'number', minimum: 0.001, maximum: 1_000_000, default: 60 },
    concurrency_limit: { type: 'integer', enum: [-1, 1], default: 1 },
  },
} as const;

export interface QueueStats {
  /** Entries waiting. */
  depth: number;
  /** Entries delivered. */
  sent: number;
  /** Entries dropped: queue full, or retries exhausted. */
  dropped: number;
  /** Batches that failed at least once. */
  failures: number;
  lastError: string | null;
  /** When a batch was last delivered / last failed (ms since the epoch), or null. */
  lastSuccessAt: number | null;
  lastErrorAt: number | null;
}

/** Delivers one batch; a rejection is retried (only `left` for a PartlyDelivered one). */
export type Deliver<T> = (batch: T[]) => Promise<void>;

/**
 * A delivery that sent part of its batch (datagrams go one by one): only `left` is retried, so
 * what went out is not sent again with every retry, and `undeliverable` entries (a message larger
 * than a datagram) are dropped at once instead of being retried for `max_retry_time`.
 */
export class PartlyDelivered<T> extends Error {
  constructor(
    readonly left: T[],
    readonly undeliverable: number,
    message: string,
  ) {
    super(message);
    this.name = 'PartlyDelivered';
  }
}

/** The queue's warnings: each is logged at most once a minute, so one cannot hide another. */
type Warning =
  | 'capacity'
  | 'entries'
  | 'bytes'
  | 'oversize'
  | 'failed'
  | 'retries'
  | 'undeliverable'
  | 'shutdown'
  | 'deadline'
  | 'process';

/** Kong's CAPACITY_WARNING_THRESHOLD: the share of `max_entries` held that warns. */
const CAPACITY_WARNING = 0.8;
const DROP_LOG_INTERVAL_MS = 60_000;

interface Item<T> {
  value: T;
  bytes: number;
}

/**
 * What a slot before `head` holds once its entry was dropped or taken for delivery: the entry is
 * released at once, not when the array is next compacted (up to 1,024 slots later: 30 MB of 30 KB
 * entries beyond a 16 MiB bound).
 */
const RELEASED: Item<never> = Object.freeze({ value: undefined as never, bytes: 0 });

export class LogQueue<T> {
  readonly stats: QueueStats = {
    depth: 0,
    sent: 0,
    dropped: 0,
    failures: 0,
    lastError: null,
    lastSuccessAt: null,
    lastErrorAt: null,
  };
  private readonly items: Item<T>[] = [];
  private head = 0;
  private bytes = 0;
  private inflight = 0;
  /** Entries (and their bytes) of the batches being delivered: they count against the bounds until done. */
  private inflightEntries = 0;
  private inflightBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  /** A flush is queued for the end of this turn (a full batch waits). */
  private flushQueued = false;
  private readonly queuedFlush = (): void => {
    this.flushQueued = false;
    this.flush();
  };
  private warned = false;
  private closed = false;
  private readonly lastLog: Record<Warning, number> = {
    capacity: 0,
    entries: 0,
    bytes: 0,
    oversize: 0,
    failed: 0,
    retries: 0,
    undeliverable: 0,
    shutdown: 0,
    deadline: 0,
    process: 0,
  };

  constructor(
    private readonly name: string,
    private readonly config: QueueConfig,
    private readonly deliver: Deliver<T>,
    /** Where the queue's warnings go (drops, and Kong's capacity warning). */
    private readonly onDrop: (message: string) => void,
    /** Size of an entry for an explicit `max_bytes` (the default bound uses approxBytes). */
    sizeOf: (value: T) => number = approxBytes,
  ) {
    this.maxBytes = config.max_bytes ?? DEFAULT_MAX_BYTES;
    this.measure = config.max_bytes === null ? approxBytes : sizeOf;
  }

  private readonly maxBytes: number;
  private readonly measure: (value: T) => number;

  /** Adds an entry; never waits. */
  add(value: T): void {
    if (this.closed) return;
    const bytes = this.measure(value);
    if (bytes > this.maxBytes) {
      // Kong's enqueue refuses such an entry rather than empty the queue for it.
      this.dropped(
        1,
        'oversize',
        `string to be queued is longer (${bytes} bytes) than the queue's max_bytes (${this.maxBytes} bytes)`,
      );
      return;
    }
    this.items.push({ value, bytes });
    this.bytes += bytes;
    processQueues.bytes += bytes;
    // Entries in flight count too: while a delivery hangs (a receiver that accepts and never
    // answers), with concurrency_limit -1 every batch is in flight at once. When only the new
    // entry is waiting, it is the one dropped.
    let overEntries = 0;
    let overBytes = 0;
    while (this.items.length > this.head) {
      if (this.items.length - this.head + this.inflightEntries > this.config.max_entries) overEntries++;
      else if (this.bytes + this.inflightBytes > this.maxBytes && this.items.length - this.head > 1) overBytes++;
      else break;
      this.dropOldest();
    }
    // Kong's enqueue: one line for the entry bound, one with the count for the byte bound.
    if (overEntries > 0)
      this.dropped(overEntries, 'entries', 'queue full, dropping old entries until processing is successful again');
    if (overBytes > 0)
      this.dropped(overBytes, 'bytes', `byte capacity exceeded, ${overBytes} queue entries were dropped`);
    if (processQueues.bytes > PROCESS_MAX_BYTES) this.makeRoom();
    const largest = processQueues.largest;
    if (largest === null || this.held() > largest.held()) processQueues.largest = this as LogQueue<unknown>;
    // Kong warns once the queue holds 80% of max_entries, again after it went below.
    if (this.items.length - this.head + this.inflightEntries >= this.config.max_entries * CAPACITY_WARNING) {
      if (!this.warned) {
        this.warned = true;
        this.log('capacity', `queue at ${CAPACITY_WARNING * 100}% capacity`);
      }
    } else this.warned = false;
    this.compact();
    this.stats.depth = this.items.length - this.head;
    this.schedule();
  }

  /** Bytes this queue holds, waiting and in flight. */
  private held(): number {
    return this.bytes + this.inflightBytes;
  }

  /** Forgets `bytes` of entries that left the queue (dropped, or delivered). */
  private release(bytes: number): void {
    this.bytes -= bytes;
    processQueues.bytes -= bytes;
  }

  /** Drops the oldest waiting entry (the caller counts it); its size. */
  private dropOldest(): number {
    const bytes = this.items[this.head]!.bytes;
    this.release(bytes);
    this.items[this.head++] = RELEASED;
    return bytes;
  }

  /** The process's queues are over PROCESS_MAX_BYTES: the largest gives way, then this one. */
  private makeRoom(): void {
    const largest = processQueues.largest;
    if (largest !== null && largest !== this && largest.held() > this.held())
      largest.shed(processQueues.bytes - PROCESS_MAX_BYTES);
    if (processQueues.bytes > PROCESS_MAX_BYTES) this.shed(processQueues.bytes - PROCESS_MAX_BYTES);
  }

  /** Drops waiting entries, oldest first, until `bytes` are freed or none waits (in-flight ones finish). */
  private shed(bytes: number): void {
    let freed = 0;
    let n = 0;
    while (freed < bytes && this.items.length > this.head) {
      freed += this.dropOldest();
      n++;
    }
    if (n === 0) return;
    this.compact();
    this.stats.depth = this.items.length - this.head;
    this.dropped(
      n,
      'process',
      `the log queues of this process hold their bound (${PROCESS_MAX_BYTES / 1024 / 1024} MiB), ${n} queue entries were dropped`,
    );
  }

  private schedule(): void {
    const waiting = this.items.length - this.head;
    if (waiting === 0) return;
    if (waiting >= this.config.max_batch_size) {
      // Kong's queue takes a batch in its timer, after the entries queued in the same turn: a burst
      // past max_entries keeps its newest entries, as `dropping old entries` says, not the first
      // batch (27-queue_spec.lua "drops entries when queue reaches its capacity").
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(this.queuedFlush);
      }
      return;
    }
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, this.config.max_coalescing_delay * 1000);
      this.timer.unref();
    }
  }

  private flush(): void {
    // With concurrency_limit -1 batches go out at once, but no more than the byte bound is in flight.
    while (
      this.items.length - this.head > 0 &&
      (this.config.concurrency_limit === -1 ? this.inflightBytes < this.maxBytes : this.inflight === 0)
    ) {
      const batch = this.items.slice(this.head, this.head + this.config.max_batch_size);
      this.items.fill(RELEASED, this.head, this.head + batch.length);
      this.head += batch.length;
      let batchBytes = 0;
      for (const b of batch) batchBytes += b.bytes;
      this.bytes -= batchBytes;
      this.inflightBytes += batchBytes;
      this.compact();
      this.stats.depth = this.items.length - this.head;
      this.inflight++;
      this.inflightEntries += batch.length;
      void this.send(
        batch.map((b) => b.value),
        Date.now(),
      ).finally(() => {
        this.inflight--;
        this.inflightEntries -= batch.length;
        this.inflightBytes -= batchBytes;
        processQueues.bytes -= batchBytes;
        this.schedule();
      });
    }
  }

  /**
   * Forgets the slots before `head` (RELEASED) once they are most of the array: without this a
   * queue whose delivery hangs would grow its array by a slot for every entry it dropped.
   */
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
  }

  private async send(batch: T[], firstTry: number): Promise<void> {
    let delay = this.config.initial_retry_delay * 1000;
    for (;;) {
      try {
        await this.deliver(batch);
        this.stats.sent += batch.length;
        this.stats.lastSuccessAt = Date.now();
        return;
      } catch (err) {
        this.stats.failures++;
        this.stats.lastError = err instanceof Error ? err.message : String(err);
        this.stats.lastErrorAt = Date.now();
        // Kong's queue warns at every failed attempt, so a dead receiver shows in the log at
        // once, not when max_retry_time (60 s by default) has passed; here once a minute.
        this.log('failed', `handler could not process entries: ${this.stats.lastError}`);
        if (err instanceof PartlyDelivered) {
          const left = err.left as T[];
          const sent = batch.length - left.length - err.undeliverable;
          this.stats.sent += sent;
          if (sent > 0) this.stats.lastSuccessAt = Date.now();
          if (err.undeliverable > 0)
            this.dropped(
              err.undeliverable,
              'undeliverable',
              `${err.undeliverable} queue entries were dropped, undeliverable: ${err.message}`,
            );
          if (left.length === 0) return;
          batch = left;
        }
        if (this.closed) {
          this.dropped(
            batch.length,
            'shutdown',
            `could not send entries at shutdown. ${batch.length} queue entries were lost (${this.stats.lastError})`,
          );
          return;
        }
        if (Date.now() + delay - firstTry > this.config.max_retry_time * 1000) {
          this.dropped(
            batch.length,
            'retries',
            `could not send entries due to max_retry_time exceeded. ${batch.length} queue entries were lost (last error: ${this.stats.lastError})`,
          );
          return;
        }
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, this.config.max_retry_delay * 1000);
      }
    }
  }

  private dropped(n: number, reason: Warning, message: string): void {
    this.stats.dropped += n;
    this.log(reason, `${message}; ${this.stats.dropped} dropped so far`);
  }

  /** Kong's queue log line, `queue NAME: MESSAGE`, at most once a minute per reason. */
  private log(reason: Warning, message: string): void {
    const now = Date.now();
    if (now - this.lastLog[reason] < DROP_LOG_INTERVAL_MS) return;
    this.lastLog[reason] = now;
    this.onDrop(`queue ${this.name}: ${message}`);
  }

  /** Stops accepting entries; what is waiting is sent once more within `deadlineMs`, then dropped. */
  async close(deadlineMs = 2000): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const pending = this.items.slice(this.head).map((i) => i.value);
    this.items.length = 0;
    this.head = 0;
    this.closed = true;
    this.release(this.bytes);
    if (processQueues.largest === this) processQueues.largest = null;
    if (pending.length === 0) return;
    // In batches of max_batch_size, as during operation: a receiver taking one entry per request
    // (http-log's default) must not get them all as one array, nor one body of up to max_bytes.
    let next = 0;
    let expired = false;
    const drain = async () => {
      while (next < pending.length && !expired) {
        const batch = pending.slice(next, next + this.config.max_batch_size);
        next += batch.length;
        try {
          await this.deliver(batch);
          this.stats.sent += batch.length;
        } catch (err) {
          const lost = err instanceof PartlyDelivered ? err.left.length + err.undeliverable : batch.length;
          this.stats.sent += batch.length - lost;
          this.dropped(
            lost,
            'shutdown',
            `could not send entries at shutdown. ${lost} queue entries were lost (${err instanceof Error ? err.message : String(err)})`,
          );
        }
      }
    };
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      drain(),
      new Promise<void>((r) => {
        timer = setTimeout(r, deadlineMs);
      }),
    ]);
    clearTimeout(timer);
    expired = true;
    if (next < pending.length) {
      const lost = pending.length - next;
      this.dropped(
        lost,
        'deadline',
        `could not send entries by the shutdown deadline. ${lost} queue entries were lost`,
      );
    }
  }
}

/**
 * A queue's receiver as a dependency (`GET /status`, `tollgate_dependency_*` and
 * `tollgate_log_queue_*` metrics): healthy unless its last delivery failed; depth and drops counted.
 * `target` names the receiver without credentials. A queue not opened yet (no request so far) is healthy and empty.
 */
export function queueHealth(kind: string, target: string, queue: LogQueue<unknown> | null): DependencyHealth {
  const s = queue?.stats;
  const ok =
    s === undefined || s.lastErrorAt === null || (s.lastSuccessAt !== null && s.lastSuccessAt >= s.lastErrorAt);
  return {
    kind,
    target,
    healthy: ok,
    lastSuccess: s?.lastSuccessAt == null ? null : new Date(s.lastSuccessAt),
    lastError: ok ? null : (s?.lastError ?? null),
    lastErrorAt: s?.lastErrorAt == null ? null : new Date(s.lastErrorAt),
    failures: s?.failures ?? 0,
    queue: { depth: s?.depth ?? 0, sent: s?.sent ?? 0, dropped: s?.dropped ?? 0 },
  };
}
