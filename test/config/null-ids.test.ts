// `id: null` on any entity kind, as Kong's declarative loader takes it: null is kept as the id (it
// derives one only where the field is absent), and each entity is keyed by its id's text, so one
// entity of a kind written `id: null` loads and a second of the same kind is its primary key twice.
// (Targets, with their same-address rule, are in duplicate-targets.test.ts.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateEntities as validate } from '../support/validate.ts';

test('one entity of each kind written id: null loads, beside others of its kind without one', async () => {
  const v = await validate(`services:
  - name: a
    id: null
    url: http://127.0.0.1:9/
    plugins:
      - { name: cors, id: null }
    routes:
      - { name: ra, id: null, paths: [/a] }
  - name: b
    url: http://127.0.0.1:9/
    routes:
      - { name: rb, paths: [/b] }
consumers:
  - username: u1
    id: null
    keyauth_credentials:
      - { key: k1, id: null }
      - { key: k2 }
  - username: u2
upstreams:
  - { name: up1, id: null }
  - { name: up2 }
`);
  assert.equal(v.code, 0, v.out);
  assert.doesNotMatch(v.out, /warning|violation/, v.out);
});

test('a second id: null of a kind is the primary key declared twice, at its id, for every kind (nested or not)', async () => {
  const v = await validate(`services:
  - name: a
    id: null
    url: http://127.0.0.1:9/
    routes:
      - { name: ra, id: null, paths: [/a] }
  - name: b
    id: null
    url: http://127.0.0.1:9/
routes:
  - { name: rb, id: null, service: b, paths: [/b] }
consumers:
  - username: u1
    id: null
    keyauth_credentials:
      - { key: k1, id: null }
  - username: u2
    id: null
    keyauth_credentials:
      - { key: k2, id: null }
upstreams:
  - { name: up1, id: null }
  - { name: up2, id: null }
plugins:
  - { name: cors, id: null }
  - { name: key-auth, id: null }
`);
  assert.equal(v.code, 1, v.out);
  const twice = (at: string, kind: string, first: string, from: string): RegExp =>
    new RegExp(
      `:${at} {2}\\S+\\.id {2}uniqueness violation: '${kind}' entity with primary key set to null already declared \\(at ${first.replace(/[[\].]/g, '\\$&')}\\); Kong refuses it too \\(it keeps \`id: null\` as the id: they share it\\): remove \`id: null\`, and the id is derived from ${from}\\n`,
    );
  assert.match(v.out, twice('9:9', 'services', 'services[0]', 'its name \\(or its place in the file\\)'));
  assert.match(v.out, twice('12:21', 'routes', 'services[0].routes[0]', 'its name \\(or its place in the file\\)'));
  assert.match(v.out, twice('19:9', 'consumers', 'consumers[0]', 'its username or custom_id'));
  assert.match(
    v.out,
    twice('21:24', 'keyauth_credentials', 'consumers[0].keyauth_credentials[0]', 'its consumer and place'),
  );
  assert.match(v.out, twice('24:22', 'upstreams', 'upstreams[0]', 'its name'));
  assert.match(v.out, twice('27:27', 'plugins', 'plugins[0]', 'its name and scope'));
  assert.match(v.out, /invalid \(6 errors\)/);
});

test("a target or plugin nested without an id under an id: null entity is refused: Kong's loader cannot derive its id", async () => {
  const v = await validate(`services:
  - name: a
    id: null
    url: http://127.0.0.1:9/
    plugins:
      - { name: cors }
      - { name: key-auth, id: 11111111-1111-4111-8111-111111111111 }
    routes:
      - { name: ra, paths: [/a], plugins: [{ name: acl, config: { allow: [x] } }] }
upstreams:
  - name: up
    id: null
    targets:
      - { target: "10.0.0.1:80" }
      - { target: "10.0.0.2:80", id: null }
`);
  assert.equal(v.code, 1, v.out);
  assert.match(
    v.out,
    /:7:9 {2}services\[0\]\.plugins\[0\] {2}Kong cannot load this plugin: its loader derives the id of a plugin nested without one from its service's id, written `id: null` \(at services\[0\]\): remove that `id: null`, or give this plugin an id\n/,
  );
  assert.match(
    v.out,
    /:15:9 {2}upstreams\[0\]\.targets\[0\] {2}Kong cannot load this target: .* from its upstream's id/,
  );
  // The plugin with an id of its own, the route's (its route has an id), the target written id: null: as in Kong.
  assert.match(v.out, /invalid \(2 errors\)/);
});
