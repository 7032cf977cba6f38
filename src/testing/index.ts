/**
 * The test kit (`tollgate/testing`): start an in-process gateway from a config, send requests,
 * read what the upstream received (the built-in echo upstream answers with it).
 *
 * @example
 * import { startGateway } from 'tollgate/testing';
 * const gw = await startGateway({ config: { _format_version: '3.0', services: [{ name: 'echo', url: 'echo://', routes: [{ paths: ['/api'] }] }] } });
 * const echo = await (await fetch(`${gw.url}/api/x`)).json();
 * await gw.close();
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TollgateInstance } from '../instance.ts';
import { createLogger } from '../log.ts';
import type { PluginDefinition } from '../pipeline/plugin.ts';
import { builtinPlugins } from '../plugins/index.ts';
import { lineSink } from './run-plugin.ts';

export type { PluginRunner, PluginRunResult, RunPluginOptions, SyntheticRequest } from './run-plugin.ts';
export { runPlugin, startPlugin } from './run-plugin.ts';

export interface StartGatewayOptions {
  /** gateway.yaml text, or the same as an object. */
  config: string | Record<string, unknown>;
  /**
   * Directory that `${file:...}` references resolve against, where the config file is written.
   * By default a fresh temp dir, removed by `close()` (and when the start fails); a dir given here
   * is the caller's and is left as it is.
   */
  dir?: string;
  env?: Record<string, string | undefined>;
  /** Extra plugins (custom plugins under test), added to the built-ins. */
  plugins?: PluginDefinition[];
  /**
   * Watch the config file, the files it references and the custom plugins it lists, and reload
   * on change, as `gateway start` does. Default false (call `reload()`).
   */
  watch?: boolean;
}

export interface TestGateway {
  /** `http://127.0.0.1:PORT` of the proxy listener. */
  url: string;
  /** `http://127.0.0.1:PORT` of the admin listener. */
  adminUrl: string;
  /** Every JSON log line so far (access log lines have `type: 'access'`). */
  logs: Record<string, unknown>[];
  /** Path of the config file the gateway was started from (rewrite it and call `reload()`). */
  configFile: string;
  instance: TollgateInstance;
  reload(config?: string | Record<string, unknown>): Promise<import('../instance-types.ts').ReloadResult>;
  close(): Promise<void>;
}

function toText(config: string | Record<string, unknown>): string {
  return typeof config === 'string' ? config : stringify(config);
}

/** The built-in plugins, with the custom ones under test added (a same-named one replaces it). */
function withCustomPlugins(custom: PluginDefinition[] | undefined): ReadonlyMap<string, PluginDefinition> {
  if (custom === undefined || custom.length === 0) return builtinPlugins;
  const plugins = new Map(builtinPlugins);
  for (const p of custom) plugins.set(p.name, p);
  return plugins;
}

export async function startGateway(opts: StartGatewayOptions): Promise<TestGateway> {
  const ownsDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'tollgate-test-')));
  const removeOwnDir = () => (ownsDir ? rm(dir, { recursive: true, force: true }) : Promise.resolve());
  const configFile = join(dir, 'gateway.yaml');
  const logs: Record<string, unknown>[] = [];
  let instance: TollgateInstance;
  try {
    await writeFile(configFile, toText(opts.config));
    instance = await TollgateInstance.start({
      configFile,
      env: opts.env ?? {},
      proxyListen: ['127.0.0.1:0'],
      adminListen: ['127.0.0.1:0'],
      log: createLogger({ level: 'debug', destination: lineSink(logs) as never }),
      plugins: withCustomPlugins(opts.plugins),
      watch: opts.watch === true,
    });
  } catch (err) {
    await removeOwnDir();
    throw err;
  }
  return {
    url: `http://${instance.proxyAddresses[0]}`,
    adminUrl: `http://${instance.adminAddresses[0]}`,
    logs,
    configFile,
    instance,
    async reload(config) {
      if (config !== undefined) await writeFile(configFile, toText(config));
      return instance.reload();
    },
    async close() {
      try {
        await instance.close(0);
      } finally {
        await removeOwnDir();
      }
    },
  };
}
