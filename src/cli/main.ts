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

function unknownCommand(command: string): number {
  const near = nearest(
    command,
    COMMANDS.map((c) => c.name),
  );
  process.stderr.write(
    `gateway: unknown command '${command}'${near === null ? '' : ` (did you mean '${near}'?)`}\n\n${overview()}`,
  );
  return 2;
}
