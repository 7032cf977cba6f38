// Kong's logging plugins on one key-auth route, each pointed at a real receiver on loopback: an
// HTTP server, a file, a TCP server, UDP sockets for udp-log, syslog and StatsD. Three
// authenticated requests reach every receiver in Kong's shape with the consumer; a refused
// request's access line names key-auth; a receiver that hangs delays no response.

import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';

type Entry = Record<string, any>;

/** Resolves when `check` holds, polling every 20 ms; fails after `ms`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function listenHttp(onBody: (body: string, headers: Record<string, unknown>) => void): Promise<Server> {
  const server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      onBody(body, req.headers);
      res.writeHead(200).end();
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

function udpReceiver(onMessage: (msg: string) => void): Promise<UdpSocket> {
  const sock = createSocket('udp4');
  sock.on('message', (m) => onMessage(m.toString()));
  return new Promise((r) => sock.bind(0, '127.0.0.1', () => r(sock)));
}

const port = (s: Server | TcpServer | UdpSocket) =>
  'address' in s && typeof s.address === 'function' ? (s.address() as { port: number }).port : 0;

describe('logging plugins against real receivers', () => {
  let gw: TestGateway;
  let dir: string;
  const http: { body: string; headers: Record<string, unknown> }[] = [];
  const tcpLines: string[] = [];
  const udp: string[] = [];
  const syslog: string[] = [];
  const statsd: string[] = [];
  let httpServer: Server;
  let hangingServer: Server;
  let tcpServer: TcpServer;
  const tcpSockets = new Set<Socket>();
  let udpSock: UdpSocket;
  let syslogSock: UdpSocket;
  let statsdSock: UdpSocket;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-file-log-'));
    httpServer = await listenHttp((body, headers) => http.push({ body, headers }));
    // Accepts, reads, never answers.
    hangingServer = createHttpServer(() => {});
    await new Promise<void>((r) => hangingServer.listen(0, '127.0.0.1', () => r()));
    tcpServer = createTcpServer((s) => {
      tcpSockets.add(s);
      let buf = '';
      s.on('data', (c: Buffer) => {
        buf += c;
        let i = buf.indexOf('\n');
        while (i !== -1) {
          tcpLines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
          i = buf.indexOf('\n');
        }
      });
    });
    await new Promise<void>((r) => tcpServer.listen(0, '127.0.0.1', () => r()));
    udpSock = await udpReceiver((m) => udp.push(m));
    syslogSock = await udpReceiver((m) => syslog.push(m));
    statsdSock = await udpReceiver((m) => statsd.push(...m.split('\n')));
    const logging = [
      {
        name: 'http-log',
        config: {
          http_endpoint: `http://127.0.0.1:${port(httpServer)}/logs`,
          headers: { 'x-log-token': 'abc' },
          custom_fields: { 'app.tenant': '$(headers.x-tenant)', static: 'yes' },
        },
      },
      { name: 'file-log', config: { path: join(dir, 'access.log') } },
      { name: 'tcp-log', config: { host: '127.0.0.1', port: port(tcpServer) } },
      { name: 'udp-log', config: { host: '127.0.0.1', port: port(udpSock) } },
      { name: 'syslog', config: { host: '127.0.0.1', port: port(syslogSock), client_errors_severity: 'warning' } },
      { name: 'statsd', config: { host: '127.0.0.1', port: port(statsdSock) } },
    ];
    gw = await startServiceGateway(
      [
        { name: 'api', paths: ['/api'], plugins: [{ name: 'key-auth' }, ...logging] },
        {
          name: 'slow-receiver',
          paths: ['/slow'],
          plugins: [
            {
              name: 'http-log',
              config: { http_endpoint: `http://127.0.0.1:${port(hangingServer)}/`, timeout: 60_000 },
            },
          ],
        },
      ],
      {
        name: 'orders',
        extra: {
          consumers: [{ username: 'alice', custom_id: 'alice-1', keyauth_credentials: [{ key: 'alice-secret-key' }] }],
        },
      },
    );
  });

  after(async () => {
    await gw?.close();
    for (const s of tcpSockets) s.destroy();
    hangingServer?.closeAllConnections();
    await Promise.all([
      new Promise((r) => httpServer?.close(r)),
      new Promise((r) => hangingServer?.close(r)),
      new Promise((r) => tcpServer?.close(r)),
    ]);
    for (const s of [udpSock, syslogSock, statsdSock]) s?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('three authenticated requests reach every receiver in Kong shape, with the consumer and no credential', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/api/orders/${i}?page=${i}`, {
        headers: { apikey: 'alice-secret-key', 'x-tenant': 'acme' },
      });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    await until('3 http-log entries', () => http.length >= 3);
    await until('3 tcp-log lines', () => tcpLines.length >= 3);
    await until('3 udp-log datagrams', () => udp.length >= 3);
    await until('3 syslog messages', () => syslog.length >= 3);
    await until('3 file-log lines', async () => {
      const text = await readFile(join(dir, 'access.log'), 'utf8').catch(() => '');
      return text.trim().split('\n').filter(Boolean).length >= 3;
    });

    const entries: Entry[] = http.map((h) => JSON.parse(h.body));
    assert.equal(http[0]!.headers['x-log-token'], 'abc');
    assert.equal(http[0]!.headers['content-type'], 'application/json');
    for (const [i, e] of entries.entries()) {
      assert.equal(e.request.method, 'GET');
      assert.equal(e.request.uri, `/api/orders/${i}?page=${i}`);
      assert.deepEqual(e.request.querystring, { page: String(i) });
      assert.equal(e.request.headers.apikey, 'REDACTED', 'the credential never leaves in a log entry');
      assert.equal(e.response.status, 200);
      assert.equal(e.consumer.username, 'alice');
      assert.equal(e.consumer.custom_id, 'alice-1');
      assert.equal(e.route.name, 'api');
      assert.equal(e.service.name, 'orders');
      assert.equal(e.source, 'upstream');
      assert.equal(typeof e.latencies.request, 'number');
      assert.equal(typeof e.started_at, 'number');
      assert.equal(e.upstream_uri, `/orders/${i}?page=${i}`);
      assert.deepEqual(e.app, { tenant: 'acme' }, 'custom_fields with a nested name and a header reference');
      assert.equal(e.static, 'yes');
    }
    for (const raw of [...tcpLines, ...udp, ...(await readFile(join(dir, 'access.log'), 'utf8')).trim().split('\n')]) {
      assert.doesNotMatch(raw, /alice-secret-key/);
      const e = JSON.parse(raw) as Entry;
      assert.equal(e.consumer.username, 'alice');
      assert.equal(e.app, undefined, 'custom fields belong to the plugin that declared them');
    }
    // RFC 5424: <PRI>1 TIMESTAMP HOST kong PID - - MSG; user facility (1), info (6) for a 200.
    assert.match(syslog[0]!, /^<14>1 \d{4}-\d\d-\d\dT\S+ \S+ kong \d+ - - \{/);
    assert.equal(JSON.parse(syslog[0]!.slice(syslog[0]!.indexOf('{'))).consumer.username, 'alice');

    await until(
      'statsd counters',
      () => statsd.filter((l) => l === 'kong.service.orders.request.count:1|c').length >= 3,
    );
    assert.ok(statsd.includes('kong.service.orders.status.200:1|c'));
    assert.ok(statsd.includes('kong.service.orders.user.alice-1.request.count:1|c'));
    assert.ok(statsd.some((l) => /^kong\.service\.orders\.latency:\d+\|ms$/.test(l)));
    assert.ok(statsd.includes('kong.service.orders.user.uniques:alice-1|s'));
  });

  test('a key sent in the query string reads REDACTED in every URI and query of the entry', async () => {
    const before = http.length;
    const res = await fetch(`${gw.url}/api/orders/7?page=2&apikey=alice-secret-key&a+pikey=x`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    await until('the http-log entry', () => http.length > before);
    const raw = http[before]!.body;
    assert.doesNotMatch(raw, /alice-secret-key/);
    const e = JSON.parse(raw) as Entry & { request: Entry['request'] & { url: string } };
    assert.equal(e.request.uri, '/api/orders/7?page=2&apikey=REDACTED&a+pikey=x');
    assert.match(e.request.url, /\/api\/orders\/7\?page=2&apikey=REDACTED&a\+pikey=x$/);
    assert.deepEqual(e.request.querystring, { page: '2', apikey: 'REDACTED', 'a pikey': 'x' });
    assert.equal(
      e.upstream_uri,
      '/orders/7?page=2&apikey=REDACTED&a+pikey=x',
      'the key went upstream (no hide_credentials)',
    );
  });

  test('a request key-auth refuses: its access line and every entry name key-auth as the source', async () => {
    const before = http.length;
    const res = await fetch(`${gw.url}/api/orders`);
    assert.equal(res.status, 401);
    await res.arrayBuffer();
    await until('the access line', () => gw.logs.some((l) => l.type === 'access' && l.status === 401));
    const line = gw.logs.find((l) => l.type === 'access' && l.status === 401)!;
    assert.equal(line.source, 'key-auth');
    await until('the http-log entry', () => http.length > before);
    const e = JSON.parse(http[http.length - 1]!.body) as Entry;
    assert.equal(e.source, 'key-auth');
    assert.equal(e.response.status, 401);
    assert.equal(e.consumer, null);
    // syslog: a 4xx at client_errors_severity warning (4): <12>.
    await until('the syslog warning', () => syslog.some((m) => m.startsWith('<12>1 ')));
  });

  test('a log receiver that never answers delays no response', async () => {
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      const res = await fetch(`${gw.url}/slow/x`);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      assert.ok(Date.now() - started < 5_000, 'answered while the receiver hangs');
    }
  });
});
