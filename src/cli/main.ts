// `gateway <command>`: each command is its own module, loaded only when run.

import { VERSION } from '../version.ts';
import { nearest } from './args.ts';
import { COMMANDS, commandHelp, overview, usageOf } from './commands.ts';

type Runner = (argv: string[]) => Promise<number>;

const RUNNERS: Record<string, () => Promise<Runner>> = {
  validate: async () => (await import('./validate.ts')).runValidate,
  start: async () => (await import('./start.ts')).runStart,
  echo: async () => (await import('./echo.ts')).runEcho,
  plugin: async () => (await import('./plugin.ts')).runPlugin,
  explain: async () => (await import('./explain.ts')).runExplain,
  'test-routes': async () => (await import('./test-routes.ts')).runTestRoutes,
  diff: async () => (await import('./diff.ts')).runDiff,
  drain: async () => (await import('./drain.ts')).runDrain,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    process.stderr.write(overview());
    return 2;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    const topic = rest[0];
    if (topic === undefined) {
      process.stdout.write(overview());
      return 0;
    }
    const c = commandHelp(topic);
    if (c === undefined) return unknownCommand(topic);
    process.stdout.write(usageOf(c));
    return 0;
  }
  if (command === 'version' || command === '--version' || command === '-V') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(usageOf(commandHelp('version')!));
      return 0;
    }
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const load = RUNNERS[command];
  if (load === undefined) return unknownCommand(command);
  // `gateway CMD --help` prints the same text as `gateway help CMD` (plugin has subcommand help of its own).
  if (command !== 'plugin' && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(usageOf(commandHelp(command)!));
    return 0;
  }
  return (await load())(rest);
}

/**
 * Kong's commands for the daemon `kong start` leaves behind in its prefix. `gateway start` runs in
 * the foreground (as Kong's container image runs nginx: `KONG_NGINX_DAEMON=off`), so each is a
 * signal to that process or a request to its listeners; the nearest command name ('stop' → 'start')
 * would send a Kong user to the wrong one.
 */
const KONG_COMMANDS: Readonly<Record<string, string>> = {
  stop: 'send SIGTERM (or SIGINT) to the `gateway start` process: it drains in-flight requests and exits 0',
  quit: 'send SIGQUIT (or SIGTERM) to the `gateway start` process: it drains in-flight requests (up to _tollgate.shutdown_grace_period) and exits 0',
  reload:
    'send SIGHUP to the `gateway start` process, or POST /reload on its admin listener; a config that does not load changes nothing',
  restart: 'stop the `gateway start` process (SIGTERM) and run `gateway start` again',
  health: 'GET /status/ready on the status or admin listener: 200 when it serves, 503 otherwise',
  prepare: 'nothing to prepare: `gateway start` writes no prefix directory',
  migrations: 'nothing to migrate: the gateway is DB-less',
};

function unknownCommand(command: string): number {
  const kong = Object.hasOwn(KONG_COMMANDS, command) ? KONG_COMMANDS[command] : undefined;
  if (kong !== undefined) {
    process.stderr.write(`gateway: no command '${command}' (Kong's \`kong ${command}\`): ${kong}; see docs/cli.md\n`);
    return 2;
  }
  const near = nearest(
    command,
    COMMANDS.map((c) => c.name),
  );
  process.stderr.write(
    `gateway: unknown command '${command}'${near === null ? '' : ` (did you mean '${near}'?)`}\n\n${overview()}`,
  );
  return 2;
}
