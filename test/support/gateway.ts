/**
 * Gateway configs for end-to-end tests: one service (by default `echo` at `echo://`) carrying the
 * routes under test, plus whatever top-level keys the test needs.
 *
 * @example
 * const gw = await startServiceGateway([{ name: 'key', paths: ['/key'], plugins: [{ name: 'key-auth' }] }], {
 *   extra: { consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'k' }] }] },
 * });
 */
import { startGateway, type TestGateway } from '../../src/testing/index.ts';

export interface ServiceConfigOptions {
  /** Name of the service holding the routes. Default `echo`. */
  name?: string;
  /** Its upstream URL. Default `echo://`. */
  url?: string;
  /** Further services, after that one. */
  services?: Record<string, unknown>[];
  /** Top-level keys: `consumers`, `plugins`, `_tollgate`... */
  extra?: Record<string, unknown>;
}

/** A `_format_version: "3.0"` config whose first service carries `routes`. */
export function serviceConfig(
  routes: Record<string, unknown>[],
  options: ServiceConfigOptions = {},
): Record<string, unknown> {
  return {
    _format_version: '3.0',
    ...options.extra,
    services: [{ name: options.name ?? 'echo', url: options.url ?? 'echo://', routes }, ...(options.services ?? [])],
  };
}

/** Starts an in-process gateway on `serviceConfig(routes, options)`. */
export function startServiceGateway(
  routes: Record<string, unknown>[],
  options: ServiceConfigOptions = {},
): Promise<TestGateway> {
  return startGateway({ config: serviceConfig(routes, options) });
}
