import assert from 'node:assert/strict';
import { Agent, get as httpGet, request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { ECHO_SERVICE, h2Session, startTlsGateway, TestCa, tool } from '../../../test/tls/support.ts';
import type { TestGateway } from '../../testing/index.ts';
import plugin, { CORRELATION_ID_PRIORITY } from './index.ts';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

function route(path: string, config: Record<string, unknown> | null, extraPlugins: Record<string, unknown>[] = []) {
  return {
    paths: [path],
    plugins: [...(config === null ? [] : [{ name: 'correlation-id', config }]), ...extraPlugins],
  };
}

async function get(gw: TestGateway, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}${path}`, { headers });
  const text = await res.text();
  return { res, json: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

function getVia(agent: Agent, url: string): Promise<{ headers: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve(JSON.parse(text)));
    }).on('error', reject);
  });
}

describe('correlation-id', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startServiceGateway([
      route('/default', {}),
      route('/uuid', { generator: 'uuid', header_name: 'X-Correlation-Id', echo_downstream: true }),
      route('/tracker', { generator: 'tracker' }),
      route('/echoed', { echo_downstream: true }),
      route('/terminated', { echo_downstream: true }, [{ name: 'request-termination', config: { status_code: 403 } }]),
      route('/underscored', { header_name: 'X_Corr_Id', echo_downstream: true }),
    ]);
  });
  after(() => gw.close());

  test('runs first, with the priority Kong gives it (100001)', () => {
    assert.equal(plugin.priority, CORRELATION_ID_PRIORITY);
    assert.equal(plugin.priority, 100001);
  });

  test('sends a uuid#counter id upstream in Kong-Request-ID by default, not to the client', async () => {
    const a = await get(gw, '/default/x');
    const b = await get(gw, '/default/x');
    const idA = a.json.headers['kong-request-id'] as string;
    const idB = b.json.headers['kong-request-id'] as string;
    assert.match(idA, new RegExp(`^${UUID}#\\d+$`));
    const [uuidA, nA] = idA.split('#');
    const [uuidB, nB] = idB.split('#');
    assert.equal(uuidA, uuidB);
    assert.ok(Number(nB) > Number(nA));
    assert.equal(a.res.headers.get('kong-request-id'), null);
  });

  test('keeps a non-empty id the client sent, and replaces an empty one', async () => {
    const kept = await get(gw, '/default/x', { 'Kong-Request-ID': 'from-client' });
    assert.equal(kept.json.headers['kong-request-id'], 'from-client');
    const empty = await get(gw, '/default/x', { 'Kong-Request-ID': '' });
    assert.match(empty.json.headers['kong-request-id'], new RegExp(`^${UUID}#\\d+$`));
  });

  test('uuid generator with a custom header, echoed downstream with the same value', async () => {
    const { res, json } = await get(gw, '/uuid/x');
    const id = json.headers['x-correlation-id'] as string;
    assert.match(id, new RegExp(`^${UUID}$`));
    assert.equal(res.headers.get('x-correlation-id'), id);
    const again = await get(gw, '/uuid/x');
    assert.notEqual(again.json.headers['x-correlation-id'], id);
  });

  test('echoes the client-sent id downstream', async () => {
    const { res, json } = await get(gw, '/echoed/x', { 'kong-request-id': 'abc-123' });
    assert.equal(json.headers['kong-request-id'], 'abc-123');
    assert.equal(res.headers.get('kong-request-id'), 'abc-123');
  });

  test("a client id sent twice counts by its first line, as Kong's kong.request.get_header reads it", async () => {
    const echoed = await new Promise<string | string[] | undefined>((resolve, reject) => {
      httpRequest(`${gw.url}/echoed/x`, { headers: { 'kong-request-id': ['abc-123', 'def-456'] } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.headers['kong-request-id']));
      })
        .on('error', reject)
        .end();
    });
    assert.equal(echoed, 'abc-123');
  });

  test("a header_name written with _ reads the client's header written with -, as Kong's get_header does", async () => {
    const { res, json } = await get(gw, '/underscored/x', { 'X-Corr-Id': 'from-client' });
    assert.equal(json.headers['x-corr-id'], 'from-client');
    assert.equal(json.headers.x_corr_id, undefined, 'no second id is sent upstream');
    assert.equal(res.headers.get('x_corr_id'), 'from-client');
    const fresh = await get(gw, '/underscored/x');
    assert.match(fresh.json.headers.x_corr_id, new RegExp(`^${UUID}#\\d+$`));
    assert.equal(fresh.res.headers.get('x_corr_id'), fresh.json.headers.x_corr_id);
  });

  test('tracker generator: address-port-pid-connection-requests-timestamp, counting requests per connection', async () => {
    const port = new URL(gw.url).port;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) ids.push((await getVia(agent, `${gw.url}/tracker/x`)).headers['kong-request-id']);
      const re = new RegExp(`^127\\.0\\.0\\.1-${port}-${process.pid}-(\\d+)-(\\d+)-(\\d{10}\\.\\d{3})$`);
      const [a, b] = ids.map((id) => re.exec(id));
      assert.ok(a && b, ids.join(' '));
      assert.equal(a[1], b[1], 'same connection serial');
      assert.equal(Number(b[2]), Number(a[2]) + 1);
    } finally {
      agent.destroy();
    }
  });

  test("tracker: a request whose client sent its own id still counts in connection_requests, as nginx's does", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const own = await new Promise<string>((resolve, reject) => {
        httpGet(`${gw.url}/tracker/x`, { agent, headers: { 'kong-request-id': 'mine' } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve(JSON.parse(text).headers['kong-request-id']));
        }).on('error', reject);
      });
      assert.equal(own, 'mine');
      const id = (await getVia(agent, `${gw.url}/tracker/x`)).headers['kong-request-id']!;
      assert.equal(id.split('-')[4], '2', id);
    } finally {
      agent.destroy();
    }
  });

  test('echoes the id on a response another plugin answered', async () => {
    const { res } = await get(gw, '/terminated/x');
    assert.equal(res.status, 403);
    assert.match(res.headers.get('kong-request-id') ?? '', new RegExp(`^${UUID}#\\d+$`));
  });

  test('an invalid generator is refused with the config location', async () => {
    await assert.rejects(
      startServiceGateway([route('/', { generator: 'random' })], { name: 's' }),
      (err: Error & { issues?: { path: string; message: string }[] }) => {
        assert.ok(
          err.issues?.some((i) => i.path.includes('generator')),
          JSON.stringify(err.issues),
        );
        return true;
      },
    );
  });

  test('a header_name that is no header name (a space, a colon) is refused at the field', async () => {
    for (const header_name of ['X Corr', 'X-Corr:']) {
      await assert.rejects(
        startServiceGateway([route('/', { header_name })], { name: 's' }),
        (err: Error & { issues?: { path: string }[] }) => {
          assert.ok(
            err.issues?.some((i) => i.path.endsWith('config.header_name')),
            JSON.stringify(err.issues),
          );
          return true;
        },
        header_name,
      );
    }
  });
});

describe('correlation-id over HTTP/2', { skip: tool('openssl') }, () => {
  test('tracker: the requests of one HTTP/2 connection share its serial and are counted on it', async () => {
    const ca = new TestCa();
    const gw = await startTlsGateway(
      ca,
      `services:\n${ECHO_SERVICE}        plugins:\n          - name: correlation-id\n            config: {generator: tracker, echo_downstream: true}\n`,
    );
    const session = h2Session(gw, ca);
    try {
      const one = () =>
        new Promise<string>((resolve, reject) => {
          const s = session.request({ ':path': '/echo' });
          s.on('response', (h) => resolve(String(h['kong-request-id'])));
          s.on('error', reject);
          s.resume();
        });
      const ids = [await one(), await one(), await one()];
      const parts = ids.map((id) => /-(\d+)-(\d+)-\d{10}\.\d{3}$/.exec(id));
      assert.ok(
        parts.every((p) => p !== null),
        ids.join(' '),
      );
      assert.deepEqual(
        parts.map((p) => p![1]),
        [parts[0]![1], parts[0]![1], parts[0]![1]],
        `one connection serial: ${ids.join(' ')}`,
      );
      assert.deepEqual(
        parts.map((p) => Number(p![2])),
        [1, 2, 3],
      );
    } finally {
      session.close();
      await gw.close(0);
    }
  });
});
