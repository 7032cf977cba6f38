// A custom plugin's plugin_timeout counts the plugin's own time, not the client's: while it waits
// in readBody() for an upload slower than the deadline, the deadline waits too (the client's pace
// is bounded by client_body_timeout, as nginx bounds it); a plugin that hangs after reading still
// gets its 504.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { FIXTURES } from './helpers.ts';

const PLUGIN_TIMEOUT = 200;
let gw: TestGateway;

before(async () => {
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { custom_plugins: [join(FIXTURES, 'body-reader.ts')], plugin_timeout: PLUGIN_TIMEOUT },
      services: [
        {
          name: 'echo',
          url: 'echo://',
          routes: [
            { name: 'pass', paths: ['/pass'], plugins: [{ name: 'body-reader', config: { then: 'pass' } }] },
            { name: 'hang', paths: ['/hang'], plugins: [{ name: 'body-reader', config: { then: 'hang' } }] },
          ],
        },
      ],
    },
  });
});
after(() => gw.close());

/** POSTs 3 chunks with pauses of several plugin_timeouts between them; resolves with the answer. */
async function slowUpload(path: string): Promise<{ status: number; body: Record<string, any> }> {
  const { hostname, port } = new URL(gw.url);
  const req = request({ host: hostname, port, path, method: 'POST', headers: { 'content-length': 30 } });
  const answer = new Promise<{ status: number; body: Record<string, any> }>((resolve, reject) => {
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.once('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, any> }));
    });
    req.once('error', reject);
  });
  for (let i = 0; i < 3; i++) {
    req.write('0123456789');
    if (i < 2) await sleep(PLUGIN_TIMEOUT * 3);
  }
  req.end();
  return answer;
}

test('an upload slower than plugin_timeout reaches the upstream through a plugin that reads it', async () => {
  const r = await slowUpload('/pass');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.headers['x-body-length'], '30');
  assert.equal(r.body.body, '012345678901234567890123456789');
});

test('a plugin that hangs after reading the body still answers 504 after plugin_timeout', async () => {
  const r = await slowUpload('/hang');
  assert.equal(r.status, 504);
  assert.equal(r.body.message, 'The gateway timed out waiting for a plugin');
});
