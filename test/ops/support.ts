// Real `bin/gateway start` processes for the live-operations tests, and a Prometheus text-format parser.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/gateway', import.meta.url));

export interface GatewayProcess {
  proc: ChildProcess;
  /** `http://127.0.0.1:PORT` of the proxy and admin listeners. */
  proxy: string;
  admin: string;
  /** Every JSON line printed so far. */
  lines: Record<string, unknown>[];
  stderr: () => string;
  /** Resolves with the first line (already printed or to come) that matches. */
  waitForLine(
    pred: (l: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kills the process if it is still running. */
  kill(): Promise<void>;
}

/**
 * Starts `gateway start` and resolves at the log line `until` ("listening" by default; the cluster
 * primary's "starting workers" line names the admin listener only, and `proxy` is then '').
 */
export async function spawnGateway(
  configFile: string,
  args: string[] = [],
  env: Record<string, string> = {},
  until = 'listening',
): Promise<GatewayProcess> {
  const proc = spawn(
    process.execPath,
    [BIN, 'start', '--config', configFile, '--proxy-listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', ...args],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] =
    [];
  let buf = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (text.trim() === '') continue;
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { msg: text, unparsed: true };
      }
      lines.push(line);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.pred(line)) waiters.splice(i, 1)[0]!.resolve(line);
      }
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = once(proc, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  // 'close' comes after stdout ended: every line the process printed has been seen by then.
  const closed = once(proc, 'close');
  const waitForLine = (
    pred: (l: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs = 20_000,
  ): Promise<Record<string, unknown>> => {
    const found = lines.find(pred);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (l: Record<string, unknown>) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      const fail = (message: string) => {
        clearTimeout(timer);
        const i = waiters.indexOf(waiter);
        if (i >= 0) waiters.splice(i, 1);
        reject(new Error(message));
      };
      const timer = setTimeout(
        () => fail(`no log line: ${what}\nstderr: ${err}\nlines: ${lines.map((l) => JSON.stringify(l)).join('\n')}`),
        timeoutMs,
      );
      waiters.push(waiter);
      void closed.then(() => {
        if (waiters.includes(waiter)) fail(`gateway exited before: ${what}\nstderr: ${err}`);
      });
    });
  };
  const kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  };
  let listening: Record<string, unknown>;
  try {
    listening = await waitForLine((l) => l.msg === until, until);
  } catch (e) {
    // A gateway that never got there is still a process: never leave it running.
    await kill();
    throw e;
  }
  const proxy = (listening.proxy as string[] | undefined)?.[0];
  const admin = (listening.admin as string[])[0]!;
  return {
    proc,
    proxy: proxy === undefined ? '' : `http://${proxy}`,
    admin: `http://${admin}`,
    lines,
    stderr: () => err,
    waitForLine,
    exited,
    kill,
  };
}

/** Polls `fn` until it returns a value other than undefined (a bound on waiting, not an assertion on speed). */
export async function eventually<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
      // An error from an earlier attempt is not why the wait failed: the last attempt's outcome is.
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(`gave up waiting: ${what}${last !== undefined ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Status of GET url (new connection each time, so cluster workers take turns). */
export async function statusOf(url: string): Promise<number> {
  const r = await fetch(url, { headers: { connection: 'close' } });
  await r.arrayBuffer();
  return r.status;
}

export async function json(url: string, init?: RequestInit): Promise<Record<string, any>> {
  const r = await fetch(url, init);
  return (await r.json()) as Record<string, any>;
}

// ---------------------------------------------------------------------------------------------
// Prometheus text exposition format 0.0.4

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Parses the text format strictly: throws on anything a Prometheus server would refuse. */
export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (sample: string): Family | undefined => {
    for (const suffix of ['', '_bucket', '_sum', '_count', '_total', '_created']) {
      if (suffix !== '' && !sample.endsWith(suffix)) continue;
      const f = families.get(sample.slice(0, sample.length - suffix.length));
      if (f !== undefined) return f;
    }
    return undefined;
  };
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    if (line.trim() === '') continue;
    const where = `line ${n + 1}: ${line}`;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (m === null) continue;
      const [, kind, name, rest] = m;
      if (!NAME.test(name!)) throw new Error(`bad metric name, ${where}`);
      let f = families.get(name!);
      if (f === undefined) families.set(name!, (f = { name: name!, type: 'untyped', help: '', samples: [] }));
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest!))
          throw new Error(`bad type, ${where}`);
        if (f.samples.length > 0) throw new Error(`TYPE after samples, ${where}`);
        f.type = rest!;
      } else f.help = rest!;
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (m === null) throw new Error(`bad sample, ${where}`);
    const labels: Record<string, string> = {};
    if (m[3] !== undefined && m[3] !== '') {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
      let pos = 0;
      const s = m[3];
      while (pos < s.length) {
        re.lastIndex = pos;
        const lm = re.exec(s);
        if (lm === null) throw new Error(`bad labels, ${where}`);
        if (!LABEL.test(lm[1]!)) throw new Error(`bad label name, ${where}`);
        if (lm[1]! in labels) throw new Error(`duplicate label, ${where}`);
        labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        pos = re.lastIndex;
      }
    }
    const raw = m[4]!;
    // Prometheus reads values with Go's ParseFloat: NaN and Inf in any letter case (prom-client's
    // event-loop lag mean is `Nan` before its first sample).
    const lower = raw.toLowerCase();
    const isNan = lower === 'nan';
    const value = /^\+?inf$/.test(lower) ? Infinity : lower === '-inf' ? -Infinity : isNan ? NaN : Number(raw);
    if (Number.isNaN(value) && !isNan) throw new Error(`bad value, ${where}`);
    const f = familyOf(m[1]!);
    if (f === undefined) throw new Error(`sample without TYPE, ${where}`);
    f.samples.push({ name: m[1]!, labels, value });
  }
  for (const f of families.values()) {
    if (f.type !== 'histogram') continue;
    // Per label set: buckets cumulative and +Inf equal to _count.
    const groups = new Map<string, Sample[]>();
    for (const s of f.samples) {
      if (!s.name.endsWith('_bucket')) continue;
      const { le, ...rest } = s.labels;
      if (le === undefined) throw new Error(`${f.name}: bucket without le`);
      const key = JSON.stringify(rest);
      let g = groups.get(key);
      if (g === undefined) groups.set(key, (g = []));
      g.push(s);
    }
    for (const [key, g] of groups) {
      let prev = -1;
      for (const b of g) {
        if (b.value < prev) throw new Error(`${f.name}${key}: buckets not cumulative`);
        prev = b.value;
      }
      const inf = g.find((b) => b.labels.le === '+Inf');
      const count = f.samples.find((s) => s.name === `${f.name}_count` && JSON.stringify(s.labels) === key);
      if (inf === undefined || count === undefined || inf.value !== count.value)
        throw new Error(`${f.name}${key}: +Inf bucket and _count disagree`);
    }
  }
  return families;
}

/** Sum of the samples of `name` whose labels include `match`. */
export function sumOf(families: Map<string, Family>, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
  }
  return total;
}
