/**
 * Every command's synopsis, description and options, in one place: `gateway help CMD`,
 * `gateway CMD --help` and the option parser of each command read them from here, so that the
 * help cannot drift from what the parser accepts. Loading this module loads no command.
 */
import type { OptionSpec } from './args.ts';

export interface CommandHelp {
  name: string;
  /** One line, for `gateway help`. */
  summary: string;
  /** Usage line(s), without "Usage: ". */
  synopsis: string[];
  /** Paragraph(s) after the usage. */
  description: string;
  options: OptionSpec[];
  /** Exit codes of this command (a subset of EXIT_CODES' wording). */
  exits: string;
}

const FORMAT_HELP = (formats: readonly string[]): OptionSpec => ({
  name: 'format',
  arg: formats.join('|'),
  kind: 'value',
  choices: formats,
  help: `output format (default ${formats[0]})`,
});

const CONFIG: OptionSpec = {
  name: 'config',
  short: 'c',
  kind: 'value',
  arg: 'FILE',
  help: 'config file (default KONG_DECLARATIVE_CONFIG, else gateway.yaml)',
};
const ENV_FILE: OptionSpec = {
  name: 'env-file',
  kind: 'list',
  arg: 'FILE',
  help: 'read ${NAME} values from a dotenv file (the process environment wins)',
};
const ALLOW_UNSET: OptionSpec = {
  name: 'allow-unset-env',
  kind: 'flag',
  help: 'take unset ${NAME} variables as placeholders and warn, instead of failing',
};

export const COMMANDS: readonly CommandHelp[] = [
  {
    name: 'validate',
    summary: 'check config files as start would, with every error and warning located',
    synopsis: ['gateway validate [FILE|-]... [options]'],
    description:
      'Loads each file (default KONG_DECLARATIVE_CONFIG, else gateway.yaml; - reads standard input) with its custom plugins, compiles it\n' +
      'the way start does (no listener opened, no connection made) and prints every error and every\n' +
      'warning start would log, as FILE:LINE:COL  PATH  MESSAGE. Several files are each reported under\n' +
      'their name. CI without the secrets: --allow-unset-env, or --env-file with dummy values.',
    options: [
      CONFIG,
      FORMAT_HELP(['text', 'json', 'github']),
      ALLOW_UNSET,
      ENV_FILE,
      { name: 'strict', kind: 'flag', help: 'warnings fail the check too (exit 1)' },
    ],
    exits: '0 every file valid, 1 a file invalid (or a warning under --strict), 2 usage error or unreadable file',
  },
  {
    name: 'start',
    summary: 'run the gateway',
    synopsis: ['gateway start [options]'],
    description:
      'Loads and compiles the config, listens, watches the config and the files it references and\n' +
      'reloads on change (and on SIGHUP); SIGTERM/SIGINT/SIGQUIT drain in-flight requests and exit 0.\n' +
      "Kong's KONG_DECLARATIVE_CONFIG, KONG_PROXY_LISTEN, KONG_ADMIN_LISTEN, KONG_STATUS_LISTEN,\n" +
      'KONG_LOG_LEVEL, KONG_PROXY_ACCESS_LOG and KONG_NGINX_WORKER_PROCESSES apply below the options;\n' +
      "KONG_SSL_CERT and KONG_SSL_CERT_KEY are the ssl listeners' default certificate (docs/cli.md).",
    options: [
      CONFIG,
      {
        name: 'proxy-listen',
        kind: 'list',
        arg: 'HOST:PORT[ ssl]',
        help: 'proxy listener, replaces _tollgate.proxy_listen (off: none)',
      },
      {
        name: 'admin-listen',
        kind: 'list',
        arg: 'HOST:PORT',
        help: 'admin listener, replaces _tollgate.admin_listen (off: none)',
      },
      {
        name: 'status-listen',
        kind: 'list',
        arg: 'HOST:PORT',
        help: 'status listener (/status, /status/ready, /metrics), replaces _tollgate.status_listen (off: none)',
      },
      { name: 'workers', kind: 'value', arg: 'N|auto', help: 'worker processes (default 1)' },
      { name: 'no-watch', kind: 'flag', help: 'do not watch the config files' },
      {
        name: 'log-level',
        kind: 'value',
        arg: 'LEVEL',
        choices: ['debug', 'info', 'warn', 'error'],
        help: 'debug, info, warn or error (default _tollgate.log_level)',
      },
      { name: 'no-access-log', kind: 'flag', help: 'do not write access log lines' },
    ],
    exits: '0 stopped by a signal, 1 the config is invalid or a listener failed, 2 usage error',
  },
  {
    name: 'explain',
    summary: 'show offline what a request would get: route, service, upstream URL, plugin chain',
    synopsis: ['gateway explain [options] METHOD URL'],
    description:
      'Offline (no connection is made, no plugin resource is opened): the route the request matches\n' +
      '(or why none does, with the nearest candidates), its service, the upstream URL as it would be\n' +
      'sent (after strip_path, preserve_host and path joining), and the plugins in execution order,\n' +
      'each with its scope and, where that can be known offline, what it would decide.',
    options: [
      CONFIG,
      FORMAT_HELP(['text', 'json']),
      { name: 'header', short: 'H', kind: 'list', arg: "'Name: value'", help: 'request header' },
      {
        name: 'consumer',
        kind: 'value',
        arg: 'NAME',
        help: 'assume this consumer (username, custom_id or id) authenticated',
      },
      { name: 'client-ip', kind: 'value', arg: 'IP', help: 'client address (default 127.0.0.1)' },
      ALLOW_UNSET,
      ENV_FILE,
    ],
    exits: '0 a route matched, 1 no route matched, 2 usage error or invalid config',
  },
  {
    name: 'test-routes',
    summary: "run a route table's test cases (YAML) against the config, offline",
    synopsis: ['gateway test-routes [options] CASES.yaml...'],
    description:
      'Each case: optional name, request {method, url, headers}, expect with any of route (a name, or\n' +
      'null for no match), service, upstream_path, upstream_host, plugins (must run), no_plugins (must\n' +
      'not run). A failure is printed as CASES.yaml:LINE with what differs. See docs/config-repo.md.',
    options: [CONFIG, FORMAT_HELP(['text', 'json', 'github']), ALLOW_UNSET, ENV_FILE],
    exits: '0 every case passed, 1 a case failed, 2 usage error, unreadable or malformed case file, invalid config',
  },
  {
    name: 'diff',
    summary: 'semantic diff of two configs, with a security summary (for pull-request review)',
    synopsis: ['gateway diff [options] OLD NEW', 'gateway diff [options] --git REV [FILE]'],
    description:
      'Entities added, removed and changed, by name, down to the plugin config field; secrets are shown\n' +
      'as changed, never by value. On top, a security summary: routes that lose or gain authentication,\n' +
      'newly public paths, widened CORS origins, removed rate limits, TLS verification turned off.\n' +
      '--git REV compares FILE (default KONG_DECLARATIVE_CONFIG, else gateway.yaml) as it is in the git revision REV with the file on disk.',
    options: [
      FORMAT_HELP(['text', 'json', 'markdown', 'github']),
      { name: 'git', kind: 'value', arg: 'REV', help: 'compare against FILE at this git revision' },
      ENV_FILE,
    ],
    exits: '0 no difference, 1 different, 2 usage error or a config that cannot be loaded (like diff(1))',
  },
  {
    name: 'drain',
    summary: "make the running gateway's /status/ready answer 503 while it keeps serving (Kong's kong drain)",
    synopsis: ['gateway drain [options]'],
    description:
      'POSTs {"status":"draining"} to /status/ready on the status listener `gateway start` opens with the same\n' +
      "options and environment (--status-listen, KONG_STATUS_LISTEN, else the config's status_listen), else on its\n" +
      'admin listener. From then on /status/ready and /ready answer 503 "draining" until a restart, while requests\n' +
      "are still served: a preStop hook's first step, before the SIGTERM. Accepted from loopback by default.",
    options: [
      CONFIG,
      { name: 'status-listen', kind: 'list', arg: 'ADDR', help: 'the status listener to ask (as start takes it)' },
      {
        name: 'admin-listen',
        kind: 'list',
        arg: 'ADDR',
        help: 'the admin listener to ask when there is no status listener',
      },
    ],
    exits: '0 the gateway is draining, 1 it could not be asked or refused, 2 usage error',
  },
  {
    name: 'plugin',
    summary: 'custom plugins: new (scaffold), check (type-check against the gateway API), test (their tests)',
    synopsis: ['gateway plugin new NAME [--dir DIR]', 'gateway plugin check [DIR]...', 'gateway plugin test [DIR]...'],
    description:
      'new writes DIR/NAME/ (DIR defaults to ./plugins): index.ts, schema.json, NAME.test.ts, README.md.\n' +
      "check type-checks each plugin folder (default: the folders of ./plugins) against the gateway's\n" +
      'own types; test runs their *.test.ts with node:test. `tollgate` and its subpaths\n' +
      '(`tollgate/testing`, `tollgate/jwt`, ...) resolve to this gateway, no node_modules needed.',
    options: [{ name: 'dir', kind: 'value', arg: 'DIR', help: 'where new writes the plugin (default plugins)' }],
    exits: '0 written / type-checks / tests pass, 1 refused / type errors / a test failed, 2 usage error',
  },
  {
    name: 'echo',
    summary: 'run the echo upstream (answers with a JSON copy of the request)',
    synopsis: ['gateway echo [--listen HOST:PORT]'],
    description: 'See docs/echo.md.',
    options: [
      {
        name: 'listen',
        kind: 'value',
        arg: 'HOST:PORT',
        help: 'address to listen on (default 127.0.0.1:9000; port 0 picks a free port)',
      },
    ],
    exits: '0 stopped by a signal, 1 cannot listen, 2 usage error',
  },
  {
    name: 'version',
    summary: 'print the version',
    synopsis: ['gateway version'],
    description: '',
    options: [],
    exits: '0',
  },
  {
    name: 'help',
    summary: "print the commands, or one command's usage and options",
    synopsis: ['gateway help [COMMAND]'],
    description: '',
    options: [],
    exits: '0, or 2 for an unknown command',
  },
];

/** One table for every command (docs/cli.md has the same). */
export const EXIT_CODES = `Exit codes:
  0  success: valid, every route test passed, configs equal, stopped cleanly
  1  the check failed: invalid config, a failing route test, configs differ, no route matched
  2  usage error, unreadable file, or (diff, explain, test-routes) a config that cannot be loaded
`;

export function commandHelp(name: string): CommandHelp | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** `gateway help CMD` / `gateway CMD --help`. */
export function usageOf(c: CommandHelp): string {
  const all: OptionSpec[] = [...c.options, { name: 'help', short: 'h', kind: 'flag', help: 'print this help' }];
  return (
    `Usage: ${c.synopsis.join('\n       ')}\n\n${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.\n` +
    (c.description ? `\n${c.description}\n` : '') +
    `\nOptions:\n${formatOptionsLazy(all)}\n` +
    `\nExit codes: ${c.exits}.\n`
  );
}

/** `gateway help`. */
export function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return (
    'Usage: gateway <command> [options]\n\nCommands:\n' +
    COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n') +
    `\n\n'gateway help COMMAND' or 'gateway COMMAND --help' prints a command's options.\n\n${EXIT_CODES}`
  );
}

function formatOptionsLazy(specs: readonly OptionSpec[]): string {
  const left = specs.map(
    (s) => `${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.kind === 'flag' ? '' : ` ${s.arg ?? 'VALUE'}`}`,
  );
  const width = Math.max(...left.map((l) => l.length), 12) + 2;
  return specs
    .map((s, i) => `  ${left[i]!.padEnd(width)}${s.help}${s.kind === 'list' ? ' (repeatable)' : ''}`)
    .join('\n');
}
