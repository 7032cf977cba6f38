// Worker thread body of parseYamlOffThread (parse-off-thread.ts): parses one config text and posts
// back plain data. Plain JavaScript because a worker thread does not inherit the main thread's
// TypeScript loader on Node 20: beside the sources it registers tsx itself before importing the
// parser; in the compiled tree (dist/, where this file is copied) it imports the compiled parser.
import { existsSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

const compiled = existsSync(new URL('./yaml.js', import.meta.url));
if (!compiled) {
  try {
    const { register } = await import('tsx/esm/api');
    register();
  } catch {
    // No tsx: the runtime strips TypeScript itself (Node >= 23.6).
  }
}
const { parseYamlFully } = await import(compiled ? './yaml.js' : './yaml.ts');
const parsed = parseYamlFully(workerData.text, workerData.file);
parentPort.postMessage({ data: parsed.data, issues: parsed.issues, map: parsed.map.dump() });
