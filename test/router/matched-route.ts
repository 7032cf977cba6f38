// What Kong's router unit spec reads from `select()`, read from a real gateway: the route a request
// matched, by the `Kong-Route-Name` header `Kong-Debug: 1` asks for (`debug_header: true`).
import assert from 'node:assert/strict';
import type { TestGateway } from '../../src/testing/index.ts';
import { send } from '../support/kong-mock.ts';

/** The route a request matched (its name), or null for Kong's 404 `no Route matched with those values`. */
export async function matchedRoute(
  gw: TestGateway,
  method: string,
  path: string,
  headers: Record<string, string | string[]> = {},
): Promise<string | null> {
  const a = await send(gw.url, method, path, { 'kong-debug': '1', ...headers });
  if (a.status === 404) {
    assert.match(a.body, /no Route matched with those values/);
    return null;
  }
  return a.headers['kong-route-name'] ?? `(status ${a.status}, no route name)`;
}
