/**
 * What makes up a custom plugin folder, shared by the loader (which hashes and lists the files)
 * and the config watcher (which must see a file appear there: a helper module created after the
 * import that needs it was written).
 */
import { readdir } from 'node:fs/promises';
import { extname } from 'node:path';

/** Extensions of a plugin folder's source files: the ones watched and hashed. */
export const WATCHED_EXTS: ReadonlySet<string> = new Set(['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs', '.json']);

/** A folder's entries that count for a plugin: source files and subfolders, sorted (dot entries and node_modules skipped). */
export async function pluginFolderEntries(dir: string): Promise<string[] | null> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => null);
  if (entries === null) return null;
  const out: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.') || e.name === 'node_modules') continue;
    if (e.isDirectory()) out.push(`${e.name}/`);
    else if (e.isFile() && WATCHED_EXTS.has(extname(e.name))) out.push(e.name);
  }
  return out.sort();
}
