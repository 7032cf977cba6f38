/**
 * `gateway explain [--config F] [--format text|json] METHOD URL [-H 'Name: value']... [--consumer C]`:
 * offline, what this request would get (route-query.ts). Exit 0 when a route matches, 1 when none
 * does, 2 on a usage error or a config that does not load.
 */
import { isIP } from 'node:net';
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
} from './config-input.ts';
import { type Explanation, explainRequest, REQUIRES_CREDENTIAL } from './route-query.ts';

export interface CliIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/**
 * `-H 'Name: value'` → [name, value]. A name given twice is two lines of one request: joined with
 * `, ` as the proxy receives them from Node (RFC 9110 5.3), so a route's `headers` may match either.
 */
export function parseHeaders(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list) {
    const colon = h.indexOf(':');
    if (colon <= 0) throw new UsageError(`-H '${h}': write 'Name: value'`);
    const name = h.slice(0, colon).trim().toLowerCase();
    const value = h.slice(colon + 1).trim();
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

export async function runExplain(argv: string[], out: CliIO = process): Promise<number> {
  const io = scrubbingIO(out);
  const help = commandHelp('explain')!;
  const fail = (message: string): number => {
    io.stderr.write(`gateway explain: ${message}\n`);
    return 2;
  };
  try {
    const args = parseArgs(argv, help.options);
    if (args.help) {
      io.stdout.write(usageOf(help));
      return 0;
    }
    if (args.positionals.length !== 2)
      throw new UsageError(`give METHOD and URL, e.g. gateway explain GET http://localhost/echo/abc`);
    const [method, url] = args.positionals as [string, string];
    if (!/^[A-Za-z]+$/.test(method)) throw new UsageError(`'${method}' is not an HTTP method`);
    const headers = parseHeaders(args.lists.get('header') ?? []);
    // ip-restriction compares an address: anything else was "allowed" whatever the lists said.
    const clientIp = args.values.get('client-ip');
    if (clientIp !== undefined && isIP(clientIp) === 0)
      throw new UsageError(`--client-ip '${clientIp}' is not an IP address`);
    const env = await envFromArgs(args);
    const file = args.values.get('config') ?? defaultConfigFile();
    let compiled: Awaited<ReturnType<typeof compileForCli>>;
    try {
      compiled = await compileForCli(file, env);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const i of e.issues) io.stderr.write(`${issueLine(i)}\n`);
      return fail(`${file} cannot be loaded; fix it first (gateway validate ${file})`);
    }
    const rt = compiled.runtime;
    try {
      const consumer = args.values.get('consumer');
      if (consumer !== undefined && rt.consumers.find(consumer) === null)
        return fail(`no consumer '${consumer}' in ${compiled.name}`);
      let ex: Explanation;
      try {
        ex = explainRequest(rt, {
          method,
          url,
          headers,
          consumer,
          clientIp,
        });
      } catch (e) {
        return fail((e as Error).message);
      }
      if (args.values.get('format') === 'json') io.stdout.write(`${JSON.stringify(ex, null, 2)}\n`);
      else io.stdout.write(formatText(ex));
      return ex.route === null ? 1 : 0;
    } finally {
      await rt.close();
    }
  } catch (e) {
    if (e instanceof UsageError) return fail(`${e.message}\nRun 'gateway help explain' for the options.`);
    if (e instanceof InputError) return fail(e.message);
    throw e;
  }
}

export function formatText(ex: Explanation): string {
  const r = ex.request;
  const lines = [
    `request   ${r.method} ${r.scheme}://${r.host || '(no Host)'}${r.path}${r.query ? `?${r.query}` : ''}`,
  ];
  if (ex.error !== null) return `${printable(lines[0]!)}\n${printable(ex.error)}\n`;
  if (ex.route === null) {
    lines.push('route     none matched: the gateway answers 404 (no Route matched with those values)');
    if (ex.candidates.length > 0) {
      lines.push('nearest:');
      for (const c of ex.candidates) lines.push(`  ${c.route}  (${c.at})  ${c.mismatches.join('; ')}`);
    }
    return `${lines.map(printable).join('\n')}\n`;
  }
  lines.push(`route     ${ex.route.name ?? ex.route.id}  (${ex.route.at})`);
  if (ex.service !== null) lines.push(`service   ${ex.service.name ?? ex.service.id}  ${ex.service.url}`);
  if (ex.upstream !== null) {
    lines.push(`upstream  ${ex.upstream.url}`);
    lines.push(`          Host: ${ex.upstream.host}   path: ${ex.upstream.path}`);
  }
  if (ex.outcome !== null) lines.push(`answer    ${ex.outcome}`);
  if (ex.plugins.length === 0) lines.push('plugins   none');
  else {
    lines.push('plugins   (execution order)');
    ex.plugins.forEach((p, i) => {
      lines.push(
        `  ${i + 1}. ${p.name.padEnd(22)} priority ${String(p.priority).padEnd(6)} ${p.scope}${p.decision ? `  → ${p.decision}` : ''}`,
      );
    });
    const last = ex.plugins[ex.plugins.length - 1]!;
    const guard = ex.plugins.find((p) => p.decision === REQUIRES_CREDENTIAL);
    if (last.terminates && guard !== undefined && guard !== last)
      lines.push(
        `  without a valid credential ${guard.name} answers 401 first; with one, the request is answered by ${last.name} and never reaches the upstream`,
      );
    else if (last.terminates) lines.push(`  the request is answered by ${last.name}; it never reaches the upstream`);
  }
  return `${lines.map(printable).join('\n')}\n`;
}
