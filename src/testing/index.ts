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
import { mkdtemp, writeFile } from 'node:fs/promises';
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
  /** Directory that `${file:...}` references resolve against; a fresh temp dir by default. */
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

export async function startGateway(opts: StartGatewayOptions): Promise<TestGateway> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'tollgate-test-')));
  const configFile = join(dir, 'gateway.yaml');
  await writeFile(configFile, toText(opts.config));
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'debug', destination: lineSink(logs) as never });
  let plugins = builtinPlugins;
  if (opts.plugins !== undefined && opts.plugins.length > 0) {
    const m = new Map(builtinPlugins);
    for (const p of opts.plugins) m.set(p.name, p);
    plugins = m;
  }
  const instance = await TollgateInstance.start({
    configFile,
    env: opts.env ?? {},
    proxyListen: ['127.0.0.1:0'],
    adminListen: ['127.0.0.1:0'],
    log,
    plugins,
    watch: opts.watch === true,
  });
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
    close: () => instance.close(0),
  };
}
