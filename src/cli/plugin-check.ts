/**
 * `gateway plugin check [DIR]...`: type-checks custom plugins against the gateway's own types,
 * with `tollgate` and its subpath exports mapped to this gateway's sources (so a plugin folder
 * needs no node_modules). `gateway plugin test [DIR]...`: runs the plugins' `*.test.ts` with
 * node:test, `tollgate` and `tollgate/testing` resolved to this gateway the same way.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_ROOTS_ENV } from '../testing/register-env.ts';
import type { CliIO } from './explain.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAX_FILES = 2000;

/** The TypeScript and JavaScript sources under the given folders (node_modules and dot entries skipped). */
async function sources(dirs: readonly string[], test: boolean): Promise<string[] | string> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name.startsWith('.') || e.name === 'node_modules' || out.length > MAX_FILES) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (
        test ? /\.test\.(?:m?ts|m?js)$/.test(e.name) : /\.(?:m?ts|tsx)$/.test(e.name) && !e.name.endsWith('.d.ts')
      )
        out.push(p);
    }
  };
  for (const d of dirs) {
    const st = await stat(d).catch(() => null);
    if (st === null) return `no such folder: ${d}`;
    if (st.isFile()) out.push(resolve(d));
    else await walk(resolve(d));
  }
  return out.sort();
}

/**
 * `tollgate` and every subpath package.json exports (`tollgate/jwt`, `tollgate/log`, ...) mapped
 * to the sources, as the gateway's module hook resolves them when it loads a plugin.
 */
async function exportPaths(): Promise<Record<string, string[]>> {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8').catch(() => '{}')) as {
    name?: string;
    exports?: Record<string, unknown>;
  };
  const name = pkg.name ?? 'tollgate';
  const out: Record<string, string[]> = {};
  for (const [sub, target] of Object.entries(pkg.exports ?? {})) {
    if (typeof target !== 'string' || !target.endsWith('.ts')) continue;
    out[sub === '.' ? name : `${name}/${sub.replace(/^\.\//, '')}`] = [join(ROOT, target)];
  }
  return out;
}

/** Default folders: ./plugins when it exists, else the current folder. */
async function defaultDirs(args: string[]): Promise<string[]> {
  if (args.length > 0) return args;
  return (await stat('plugins').catch(() => null))?.isDirectory() ? ['plugins'] : ['.'];
}

export async function runPluginCheck(argv: string[], io: CliIO): Promise<number> {
  if (argv.some((a) => a.startsWith('-'))) {
    io.stderr.write(`gateway plugin check: unknown option '${argv.find((a) => a.startsWith('-'))}'\n`);
    return 2;
  }
  const files = await sources(await defaultDirs(argv), false);
  if (typeof files === 'string') {
    io.stderr.write(`gateway plugin check: ${files}\n`);
    return 2;
  }
  if (files.length === 0) {
    io.stderr.write('gateway plugin check: no .ts file to check\n');
    return 2;
  }
  let ts: typeof import('typescript');
  try {
    ts = (await import('typescript')).default;
  } catch {
    io.stderr.write(
      'gateway plugin check: needs the TypeScript compiler next to the gateway (npm install typescript in its folder)\n',
    );
    return 2;
  }
  const options: import('typescript').CompilerOptions = {
    target: ts.ScriptTarget.ES2023,
    lib: ['lib.es2023.d.ts'],
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    moduleDetection: ts.ModuleDetectionKind.Force,
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    resolveJsonModule: true,
    isolatedModules: true,
    skipLibCheck: true,
    types: ['node'],
    typeRoots: [join(ROOT, 'node_modules/@types')],
    baseUrl: ROOT,
    paths: await exportPaths(),
  };
  const program = ts.createProgram(files, options);
  // Only the plugins' own files are checked (the gateway's sources are checked by its own CI):
  // the checker then reads the gateway's declarations it needs, not every function body.
  const diags: import('typescript').Diagnostic[] = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
  ];
  for (const f of files) {
    const sf = program.getSourceFile(f);
    if (sf === undefined) continue;
    diags.push(...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf));
  }
  for (const d of diags) {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file !== undefined && d.start !== undefined) {
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      io.stdout.write(
        `${relative(process.cwd(), d.file.fileName)}:${line + 1}:${character + 1}  TS${d.code}: ${msg}\n`,
      );
    } else io.stdout.write(`TS${d.code}: ${msg}\n`);
  }
  if (diags.length > 0) {
    io.stderr.write(`${diags.length} type error${diags.length === 1 ? '' : 's'} in ${files.length} file(s)\n`);
    return 1;
  }
  io.stdout.write(`${files.length} file(s) type-check against tollgate\n`);
  return 0;
}

export async function runPluginTest(argv: string[], io: CliIO): Promise<number> {
  const dirs = await defaultDirs(argv.filter((a) => !a.startsWith('-')));
  const files = await sources(dirs, true);
  if (typeof files === 'string' || files.length === 0) {
    io.stderr.write(`gateway plugin test: ${typeof files === 'string' ? files : 'no *.test.ts file found'}\n`);
    return 2;
  }
  // The sources' register (tsx runs the tests), from src/cli and from the compiled dist/cli alike.
  const register = new URL('../../src/testing/register.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx');
  // The folders' files are ES modules even without a package.json saying "type": "module", as
  // the gateway loads the plugins themselves (register.ts reads the list).
  const roots = await Promise.all(dirs.map(async (d) => ((await stat(d)).isFile() ? dirname(resolve(d)) : resolve(d))));
  const env = { ...process.env, [TEST_ROOTS_ENV]: JSON.stringify(roots) };
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', tsx, '--import', register, '--test', ...files], {
      stdio: 'inherit',
      env,
    });
    child.on('close', (code) => done(code === 0 ? 0 : 1));
    child.on('error', () => done(2));
  });
}
