/**
 * Watches gateway.yaml and every file it references through `${file:...}`, and asks for a reload
 * once a burst of writes has settled.
 *
 * Why directories and not the files themselves: editors that save by writing a temp file and
 * renaming it over the original, and Kubernetes ConfigMap volumes (where `gateway.yaml` is a
 * symlink into `..data`, itself a symlink that the kubelet swaps by rename), both replace the
 * inode a per-file watch is attached to. Watching the parent directories (and the directories the
 * symlinks resolve to) sees every one of those swaps. An event only *schedules* a check; the check
 * hashes the files' contents and reloads only when they differ from what was last handled, so
 * duplicate events, `touch`, and unrelated files in the same directory cost a read, not a reload.
 *
 * Why polling and not inotify: chokidar re-reads a watched directory (readdir, then lstat of every
 * entry) on every inotify event in it, and starts the next read as soon as one ends while events
 * keep coming. A log file written next to gateway.yaml (`gateway start > gateway.log`) then kept a
 * read of the directory going for as long as traffic lasted: 20 % more CPU per proxied request
 * with 27 entries in the directory. Polled, a directory is stat'ed every interval and read only
 * when its own mtime moves (an entry added, removed or renamed over); writes to files that do not
 * matter cost nothing, and a few stats every interval are the whole idle cost.
 */
import { createHash } from 'node:crypto';
import { lstat, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve as resolvePath, sep } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import type { Logger } from '../log.ts';
import { pluginFolderEntries } from './plugin-folders.ts';
import { MAX_CONFIG_BYTES, readRegularFile } from './read.ts';

/** What the watcher needs from whoever applies reloads (a single instance, or the cluster primary). */
export interface WatchTarget {
  /**
   * Loads, compiles and swaps in the config from disk. With `deferFailure`, a failure is returned
   * without being recorded or logged as an error, so that a half-written file can be looked at again.
   */
  reload(opts: { trigger: 'watch'; deferFailure: boolean }): Promise<{ ok: boolean }>;
  /** Records and logs a failure that `reload({ deferFailure: true })` returned. */
  reportFailure(result: { ok: boolean }): void;
  /** Absolute paths of the files the serving config references; a folder's ends with '/' (a plugin folder). */
  referencedFiles(): readonly string[];
}

export interface ConfigWatcherOptions {
  /** Absolute path of gateway.yaml. */
  configFile: string;
  target: WatchTarget;
  log: Logger;
  /** Quiet time after the last event before the files are read. */
  debounceMs?: number;
  /** How long a file that fails to load must stay unchanged before the failure is reported. */
  settleMs?: number;
}

const DEFAULT_DEBOUNCE_MS = 150;
const DEFAULT_SETTLE_MS = 400;
/** How often the watched directories and files are stat'ed: a change is seen within this. */
const POLL_INTERVAL_MS = 500;
const FILE_REF = /\$\{file:([^}]*)\}/g;

export class ConfigWatcher {
  readonly configFile: string;
  private readonly target: WatchTarget;
  private readonly log: Logger;
  private readonly debounceMs: number;
  private readonly settleMs: number;
  private fsw: FSWatcher | null = null;
  /** Directory → names in it that matter (the watched files, the links they go through). */
  private relevant = new Map<string, Set<string>>();
  private files: string[] = [];
  private handled = '';
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private closed = false;
  /** A config failed since the last good one: the next good one gets a fresh watcher. */
  private failedSince = false;
  /** While the files on disk fail to load, their contents are checked every poll as well. */
  private recheck: NodeJS.Timeout | null = null;

  constructor(opts: ConfigWatcherOptions) {
    this.configFile = resolvePath(opts.configFile);
    this.target = opts.target;
    this.log = opts.log;
    this.debounceMs = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS;
  }

  /** Starts watching; resolves once the watches are in place. */
  async start(): Promise<void> {
    this.files = [this.configFile, ...this.target.referencedFiles()];
    this.handled = (await fingerprint(this.files)).hash;
    this.relevant = await relevantNames(this.files);
    await this.open();
    this.log.debug({ dirs: [...this.relevant.keys()], files: this.files }, 'watching config files');
  }

  /** A chokidar watcher on the relevant directories, ready. */
  private async open(): Promise<void> {
    this.fsw = watch([...this.relevant.keys()], {
      ignoreInitial: true,
      depth: 0,
      // Links are looked at as links: a swapped `..data` is an event on `..data`, and the content
      // check follows them anyway.
      followSymlinks: false,
      atomic: false,
      usePolling: true,
      interval: POLL_INTERVAL_MS,
      binaryInterval: POLL_INTERVAL_MS,
      ignored: (path) => this.ignored(path),
    });
    this.fsw.on('all', () => this.schedule());
    // chokidar's polled events fire only when the size grew or the mtime moved forward; a file
    // renamed over the config with an older mtime and the same size (`rsync -t`, `cp -p`, `tar x`)
    // changes only the inode. The raw event comes on any change of the stat (inode included).
    this.fsw.on('raw', () => this.schedule());
    this.fsw.on('error', (err) =>
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'config watcher error'),
    );
    await new Promise<void>((resolve) => this.fsw!.once('ready', () => resolve()));
  }

  /**
   * Stops watching. A reload under way is not waited for: it may take as long as its deadline (a
   * custom plugin's module still importing), and a gateway that stops must start draining at once;
   * the target drops what such a reload builds.
   */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.stopRecheck();
    await this.fsw?.close();
  }

  /** Paths chokidar should not look at: anything in a watched directory that no watched file goes through. */
  private ignored(path: string): boolean {
    if (this.relevant.has(path)) return false;
    const names = this.relevant.get(dirname(path));
    if (names === undefined) return false;
    const name = basename(path);
    // `..data`, `..data_tmp` and `..2024_..` are the kubelet's atomic-writer entries.
    return !(names.has(name) || name.startsWith('..'));
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.kick();
    }, this.debounceMs);
  }

  private kick(): void {
    if (this.running !== null) {
      this.again = true;
      return;
    }
    this.running = this.check()
      .catch((err: unknown) =>
        this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'config watcher failed'),
      )
      .finally(() => {
        this.running = null;
        if (this.again && !this.closed) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Reads the files; reloads when their contents changed since the last reload the watcher made. */
  private async check(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const fp = await fingerprint(this.files);
      if (fp.hash === this.handled) return;
      // The files the new text references are read before the loader reads them: one changed after
      // this read differs from the state recorded as handled, and is loaded again, even when it
      // changed before the watcher first looked at it.
      const refs = fileRefsIn(fp.text, dirname(this.configFile)).filter((f) => !fp.files.has(f));
      const seen = refs.length === 0 ? fp : await fingerprint([...this.files, ...refs], fp);
      const result = await this.target.reload({ trigger: 'watch', deferFailure: true });
      if (this.closed) return;
      if (result.ok) {
        this.handled = fp.hash;
        await this.retarget([this.configFile, ...this.target.referencedFiles()], seen);
        if (this.failedSince) await this.reopen();
        return;
      }
      // Maybe the file was caught half-written (or empty, between truncate and write): look again
      // once it has been quiet for a while, and report the failure only if it stayed the same.
      await new Promise((r) => setTimeout(r, this.settleMs));
      if (this.closed) return;
      const later = await fingerprint(this.files);
      if (later.hash !== fp.hash) continue;
      this.handled = fp.hash;
      this.failedSince = true;
      this.startRecheck();
      this.target.reportFailure(result);
      // A broken config may reference files the serving one does not (a missing PEM, say): watch
      // those too, so that creating them triggers the next reload.
      await this.retarget(
        [this.configFile, ...this.target.referencedFiles(), ...fileRefsIn(fp.text, dirname(this.configFile))],
        fp,
      );
      return;
    }
  }

  /**
   * A new chokidar watcher once a good config follows a failed one. The file may have been a
   * symlink loop, a device or a directory meanwhile, after which chokidar stops polling it even
   * when it is a regular file again: in-place edits were then never seen (only `POST /reload`
   * loaded them).
   */
  private async reopen(): Promise<void> {
    this.failedSince = false;
    this.stopRecheck();
    const old = this.fsw;
    this.fsw = null;
    await old?.close();
    if (this.closed) return;
    await this.open();
    // A change made while no watcher was open is found by the content check.
    this.schedule();
  }

  /**
   * A file that failed may be a symlink loop, a device or a directory, whose replacement chokidar's
   * stat polling does not always report: until a config loads again, the content check also runs
   * every poll interval (a read of the files, a reload only when they changed).
   */
  private startRecheck(): void {
    if (this.recheck !== null || this.closed) return;
    this.recheck = setInterval(() => this.schedule(), POLL_INTERVAL_MS);
    this.recheck.unref();
  }

  private stopRecheck(): void {
    if (this.recheck !== null) clearInterval(this.recheck);
    this.recheck = null;
  }

  /**
   * Watches the files a config now references. `seen` is the fingerprint the last decision was
   * made on: the files it covered count as handled in that state, so a change made while the
   * reload ran is not taken for the handled state.
   */
  private async retarget(files: string[], seen: Fingerprint): Promise<void> {
    const unique = [...new Set(files)];
    const next = await relevantNames(unique);
    const before = this.relevant;
    this.relevant = next;
    this.files = unique;
    // The fingerprint covers the new set; only files new to it are read.
    this.handled = (await fingerprint(unique, seen)).hash;
    if (this.fsw === null) return;
    const add = [...next.keys()].filter((d) => !before.has(d));
    const drop = [...before.keys()].filter((d) => !next.has(d));
    if (drop.length > 0) this.fsw.unwatch(drop);
    if (add.length > 0) this.fsw.add(add);
    // A directory already watched polls only the entries that mattered when it was read: a file
    // that starts to matter there (a new `${file:...}`) is polled from now on.
    const newNames = namesOnlyIn(next, before);
    if (newNames.length > 0) this.fsw.add(newNames);
    // A poll's first stat is its baseline, and a change made before it is no event: once the new
    // polls have started, the contents are compared with the handled state once more.
    if (add.length > 0 || newNames.length > 0) setTimeout(() => this.schedule(), POLL_INTERVAL_MS).unref();
  }
}

/** Paths `a` names in the directories `b` watches too, that `b` does not name. */
function namesOnlyIn(a: Map<string, Set<string>>, b: Map<string, Set<string>>): string[] {
  const out: string[] = [];
  for (const [dir, names] of a) {
    const had = b.get(dir);
    if (had === undefined) continue;
    for (const name of names) if (!had.has(name)) out.push(join(dir, name));
  }
  return out;
}

/** What a fingerprint saw: the combined hash, the config text, and each file's own digest. */
export interface Fingerprint {
  hash: string;
  text: string;
  files: Map<string, string>;
}

/**
 * sha256 over every file's path and content (a missing file counts as its own state). Files in
 * `seen` are taken as they were when that earlier fingerprint read them, not read again: the
 * state a decision was made on is the state recorded as handled, and a change made since is
 * still a change.
 */
export async function fingerprint(files: readonly string[], seen?: Fingerprint): Promise<Fingerprint> {
  const all = createHash('sha256');
  const digests = new Map<string, string>();
  let text = '';
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    let digest = seen?.files.get(f);
    if (digest === undefined && f.endsWith(sep)) {
      // A plugin folder: its state is the list of its source files and subfolders, so that a
      // file created there (the helper an edited import now needs) reloads.
      const entries = await pluginFolderEntries(f);
      digest = createHash('sha256')
        .update(entries === null ? '0' : `1${entries.join('\u0000')}`)
        .digest('hex');
    } else if (digest === undefined) {
      const h = createHash('sha256');
      // A FIFO or device put in place of a watched file is a state, never a wait.
      const r = await readRegularFile(f, MAX_CONFIG_BYTES);
      if (r.ok) {
        if (i === 0) text = r.text;
        h.update('1').update(r.text);
      } else h.update('0').update(r.code);
      digest = h.digest('hex');
    } else if (i === 0) text = seen!.text;
    digests.set(f, digest);
    all.update(f).update('\u0000').update(digest).update('\u0000');
  }
  return { hash: all.digest('hex'), text, files: digests };
}

/** `${file:...}` references in config text, as absolute paths (best effort, for a config that did not load). */
export function fileRefsIn(text: string, dir: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(FILE_REF)) {
    const p = m[1]!.trim();
    if (p !== '') out.push(isAbsolute(p) ? p : resolvePath(dir, p));
  }
  return out;
}

/**
 * For each file: its directory and name, plus every hop of the links it resolves through and its
 * real path, so that replacing any of them is seen.
 */
async function relevantNames(files: readonly string[]): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  const add = (p: string): void => {
    const d = dirname(p);
    let s = out.get(d);
    if (s === undefined) out.set(d, (s = new Set()));
    s.add(basename(p));
  };
  for (const f of files) {
    if (f.endsWith(sep)) {
      // A folder is watched itself: an entry added to it moves its mtime.
      const d = f.slice(0, -1);
      if (!out.has(d)) out.set(d, new Set());
      continue;
    }
    add(f);
    let p = f;
    for (let hop = 0; hop < 8; hop++) {
      const st = await lstat(p).catch(() => null);
      if (st === null || !st.isSymbolicLink()) break;
      p = resolvePath(dirname(p), await readlink(p));
      add(p);
    }
    const real = await realpath(f).catch(() => null);
    if (real !== null && real !== f) add(real);
  }
  return out;
}
