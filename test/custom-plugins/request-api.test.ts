// The request, response and log-entry objects plugins get (src/pipeline/request.ts), method by
// method through the test kit (the gateway's own objects on a synthetic request; kit-agreement.test.ts
// proves the kit reports what a real upstream receives); what only a real exchange shows is in
// request-api-gateway.test.ts. Fast enough for mutation testing.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import {
  type Consumer,
  definePlugin,
  type GatewayRequest,
  type GatewayResponse,
  type LogEntry,
} from '../../src/index.ts';
import { errorBodyWithRequestId } from '../../src/proxy/exit-answer.ts';
import { runPlugin } from '../../src/testing/index.ts';

type Step = (req: GatewayRequest, seen: Record<string, unknown>, find: (name: string) => Consumer | null) => void;

/** A plugin whose access phase runs the test's step and records what it saw in `ctx.seen`. */
function probe(step: Step, response?: (req: GatewayRequest, res: GatewayResponse) => void) {
  return definePlugin({
    name: 'request-probe',
    version: '1.0.0',
    priority: 1,
    schema: { type: 'object' },
    create: (_config, context) => ({
      access(req) {
        const seen: Record<string, unknown> = {};
        req.ctx.seen = seen;
        step(req, seen, (name) => context.services.consumers.find(name));
      },
      response,
    }),
  });
}

const CONSUMERS = [{ username: 'alice', custom_id: 'c-alice', keyauth_credentials: [{ key: 'alice-key' }] }];

test('query is parsed from the raw query; ctx is one object for the whole request', async () => {
  const r = await runPlugin(
    probe((req, seen) => {
      const query = req.query;
      seen.a = query.getAll('a');
      seen.sameQuery = query === req.query;
      req.ctx.mark = 1;
      seen.sameCtx = req.ctx.mark === 1;
    }),
    {},
    { query: 'a=1&a=2&b=x' },
  );
  const seen = r.ctx.seen as Record<string, unknown>;
  assert.deepEqual(seen.a, ['1', '2']);
  assert.equal(seen.sameQuery, true);
  assert.equal(seen.sameCtx, true);
  assert.equal(r.ctx.mark, 1);
});

test("route and service describe what matched; an earlier plugin's identity is seen as given", async () => {
  const r = await runPlugin(
    probe((req, seen) => {
      seen.route = req.route?.name;
      seen.service = req.service?.name;
      seen.consumer = req.consumer?.username;
      seen.credential = req.credential?.identifier;
      seen.claimsFrozen = Object.isFrozen(req.claims);
    }),
    {},
    {
      consumer: 'alice',
      credential: { id: 'c', type: 'earlier', identifier: 'from-earlier', consumer_id: null },
      claims: { sub: 'alice' },
    },
    { consumers: CONSUMERS },
  );
  assert.deepEqual(r.ctx.seen, {
    route: 'under-test',
    service: 'under-test',
    consumer: 'alice',
    credential: 'from-earlier',
    claimsFrozen: true,
  });
  assert.deepEqual(r.claims, { sub: 'alice' });
  // Preset, not authenticated here: the kit's preset identity sets no upstream identity headers.
  assert.equal(r.upstreamHeaders['x-consumer-username'], undefined);
  const none = await runPlugin(
    probe(() => {}),
    {},
  );
  assert.equal(none.consumer, null);
  assert.equal(none.claims, null);
});

test('appendUpstreamHeader adds to what the upstream would get: none, one value, several, after a removal', async () => {
  const r = await runPlugin(
    probe((req, seen) => {
      req.appendUpstreamHeader('X-New', 'n1');
      req.appendUpstreamHeader('X-One', 'o2');
      req.appendUpstreamHeader('x-new', 'n2');
      req.appendUpstreamHeader('X-New', 'n3');
      req.removeUpstreamHeader('X-Gone');
      seen.gone = req.getUpstreamHeader('x-gone');
      seen.goneHas = 'x-gone' in req.headers;
      req.appendUpstreamHeader('x-gone', 'fresh');
      seen.client = req.getUpstreamHeader('X-CLIENT');
      req.setUpstreamHeader('X-Set', ['s1', 's2']);
      seen.set = req.getUpstreamHeader('x-set');
    }),
    {},
    { headers: { 'x-one': 'o1', 'x-gone': 'client value', 'x-client': 'web' } },
  );
  const seen = r.ctx.seen as Record<string, unknown>;
  assert.equal(seen.gone, undefined, 'a removed header reads as absent, not as the client value');
  assert.equal(seen.goneHas, true, "the client's headers themselves are left as received");
  assert.equal(seen.client, 'web', 'a header no plugin touched reads as the client sent it, names case-insensitive');
  assert.deepEqual(seen.set, ['s1', 's2']);
  assert.deepEqual(r.upstreamHeaders['x-new'], ['n1', 'n2', 'n3']);
  assert.deepEqual(r.upstreamHeaders['x-one'], ['o1', 'o2']);
  assert.equal(r.upstreamHeaders['x-gone'], 'fresh');
  assert.deepEqual(r.upstreamHeaders['x-set'], ['s1', 's2']);
});

test('getUpstreamHeaders lists the headers as they go upstream: changes made, identity set, gateway-only ones left out', async () => {
  const r = await runPlugin(
    probe((req, seen, find) => {
      seen.first = { ...req.getUpstreamHeaders() };
      req.setUpstreamHeader('X-Set', 's');
      req.appendUpstreamHeader('x-client', 'more');
      req.removeUpstreamHeader('x-gone');
      // A plugin's hop-by-hop header is not sent; its TE: trailers is.
      req.setUpstreamHeader('keep-alive', 'timeout=5');
      req.setUpstreamHeader('te', 'trailers');
      req.authenticate(find('alice'), null);
      const all = req.getUpstreamHeaders();
      seen.prototype = Object.getPrototypeOf(all);
      all['x-set'] = 'mutated';
      seen.then = { ...all };
    }),
    {},
    {
      method: 'POST',
      body: 'b',
      headers: {
        'x-client': 'web',
        'x-gone': 'g',
        'x-consumer-username': 'forged',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        'transfer-encoding': 'chunked',
      },
    },
    { consumers: CONSUMERS },
  );
  const seen = r.ctx.seen as Record<string, Record<string, unknown>>;
  assert.equal(seen.first!['x-client'], 'web');
  assert.equal(seen.first!['x-gone'], 'g');
  // A client's identity header is gone from the start; its proxy credential and framing never go.
  for (const name of ['x-consumer-username', 'proxy-authorization', 'transfer-encoding'])
    assert.equal(seen.first![name], undefined, name);
  assert.equal(seen.prototype, null);
  assert.deepEqual(seen.then!['x-client'], ['web', 'more']);
  assert.equal(seen.then!['x-gone'], undefined);
  assert.equal(seen.then!['keep-alive'], undefined);
  assert.equal(seen.then!.te, 'trailers');
  assert.equal(seen.then!['x-consumer-username'], 'alice');
  // A copy: changing it changes nothing upstream; the kit reports the same view.
  assert.equal(r.upstreamHeaders['x-set'], 's');
  assert.deepEqual({ ...seen.then, 'x-set': 's', host: r.upstreamHeaders.host }, r.upstreamHeaders);
});

test('a string or Buffer body replaces the client body with its byte length and no transfer-encoding', async () => {
  const text = await runPlugin(
    probe((req) => {
      // Even a framing header an earlier step set goes: the new body has a length.
      req.setUpstreamHeader('Transfer-Encoding', 'chunked');
      req.setUpstreamBody('héllo');
    }),
    {},
    { method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: 'client' },
  );
  assert.equal(text.upstreamBody?.toString(), 'héllo');
  assert.equal(text.upstreamMethod, 'POST', "the client's method");
  assert.equal(text.upstreamHeaders['content-length'], '6', 'bytes, not characters');
  assert.equal(text.upstreamHeaders['transfer-encoding'], undefined);

  const bytes = await runPlugin(
    probe((req, seen) => {
      req.setUpstreamBody(Buffer.from([1, 2, 3]));
      seen.isBuffer = Buffer.isBuffer(req.upstreamBody);
    }),
    {},
    { method: 'POST', body: 'client body' },
  );
  assert.deepEqual([...(bytes.upstreamBody ?? [])], [1, 2, 3]);
  assert.equal(bytes.upstreamHeaders['content-length'], '3');
  assert.equal((bytes.ctx.seen as Record<string, unknown>).isBuffer, true);

  // A stream is sent as is: the framing headers are the plugin's to keep or change.
  const streamed = await runPlugin(
    probe((req) => req.setUpstreamBody(Readable.from([Buffer.from('ab'), Buffer.from('cd')]))),
    {},
    { method: 'POST', body: 'wxyz' },
  );
  assert.equal(streamed.upstreamBody?.toString(), 'abcd');
  assert.equal(streamed.upstreamHeaders['content-length'], '4');
});

test('setUpstreamMethod sends the method in upper case; path and query replacements are sent as given', async () => {
  const r = await runPlugin(
    probe((req) => {
      req.setUpstreamMethod('patch');
      req.setUpstreamPath('/other/Path');
      req.setUpstreamQuery('x=1');
    }),
    {},
    { path: '/orig', query: 'q=1' },
  );
  assert.equal(r.upstreamMethod, 'PATCH');
  assert.equal(r.upstreamPath, '/other/Path');
  assert.equal(r.upstreamQuery, 'x=1');
});

test('routedPath is the path the route and service make, whatever a plugin sent instead', async () => {
  const r = await runPlugin(
    probe((req, seen) => {
      seen.before = req.routedPath;
      req.setUpstreamPath('/other');
      seen.after = req.routedPath;
    }),
    {},
    { path: '/orig/x', query: 'q=1' },
  );
  assert.deepEqual(r.ctx.seen, { before: '/orig/x', after: '/orig/x' });
  assert.equal(r.upstreamPath, '/other');
});

test('setUpstreamBody() refuses a body that is neither a string, a Buffer nor a stream: the plugin fails, not the upstream', async () => {
  for (const body of [42, { a: 1 }, null, new Uint8Array([104, 105])]) {
    await assert.rejects(
      runPlugin(
        probe((req) => req.setUpstreamBody(body as unknown as string)),
        {},
        { method: 'POST', body: 'hello' },
        { timeout: 2000 },
      ),
      /setUpstreamBody: the body must be a string, a Buffer or a readable stream, not /,
      JSON.stringify(body),
    );
  }
});

test('two readBody() calls at once share one read: both get the bytes, and the upstream gets them once', async () => {
  const reader = definePlugin({
    name: 'twin-reader',
    version: '1.0.0',
    priority: 1,
    schema: { type: 'object' },
    create: () => ({
      async access(req) {
        // Two helpers of one plugin reading the body at once: the second read took the first one's
        // place on the stream, and the first never settled (nor, put off by it, the phase deadline).
        const [a, b] = await Promise.all([req.readBody(1024), req.readBody(4)]);
        req.setUpstreamHeader('x-read', `${a?.toString()}|${b === null ? 'null' : b.toString()}`);
      },
    }),
  });
  const r = await runPlugin(reader, {}, { method: 'POST', body: 'hello world' }, { timeout: 2000 });
  assert.equal(r.upstreamHeaders['x-read'], 'hello world|null');
  assert.equal(r.upstreamBody?.toString(), 'hello world');
});

test("exitError without a message answers kong.response.error's default for the status", async () => {
  const expected: [number, string][] = [
    [400, 'Bad request'],
    [401, 'Unauthorized'],
    [404, 'Not found'],
    [405, 'Method not allowed'],
    [413, 'Payload too large'],
    [500, 'An unexpected error occurred'],
    [502, 'An invalid response was received from the upstream server'],
    [503, 'The upstream server is currently unavailable'],
    [504, 'The upstream server is timing out'],
    [403, 'Forbidden'],
    [429, 'Too many requests'],
    [494, 'Request header or cookie too large'],
    [499, 'The upstream server responded with 499'],
    [509, 'The upstream server responded with 509'],
  ];
  for (const [status, message] of expected) {
    const r = await runPlugin(
      probe((req) => req.exitError(status)),
      {},
    );
    assert.equal(r.exited, true);
    assert.equal(r.status, status);
    assert.deepEqual(r.body, { message }, String(status));
  }
  const reasons: (string | null)[] = [];
  const given = await runPlugin(
    definePlugin({
      name: 'error-probe',
      version: '1.0.0',
      priority: 1,
      schema: { type: 'object' },
      create: () => ({
        access: (req) => req.exitError(403, 'not yours', { 'X-Why': 'acl' }, 'DENIED'),
        log: (_req, entry) => void reasons.push(entry.reason),
      }),
    }),
    {},
  );
  assert.deepEqual(given.body, { message: 'not yours' });
  assert.equal(given.responseHeaders['x-why'], 'acl');
  assert.deepEqual(reasons, ['DENIED']);
});

test('exit answers with the body and headers given; exited stays false until then', async () => {
  const r = await runPlugin(
    probe((req, seen) => {
      seen.before = req.exited;
      req.exit(418, 'teapot', { 'Content-Type': 'text/plain' });
      seen.after = req.exited;
    }),
    {},
  );
  const seen = r.ctx.seen as Record<string, unknown>;
  assert.equal(seen.before, false);
  assert.equal(seen.after, true);
  assert.equal(r.status, 418);
  assert.equal(r.body, 'teapot');
  assert.equal(r.responseHeaders['content-type'], 'text/plain');
  assert.equal(r.upstreamBody, null);
});

test('authenticate sets the identity headers and claims; anonymous from a boolean or from the options', async () => {
  const full = await runPlugin(
    probe((req, _seen, find) =>
      req.authenticate(
        find('alice'),
        { id: 'cred-1', type: 'probe', identifier: 'ident-1', consumer_id: null },
        { claims: { sub: 'alice', nested: { role: 'x' } } },
      ),
    ),
    {},
    { headers: { 'x-anonymous-consumer': 'true' } },
    { consumers: CONSUMERS },
  );
  assert.equal(full.upstreamHeaders['x-consumer-username'], 'alice');
  assert.equal(full.upstreamHeaders['x-consumer-custom-id'], 'c-alice');
  assert.equal(typeof full.upstreamHeaders['x-consumer-id'], 'string');
  assert.equal(full.upstreamHeaders['x-consumer-id'], full.consumer?.id);
  assert.equal(full.upstreamHeaders['x-credential-identifier'], 'ident-1');
  assert.equal(full.upstreamHeaders['x-anonymous-consumer'], undefined);
  assert.deepEqual(full.claims, { sub: 'alice', nested: { role: 'x' } });
  assert.ok(Object.isFrozen(full.claims) && Object.isFrozen(full.claims?.nested), 'claims are frozen deeply');
  assert.equal(full.credential?.identifier, 'ident-1');

  for (const options of [true, { anonymous: true }] as const) {
    const anon = await runPlugin(
      probe((req, _seen, find) => req.authenticate(find('alice'), null, options)),
      {},
      {},
      { consumers: CONSUMERS },
    );
    assert.equal(anon.upstreamHeaders['x-anonymous-consumer'], 'true', JSON.stringify(options));
    assert.equal(anon.upstreamHeaders['x-credential-identifier'], undefined);
    assert.equal(anon.claims, null);
  }
  for (const options of [false, { anonymous: false }, {}, undefined] as const) {
    const named = await runPlugin(
      probe((req, _seen, find) => req.authenticate(find('alice'), null, options)),
      {},
      {},
      { consumers: CONSUMERS },
    );
    assert.equal(named.upstreamHeaders['x-anonymous-consumer'], undefined, JSON.stringify(options));
  }

  // A later authenticate without claims drops the earlier identity's claims; without a consumer its headers go.
  const replaced = await runPlugin(
    probe((req, _seen, find) => {
      req.authenticate(find('alice'), null, { claims: { sub: 'first' } });
      req.authenticate(null, { id: 'c2', type: 'probe', identifier: 'only-cred', consumer_id: null });
    }),
    {},
    {},
    { consumers: CONSUMERS },
  );
  assert.equal(replaced.claims, null);
  assert.equal(replaced.consumer, null);
  assert.equal(replaced.upstreamHeaders['x-consumer-username'], undefined);
  assert.equal(replaced.upstreamHeaders['x-consumer-id'], undefined);
  assert.equal(replaced.upstreamHeaders['x-consumer-custom-id'], undefined);
  assert.equal(replaced.upstreamHeaders['x-credential-identifier'], 'only-cred');
});

test("authenticate and a plugin's own identity headers: the later change wins, and reads see it", async () => {
  const r = await runPlugin(
    probe((req, seen, find) => {
      req.setUpstreamHeader('X-Consumer-Id', 'set-before');
      req.setUpstreamHeader('X-Consumer-Custom-Id', 'set-before');
      req.authenticate(find('alice'), { id: 'cred-1', type: 'probe', identifier: 'ident-1', consumer_id: null });
      seen.username = req.getUpstreamHeader('X-Consumer-Username');
      seen.customId = req.getUpstreamHeader('x-consumer-custom-id');
      req.setUpstreamHeader('x-consumer-username', 'set-after');
      req.removeUpstreamHeader('X-Credential-Identifier');
      req.appendUpstreamHeader('x-consumer-custom-id', 'appended');
      seen.after = req.getUpstreamHeader('x-consumer-username');
      seen.removed = req.getUpstreamHeader('x-credential-identifier');
      seen.anonymous = req.getUpstreamHeader('x-anonymous-consumer');
    }),
    {},
    {},
    { consumers: CONSUMERS },
  );
  const seen = r.ctx.seen as Record<string, unknown>;
  assert.deepEqual(seen, {
    username: 'alice',
    customId: 'c-alice',
    after: 'set-after',
    removed: undefined,
    anonymous: undefined,
  });
  assert.equal(r.upstreamHeaders['x-consumer-id'], r.consumer?.id);
  assert.notEqual(r.upstreamHeaders['x-consumer-id'], 'set-before');
  assert.equal(r.upstreamHeaders['x-consumer-username'], 'set-after');
  assert.deepEqual(r.upstreamHeaders['x-consumer-custom-id'], ['c-alice', 'appended']);
  assert.equal(r.upstreamHeaders['x-credential-identifier'], undefined);
  assert.equal(r.upstreamHeaders['x-anonymous-consumer'], undefined);
});

test('removeUpstreamHeader as the first change: an identity header goes, an absent one stays absent, a later authenticate wins', async () => {
  const r = await runPlugin(
    probe((req, seen, find) => {
      req.removeUpstreamHeader('X-Never-Sent');
      req.removeUpstreamHeader('X-Consumer-Username');
      seen.absent = req.getUpstreamHeader('x-never-sent');
      req.authenticate(find('alice'), null);
      req.removeUpstreamHeader('X-Consumer-Custom-Id');
      seen.customId = req.getUpstreamHeader('x-consumer-custom-id');
      seen.username = req.getUpstreamHeader('x-consumer-username');
    }),
    {},
    {},
    { consumers: CONSUMERS },
  );
  const seen = r.ctx.seen as Record<string, unknown>;
  assert.deepEqual(seen, { absent: undefined, customId: undefined, username: 'alice' });
  assert.equal(r.upstreamHeaders['x-never-sent'], undefined);
  assert.equal(r.upstreamHeaders['x-consumer-custom-id'], undefined, 'removed after authenticate');
  assert.equal(r.upstreamHeaders['x-consumer-username'], 'alice', 'authenticate after the removal sets it');
});

test('the response phase sets and removes headers by any case, and chains body transforms in order', async () => {
  const r = await runPlugin(
    probe(
      () => {},
      (_req, res) => {
        res.setHeader('X-Added', 'yes');
        res.removeHeader('X-Drop');
        res.transformBody((b) => `${b.toString()}-one`);
        // A string a transform returns reaches the next one as bytes.
        res.transformBody((b) => Buffer.concat([b, Buffer.from('-two')]));
      },
    ),
    {},
    { upstream: { status: 201, headers: { 'x-drop': 'me', 'x-keep': 'k' }, body: 'base' } },
  );
  assert.equal(r.status, 201);
  assert.equal(r.body, 'base-one-two');
  assert.equal(r.responseHeaders['x-added'], 'yes');
  assert.equal('x-drop' in r.responseHeaders, false);
  assert.equal(r.responseHeaders['x-keep'], 'k');
});

test('a body transform that throws rejects with its own message', async () => {
  await assert.rejects(
    runPlugin(
      probe(
        () => {},
        (_req, res) =>
          res.transformBody(() => {
            throw new Error('bad body');
          }),
      ),
      {},
      { upstream: { body: 'x' } },
    ),
    /^Error: bad body$|bad body/,
  );
});

test('the log entry says who answered, why, and what was sent', async () => {
  const entries: LogEntry[] = [];
  const logger = (exit: boolean) =>
    definePlugin({
      name: 'log-probe',
      version: '1.0.0',
      priority: 1,
      schema: { type: 'object' },
      create: () => ({
        secretHeaders: ['X-Probe-Token'],
        access(req) {
          if (exit) req.exit(403, { message: 'no' }, { 'x-from': 'probe' }, 'DENIED');
        },
        log(_req, entry) {
          entries.push(entry);
        },
      }),
    });
  const before = Date.now();
  await runPlugin(logger(true), {});
  await runPlugin(logger(false), {}, { upstream: { status: 204, headers: { 'x-up': '1' } } });
  const after = Date.now();
  const [exited, passed] = entries as [LogEntry, LogEntry];
  assert.equal(exited.status, 403);
  assert.equal(exited.source, 'log-probe');
  assert.equal(exited.reason, 'DENIED');
  assert.equal(exited.upstreamUri, null);
  assert.equal(exited.responseHeaders['x-from'], 'probe');
  assert.equal(passed.status, 204);
  assert.equal(passed.source, 'upstream');
  assert.equal(passed.reason, null);
  assert.equal(passed.responseHeaders['x-up'], '1');
  for (const e of entries) {
    assert.ok(e.startedAt >= before - 1 && e.startedAt <= after + 1, `startedAt ${e.startedAt} is a wall-clock time`);
    assert.equal(e.upstreamStartedAt, -1, 'no upstream call was made');
    assert.deepEqual(e.pluginSteps, []);
    assert.equal(e.error, null);
    assert.equal(e.upstreamLatency, -1, 'no upstream answered');
    assert.deepEqual([...e.secretHeaders], ['x-probe-token'], "the route's plugins' secret headers, lower-case");
  }
});

test('error bodies get the request id only when they are plain JSON objects of an error answer', () => {
  assert.deepEqual(errorBodyWithRequestId(401, { message: 'm' }, 'rid'), { message: 'm', request_id: 'rid' });
  assert.deepEqual(errorBodyWithRequestId(400, { message: 'm' }, 'rid'), { message: 'm', request_id: 'rid' });
  const bare = Object.assign(Object.create(null) as Record<string, unknown>, { message: 'm' });
  assert.deepEqual({ ...(errorBodyWithRequestId(500, bare, 'rid') as object) }, { message: 'm', request_id: 'rid' });
  const ok = { message: 'fine' };
  assert.equal(errorBodyWithRequestId(399, ok, 'rid'), ok, 'not an error answer');
  assert.equal(errorBodyWithRequestId(200, ok, 'rid'), ok);
  const list = [{ message: 'm' }];
  assert.equal(errorBodyWithRequestId(400, list, 'rid'), list);
  assert.equal(errorBodyWithRequestId(400, null, 'rid'), null);
  assert.equal(errorBodyWithRequestId(400, undefined, 'rid'), undefined);
  assert.equal(errorBodyWithRequestId(400, 7, 'rid'), 7);
  assert.equal(errorBodyWithRequestId(400, 'text', 'rid'), 'text');
  const dated = new Date(0);
  assert.equal(errorBodyWithRequestId(400, dated, 'rid'), dated, 'not a plain object');
  const own = { message: 'm', request_id: 'upstream-id' };
  assert.equal(errorBodyWithRequestId(400, own, 'rid'), own, 'a request_id already there is kept');
});
