// opentelemetry's logs_endpoint (Kong OSS 3.8): the gateway's log lines as OTLP LogRecords, as a
// real collector on loopback decodes them (test/support/otlp.ts).
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type DecodedLogRecord, decodeLogsExport } from '../../../test/support/otlp.ts';
import { assertStuckAndDeadCollectors } from '../../../test/support/otlp-health.ts';
import { until } from '../../../test/support/wait.ts';
import type { PluginDefinition, PluginLogger } from '../../index.ts';
import { definePlugin } from '../../index.ts';
import { startGateway } from '../../testing/index.ts';

/** A collector on loopback: each export's records and headers; `hold` keeps answers back (a stuck collector). */
async function startCollector(opts: { hold?: boolean; traces?: boolean } = {}) {
  const records: DecodedLogRecord[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (opts.traces !== true) records.push(...decodeLogsExport(Buffer.concat(chunks)));
      headers.push(req.headers);
      if (opts.hold === true) held.push(res);
      else res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`;
  const close = () =>
    new Promise<void>((r) => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      server.close(() => r());
    });
  return { records, headers, endpoint, close };
}

/** A plugin that logs while serving: `lines` lines of `size` characters (after an await when `await`). */
let chattyLog: PluginLogger | null = null;
const chatty: PluginDefinition = definePlugin<{ lines: number; size: number }>({
  name: 'chatty',
  version: '1.0.0',
  priority: 1000,
  schema: {
    type: 'object',
    properties: { lines: { type: 'integer', default: 0 }, size: { type: 'integer', default: 0 } },
    additionalProperties: false,
  },
  create(config, context) {
    chattyLog = context.log;
    return {
      async access(req) {
        context.log.info('chatty: before the await', { tenant: 't1' });
        await sleep(1);
        context.log.warn('chatty: after the await', { path: req.path, n: 2 });
        for (let i = 0; i < config.lines; i++) context.log.info(`${i}:${'x'.repeat(config.size)}`);
      },
    };
  },
});

function gateway(otel: Record<string, unknown>, chattyConfig: Record<string, unknown> = {}) {
  return startGateway({
    plugins: [chatty],
    config: {
      _format_version: '3.0',
      services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'r', paths: ['/r'] }] }],
      plugins: [
        { name: 'chatty', config: chattyConfig },
        { name: 'opentelemetry', config: { queue: { max_coalescing_delay: 0.01 }, ...otel } },
      ],
    },
  });
}

test("a plugin's lines while serving a request become LogRecords with Kong's request.id and the request's trace and span ids", async () => {
  const collector = await startCollector();
  const traces = await startCollector({ traces: true });
  const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const gw = await gateway({
    traces_endpoint: traces.endpoint.replace('/v1/logs', '/v1/traces'),
    logs_endpoint: collector.endpoint,
  });
  try {
    const res = await fetch(`${gw.url}/r`, { headers: { traceparent: `00-${trace}-00f067aa0ba902b7-01` } });
    const requestId = res.headers.get('x-request-id');
    await res.text();
    assert.ok(requestId !== null);
    await until(
      'the records',
      () => collector.records.filter((r) => r.body.startsWith('chatty:')).length === 2,
      10_000,
    );
    const [before, after] = collector.records.filter((r) => r.body.startsWith('chatty:'));
    assert.equal(before!.body, 'chatty: before the await');
    assert.equal(before!.severityNumber, 9);
    assert.equal(before!.severityText, 'INFO');
    assert.deepEqual(before!.attributes, { tenant: 't1', 'request.id': requestId, 'plugin.name': 'chatty' });
    // After an await the line is still the request's (its async context).
    assert.equal(after!.body, 'chatty: after the await');
    assert.equal(after!.severityNumber, 13);
    assert.equal(after!.severityText, 'WARN');
    assert.deepEqual(after!.attributes, { path: '/r', n: 2, 'request.id': requestId, 'plugin.name': 'chatty' });
    for (const r of [before!, after!]) {
      assert.equal(r.traceId, trace);
      assert.match(r.spanId, /^[0-9a-f]{16}$/);
      assert.notEqual(r.spanId, '0'.repeat(16));
      assert.equal(r.flags, 1);
      assert.ok(r.timeNs > 0n && r.observedNs === r.timeNs);
      assert.equal(r.resource['service.name'], 'kong');
      assert.equal(typeof r.resource['service.version'], 'string');
    }
    assert.equal(collector.headers[0]!['content-type'], 'application/x-protobuf');

    // A request its client says is not sampled: its trace id (the upstream's), flags 0, no span.
    const other = '92a54b3e1a7c4f2da9e44b8a6f3e1dab';
    const unsampled = await fetch(`${gw.url}/r`, { headers: { traceparent: `00-${other}-00f067aa0ba902b7-00` } });
    const unsampledId = unsampled.headers.get('x-request-id');
    await unsampled.text();
    const ofUnsampled = () => collector.records.filter((r) => r.attributes['request.id'] === unsampledId);
    await until('the unsampled records', () => ofUnsampled().length === 2, 10_000);
    for (const r of ofUnsampled()) {
      assert.equal(r.traceId, other);
      assert.equal(r.spanId, '');
      assert.equal(r.flags, 0);
    }
  } finally {
    await gw.close();
    await collector.close();
    await traces.close();
  }
});

test('a logs-only instance (Kong takes logs_endpoint alone) neither reads nor writes trace context: its records carry no trace id', async () => {
  const collector = await startCollector();
  const gw = await gateway({ logs_endpoint: collector.endpoint, headers: { 'x-api-key': 'k-123' } });
  try {
    const res = await fetch(`${gw.url}/r`);
    const echo = (await res.json()) as { headers: Record<string, string> };
    assert.equal(echo.headers.traceparent, undefined, 'no trace context written upstream');
    await until(
      'the records',
      () => collector.records.filter((r) => r.body.startsWith('chatty:')).length === 2,
      10_000,
    );
    for (const r of collector.records.filter((x) => x.body.startsWith('chatty:'))) {
      assert.equal(r.traceId, '');
      assert.equal(r.spanId, '');
      assert.equal(r.attributes['request.id'], res.headers.get('x-request-id'));
    }
    assert.equal(collector.headers[0]!['x-api-key'], 'k-123', "the plugin's headers go with every export");
    assert.ok(!JSON.stringify(gw.logs).includes('k-123'), 'a header value is never logged');
  } finally {
    await gw.close();
    await collector.close();
  }
});

test('a line outside any request at warn or above is exported as a runtime record; info outside a request is not', async () => {
  const collector = await startCollector();
  const gw = await gateway({ logs_endpoint: collector.endpoint });
  try {
    // Written from the test itself: no request's async context.
    chattyLog!.info('runtime: an info line');
    chattyLog!.error('runtime: an error line', { upstream: 'db' });
    await until('the runtime record', () => collector.records.some((r) => r.body.startsWith('runtime:')), 10_000);
    // Let a wrongly exported info line arrive before checking.
    await (await fetch(`${gw.url}/r`)).text();
    await until('the request', () => collector.records.some((r) => r.body.startsWith('chatty:')), 10_000);
    const runtime = collector.records.filter((r) => r.body.startsWith('runtime:'));
    assert.deepEqual(
      runtime.map((r) => [r.body, r.severityNumber, r.severityText, r.attributes]),
      [['runtime: an error line', 17, 'ERR', { upstream: 'db', 'plugin.name': 'chatty' }]],
    );
    assert.equal(runtime[0]!.traceId, '');
  } finally {
    await gw.close();
    await collector.close();
  }
});

test("after a reload the new config's collector gets the runtime lines; without logs_endpoint none is captured", async () => {
  const first = await startCollector();
  const second = await startCollector();
  const config = (otel: Record<string, unknown> | null) => ({
    _format_version: '3.0',
    services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'r', paths: ['/r'] }] }],
    plugins: [
      { name: 'chatty' },
      ...(otel === null ? [] : [{ name: 'opentelemetry', config: { queue: { max_coalescing_delay: 0.01 }, ...otel } }]),
    ],
  });
  const gw = await startGateway({ plugins: [chatty], config: config({ logs_endpoint: first.endpoint }) });
  try {
    chattyLog!.warn('runtime: before the reload');
    await until('the first line', () => first.records.some((r) => r.body === 'runtime: before the reload'), 10_000);
    assert.equal((await gw.reload(config({ logs_endpoint: second.endpoint }))).ok, true);
    chattyLog!.warn('runtime: after the reload');
    await until('the second line', () => second.records.some((r) => r.body === 'runtime: after the reload'), 10_000);
    assert.deepEqual(
      first.records.map((r) => r.body),
      ['runtime: before the reload'],
    );
    assert.equal((await gw.reload(config(null))).ok, true);
    chattyLog!.warn('runtime: nobody exports this');
    // The last export the second collector will get: a request on a fresh config with logs again.
    assert.equal((await gw.reload(config({ logs_endpoint: second.endpoint }))).ok, true);
    chattyLog!.warn('runtime: exported again');
    await until('the last line', () => second.records.some((r) => r.body === 'runtime: exported again'), 10_000);
    assert.deepEqual(
      second.records.map((r) => r.body),
      ['runtime: after the reload', 'runtime: exported again'],
    );
  } finally {
    await gw.close();
    await first.close();
    await second.close();
  }
});

test("a plugin's response-phase line on a kept-alive upstream connection is its own request's, not the connection opener's", async () => {
  const collector = await startCollector();
  const upstream = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const responder = definePlugin({
    name: 'responder',
    version: '1.0.0',
    priority: 900,
    schema: { type: 'object', properties: {}, additionalProperties: false },
    create: (_config, context) => ({
      response(req) {
        context.log.info('responder: the answer is in', { for: req.id });
      },
    }),
  });
  const gw = await startGateway({
    plugins: [responder],
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'up',
          url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
          routes: [{ name: 'r', paths: ['/r'] }],
        },
      ],
      plugins: [
        { name: 'responder' },
        { name: 'opentelemetry', config: { logs_endpoint: collector.endpoint, queue: { max_coalescing_delay: 0.01 } } },
      ],
    },
  });
  try {
    const ids: (string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/r`);
      await res.text();
      ids.push(res.headers.get('x-request-id'));
    }
    const answers = () => collector.records.filter((r) => r.body === 'responder: the answer is in');
    await until('the three lines', () => answers().length === 3, 10_000);
    assert.deepEqual(
      answers().map((r) => [r.attributes['request.id'], r.attributes.for]),
      ids.map((id) => [id, id]),
    );
  } finally {
    await gw.close();
    await collector.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  }
});

test("the gateway's own line about a request (a plugin that failed) is one of its records, at ERR, with its trace", async () => {
  const collector = await startCollector();
  const traces = await startCollector({ traces: true });
  const thrower = definePlugin({
    name: 'thrower',
    version: '1.0.0',
    priority: 900,
    schema: { type: 'object', properties: {}, additionalProperties: false },
    create: () => ({
      async access() {
        await sleep(1);
        throw new Error('boom');
      },
    }),
  });
  const gw = await startGateway({
    plugins: [thrower],
    config: {
      _format_version: '3.0',
      services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'r', paths: ['/r'] }] }],
      plugins: [
        { name: 'thrower' },
        {
          name: 'opentelemetry',
          config: {
            logs_endpoint: collector.endpoint,
            traces_endpoint: traces.endpoint,
            queue: { max_coalescing_delay: 0.01 },
          },
        },
      ],
    },
  });
  const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
  try {
    const res = await fetch(`${gw.url}/r`, { headers: { traceparent: `00-${trace}-00f067aa0ba902b7-01` } });
    assert.equal(res.status, 500);
    const id = res.headers.get('x-request-id');
    await res.text();
    await until('the record', () => collector.records.some((r) => r.attributes['request.id'] === id), 10_000);
    const failed = collector.records.filter((r) => r.attributes['request.id'] === id);
    assert.deepEqual(
      failed.map((r) => [r.body, r.severityNumber, r.severityText, r.attributes.plugin, r.attributes.phase]),
      [['plugin failed', 17, 'ERR', 'thrower', 'access']],
    );
    assert.match(String(failed[0]!.attributes.err), /boom/);
    assert.equal(failed[0]!.attributes['plugin.name'], undefined, "the gateway's line, not a plugin logger's");
    assert.equal(failed[0]!.traceId, trace, 'kept with the request (a runtime line would carry no trace)');
  } finally {
    await gw.close();
    await collector.close();
    await traces.close();
  }
});

test('a request logs at most 1000 lines and 64 KiB of text; the rest are counted in one record', async () => {
  const collector = await startCollector();
  const gw = await startGateway({
    plugins: [chatty],
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'echo',
          url: 'echo://',
          routes: [
            { name: 'many', paths: ['/many'], plugins: [{ name: 'chatty', config: { lines: 1500 } }] },
            { name: 'big', paths: ['/big'], plugins: [{ name: 'chatty', config: { lines: 20, size: 10_000 } }] },
          ],
        },
      ],
      plugins: [
        {
          name: 'opentelemetry',
          config: { logs_endpoint: collector.endpoint, queue: { max_coalescing_delay: 0.01, max_batch_size: 1000 } },
        },
      ],
    },
  });
  try {
    const many = await fetch(`${gw.url}/many`);
    await many.text();
    const id = many.headers.get('x-request-id');
    const ofMany = () => collector.records.filter((r) => r.attributes['request.id'] === id);
    await until('the note', () => ofMany().some((r) => r.body.includes('were not exported')), 10_000);
    const records = ofMany();
    // 1000 lines kept (the two chatty lines and 998 of the loop), then the note.
    assert.equal(records.length, 1001);
    assert.match(records.at(-1)!.body, /^opentelemetry: 502 more log lines of this request were not exported/);
    assert.equal(records.at(-1)!.severityText, 'WARN');

    const big = await fetch(`${gw.url}/big`);
    await big.text();
    const bigId = big.headers.get('x-request-id');
    const ofBig = () => collector.records.filter((r) => r.attributes['request.id'] === bigId);
    await until('the note', () => ofBig().some((r) => r.body.includes('were not exported')), 10_000);
    const lines = ofBig().filter((r) => /^\d+:/.test(r.body));
    // Each line cut to 8 KiB (with …): 7 of them and the two short ones fit in 64 KiB.
    assert.equal(lines.length, 7);
    for (const l of lines) assert.equal(l.body.length, 8 * 1024 + 1);
    assert.match(ofBig().at(-1)!.body, /^opentelemetry: 13 more log lines/);
  } finally {
    await gw.close();
    await collector.close();
  }
});

test('a collector that never answers, or a dead one, holds no request; /status shows the logs queue', async () => {
  const stuck = await startCollector({ hold: true });
  const gw = await gateway({ logs_endpoint: stuck.endpoint, send_timeout: 60_000, read_timeout: 60_000 });
  const dead = await gateway({ logs_endpoint: 'http://127.0.0.1:9/v1/logs', connect_timeout: 60_000 });
  try {
    await assertStuckAndDeadCollectors({
      stuck: gw,
      dead,
      stuckEndpoint: stuck.endpoint,
      stuckReached: () => stuck.headers.length > 0,
      kind: 'otlp_logs',
      path: '/r',
      status: 200,
    });
  } finally {
    await gw.close();
    await dead.close();
    await stuck.close();
  }
});
