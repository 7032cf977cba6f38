// Log receivers and trace collectors named by host resolve through the gateway's resolver
// (`dns_resolver`, `dns_hostsfile`), as every connection Kong opens goes through its DNS client: a
// name only the configured DNS server knows still reaches http-log, tcp-log and opentelemetry's
// receivers.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { startDns, type TestDns } from '../support/dns.ts';
import { serviceConfig } from '../support/gateway.ts';
import { type HttpMessage, httpReceiver, type Receiver, tcpReceiver } from '../support/receivers.ts';

const NAME = 'receivers.tollgate.test';
let dns: TestDns;
let http: Receiver<HttpMessage>;
let tcp: Receiver;
let otlp: Receiver<HttpMessage>;
let gw: TestGateway;

before(async () => {
  dns = await startDns();
  dns.records.set(NAME, { addresses: ['127.0.0.1'], ttl: 300 });
  [http, tcp, otlp] = await Promise.all([httpReceiver(), tcpReceiver(), httpReceiver()]);
  const queue = { max_batch_size: 1, max_coalescing_delay: 0.01 };
  const config = serviceConfig([{ name: 'r', paths: ['/r'] }], {
    extra: {
      _tollgate: { dns_resolver: [dns.server] },
      plugins: [
        { name: 'http-log', config: { http_endpoint: `http://${NAME}:${http.port}/logs`, queue } },
        { name: 'tcp-log', config: { host: NAME, port: tcp.port } },
        {
          name: 'opentelemetry',
          config: { traces_endpoint: `http://${NAME}:${otlp.port}/v1/traces`, sampling_rate: 1, queue },
        },
      ],
    },
  });
  gw = await startGateway({ config });
});

after(async () => {
  await gw?.close();
  await Promise.all([http?.close(), tcp?.close(), otlp?.close(), dns?.close()]);
});

test('http-log, tcp-log and opentelemetry reach a receiver only the configured DNS server knows', async () => {
  const res = await fetch(`${gw.url}/r`);
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  const [logged, line, spans] = await Promise.all([http.next(), tcp.next(), otlp.next()]);
  assert.equal((JSON.parse(logged.body) as { request: { uri: string } }).request.uri, '/r');
  assert.equal((JSON.parse(line) as { response: { status: number } }).response.status, 200);
  assert.equal(spans.url, '/v1/traces');
  assert.ok(dns.aQueries(NAME) >= 1, 'asked the configured server');
});
