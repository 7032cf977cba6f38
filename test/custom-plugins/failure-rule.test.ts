// One rule for a plugin's failure in every phase: logged with the plugin's name and phase, the
// phase stops, and a client that can still be answered gets the catalogued error (the code of a
// ProxyError the plugin threw, PLUGIN_FAILED otherwise); the access line carries that code.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { type Listening, listen } from '../support/upstream.ts';
import { FIXTURES } from './helpers.ts';

const PHASES = ['access', 'response', 'transform', 'log'] as const;
const HOWS = ['throw', 'reject', 'proxy-error', 'proxy-error-async'] as const;

let gw: TestGateway;
let upstream: Listening;

before(async () => {
  upstream = await listen((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"from":"upstream"}');
  });
  const routes = (prefix: string) =>
    PHASES.flatMap((phase) =>
      HOWS.map((how) => ({ name: `${prefix}-${phase}-${how}`, paths: [`/${prefix}/${phase}/${how}`] })),
    );
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { custom_plugins: [join(FIXTURES, 'fail-with.ts')], plugin_timeout: 2000 },
      services: [
        { name: 'echo', url: 'echo://', routes: routes('echo') },
        { name: 'real', url: upstream.url, routes: routes('real') },
      ],
      plugins: ['echo', 'real'].flatMap((prefix) =>
        PHASES.flatMap((phase) =>
          HOWS.map((how) => ({ name: 'fail-with', route: `${prefix}-${phase}-${how}`, config: { phase, how } })),
        ),
      ),
    },
  });
});
after(async () => {
  await gw.close();
  await upstream.close();
});

async function waitForLine(pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const line = gw.logs.find(pred);
    if (line !== undefined) return line;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail('log line never came');
}

const EXPECTED: Record<(typeof HOWS)[number], { status: number; message: string; code: string }> = {
  throw: { status: 500, message: 'An unexpected error occurred', code: 'PLUGIN_FAILED' },
  reject: { status: 500, message: 'An unexpected error occurred', code: 'PLUGIN_FAILED' },
  'proxy-error': { status: 413, message: 'Request size limit exceeded', code: 'REQUEST_TOO_LARGE' },
  'proxy-error-async': { status: 503, message: 'Service Temporarily Unavailable', code: 'SERVICE_UNAVAILABLE' },
};

for (const prefix of ['echo', 'real']) {
  describe(`upstream ${prefix}`, () => {
    for (const phase of ['access', 'response'] as const) {
      for (const how of HOWS) {
        test(`${phase} ${how}: ${EXPECTED[how].status}, logged with plugin and phase, access line says ${EXPECTED[how].code}`, async () => {
          const r = await fetch(`${gw.url}/${prefix}/${phase}/${how}`, { signal: AbortSignal.timeout(10_000) });
          const body = (await r.json()) as { message: string; request_id: string };
          assert.equal(r.status, EXPECTED[how].status);
          assert.equal(body.message, EXPECTED[how].message);
          const access = await waitForLine((l) => l.type === 'access' && l.request_id === body.request_id);
          assert.equal(access.error, EXPECTED[how].code);
          assert.equal(access.status, EXPECTED[how].status);
          if (how === 'throw' || how === 'reject') {
            const line = await waitForLine((l) => l.request_id === body.request_id && l.level === 'error');
            assert.equal(line.plugin, 'fail-with');
            assert.equal(line.phase, phase);
            assert.equal(line.msg, 'plugin failed');
          }
        });
      }
    }

    for (const how of ['throw', 'reject', 'proxy-error'] as const) {
      test(`a body transform that fails (${how}) answers ${EXPECTED[how].status} and names its plugin`, async () => {
        const r = await fetch(`${gw.url}/${prefix}/transform/${how}`, { signal: AbortSignal.timeout(10_000) });
        const body = (await r.json()) as { message: string; request_id: string };
        assert.equal(r.status, EXPECTED[how].status);
        const access = await waitForLine((l) => l.type === 'access' && l.request_id === body.request_id);
        assert.equal(access.error, EXPECTED[how].code);
        if (how !== 'proxy-error') {
          const line = await waitForLine((l) => l.request_id === body.request_id && l.level === 'error');
          assert.equal(line.plugin, 'fail-with');
          assert.equal(line.phase, 'response');
        }
      });
    }

    for (const how of HOWS) {
      test(`log ${how}: the response stands, the failure is logged, the process goes on`, async () => {
        const r = await fetch(`${gw.url}/${prefix}/log/${how}`, { signal: AbortSignal.timeout(10_000) });
        assert.equal(r.status, 200);
        const id = r.headers.get('x-kong-request-id') ?? r.headers.get('x-request-id');
        await r.arrayBuffer();
        const line = await waitForLine((l) => l.request_id === id && l.plugin === 'fail-with');
        assert.equal(line.phase, 'log');
        const again = await fetch(`${gw.url}/${prefix}/log/${how}`, { signal: AbortSignal.timeout(10_000) });
        assert.equal(again.status, 200, 'still serving');
        await again.arrayBuffer();
      });
    }
  });
}
