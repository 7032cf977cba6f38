// standard-webhooks through a real gateway to a real upstream: webhooks signed here with node:crypto
// as a Standard Webhooks sender (and as Kong's own handler) signs them; Kong's 400 for every refusal.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { type Receiver, udpReceiver } from '../../../test/support/receivers.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { validateText } from '../../../test/support/validate.ts';
import type { TestGateway } from '../../testing/index.ts';
import { MAX_WEBHOOK_BODY_BYTES } from './index.ts';

/** Kong's spec secret: its handler keys the HMAC with these bytes as written. */
const KONG_SECRET = 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
/** A Standard Webhooks secret: `whsec_` and the base64 of the key. */
const KEY = randomBytes(32);
const WHSEC = `whsec_${KEY.toString('base64')}`;
const MESSAGE_ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const BODY = '{"type":"invoice.paid","data":{"id":"in_1"}}';

function signature(key: Buffer | string, id: string, ts: string, body: string | Buffer): string {
  const mac = createHmac('sha256', key).update(`${id}.${ts}.`).update(body).digest('base64');
  return `v1,${mac}`;
}

function now(offsetSeconds = 0): string {
  return String(Math.floor(Date.now() / 1000) + offsetSeconds);
}

/** The three headers of a webhook signed with `key` (raw bytes, as the sender keys its HMAC). */
function signed(key: Buffer | string, body: string = BODY, ts = now(), id = MESSAGE_ID): Record<string, string> {
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': ts,
    'webhook-signature': signature(key, id, ts, body),
  };
}

describe('standard-webhooks', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let udp: Receiver;
  before(async () => {
    upstream = await startRecordingUpstream();
    udp = await udpReceiver();
    gw = await startServiceGateway(
      [
        {
          name: 'kong',
          paths: ['/kong'],
          plugins: [{ name: 'standard-webhooks', config: { secret_v1: KONG_SECRET } }],
        },
        {
          name: 'whsec',
          paths: ['/whsec'],
          plugins: [{ name: 'standard-webhooks', config: { secret_v1: WHSEC, tolerance_second: 60 } }],
        },
      ],
      { url: upstream.url, extra: { plugins: [{ name: 'udp-log', config: { host: '127.0.0.1', port: udp.port } }] } },
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
    await udp.close();
  });

  /** POSTs through the gateway; the status, the JSON answer, and whether the upstream saw the request. */
  async function post(path: string, headers: Record<string, string>, body: string | Buffer | Readable | null = BODY) {
    const before = upstream.requests.length;
    const res = await request(`${gw.url}${path}`, { method: 'POST', headers, body });
    const text = await res.body.text();
    return { status: res.statusCode, text, reached: upstream.requests.length > before };
  }

  function assertRefused(r: { status: number; text: string; reached: boolean }): void {
    assert.equal(r.status, 400);
    assert.equal((JSON.parse(r.text) as { message: string }).message, 'Bad request');
    assert.equal(r.reached, false, 'a refused webhook never reaches the upstream');
  }

  test('a webhook signed with the secret as Kong keys it passes, body intact', async () => {
    const r = await post('/kong', signed(KONG_SECRET));
    assert.equal(r.status, 200);
    assert.equal(upstream.requests.at(-1)?.body, BODY);
  });

  test('a whsec_ secret verifies webhooks signed with its decoded key, as the specification signs them', async () => {
    assert.equal((await post('/whsec', signed(KEY))).status, 200);
    // An unprefixed base64 secret is decoded too (the specification's libraries accept both forms).
    assert.equal((await post('/kong', signed(Buffer.from(KONG_SECRET, 'base64')))).status, 200);
  });

  test('one matching signature among several passes (a key rotation)', async () => {
    const h = signed(KEY);
    h['webhook-signature'] =
      `${signature('old-key', MESSAGE_ID, h['webhook-timestamp']!, BODY)} ${h['webhook-signature']}`;
    assert.equal((await post('/whsec', h)).status, 200);
  });

  test('a wrong signature is refused: another secret, a changed body, id or timestamp, another version', async () => {
    assertRefused(await post('/kong', signed('not-the-secret')));
    assertRefused(await post('/kong', signed(KONG_SECRET), BODY.replace('in_1', 'in_2')));
    const h = signed(KONG_SECRET);
    assertRefused(await post('/kong', { ...h, 'webhook-id': 'msg_other' }));
    assertRefused(await post('/kong', { ...h, 'webhook-timestamp': String(Number(h['webhook-timestamp']) - 1) }));
    assertRefused(await post('/kong', { ...h, 'webhook-signature': h['webhook-signature']!.replace('v1,', 'v2,') }));
    // The signature without its version, or with a space or junk in it, is no `v1,<base64>`.
    assertRefused(await post('/kong', { ...h, 'webhook-signature': h['webhook-signature']!.slice(3) }));
    assertRefused(await post('/kong', { ...h, 'webhook-signature': `${h['webhook-signature']!.slice(0, -1)}!` }));
  });

  test('a replayed webhook with an old timestamp is refused, though its signature is right', async () => {
    assertRefused(await post('/kong', signed(KONG_SECRET, BODY, now(-6 * 60))));
    assertRefused(await post('/whsec', signed(KEY, BODY, now(-61))));
    // Within the tolerance it passes.
    assert.equal((await post('/whsec', signed(KEY, BODY, now(-50)))).status, 200);
  });

  test('a timestamp further ahead than the tolerance is refused too; one that is no number is', async () => {
    assertRefused(await post('/whsec', signed(KEY, BODY, now(120))));
    assertRefused(await post('/kong', signed(KONG_SECRET, BODY, 'XYZ')));
  });

  test('a missing header is refused, and Kong’s access log reason says which check failed', async () => {
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const h = signed(KONG_SECRET);
      delete h[name];
      assertRefused(await post('/kong', h));
    }
    const reasons = gw.logs.filter((l) => l.type === 'access' && l.source === 'standard-webhooks').map((l) => l.reason);
    assert.ok(reasons.includes('NO_SIGNATURE'), String(reasons));
    assert.ok(reasons.includes('INVALID_SIGNATURE'), String(reasons));
    assert.ok(reasons.includes('STALE_TIMESTAMP'), String(reasons));
  });

  test('a webhook without a body is refused', async () => {
    assertRefused(await post('/kong', signed(KONG_SECRET, ''), null));
    assertRefused(await post('/kong', signed(KONG_SECRET, ''), ''));
  });

  test('a body past the bound is refused: announced, before it is read; chunked, as it passes', async () => {
    const big = Buffer.alloc(MAX_WEBHOOK_BODY_BYTES + 1, 0x61);
    assertRefused(await post('/kong', signed(KONG_SECRET, big.toString('latin1')), big));
    const chunked = Readable.from([big.subarray(0, 1 << 20), big.subarray(1 << 20)]);
    assertRefused(await post('/kong', signed(KONG_SECRET, big.toString('latin1')), chunked));
    const reasons = gw.logs.filter((l) => l.type === 'access' && l.reason === 'BODY_TOO_LARGE');
    assert.equal(reasons.length, 2);
  });

  test('log entries show the signature as REDACTED: read there, it could replay the webhook', async () => {
    const h = signed(KONG_SECRET, BODY, now(), 'msg_logged');
    assert.equal((await post('/kong', h)).status, 200);
    for (;;) {
      const e = JSON.parse(await udp.next()) as { request: { headers: Record<string, string> } };
      if (e.request.headers['webhook-id'] !== 'msg_logged') continue;
      assert.equal(e.request.headers['webhook-signature'], 'REDACTED');
      break;
    }
  });

  test('the secret never shows: not in the admin API, not in the log', async () => {
    const text = await (await fetch(`${gw.adminUrl}/config`)).text();
    assert.ok(!text.includes(KONG_SECRET) && !text.includes(WHSEC) && !text.includes(KEY.toString('base64')));
    assert.match(text, /"secret_v1": ?"\[redacted\]"/);
    const logs = JSON.stringify(gw.logs);
    assert.ok(!logs.includes(KONG_SECRET) && !logs.includes(KEY.toString('base64')));
  });
});

describe('standard-webhooks config', () => {
  const file = (config: string) =>
    `_format_version: "3.0"\nplugins:\n  - name: standard-webhooks\n    config: ${config}\n`;

  test('secret_v1 is required; tolerance_second is a whole number of seconds, at least 0', async () => {
    assert.notEqual((await validateText(file('{}'))).code, 0);
    assert.notEqual((await validateText(file('{ secret_v1: "" }'))).code, 0);
    assert.notEqual((await validateText(file('{ secret_v1: s3cr3t-value, tolerance_second: -1 }'))).code, 0);
    assert.notEqual((await validateText(file('{ secret_v1: s3cr3t-value, tolerance_second: 5.5 }'))).code, 0);
    assert.equal((await validateText(file('{ secret_v1: s3cr3t-value, tolerance_second: 0 }'))).code, 0);
  });

  test('a whsec_ secret that is not base64 loads with a warning that never quotes it', async () => {
    const v = await validateText(file('{ secret_v1: "whsec_not base64!" }'));
    assert.equal(v.code, 0, v.out + v.err);
    assert.match(v.out + v.err, /secret_v1 starts with whsec_ but the rest is not base64/);
    assert.ok(!(v.out + v.err).includes('whsec_not'));
  });

  test('a consumer-scoped instance is refused, as Kong’s no_consumer refuses it', async () => {
    const v = await validateText(
      '_format_version: "3.0"\nconsumers:\n  - username: a\n    plugins:\n      - name: standard-webhooks\n        config: { secret_v1: s3cr3t-value }\n',
    );
    assert.notEqual(v.code, 0);
  });
});
