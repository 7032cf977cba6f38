// `gateway <command>`: validate, start, echo.
import { VERSION } from '../version.ts';

const USAGE = `Usage: gateway <command> [options]

Commands:
  validate [FILE] [--config FILE] [--format text|json|github]   check a config (exit 0 valid, 1 invalid, 2 usage)
  start [--config FILE] [--proxy-listen HOST:PORT[ ssl]]... [--admin-listen HOST:PORT]
        [--workers N|auto] [--no-watch] [--log-level LEVEL] [--no-access-log]
                                                                 run the gateway
  echo [--listen HOST:PORT]                                      run the echo upstream
  plugin new NAME [--dir plugins]                                write a custom plugin (module, schema, test, README)
  version                                                        print the version
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'validate':
      return (await import('./validate.ts')).runValidate(rest);
    case 'start':
      return (await import('./start.ts')).runStart(rest);
    case 'echo':
      return (await import('./echo.ts')).runEcho(rest);
    case 'plugin':
      return (await import('./plugin.ts')).runPlugin(rest);
    case 'version':
    case '--version':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`gateway: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}
