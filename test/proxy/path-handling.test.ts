/**
 * Kong's path handling table (spec/fixtures/router_path_handling_tests.lua) run as Kong's proxy
 * spec runs it (spec/02-integration/05-proxy/02-router_spec.lua, "slash handling"): one route per
 * expanded row, told apart by its host, each with a service whose path is the row's, and every
 * request sent through a real gateway to a real upstream that reports the path it received. The
 * rows run again with the route path as an equivalent regex (`~/[0]?route`), as Kong's do. The
 * unit test of upstreamPath runs the same table without the proxy (test/router/upstream-path.test.ts).
 */

import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { type Case, expand } from '../router/path-handling-table.ts';
import { type Listening, listen } from '../support/upstream.ts';

interface Row extends Case {
  host: string;
  routePaths: string[] | null;
}

let up: Listening;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
let gw: TestGateway;
const rows: Row[] = [];

before(async () => {
  up = await listen((req, res) => res.end(req.url));
  const services: Record<string, unknown>[] = [];
  expand().forEach((c, i) => {
    const variants: (string[] | null)[] =
      c.routePath === null ? [null] : [[c.routePath], [`~/[0]?${c.routePath.slice(1)}`]];
    variants.forEach((routePaths, v) => {
      const host = `localbin-${i}-${v}.test`;
      rows.push({ ...c, host, routePaths });
      services.push({
        name: `s-${i}-${v}`,
        url: `${up.url}${c.servicePath}`,
        routes: [
          {
            name: `r-${i}-${v}`,
            hosts: [host],
            strip_path: c.strip,
            path_handling: c.handling,
            ...(routePaths === null ? {} : { paths: routePaths }),
          },
        ],
      });
    });
  });
  gw = await startGateway({ config: { _format_version: '3.0', services } });
});

after(async () => {
  agent.destroy();
  await gw?.close();
  await up?.close();
});

/** The path the upstream received for `path` sent with `Host: host` (fetch cannot set Host). */
function upstreamPathFor(host: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, headers: { host }, agent }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test("every row of Kong's path handling table reaches a real upstream with Kong's path, for prefix and regex routes", async () => {
  assert.ok(rows.length > 400);
  const wrong: string[] = [];
  for (const r of rows) {
    const got = await upstreamPathFor(r.host, r.request);
    if (got.status !== 200 || got.body !== r.expected) {
      wrong.push(
        `service ${r.servicePath}, route ${r.routePaths?.[0] ?? '(host)'}, strip ${r.strip}, ${r.handling}, ` +
          `request ${r.request}: ${got.status} ${got.body}, want ${r.expected}`,
      );
    }
  }
  assert.deepEqual(wrong, []);
});
