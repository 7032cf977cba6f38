// Calls to dependencies end at their deadline even when the peer trickles its body, and refuse an
// answer past the size cap: through boundedFetch (openid-client's fetch) and the pooled client.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Listening, listen } from '../../test/support/upstream.ts';
import { createHttpClient } from '../upstream/http-client.ts';
import { boundedFetch, DeadlineError, ResponseTooLargeError } from './bounded-fetch.ts';

describe('bounded fetches', () => {
  let peer: Listening;
  const http = createHttpClient();

  before(async () => {
    peer = await listen((req, res) => {
      if (req.url === '/trickle') {
        // Headers at once, then a byte every 50 ms: no idle timeout ever trips.
        res.writeHead(200, { 'content-type': 'application/json' });
        const timer = setInterval(() => res.write(' '), 50);
        res.on('close', () => clearInterval(timer));
      } else if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let sent = 0;
        const write = (): void => {
          while (sent < 4 * 1024 * 1024) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', write);
          }
          res.end();
        };
        write();
      } else if (req.url === '/announced') {
        res.writeHead(200, { 'content-length': 2 * 1024 * 1024 });
        res.end(Buffer.alloc(2 * 1024 * 1024, 0x20));
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      }
    });
  });

  after(async () => {
    await http.close();
    await peer.close();
  });

  test('a small answer comes back whole', async () => {
    const f = boundedFetch({ timeoutMs: 2000 });
    const res = await f(`${peer.url}/ok`);
    assert.deepEqual(await res.json(), { ok: true });
    const r = await http.request(`${peer.url}/ok`, { timeout: 2000, maxBytes: 1024 });
    assert.equal(r.body.toString(), '{"ok":true}');
  });

  test('a trickled body ends at the total deadline, not at an idle timeout', async () => {
    const f = boundedFetch({ timeoutMs: 500 });
    await assert.rejects(f(`${peer.url}/trickle`), DeadlineError);
    await assert.rejects(http.request(`${peer.url}/trickle`, { timeout: 500 }), DeadlineError);
  });

  test('an answer past the cap is refused, announced or streamed', async () => {
    const f = boundedFetch({ timeoutMs: 5000, maxBytes: 1024 * 1024 });
    await assert.rejects(f(`${peer.url}/huge`), ResponseTooLargeError);
    await assert.rejects(f(`${peer.url}/announced`), ResponseTooLargeError);
    await assert.rejects(
      http.request(`${peer.url}/huge`, { timeout: 5000, maxBytes: 1024 * 1024 }),
      ResponseTooLargeError,
    );
  });

  test("the caller's own signal still aborts", async () => {
    const f = boundedFetch({ timeoutMs: 5000 });
    const ac = new AbortController();
    const p = f(`${peer.url}/trickle`, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('caller gave up')), 100);
    await assert.rejects(p, /caller gave up/);
  });
});
