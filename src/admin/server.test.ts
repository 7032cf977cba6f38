// The admin listener against clients that hold connections without sending a request.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { startGateway } from '../testing/index.ts';

/** Opens a connection to `url`, writes `text` (maybe nothing), and resolves once the server closes it. */
function closedByServer(url: string, text: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      if (text !== '') socket.write(text);
    });
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (data += d));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
    // a deadline on the test, not a measurement: the old listener never closed it
    setTimeout(() => {
      socket.destroy();
      reject(new Error('the admin listener still holds the connection'));
    }, 15_000).unref();
  });
}

test('a connection that sends nothing, or never finishes its head, is closed after client_header_timeout, on the status listener too', async () => {
  const gw = await startGateway({
    config: `_format_version: "3.0"
_tollgate:
  client_header_timeout: 300
  status_listen: ["127.0.0.1:0"]
services:
  - name: echo
    url: echo://
    routes: [{ paths: [/] }]
`,
  });
  try {
    // closed, with or without node's 408 (which node sends when its own head check got there first)
    assert.match(await closedByServer(gw.adminUrl, ''), /^$|^HTTP\/1\.1 408 /);
    await closedByServer(gw.adminUrl, 'GET /status HTTP/1.1\r\nHost: x\r\n');
    // Kong's status listener shares the process as the admin listener does: the same deadline
    const statusUrl = `http://${gw.instance.statusAddresses[0]}`;
    assert.match(await closedByServer(statusUrl, ''), /^$|^HTTP\/1\.1 408 /);
    await closedByServer(statusUrl, 'GET /status HTTP/1.1\r\nHost: x\r\n');
    // a client that sends its request is answered as before
    const res = await fetch(`${gw.adminUrl}/status`);
    assert.equal(res.status, 200);
    assert.equal((await fetch(`${statusUrl}/status`)).status, 200);
  } finally {
    await gw.close();
  }
});

test('/metrics stays valid exposition when a secret is as short as a port that also shows in a sample value', async () => {
  // The first four digits of the Unix time: the port of a secret URL, and part of every timestamp sample.
  const port = String(Math.floor(Date.now() / 1000)).slice(0, 4);
  const gw = await startGateway({
    env: { LOG_URL: `http://127.0.0.1:${port}/log` },
    config: `_format_version: "3.0"
services:
  - name: echo
    url: echo://
    routes: [{ paths: [/] }]
plugins:
  - name: http-log
    config: { http_endpoint: "\${LOG_URL}" }
`,
  });
  try {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const sample =
      /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+-]+|NaN|Nan|[+-]Inf)$/;
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      assert.match(line, sample);
    }
    assert.match(text, /tollgate_config_loaded_timestamp_seconds \d/);
    // the secret itself stays hidden where it was: the receiver's label
    assert.ok(!text.includes(`:${port}/log`));
    assert.match(text, /tollgate_log_sent_total\{plugin="http-log",kind="http-log",target="\[redacted\]"\}/);
  } finally {
    await gw.close();
  }
});

test("one trailing slash is dropped, as Kong's admin router does: /status/ is /status", async () => {
  const gw = await startGateway({
    config: `_format_version: "3.0"
services:
  - name: echo
    url: echo://
    routes: [{ paths: [/] }]
`,
  });
  try {
    assert.equal((await fetch(`${gw.adminUrl}/status/`)).status, 200);
    assert.equal((await fetch(`${gw.adminUrl}/status/ready/`)).status, 200);
    assert.equal((await fetch(`${gw.adminUrl}/services/`)).status, 200);
    assert.equal((await fetch(`${gw.adminUrl}/status//`)).status, 404);
  } finally {
    await gw.close();
  }
});

test('a client that stops reading a large answer is disconnected after send_timeout', async () => {
  // request-termination's body makes /config 8 MB: more than the kernel's socket buffers hold.
  const gw = await startGateway({
    config: `_format_version: "3.0"
_tollgate:
  send_timeout: 300
services:
  - name: echo
    url: echo://
    routes:
      - paths: [/]
        plugins:
          - name: request-termination
            config: { status_code: 200, body: "${'x'.repeat(8_000_000)}" }
`,
  });
  try {
    const { hostname, port } = new URL(gw.adminUrl);
    const admin = gw.instance.adminServers[0]!;
    const connections = () => new Promise<number>((r) => admin.getConnections((_e, n) => r(n)));
    let received = 0;
    const socket = connect(Number(port), hostname, () => socket.write('GET /config HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('error', () => {});
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    // the answer has started: the client stops reading
    await new Promise<void>((r) =>
      socket.once('data', (d: Buffer) => {
        received += d.length;
        socket.pause();
        r();
      }),
    );
    socket.on('data', (d: Buffer) => (received += d.length));
    // the listener lets go of the connection (polled; a deadline on the test, not a measurement)
    const deadline = Date.now() + 15_000;
    while ((await connections()) > 0) {
      if (Date.now() > deadline) {
        socket.destroy();
        assert.fail('the admin listener still holds the connection');
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    // the client, reading again, gets what the kernel held and the end: not the whole answer
    socket.resume();
    await closed;
    assert.ok(received < 8_000_000, `received ${received} bytes`);
    assert.equal((await fetch(`${gw.adminUrl}/status`)).status, 200);
  } finally {
    await gw.close();
  }
});

test("OPTIONS answers 204 with the methods served, as Kong's admin API does", async () => {
  const gw = await startGateway({
    config: `_format_version: "3.0"
services:
  - name: echo
    url: echo://
    routes: [{ name: r, paths: [/] }]
`,
  });
  try {
    const ask = (p: string, method: string) => fetch(`${gw.adminUrl}${p}`, { method });
    for (const [path, allow] of [
      ['/', 'GET, HEAD, OPTIONS'],
      ['/status', 'GET, HEAD, OPTIONS'],
      ['/reload', 'OPTIONS, POST'],
      ['/config', 'GET, HEAD, OPTIONS, POST'],
      ['/services', 'GET, HEAD, OPTIONS'],
      ['/services/echo/routes', 'GET, HEAD, OPTIONS'],
      ['/plugins/enabled', 'GET, HEAD, OPTIONS'],
    ]) {
      const res = await ask(path!, 'OPTIONS');
      assert.equal(res.status, 204, path);
      assert.equal(res.headers.get('allow'), allow, path);
      assert.equal(await res.text(), '', path);
    }
    for (const path of ['/nope', '/services/nope']) assert.equal((await ask(path, 'OPTIONS')).status, 404, path);
    assert.equal((await ask('/status', 'POST')).headers.get('allow'), 'GET, HEAD, OPTIONS');
  } finally {
    await gw.close();
  }
});

test("/plugins/enabled only reads, as Kong's: a write answers 405, not as one on a plugin named 'enabled'", async () => {
  const gw = await startGateway({ config: '_format_version: "3.0"\n' });
  try {
    for (const method of ['PATCH', 'PUT', 'DELETE', 'POST']) {
      const res = await fetch(`${gw.adminUrl}/plugins/enabled`, { method });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get('allow'), 'GET, HEAD, OPTIONS', method);
      assert.deepEqual(await res.json(), { message: 'Method not allowed' }, method);
    }
  } finally {
    await gw.close();
  }
});

test("Kong's /debug/node/log-level says the log level; changing it is refused as Kong's DB-less node refuses it", async () => {
  // The test harness's gateway logs at debug whatever its file says.
  const gw = await startGateway({ config: '_format_version: "3.0"\n' });
  try {
    const ask = (p: string, method = 'GET') => fetch(`${gw.adminUrl}${p}`, { method });
    const get = await ask('/debug/node/log-level');
    assert.equal(get.status, 200);
    assert.deepEqual(await get.json(), { message: 'log level: debug' });
    for (const path of ['/debug/node/log-level/debug', '/debug/cluster/log-level/debug']) {
      const put = await ask(path, 'PUT');
      assert.equal(put.status, 405, path);
      assert.deepEqual(await put.json(), { message: 'cannot change log level when not using a database' }, path);
      assert.equal((await ask(path)).status, 405, path);
    }
  } finally {
    await gw.close();
  }
});

test('an absolute-form request target is answered for its path, as nginx answers it (RFC 9112 3.2.2)', async () => {
  const gw = await startGateway({ config: '_format_version: "3.0"\n' });
  try {
    const { hostname, port } = new URL(gw.adminUrl);
    const head = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () =>
        socket.write(
          `GET http://${hostname}:${port}/status/ready?x=1 HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`,
        ),
      );
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (data += d));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    // the empty config is not ready: Kong's readiness answer, not the router's 404
    assert.match(head, /^HTTP\/1\.1 503 /);
    assert.match(head, /"message": "no configuration available/);
  } finally {
    await gw.close();
  }
});

test('a request body no endpoint reads ends the connection after the answer, as nginx closes lingering', async () => {
  const gw = await startGateway({ config: '_format_version: "3.0"\n' });
  try {
    const { hostname, port } = new URL(gw.adminUrl);
    // a client that announces ten gigabytes and keeps sending: the server read and dropped them
    // for as long as it kept sending, one connection holding the admin listener's event loop
    const answer = await new Promise<string>((resolve, reject) => {
      let data = '';
      const socket = connect(Number(port), hostname, () => {
        socket.write('POST /services HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n');
        const chunk = Buffer.alloc(64 * 1024, 97);
        const pump = (): void => {
          while (!socket.destroyed && socket.write(chunk));
        };
        socket.on('drain', pump);
        pump();
      });
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (data += d));
      socket.on('error', () => {});
      socket.on('close', () => resolve(data));
      // a deadline on the test, not a measurement: the old listener read for as long as it was sent
      setTimeout(() => {
        socket.destroy();
        reject(new Error('the admin listener still reads the body'));
      }, 20_000).unref();
    });
    assert.match(answer, /^HTTP\/1\.1 405 /);
  } finally {
    await gw.close();
  }
});

test("/status leaves out Kong's database entry in DB-less mode, as Kong 3.x does, and keeps configuration_hash", async () => {
  // kong/api/routes/health.lua: `status_response.database = nil` when `database = off`.
  const gw = await startGateway({ config: '_format_version: "3.0"\n' });
  try {
    const body = (await (await fetch(`${gw.adminUrl}/status`)).json()) as Record<string, unknown>;
    assert.equal('database' in body, false);
    assert.equal(body.configuration_hash, gw.instance.runtime.config.source.hash);
    assert.equal(typeof (body.server as Record<string, unknown>).total_requests, 'number');
  } finally {
    await gw.close();
  }
});

test("admin answers spell their header names as Kong's Admin API does (Content-Type, Content-Length, Allow)", async () => {
  const gw = await startGateway({
    config: '_format_version: "3.0"\nservices:\n  - name: echo\n    url: echo://\n    routes: [{ paths: [/] }]\n',
  });
  try {
    const names = async (request: string) => {
      const text = await closedByServer(gw.adminUrl, `${request} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      return text
        .slice(0, text.indexOf('\r\n\r\n'))
        .split('\r\n')
        .slice(1)
        .map((l) => l.slice(0, l.indexOf(':')));
    };
    const cases: [string, string[]][] = [
      ['GET /status', ['Content-Type', 'Content-Length']],
      ['GET /metrics', ['Content-Type', 'Content-Length']],
      ['GET /services/echo', ['Content-Type', 'Content-Length']],
      ['POST /status', ['Content-Type', 'Content-Length', 'Allow']],
      ['POST /services', ['Content-Type', 'Content-Length', 'Allow']],
      ['OPTIONS /status', ['Allow']],
      ['GET /nope', ['Content-Type', 'Content-Length']],
    ];
    for (const [request, expected] of cases) {
      const got = await names(request);
      for (const name of expected) assert.ok(got.includes(name), `${request}: ${name} in ${got.join(', ')}`);
      for (const name of expected)
        assert.ok(!got.includes(name.toLowerCase()), `${request}: ${name.toLowerCase()} in ${got.join(', ')}`);
    }
  } finally {
    await gw.close();
  }
});
