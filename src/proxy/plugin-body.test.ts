import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { type Listening, listen } from '../../test/support/upstream.ts';
import { definePlugin } from '../index.ts';
import { startGateway, type TestGateway } from '../testing/index.ts';

// A custom plugin streaming the upstream body itself, as the x-mode header asks.
const streamer = definePlugin({
  name: 'streamer',
  version: '1.0.0',
  priority: 500,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create() {
    return {
      access(req) {
        const mode = req.headers['x-mode'];
        let body: Readable | null = null;
        if (mode === 'failed') {
          body = new Readable({ read() {} });
          body.destroy(new Error('plugin stream broke before the exchange'));
        } else if (mode === 'fails') {
          let n = 0;
          body = new Readable({
            read() {
              if (n++ === 0) this.push('abc');
              else setTimeout(() => this.destroy(new Error('plugin stream broke')), 20);
            },
          });
        }
        if (body === null) return;
        body.on('error', () => {});
        req.setUpstreamBody(body);
        req.removeUpstreamHeader('content-length');
      },
    };
  },
});

let upstream: Listening;
let gw: TestGateway;
let reached = 0;

before(async () => {
  upstream = await listen((req, res) => {
    reached++;
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  gw = await startGateway({
    plugins: [streamer],
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'up',
          url: upstream.url,
          routes: [{ name: 'up', paths: ['/up'], plugins: [{ name: 'streamer' }] }],
        },
      ],
    },
  });
});

after(async () => {
  await gw.close();
  await upstream.close();
});

function accessLine(id: string): Record<string, unknown> | undefined {
  return gw.logs.find((l) => l.type === 'access' && l.request_id === id);
}

for (const mode of ['fails', 'failed']) {
  test(`a plugin's body stream that ${mode === 'fails' ? 'fails while it is sent' : 'failed before the exchange'} is the plugin's 500, not the upstream's 502`, async () => {
    const res = await fetch(`${gw.url}/up/x`, { method: 'POST', body: 'client', headers: { 'x-mode': mode } });
    const body = (await res.json()) as { message: string; request_id: string };
    assert.equal(res.status, 500);
    assert.equal(body.message, 'An unexpected error occurred');
    const id = body.request_id;
    await new Promise((r) => setTimeout(r, 50));
    const line = accessLine(id);
    assert.equal(line?.source, 'streamer');
    assert.equal(line?.error, 'PLUGIN_FAILED');
    const failed = gw.logs.find((l) => l.msg === 'plugin failed' && l.request_id === id);
    assert.equal(failed?.plugin, 'streamer');
  });
}

test('the gateway stays usable after a plugin body stream failed', async () => {
  const before = reached;
  const res = await fetch(`${gw.url}/up/x`, { method: 'POST', body: 'client' });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ok');
  assert.equal(reached, before + 1);
});
