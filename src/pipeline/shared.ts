// Resources that outlive one runtime (JWKS caches, Redis clients): kept while any runtime uses them.

interface Entry {
  value: unknown;
  close: ((value: unknown) => void | Promise<void>) | undefined;
  users: number;
}

export class SharedResources {
  private readonly entries = new Map<string, Entry>();

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
    await e.close?.(e.value);
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled(all.map((e) => e.close?.(e.value)));
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
