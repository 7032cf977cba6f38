/**
 * Where any of a set of strings (a config's secret forms) occurs in a text. Every access line's path
 * and every log line's fields are searched, and a config with thousands of credentials has tens of
 * thousands of forms: one substring search per form took 1.3 ms a line for 10,000 consumers. Past
 * a few forms, the search is one pass over the text whatever their number: a rolling hash (Karp and
 * Rabin) of each position's first GRAM characters is looked up among the forms' first GRAM
 * characters, and only there are the lengths of the forms that start so hashed and compared.
 */

/** Forms this many or fewer are each searched for with `indexOf`: cheaper than hashing the text. */
const FEW_FORMS = 16;

/** A random odd multiplier per process, so that no text is built to collide with the forms' hashes. */
const BASE = (Math.floor(Math.random() * 0x7fffffff) * 2 + 1) >>> 0;

/** Texts up to this long share one buffer of prefix hashes; longer ones get their own. */
const SHARED_PREFIX_LENGTH = 65_536;
let shared = new Uint32Array(1024);

export class FormIndex {
  private readonly forms: readonly string[];
  private readonly gram: number;
  /** By the hash of a form's first `gram` characters: the distinct lengths of the forms that start so. */
  private readonly lengthsByGram = new Map<number, number[]>();
  /** By length, then by the hash of the whole form: the forms (almost always one). */
  private readonly byLength = new Map<number, Map<number, string[]>>();
  /** BASE to the power of each length, up to the longest form. */
  private readonly powers: Uint32Array;

  /** `forms`: every one at least `gram` characters long. */
  constructor(forms: readonly string[], gram: number) {
    this.forms = forms;
    this.gram = gram;
    let longest = gram;
    for (const f of forms) longest = Math.max(longest, f.length);
    this.powers = new Uint32Array(longest + 1);
    this.powers[0] = 1;
    for (let i = 1; i <= longest; i++) this.powers[i] = Math.imul(this.powers[i - 1]!, BASE) >>> 0;
    if (forms.length <= FEW_FORMS) return;
    for (const f of forms) {
      const g = hashOf(f, gram);
      const lengths = this.lengthsByGram.get(g);
      if (lengths === undefined) this.lengthsByGram.set(g, [f.length]);
      else if (!lengths.includes(f.length)) lengths.push(f.length);
      let hashes = this.byLength.get(f.length);
      if (hashes === undefined) this.byLength.set(f.length, (hashes = new Map()));
      const h = hashOf(f, f.length);
      const same = hashes.get(h);
      if (same === undefined) hashes.set(h, [f]);
      else same.push(f);
    }
  }

  /** The occurrences in `text` as [start, end) pairs, flat, in no order; null when there are none. */
  find(text: string): number[] | null {
    return this.forms.length <= FEW_FORMS ? this.searchEach(text) : this.searchHashed(text);
  }

  private searchEach(text: string): number[] | null {
    let found: number[] | null = null;
    for (const f of this.forms) {
      for (let at = text.indexOf(f); at >= 0; at = text.indexOf(f, at + 1)) (found ??= []).push(at, at + f.length);
    }
    return found;
  }

  private searchHashed(text: string): number[] | null {
    const n = text.length;
    const gram = this.gram;
    if (n < gram) return null;
    const prefix = n < SHARED_PREFIX_LENGTH ? sharedPrefix(n + 1) : new Uint32Array(n + 1);
    let h = 0;
    prefix[0] = 0;
    for (let i = 0; i < n; i++) prefix[i + 1] = h = (Math.imul(h, BASE) + text.charCodeAt(i)) >>> 0;
    const powers = this.powers;
    let found: number[] | null = null;
    for (let i = 0; i + gram <= n; i++) {
      const lengths = this.lengthsByGram.get((prefix[i + gram]! - Math.imul(prefix[i]!, powers[gram]!)) >>> 0);
      if (lengths === undefined) continue;
      for (const len of lengths) {
        if (i + len > n) continue;
        const forms = this.byLength.get(len)!.get((prefix[i + len]! - Math.imul(prefix[i]!, powers[len]!)) >>> 0);
        if (forms === undefined) continue;
        for (const f of forms) if (text.startsWith(f, i)) (found ??= []).push(i, i + len);
      }
    }
    return found;
  }
}

function hashOf(s: string, length: number): number {
  let h = 0;
  for (let i = 0; i < length; i++) h = (Math.imul(h, BASE) + s.charCodeAt(i)) >>> 0;
  return h;
}

function sharedPrefix(length: number): Uint32Array {
  if (shared.length < length) shared = new Uint32Array(Math.min(SHARED_PREFIX_LENGTH, length * 2));
  return shared;
}

/**
 * `text` with each occurrence replaced by `mark`: overlapping occurrences as one, adjacent ones
 * each on its own.
 */
export function replaceOccurrences(text: string, found: number[], mark: string): string {
  const order: number[] = [];
  for (let k = 0; k < found.length; k += 2) order.push(k);
  order.sort((a, b) => found[a]! - found[b]! || found[b + 1]! - found[a + 1]!);
  let out = '';
  /** Where the text not yet copied starts: the end of the last run replaced. */
  let copied = 0;
  let runEnd = -1;
  for (const k of order) {
    const start = found[k]!;
    const end = found[k + 1]!;
    if (start < runEnd) {
      // Overlaps the run being replaced: extends it.
      if (end > runEnd) runEnd = end;
      continue;
    }
    if (runEnd >= 0) copied = runEnd;
    out += text.slice(copied, start) + mark;
    runEnd = end;
  }
  return out + text.slice(runEnd);
}

/** A second multiplier: windows are told apart by two 32-bit hashes. */
const BASE2 = (Math.floor(Math.random() * 0x7fffffff) * 2 + 1) >>> 0;

/**
 * Every window of `width` characters of some strings, as a pair of 32-bit hashes in an
 * open-addressing table: the fragments a message may not quote. A set of the windows as strings
 * held about 27 MB for 20,000 credentials' secrets; this holds 8 bytes a slot. Two windows that
 * share both hashes count as one: with random multipliers, not a pair a text can be built to hit.
 */
export class WindowHashes {
  readonly width: number;
  private lo: Uint32Array;
  private hi: Uint32Array;
  private count = 0;
  /** The two hashes of each window of the text at hand. */
  private first = new Uint32Array(0);
  private second = new Uint32Array(0);
  private readonly power1: number;
  private readonly power2: number;

  constructor(width: number) {
    this.width = width;
    this.lo = new Uint32Array(16);
    this.hi = new Uint32Array(16);
    let p1 = 1;
    let p2 = 1;
    for (let i = 0; i < width; i++) {
      p1 = Math.imul(p1, BASE) >>> 0;
      p2 = Math.imul(p2, BASE2) >>> 0;
    }
    this.power1 = p1;
    this.power2 = p2;
  }

  get size(): number {
    return this.count;
  }

  /** Adds the windows of `s`, up to `max` in all; false once the table holds `max`. */
  addWindows(s: string, max: number): boolean {
    const n = this.hashWindows(s);
    let k = 0;
    for (; k < n && this.count < max; k++) this.add(this.first[k]!, this.second[k]!);
    this.releaseLarge();
    return k === n;
  }

  /** Marks in `covered` every window of `text` the table holds; false when none is. */
  cover(text: string, covered: Uint8Array): boolean {
    const n = this.hashWindows(text);
    let any = false;
    for (let k = 0; k < n; k++) {
      if (!this.has(this.first[k]!, this.second[k]!)) continue;
      covered.fill(1, k, k + this.width);
      any = true;
    }
    this.releaseLarge();
    return any;
  }

  /** Drops the window hashes of a long text: a matcher lives as long as its config. */
  private releaseLarge(): void {
    if (this.first.length <= SHARED_PREFIX_LENGTH) return;
    this.first = new Uint32Array(0);
    this.second = new Uint32Array(0);
  }

  /** Hashes each window of `text` into `first`/`second` (the one starting at k at k); returns their number. */
  private hashWindows(text: string): number {
    const w = this.width;
    const n = Math.max(0, text.length - w + 1);
    if (this.first.length < n) {
      this.first = new Uint32Array(n);
      this.second = new Uint32Array(n);
    }
    let h1 = 0;
    let h2 = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      h1 = (Math.imul(h1, BASE) + c) >>> 0;
      h2 = (Math.imul(h2, BASE2) + c) >>> 0;
      if (i >= w) {
        const out = text.charCodeAt(i - w);
        h1 = (h1 - Math.imul(out, this.power1)) >>> 0;
        h2 = (h2 - Math.imul(out, this.power2)) >>> 0;
      }
      if (i >= w - 1) {
        this.first[i + 1 - w] = h1;
        this.second[i + 1 - w] = h2;
      }
    }
    return n;
  }

  private add(h1: number, h2: number): void {
    // A slot is empty while both words are 0; a pair of zero hashes is stored as (0, 1).
    if (h1 === 0 && h2 === 0) h2 = 1;
    if ((this.count + 1) * 4 > this.lo.length * 3) this.grow();
    const mask = this.lo.length - 1;
    for (let i = (h1 ^ Math.imul(h2, 0x9e3779b1)) & mask; ; i = (i + 1) & mask) {
      if (this.lo[i] === 0 && this.hi[i] === 0) {
        this.lo[i] = h1;
        this.hi[i] = h2;
        this.count++;
        return;
      }
      if (this.lo[i] === h1 && this.hi[i] === h2) return;
    }
  }

  private has(h1: number, h2: number): boolean {
    if (this.count === 0) return false;
    if (h1 === 0 && h2 === 0) h2 = 1;
    const mask = this.lo.length - 1;
    for (let i = (h1 ^ Math.imul(h2, 0x9e3779b1)) & mask; ; i = (i + 1) & mask) {
      if (this.lo[i] === 0 && this.hi[i] === 0) return false;
      if (this.lo[i] === h1 && this.hi[i] === h2) return true;
    }
  }

  private grow(): void {
    const lo = this.lo;
    const hi = this.hi;
    this.lo = new Uint32Array(lo.length * 2);
    this.hi = new Uint32Array(hi.length * 2);
    this.count = 0;
    for (let i = 0; i < lo.length; i++) if (lo[i] !== 0 || hi[i] !== 0) this.add(lo[i]!, hi[i]!);
  }
}
