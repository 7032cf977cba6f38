/**
 * YAML parsing of a large config on a worker thread, so that a reload of a file of tens of MB does
 * not hold the event loop (and every request on the serving config) for the seconds the parse
 * takes. The worker posts back plain data (the value tree, the issues and the source map's tables),
 * which the main thread adopts as they are. Small files are parsed in place: a worker costs more
 * than their parse. Should the worker fail to start or die, the text is parsed in place, so the
 * outcome never depends on the thread.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { type ParsedYaml, parseYaml, SourceMap, type SourceMapDump } from './yaml.ts';

/** Texts from this size on are parsed on a worker thread. */
export const OFF_THREAD_PARSE_BYTES = 512 * 1024;

const WORKER_URL = new URL('./parse-worker.mjs', import.meta.url);

export async function parseYamlOffThread(text: string, file: string): Promise<ParsedYaml> {
  if (text.length < OFF_THREAD_PARSE_BYTES) return parseYaml(text, file);
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
    return parseYaml(text, file);
  }
  return { data: posted.data, issues: posted.issues, map: SourceMap.fromDump(posted.map) };
}
