// A request no route matches (the router's 404) runs the log phase of the global plugins, as Kong
// does: statsd counts it under `global.unmatched`, datadog tags it with an empty service name, a
// global logger sees it with no route. Plugins
// scoped to a route, a service or a consumer do not run for it.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { definePlugin } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { serviceConfig } from '../support/gateway.ts';
import { rawRequest } from '../support/raw.ts';
import { type Receiver, udpReceiver } from '../support/receivers.ts';
import { until } from '../support/wait.ts';

interface Seen {
  tag: string;
  route: string | null;
  status: number;
  source: string;
}
const seen: Seen[] = [];

/** Records each log phase it runs, under its config's tag. */
const recorder = definePlugin<{ tag: string }>({
  name: 'log-recorder',
  version: '1.0.0',
  priority: 5,
  schema: { type: 'object', properties: { tag: { type: 'string' } }, required: ['tag'], additionalProperties: false },
  create(config) {
    return {
      log(req, entry) {
        seen.push({ tag: config.tag, route: req.route?.name ?? null, status: entry.status, source: entry.source });
      },
    };
  },
});

let udp: Receiver;
let datadog: Receiver;
let gw: TestGateway;

before(async () => {
  udp = await udpReceiver();
  datadog = await udpReceiver();
  const config = serviceConfig([{ name: 'known', paths: ['/known'] }], {
    extra: {
      consumers: [{ username: 'alice' }],
      plugins: [
        { name: 'statsd', config: { host: '127.0.0.1', port: udp.port } },
        { name: 'datadog', config: { host: '127.0.0.1', port: datadog.port } },
        { name: 'log-recorder', config: { tag: 'global' } },
        { name: 'log-recorder', consumer: 'alice', config: { tag: 'alice' } },
        { name: 'log-recorder', route: 'known', config: { tag: 'route' } },
      ],
    },
  });
  gw = await startGateway({ config, plugins: [recorder] });
});

after(async () => {
  await gw?.close();
  await udp?.close();
  await datadog?.close();
});

test("statsd counts a request no route matched under Kong's global.unmatched", async () => {
  const res = await fetch(`${gw.url}/nowhere`);
  assert.equal(res.status, 404);
  await res.arrayBuffer();
  const want = ['kong.global.unmatched.request.count:1|c', 'kong.global.unmatched.status.404:1|c'];
  const lines: string[] = [];
  while (!want.every((w) => lines.includes(w))) lines.push(...(await udp.next()).split('\n'));
});

test("datadog sends a request no route matched with an empty service name, as Kong's (name:)", async () => {
  const res = await fetch(`${gw.url}/nowhere-dd`);
  assert.equal(res.status, 404);
  await res.arrayBuffer();
  const want = 'kong.request.count:1|c|#name:,status:404,app:kong';
  const lines: string[] = [];
  while (!lines.includes(want)) lines.push(await datadog.next());
});

test('only the global plugin without a consumer runs for it, with no route; a matched request runs the most specific', async () => {
  seen.length = 0;
  await (await fetch(`${gw.url}/nowhere-else`)).arrayBuffer();
  await until('the unmatched request logged', () => seen.length > 0);
  assert.deepEqual(seen, [{ tag: 'global', route: null, status: 404, source: 'kong' }]);
  seen.length = 0;
  await (await fetch(`${gw.url}/known`)).arrayBuffer();
  await until('the matched request logged', () => seen.length > 0);
  assert.deepEqual(seen, [{ tag: 'route', route: 'known', status: 200, source: 'upstream' }]);
});

test("a head the HTTP parser refuses runs the global plugins' log phase too, as Kong's error page does", async () => {
  seen.length = 0;
  const res = await rawRequest(gw.url, 'GET /x HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n');
  assert.equal(res.status, 400);
  await until('the refused request logged', () => seen.length > 0);
  assert.deepEqual(seen, [{ tag: 'global', route: null, status: 400, source: 'kong' }]);
});
