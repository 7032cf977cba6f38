/**
 * "Did you mean ...?": the known name closest to a misspelt one (a field, a plugin, an entity
 * referenced by name), by edit distance with swapped neighbours counted as one typo.
 */

/**
 * Edits from `a` to `b`: insertions, deletions, substitutions, and swaps of two neighbouring
 * letters (optimal string alignment), so `naem` is one edit from `name` as `nmae` is, the commonest
 * typo. Names whose lengths differ by more than any suggestion allows are not compared.
 */
function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Infinity;
  let before: number[] = [];
  let prev: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row.push(d);
    }
    before = prev;
    prev = row;
  }
  return prev[b.length]!;
}

/** The closest known field name, if one is close enough to be a typo. */
export function suggest(name: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const dd = distance(name.toLowerCase(), k.toLowerCase());
    if (dd < bestD) {
      bestD = dd;
      best = k;
    }
  }
  return best !== null && bestD <= (best.length <= 4 ? 1 : best.length < 12 ? 2 : 3) ? best : null;
}
