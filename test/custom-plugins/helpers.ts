// Temporary plugin projects: a folder with package.json (ESM) and node_modules/tollgate linked to
// this repository, as a user's project with tollgate installed looks.
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = join(REPO, 'test/custom-plugins/fixtures');

export interface TempProject {
  dir: string;
  /** Writes a file relative to the project (creating folders). */
  write(path: string, text: string): Promise<string>;
  /** Copies a fixture (file or folder) into the project. */
  copyFixture(fixture: string, to: string): Promise<void>;
  remove(): Promise<void>;
}

export async function tempProject(): Promise<TempProject> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-plugins-'));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'gateway-config', private: true, type: 'module' }));
  await mkdir(join(dir, 'node_modules'));
  await symlink(REPO, join(dir, 'node_modules', 'tollgate'), 'dir');
  return {
    dir,
    async write(path, text) {
      const p = join(dir, path);
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, text);
      return p;
    },
    async copyFixture(fixture, to) {
      await cp(join(FIXTURES, fixture), join(dir, to), { recursive: true });
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A gateway config with one echo route at /api and the given plugins section. */
export function echoConfig(
  customPlugins: string[],
  plugins: Record<string, unknown>[] = [],
  settings: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    _format_version: '3.0',
    _tollgate: { custom_plugins: customPlugins, ...settings },
    services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'api', paths: ['/api'] }] }],
    plugins,
  };
}
