// Settings a reload validates but cannot apply: the running values stay until the next start.
import type { TollgateSettings } from './model.ts';

/**
 * `_tollgate` settings the listeners, their parsers and the logger take when they are created:
 * a reload validates them but the running values stay until the next start.
 */
const RESTART_SETTINGS = [
  'proxy_listen',
  'admin_listen',
  'status_listen',
  'log_level',
  'client_header_timeout',
  'keepalive_timeout',
  'max_request_headers',
] as const;
export type RestartSetting = (typeof RESTART_SETTINGS)[number];

/** The restart-only settings the file decides, given which of them command-line flags override. */
export function restartOnlySettings(o: {
  proxyListen?: unknown;
  adminListen?: unknown;
  statusListen?: unknown;
  logLevel?: unknown;
  log?: unknown;
}): RestartSetting[] {
  return RESTART_SETTINGS.filter(
    (k) =>
      !(k === 'proxy_listen' && o.proxyListen !== undefined) &&
      !(k === 'admin_listen' && o.adminListen !== undefined) &&
      !(k === 'status_listen' && o.statusListen !== undefined) &&
      !(k === 'log_level' && (o.logLevel !== undefined || o.log !== undefined)),
  );
}

/** Which of `keys` differ between the settings bound at start and the serving ones. */
export function changedSettings(
  keys: readonly RestartSetting[],
  bound: TollgateSettings,
  now: TollgateSettings,
): RestartSetting[] {
  return keys.filter((k) => JSON.stringify(now[k]) !== JSON.stringify(bound[k]));
}
