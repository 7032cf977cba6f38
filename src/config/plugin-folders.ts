/**
 * What makes up a custom plugin folder, shared by the loader (which hashes and lists the files)
 * and the config watcher (which must see a file appear there: a helper module created after the
 * import that needs it was written).
 */
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';

/** More files than this in one plugin folder is a mistake (a node_modules copied in, say). */
export const MAX_FILES = 500;

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

/**
 * Source files of a plugin folder, sorted, skipping node_modules and dot entries; `folders` gets
 * the folder and its subfolders walked.
 */
export async function sourceFiles(root: string, folders: string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    folders.push(d);
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name === 'node_modules' || out.length > MAX_FILES) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && WATCHED_EXTS.has(extname(e.name))) out.push(p);
    }
  };
  await walk(root);
  return out.sort();
}
