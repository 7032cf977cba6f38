/**
 * `gateway test-routes [--config F] [--format text|json|github] CASES.yaml...`: a route table test,
 * in the spirit of Envoy's router check tool. Each case's request is explained offline
 * (route-query.ts, the proxy's own router and pipelines) and compared with its `expect`.
 * Exit 0 all pass, 1 a case fails, 2 usage error, unreadable or malformed case file, bad config.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { parseYaml } from '../config/yaml.ts';
import { ConfigError } from '../errors.ts';
import { parseArgs, UsageError } from './args.ts';
import { commandHelp, usageOf } from './commands.ts';
import {
  compileForCli,
  defaultConfigFile,
  envFromArgs,
  InputError,
  issueLine,
  printable,
  scrubbingIO,
  why,
} from './config-input.ts';
import type { CliIO } from './explain.ts';
import { explainRequest } from './route-query.ts';
import { ghData, ghProp } from './validate.ts';

export interface RouteCase {
  name: string | null;
  file: string;
  line: number;
  method: string;
  url: string;
  headers: Record<string, string>;
  consumer?: string;
  clientIp?: string;
  expect: {
    route?: string | null;
    service?: string | null;
    upstream_path?: string;
    upstream_host?: string;
    plugins?: string[];
    no_plugins?: string[];
  };
}

export interface CaseResult {
  name: string | null;
  file: string;
  line: number;
  ok: boolean;
  /** One line per difference: what was expected and what the request got. */
  differences: string[];
}

const CASE_KEYS = new Set(['name', 'request', 'expect']);
/** What `gateway explain` reads as a request URL: absolute http(s), or origin-form. */
const URL_SHAPE = /^(?:https?:\/\/[^\s/?#]*(?:[/?#]\S*)?|\/\S*)$/i;
const REQUEST_KEYS = new Set(['method', 'url', 'headers', 'consumer', 'client_ip']);
const EXPECT_KEYS = ['route', 'service', 'upstream_path', 'upstream_host', 'plugins', 'no_plugins'];
/** A case file is a hand-written list: more cases than this is a mistake. */
const MAX_CASES = 10_000;

/** A problem in a case file, at its place: `--format github` annotates it there. */
class CaseFileError extends InputError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}:${col}: ${detail}`);
  }
}

/** Reads and checks a case file; a problem is a located InputError (exit 2). */
export async function readCases(file: string): Promise<RouteCase[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read ${file}: ${why(e)}`);
  }
  const parsed = parseYaml(text, file);
  const err = (path: (string | number)[], message: string, offset?: number): InputError => {
    const l = offset !== undefined ? parsed.map.at(offset) : parsed.map.locate(path, message.startsWith('unknown key'));
    return new CaseFileError(file, l.line, l.col, message);
  };
  const bad = parsed.issues.find((i) => i.severity !== 'warning');
  if (bad?.message.startsWith('the file is empty') === true)
    throw err([], 'the case file is empty: write a YAML list of cases, each with a request and an expect');
  if (bad !== undefined) throw err(bad.path as (string | number)[], bad.message, bad.offset);
  if (!Array.isArray(parsed.data))
    throw err([], 'a case file is a YAML list of cases, each with a request and an expect');
  if (parsed.data.length > MAX_CASES) throw err([], `more than ${MAX_CASES} cases in one file`);
  return parsed.data.map((item: unknown, i): RouteCase => {
    if (!isMap(item)) throw err([i], 'a case is a mapping with request and expect');
    for (const k of Object.keys(item))
      if (!CASE_KEYS.has(k)) throw err([i, k], `unknown key '${k}' (a case has name, request, expect)`);
    const req = item.request;
    if (!isMap(req)) throw err([i], "the case has no 'request' mapping (method, url, headers)");
    for (const k of Object.keys(req))
      if (!REQUEST_KEYS.has(k))
        throw err([i, 'request', k], `unknown key '${k}' (a request has method, url, headers, consumer, client_ip)`);
    const url = req.url;
    if (typeof url !== 'string' || url === '') throw err([i, 'request'], "the request has no 'url'");
    if (!URL_SHAPE.test(url))
      throw err([i, 'request', 'url'], `'${url}' is not a URL: write http://host/path or /path`);
    const method = req.method ?? 'GET';
    if (typeof method !== 'string' || !/^[A-Za-z]+$/.test(method))
      throw err([i, 'request', 'method'], 'method must be an HTTP method such as GET');
    const headers: Record<string, string> = {};
    if (req.headers !== undefined) {
      if (!isMap(req.headers)) throw err([i, 'request', 'headers'], 'headers is a mapping of name to value');
      for (const [k, v] of Object.entries(req.headers)) {
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
          throw err([i, 'request', 'headers', k], 'a header value is a string');
        headers[k.toLowerCase()] = String(v);
      }
    }
    const expect = item.expect;
    if (!isMap(expect)) throw err([i], `the case has no 'expect' mapping (${EXPECT_KEYS.join(', ')})`);
    // An empty expectation would pass whatever the request got.
    if (Object.keys(expect).length === 0)
      throw err([i, 'expect'], `expect names nothing to check: give at least one of ${EXPECT_KEYS.join(', ')}`);
    for (const k of Object.keys(expect))
      if (!EXPECT_KEYS.includes(k))
        throw err([i, 'expect', k], `unknown key '${k}' (expect has ${EXPECT_KEYS.join(', ')})`);
    for (const k of ['route', 'service'] as const)
      if (expect[k] !== undefined && expect[k] !== null && typeof expect[k] !== 'string')
        throw err([i, 'expect', k], `${k} is a name, or null`);
    for (const k of ['upstream_path', 'upstream_host'] as const)
      if (expect[k] !== undefined && typeof expect[k] !== 'string') throw err([i, 'expect', k], `${k} is a string`);
    for (const k of ['plugins', 'no_plugins'] as const)
      if (expect[k] !== undefined && (!Array.isArray(expect[k]) || !expect[k].every((x) => typeof x === 'string')))
        throw err([i, 'expect', k], `${k} is a list of plugin names`);
    for (const k of ['consumer', 'client_ip'] as const)
      if (req[k] !== undefined && typeof req[k] !== 'string') throw err([i, 'request', k], `${k} is a string`);
    if (req.client_ip !== undefined && isIP(req.client_ip as string) === 0)
      throw err([i, 'request', 'client_ip'], `client_ip '${req.client_ip}' is not an IP address`);
    return {
      name: typeof item.name === 'string' ? item.name : item.name === undefined ? null : String(item.name),
      file,
      line: parsed.map.locate([i]).line,
      method,
      url,
      headers,
      consumer: req.consumer as string | undefined,
      clientIp: req.client_ip as string | undefined,
      expect: expect as RouteCase['expect'],
    };
  });
}

function isMap(v: unknown): v is Record<string, any> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const show = (v: string | null | undefined): string => (v === null || v === undefined ? 'no route' : `'${v}'`);

/** Runs the cases against a compiled runtime. */
export function runCases(rt: Parameters<typeof explainRequest>[0], cases: readonly RouteCase[]): CaseResult[] {
  return cases.map((c) => {
    const d: string[] = [];
    let ex: ReturnType<typeof explainRequest>;
    try {
      ex = explainRequest(rt, {
        method: c.method,
        url: c.url,
        headers: c.headers,
        consumer: c.consumer,
        clientIp: c.clientIp,
      });
    } catch (e) {
      return { name: c.name, file: c.file, line: c.line, ok: false, differences: [(e as Error).message] };
    }
    const e = c.expect;
    const route = ex.route === null ? null : (ex.route.name ?? ex.route.id);
    if (ex.error !== null) d.push(ex.error);
    if (e.route !== undefined && e.route !== route && !(ex.route !== null && e.route === ex.route.id))
      d.push(`route: expected ${show(e.route)}, got ${show(route)}`);
    if (e.service !== undefined) {
      const svc = ex.service === null ? null : (ex.service.name ?? ex.service.id);
      if (e.service !== svc) d.push(`service: expected ${show(e.service)}, got ${svc === null ? 'none' : `'${svc}'`}`);
    }
    if (e.upstream_path !== undefined) {
      const got =
        ex.upstream === null
          ? null
          : e.upstream_path.includes('?')
            ? ex.upstream.path + (ex.request.query ? `?${ex.request.query}` : '')
            : ex.upstream.path;
      if (got !== e.upstream_path)
        d.push(`upstream_path: expected '${e.upstream_path}', got ${got === null ? 'no upstream' : `'${got}'`}`);
    }
    if (e.upstream_host !== undefined) {
      const got = ex.upstream?.host ?? null;
      if (got?.toLowerCase() !== e.upstream_host.toLowerCase())
        d.push(`upstream_host: expected '${e.upstream_host}', got ${got === null ? 'no upstream' : `'${got}'`}`);
    }
    const ran = ex.plugins.map((p) => p.name);
    const missing = (e.plugins ?? []).filter((p) => !ran.includes(p));
    if (missing.length > 0) d.push(`plugins: expected ${missing.join(', ')} to run; the chain is [${ran.join(', ')}]`);
    const extra = (e.no_plugins ?? []).filter((p) => ran.includes(p));
    if (extra.length > 0) d.push(`no_plugins: ${extra.join(', ')} would run; the chain is [${ran.join(', ')}]`);
    return { name: c.name, file: c.file, line: c.line, ok: d.length === 0, differences: d };
  });
}

export async function runTestRoutes(argv: string[], out: CliIO = process): Promise<number> {
  const io = scrubbingIO(out);
  const help = commandHelp('test-routes')!;
  const fail = (message: string): number => {
    io.stderr.write(`gateway test-routes: ${message}\n`);
    return 2;
  };
  const annotate = (file: string, line: number, col: number, message: string): void => {
    io.stdout.write(`::error file=${ghProp(file)},line=${line},col=${col}::${ghData(message)}\n`);
  };
  let format = 'text';
  let cases: RouteCase[] = [];
  let compiled: Awaited<ReturnType<typeof compileForCli>>;
  let configFile = 'gateway.yaml';
  try {
    const args = parseArgs(argv, help.options);
    if (args.help) {
      io.stdout.write(usageOf(help));
      return 0;
    }
    if (args.positionals.length === 0)
      throw new UsageError('give a case file, e.g. gateway test-routes routes.test.yaml');
    format = args.values.get('format') ?? 'text';
    for (const f of args.positionals) cases = cases.concat(await readCases(f));
    const env = await envFromArgs(args);
    const file = args.values.get('config') ?? defaultConfigFile();
    configFile = file;
    try {
      compiled = await compileForCli(file, env);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const i of e.issues) {
        io.stderr.write(`${issueLine(i)}\n`);
        if (format === 'github') annotate(i.file, i.line, i.col, i.path ? `${i.path}: ${i.message}` : i.message);
      }
      return fail(`${file} cannot be loaded; fix it first (gateway validate ${file})`);
    }
  } catch (e) {
    if (e instanceof UsageError) return fail(`${e.message}\nRun 'gateway help test-routes' for the options.`);
    // A CI job's annotations are on stdout: a malformed case file shows on its line, as a failing case does.
    if (e instanceof CaseFileError && format === 'github') annotate(e.file, e.line, e.col, e.detail);
    if (e instanceof InputError) return fail(e.message);
    throw e;
  }
  // A case assuming a consumer the config does not have is a mistake in the case file (exit 2), as in explain.
  const ghost = cases.find((c) => c.consumer !== undefined && compiled.runtime.consumers.find(c.consumer) === null);
  if (ghost !== undefined) {
    await compiled.runtime.close();
    if (format === 'github')
      annotate(ghost.file, ghost.line, 1, `consumer '${ghost.consumer}' is not in ${configFile}`);
    return fail(`${ghost.file}:${ghost.line}: consumer '${ghost.consumer}' is not in ${configFile}`);
  }
  let results: CaseResult[];
  try {
    results = runCases(compiled.runtime, cases);
  } finally {
    await compiled.runtime.close();
  }
  const failed = results.filter((r) => !r.ok);
  const title = (r: CaseResult): string => (r.name === null ? `case at line ${r.line}` : `'${r.name}'`);
  if (format === 'json') {
    io.stdout.write(
      `${JSON.stringify({ passed: results.length - failed.length, failed: failed.length, results }, null, 2)}\n`,
    );
  } else {
    for (const r of failed) {
      if (format === 'github')
        io.stdout.write(
          `::error file=${ghProp(r.file)},line=${r.line}::${ghData(`${title(r)}: ${r.differences.join('; ')}`)}\n`,
        );
      else
        io.stdout.write(
          `${printable(`${r.file}:${r.line}: FAIL ${title(r)}`)}\n${r.differences.map((x) => `    ${printable(x)}\n`).join('')}`,
        );
    }
    io.stdout.write(
      `${results.length} ${results.length === 1 ? 'case' : 'cases'}: ${results.length - failed.length} passed, ${failed.length} failed (config ${compiled.name})\n`,
    );
  }
  return failed.length > 0 ? 1 : 0;
}
