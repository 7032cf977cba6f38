/**
 * YAML parsing of a large config without holding the event loop (and every request on the serving
 * config) for the time the parse takes. A file in the plain subset of YAML (yaml-fast.ts) is parsed
 * here in slices of at most PARSE_SLICE_MS. Any other large file is parsed by the yaml package on a
 * worker thread, which posts back plain data (the value tree, the issues and the source map's
 * tables) that the main thread adopts as they are; cloning them back is itself a pause of about a
 * second per 10 MB. Small files are parsed in place. Should the worker fail to start or die, the
 * text is parsed in place, so the outcome never depends on the thread.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { isJsonFile } from './json.ts';
import { type ParsedYaml, parseYaml, parseYamlFully, SourceMap, type SourceMapDump } from './yaml.ts';
import { refuseDeepNesting } from './yaml-depth.ts';
import { parsePlainYamlSliced } from './yaml-fast.ts';

/** Texts from this size on are parsed in slices (the plain subset) or on a worker thread (any other YAML). */
export const OFF_THREAD_PARSE_BYTES = 512 * 1024;

/** The longest stretch a sliced parse runs without yielding to the event loop. */
const PARSE_SLICE_MS = 20;

const WORKER_URL = new URL('./parse-worker.mjs', import.meta.url);

/**
 * A carriage return alone is a line break in YAML (1.2, 5.4), as libyaml (Kong's parser) reads it;
 * the yaml package takes only LF and CRLF, and refused a file saved with CR line ends. An LF in its
 * place is the same break at the same offset, so every location stands.
 */
const LONE_CR = /\r(?!\n)/g;

export async function parseYamlOffThread(written: string, file: string): Promise<ParsedYaml> {
  const text = written.includes('\r') ? written.replace(LONE_CR, '\n') : written;
  // A .json file: checked and parsed here (json.ts), at about 50 ms per MB, faster than a worker's
  // result could be cloned back.
  if (text.length < OFF_THREAD_PARSE_BYTES || isJsonFile(file)) return parseYaml(text, file);
  const tooDeep = refuseDeepNesting(text, file);
  if (tooDeep !== null) return tooDeep;
  // The plain subset parses here, in slices, faster than a worker's result could be cloned back.
  const plain = await parsePlainYamlSliced(text, file, PARSE_SLICE_MS);
  if (plain !== null) return plain;
  const posted = await new Promise<{ data: unknown; issues: ParsedYaml['issues']; map: SourceMapDump } | null>(
    (resolve) => {
      let worker: Worker;
      try {
        worker = new Worker(WORKER_URL, { workerData: { text, file } });
      } catch {
        resolve(null);
        return;
      }
      worker.once('message', (m) => {
        resolve(m);
        void worker.terminate();
      });
      worker.once('error', () => resolve(null));
      worker.once('exit', () => resolve(null));
    },
  );
  if (posted === null) {
    await yieldToLoop();
    return parseYamlFully(text, file);
  }
  return {
    data: posted.data,
    issues: posted.issues,
    map: SourceMap.fromDump(posted.map, () => parseYaml(text, file).map),
  };
}
