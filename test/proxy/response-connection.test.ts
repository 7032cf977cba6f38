import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { startGateway } from '../../src/testing/index.ts';

/** An upstream that answers each connection's first request with `answer`, byte for byte, and closes. */
async function rawUpstream(answer: string): Promise<{ up: Server; url: string }> {
  const up = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => socket.end(answer));
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  return { up, url: `http://127.0.0.1:${(up.address() as AddressInfo).port}` };
}

test('headers named by any of an upstream answer’s Connection lines are removed, with or without a response plugin (RFC 9110 5.3, 7.6.1)', async () => {
  // Two Connection lines are one list: the headers both name are connection-specific.
  const { up, url } = await rawUpstream(
    'HTTP/1.1 200 OK\r\nConnection: X-First, keep-alive\r\nConnection: X-Second\r\nX-First: 1\r\nX-Second: 2\r\nX-Kept: k\r\nContent-Length: 2\r\n\r\nok',
  );
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 's',
          url,
          routes: [
            { name: 'plain', paths: ['/plain'] },
            {
              name: 'transformed',
              paths: ['/transformed'],
              plugins: [{ name: 'response-transformer', config: { add: { headers: ['x-added:a'] } } }],
            },
          ],
        },
      ],
    },
  });
  try {
    for (const path of ['/plain', '/transformed']) {
      const res = await fetch(`${gw.url}${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(await res.text(), 'ok', path);
      assert.equal(res.headers.get('x-first'), null, `${path}: named by the first Connection line`);
      assert.equal(res.headers.get('x-second'), null, `${path}: named by the second Connection line`);
      assert.equal(res.headers.get('x-kept'), 'k', path);
    }
  } finally {
    await gw.close();
    up.close();
  }
});

test('a client that asked to close gets its connection closed when a response plugin set a Connection option (RFC 9112 9.6)', async () => {
  const { up, url } = await rawUpstream('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 's',
          url,
          routes: [
            {
              name: 'kept',
              paths: ['/kept'],
              plugins: [{ name: 'response-transformer', config: { add: { headers: ['Connection:keep-alive'] } } }],
            },
          ],
        },
      ],
    },
  });
  try {
    const { hostname, port } = new URL(gw.url);
    // Resolves with what came before the gateway ended the connection; the bound is far below
    // keepalive_timeout, far above any close.
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () =>
        socket.write('GET /kept HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'),
      );
      let data = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`the connection is still open: ${JSON.stringify(data)}`));
      }, 20_000);
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (data += d));
      socket.on('end', () => {
        clearTimeout(timer);
        socket.destroy();
        resolve(data);
      });
      socket.on('error', reject);
    });
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.match(text, /\r\nConnection: keep-alive, close\r\n/i);
  } finally {
    await gw.close();
    up.close();
  }
});
