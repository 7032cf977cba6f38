// Resources that outlive one runtime (JWKS caches, Redis clients): kept while any runtime uses them.
import type { Logger } from '../log.ts';

interface Entry {
  value: unknown;
  close: ((value: unknown) => void | Promise<void>) | undefined;
  users: number;
}

/** How long a resource's `close` may take before a release or a shutdown goes on without it. */
export const SHARED_CLOSE_TIMEOUT_MS = 10_000;

/**
 * Runs an entry's `close`: a synchronous throw is caught (it escaped `closeAll`'s map and failed
 * the shutdown's last steps) and one that never settles is given up after SHARED_CLOSE_TIMEOUT_MS
 * (it held a retired runtime's close, and a shutdown, forever). `failed` hears of either.
 */
function closeEntry(key: string, e: Entry, failed: (key: string, why: string) => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closing = new Promise<void>((resolve) => resolve(e.close?.(e.value))).catch((err: unknown) =>
    failed(key, err instanceof Error ? err.message : String(err)),
  );
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      failed(key, `did not close within ${SHARED_CLOSE_TIMEOUT_MS} ms`);
      resolve();
    }, SHARED_CLOSE_TIMEOUT_MS);
  });
  return Promise.race([closing, deadline]).finally(() => clearTimeout(timer));
}

export class SharedResources {
  private readonly entries = new Map<string, Entry>();
  /** Logs a resource's close that throws, rejects or never settles. */
  private readonly onCloseFailure: (key: string, why: string) => void;

  constructor(log?: Logger) {
    // The key's first part only ('my-plugin' of 'my-plugin:redis:URL'): the rest may hold a credential.
    this.onCloseFailure = (key, why) =>
      log?.error(
        { resource: key.includes(':') ? key.slice(0, key.indexOf(':')) : '', err: why },
        'shared resource close failed',
      );
  }

  /** Returns a lease: `get` opens or reuses resources; `release` drops this lease's uses. */
  lease(): SharedLease {
    return new SharedLease(this);
  }

  acquire<T>(key: string, open: () => T, close?: (value: T) => void | Promise<void>): T {
    let e = this.entries.get(key);
    if (e === undefined) {
      e = { value: open(), close: close as Entry['close'], users: 0 };
      this.entries.set(key, e);
    }
    e.users++;
    return e.value as T;
  }

  async release(key: string): Promise<void> {
    const e = this.entries.get(key);
    if (e === undefined) return;
    if (--e.users > 0) return;
    this.entries.delete(key);
    if (e.close !== undefined) await closeEntry(key, e, this.onCloseFailure);
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries];
    this.entries.clear();
    await Promise.allSettled(all.map(([key, e]) => e.close && closeEntry(key, e, this.onCloseFailure)));
  }
}

export class SharedLease {
  private readonly keys: string[] = [];
  constructor(private readonly owner: SharedResources) {}

  get<T>(key: string, open: () => T, close?: (value: T) => void | Promise<void>): T {
    this.keys.push(key);
    return this.owner.acquire(key, open, close);
  }

  async release(): Promise<void> {
    const keys = this.keys.splice(0);
    await Promise.allSettled(keys.map((k) => this.owner.release(k)));
  }
}
