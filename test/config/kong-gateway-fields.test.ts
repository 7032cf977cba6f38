// Fields Kong Gateway (Enterprise, and the releases after Kong OSS's last) has on plugins Tollgate
// ships: a value that does what Tollgate does loads (with a warning where the file says more than
// Tollgate does), another is refused naming the Kong feature and the way out, at its line.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { listen } from '../support/upstream.ts';
import { validateEntities as validate } from '../support/validate.ts';

const open: TestGateway[] = [];
after(async () => {
  await Promise.all(open.map((g) => g.close()));
});

test("Kong Gateway's default values of its newer plugin fields, and the values Tollgate implements, load without a word (its decK dumps write them)", async () => {
  const v = await validate(
    `plugins:
  - name: acl
    config: { allow: [gold], include_consumer_groups: false }
  - name: key-auth
    config:
      identity_realms: [{ scope: cp, id: null, region: null }]
  - name: opentelemetry
    config: { traces_endpoint: "http://127.0.0.1:4318/v1/traces", sampling_strategy: parent_drop_probability_fallback }
  - name: session
    config: { secret: abcdefghijklmnopqrstuvwxyz123456, bind: [] }
  - name: rate-limiting
    config: { minute: 5, limit_by: consumer }
`,
  );
  assert.equal(v.code, 0, v.out);
  assert.doesNotMatch(v.out, /warning/, v.out);
});

test("acl's include_consumer_groups: true loads with a warning at its line: no consumer is in a group here", async () => {
  const v = await validate(
    'plugins:\n  - name: acl\n    config:\n      allow: [gold]\n      include_consumer_groups: true\n',
  );
  assert.equal(v.code, 0, v.out);
  assert.match(
    v.out,
    /:6:32 {2}plugins\[0\]\.config\.include_consumer_groups {2}warning: include_consumer_groups: Kong Enterprise's consumer groups in allow and deny \(Kong 3\.6\) have no effect here: Tollgate has no consumer groups .*: remove the field, or set it to false/,
  );
});

test('a Kong Gateway value Tollgate does not implement is refused at its line, naming the feature and the way out', async () => {
  const v = await validate(
    `plugins:
  - name: key-auth
    config:
      identity_realms:
        - { scope: cp }
        - { scope: realm, id: 5f1c2d3e-0000-4000-8000-000000000001, region: us }
  - name: opentelemetry
    config:
      traces_endpoint: "http://127.0.0.1:4318/v1/traces"
      sampling_strategy: parent_probability_fallback
  - name: session
    config:
      secret: abcdefghijklmnopqrstuvwxyz123456
      bind: [ip, user-agent]
  - name: rate-limiting
    config:
      minute: 5
      limit_by: consumer-group
`,
  );
  assert.equal(v.code, 1, v.out);
  for (const line of [
    /:7:20 {2}plugins\[0\]\.config\.identity_realms\[1\]\.scope {2}identity_realms: `scope: realm` \(Konnect's Identity Realms, Kong Gateway 3\.10, Enterprise\) is not implemented: .*declare those consumers .* or remove identity_realms/,
    /:11:26 {2}plugins\[1\]\.config\.sampling_strategy {2}sampling_strategy: parent_probability_fallback \(Kong Gateway 3\.11, Enterprise\) is not implemented: .*remove the field, or set sampling_rate: 1/,
    /:15:13 {2}plugins\[2\]\.config\.bind {2}bind: binding a session to the client's ip, scheme or user-agent \(Kong Gateway 3\.12, Enterprise\) is not implemented.*: remove bind/,
    /:19:17 {2}plugins\[3\]\.config\.limit_by {2}limit_by: consumer-group \(Kong Enterprise\) is not implemented: .*set limit_by: consumer/,
  ])
    assert.match(v.out, line);
  assert.doesNotMatch(v.out, /unknown field/);
});

test("a Kong Enterprise dump's key-auth and acl fields load and run as Kong runs them: the file's consumers, their acls groups", async () => {
  const upstream = await listen((_req, res) => res.end('upstream'));
  after(() => upstream.close());
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [{ name: 's', url: upstream.url, routes: [{ name: 'r', paths: ['/'] }] }],
      consumers: [
        { username: 'gold', acls: [{ group: 'gold' }], keyauth_credentials: [{ key: 'gold-key' }] },
        { username: 'tin', acls: [{ group: 'tin' }], keyauth_credentials: [{ key: 'tin-key' }] },
      ],
      plugins: [
        { name: 'key-auth', config: { identity_realms: [{ scope: 'cp', id: null, region: null }] } },
        { name: 'acl', config: { allow: ['gold'], include_consumer_groups: true } },
      ],
    },
  });
  open.push(gw);
  const get = (key?: string) =>
    fetch(`${gw.url}/`, { headers: key ? { apikey: key } : {}, signal: AbortSignal.timeout(10_000) });
  const gold = await get('gold-key');
  assert.equal(gold.status, 200);
  assert.equal(await gold.text(), 'upstream');
  assert.equal((await get('tin-key')).status, 403);
  assert.equal((await get()).status, 401);
});

test("identity_realms' cp scope with an id or region is refused in Kong's words (value must be null)", async () => {
  const v = await validate(
    'plugins:\n  - name: key-auth\n    config:\n      identity_realms:\n        - { scope: cp, id: 5f1c2d3e-0000-4000-8000-000000000001, region: us }\n',
  );
  assert.equal(v.code, 1, v.out);
  assert.match(v.out, /:6:28 {2}plugins\[0\]\.config\.identity_realms\[0\]\.id {2}value must be null\n/);
  assert.match(v.out, /:6:74 {2}plugins\[0\]\.config\.identity_realms\[0\]\.region {2}value must be null\n/);
});

test("identity_realms items that are no mapping, or without a scope, are refused at their place in the schema's words", async () => {
  const v = await validate(
    'plugins:\n  - name: key-auth\n    config:\n      identity_realms: [null, cp, { scope: null }]\n',
  );
  assert.equal(v.code, 1, v.out);
  assert.match(v.out, /:5:25 {2}plugins\[0\]\.config\.identity_realms\[0\] {2}expected a mapping, got null\n/);
  assert.match(v.out, /:5:31 {2}plugins\[0\]\.config\.identity_realms\[1\] {2}expected a mapping, got a string\n/);
  assert.match(v.out, /:5:44 {2}plugins\[0\]\.config\.identity_realms\[2\]\.scope {2}required field missing\n/);
  assert.doesNotMatch(v.out, /Identity Realms/);
  assert.match(v.out, /invalid \(3 errors\)/);
});
