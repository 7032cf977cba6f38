/**
 * Kong's environment variables for `gateway start`. A Kong deployment (its Helm chart, a Compose
 * file, a Kubernetes manifest) configures the gateway with `KONG_<property>` variables that override
 * kong.conf; the ones that have a meaning here are read with the same precedence below the command
 * line (a flag wins over its variable, a variable over the file's `_tollgate` settings). Every other
 * `KONG_*` variable is named, never its value, in one warning at start: none is ignored silently.
 */

import { kongEnvSettingError } from '../config/kong-env-settings.ts';

/**
 * Kong's `declarative_config_string` as a variable: the config itself, which start and the offline
 * commands read when no file is named (KONG_DECLARATIVE_CONFIG, a file, wins, as in Kong), and the
 * name its errors carry in place of a file's.
 */
export const CONFIG_STRING_NAME = 'KONG_DECLARATIVE_CONFIG_STRING';

/** The start options a Kong variable can set, as the flags spell them. */
export interface KongEnvOptions {
  config?: string;
  'proxy-listen'?: string[];
  'admin-listen'?: string[];
  'status-listen'?: string[];
  'log-level'?: string;
  'no-access-log'?: boolean;
  workers?: string;
}

export interface KongEnv {
  options: KongEnvOptions;
  /** The variable each option came from, for messages. */
  sources: Partial<Record<keyof KongEnvOptions, string>>;
  /** KONG_* variables that mean nothing here (names only: values may be secrets). */
  ignored: string[];
  /** Why the environment cannot start a DB-less gateway, or null. */
  error: string | null;
  /** KONG_DECLARATIVE_CONFIG_STRING: the config itself (start uses it when no file is named). */
  configString?: string;
  /** KONG_SSL_CERT and KONG_SSL_CERT_KEY as given (read by kong-ssl-cert.ts). */
  sslCert?: string;
  sslCertKey?: string;
}

/** nginx's levels as Kong's `log_level` takes them, mapped onto the gateway's four. */
const LOG_LEVELS: Readonly<Record<string, string>> = {
  debug: 'debug',
  info: 'info',
  notice: 'info',
  warn: 'warn',
  error: 'error',
  crit: 'error',
  alert: 'error',
  emerg: 'error',
};

/** Kong's log destinations that are where the gateway writes anyway. */
const STANDARD_STREAMS: ReadonlySet<string> = new Set([
  '/dev/stdout',
  '/dev/stderr',
  '/proc/self/fd/1',
  '/proc/self/fd/2',
]);

/** Variables a Kong deployment sets that need nothing here: where nginx keeps its files, and whether it forks away. */
const NOTHING_TO_DO: ReadonlySet<string> = new Set(['KONG_PREFIX', 'KONG_NGINX_DAEMON', 'KONG_NGINX_MAIN_DAEMON']);

/** Variables a plugin reads, as Kong's does: the datadog plugin's agent address (Kong's statsd_logger). */
const READ_BY_PLUGINS: ReadonlySet<string> = new Set(['KONG_DATADOG_AGENT_HOST', 'KONG_DATADOG_AGENT_PORT']);

/**
 * A listen variable as Kong reads it: `off` as the first entry turns the listener off whatever
 * follows (kong/conf_loader/listeners.lua returns no listeners then); `off` after an address is
 * refused there as here.
 */
function kongListen(value: string): string {
  return value.split(',', 1)[0]!.trim() === 'off' ? 'off' : value;
}

export function readKongEnv(env: NodeJS.ProcessEnv): KongEnv {
  const out: KongEnv = { options: {}, sources: {}, ignored: [], error: null };
  const set = <K extends keyof KongEnvOptions>(key: K, value: KongEnvOptions[K], from: string): void => {
    out.options[key] = value;
    out.sources[key] = from;
  };
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('KONG_')) continue;
    const value = env[name]!.trim();
    switch (name) {
      case 'KONG_DATABASE':
        if (value !== 'off' && value !== '')
          out.error = `KONG_DATABASE=${value.slice(0, 20)}: Tollgate runs DB-less only (Kong's database = off); export the database with 'deck gateway dump' and start with that file (--config or KONG_DECLARATIVE_CONFIG)`;
        break;
      case 'KONG_DECLARATIVE_CONFIG':
        if (value !== '') set('config', value, name);
        break;
      case CONFIG_STRING_NAME:
        // Untrimmed: YAML's first line may be indented as the rest is.
        if (value !== '') out.configString = env[name];
        break;
      case 'KONG_PROXY_LISTEN':
        set('proxy-listen', [kongListen(value)], name);
        break;
      case 'KONG_ADMIN_LISTEN':
        set('admin-listen', [kongListen(value)], name);
        break;
      case 'KONG_STATUS_LISTEN':
        // Kong's Helm chart sets it (0.0.0.0:8100) and points the pods' probes at it.
        set('status-listen', [kongListen(value)], name);
        break;
      case 'KONG_LOG_LEVEL': {
        const level = LOG_LEVELS[value.toLowerCase()];
        if (level === undefined)
          out.error = `KONG_LOG_LEVEL must be one of ${Object.keys(LOG_LEVELS).join(', ')}, not '${value.slice(0, 20)}'`;
        else set('log-level', level, name);
        break;
      }
      case 'KONG_PROXY_ACCESS_LOG':
        // Kong's `off`; any other destination is stdout here (a path would be a file nobody ships).
        if (value === 'off') set('no-access-log', true, name);
        else if (!STANDARD_STREAMS.has(value.split(/\s+/)[0]!)) out.ignored.push(name);
        break;
      case 'KONG_PROXY_ERROR_LOG':
      case 'KONG_ADMIN_ERROR_LOG':
      case 'KONG_ADMIN_ACCESS_LOG':
        if (value !== 'off' && !STANDARD_STREAMS.has(value.split(/\s+/)[0]!)) out.ignored.push(name);
        break;
      case 'KONG_SSL_CERT':
        out.sslCert = value;
        break;
      case 'KONG_SSL_CERT_KEY':
        out.sslCertKey = value;
        break;
      case 'KONG_NGINX_MAIN_WORKER_PROCESSES':
        set('workers', value, name);
        break;
      case 'KONG_NGINX_WORKER_PROCESSES':
        // Kong's alias of nginx_main_worker_processes, which wins when both are set (it sorts first).
        if (out.options.workers === undefined) set('workers', value, name);
        break;
      case 'KONG_PORT_MAPS':
      case 'KONG_TRUSTED_IPS':
        // Settings of the file (`_tollgate`), read over it at every load (kong-env-settings.ts).
        out.error = kongEnvSettingError(name, value) ?? out.error;
        break;
      case 'KONG_PLUGINS':
        // Kong's default `bundled`: the built-in plugins, which are always there. Custom plugins
        // are listed in the file (`_tollgate.custom_plugins`).
        if (value !== 'bundled') out.ignored.push(name);
        break;
      default:
        if (!NOTHING_TO_DO.has(name) && !READ_BY_PLUGINS.has(name)) out.ignored.push(name);
    }
  }
  return out;
}
