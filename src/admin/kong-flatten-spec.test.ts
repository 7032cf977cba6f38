// Kong's spec/01-unit/01-db/01-schema/11-declarative_config/05-error-flattening_spec.lua (Kong
// commit 22246ef2), ported: each of its bad declarative configs is posted to a real gateway's
// `POST /config?flatten_errors=1`, and the `flattened_errors` Kong pins are compared with what
// Tollgate answers. Kong's spec feeds its validator's error table in directly; here Tollgate's own
// validation finds the errors, so where it words a message differently (docs/kong-differences.md)
// the message is matched on Kong's words it shares, and the shape (entity, ids, tags, field, type,
// order) is compared whole.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../testing/index.ts';

let gw: TestGateway;

before(async () => {
  gw = await startGateway({
    config: { _format_version: '3.0', services: [{ name: 'serving', url: 'echo://', routes: [{ paths: ['/s'] }] }] },
  });
});

after(() => gw.close());

type Flat = {
  entity_type: string;
  entity_name?: string;
  entity_id?: string;
  entity_tags?: string[];
  entity: Record<string, unknown>;
  errors: { type: string; field?: string; message: string }[];
};

/** Posts `config` as JSON (Kong's spec writes Lua tables) with flatten_errors; the 400 body and its text. */
async function flatten(config: Record<string, unknown>): Promise<{ body: Record<string, any>; text: string }> {
  const res = await fetch(`${gw.adminUrl}/config?flatten_errors=1`, {
    method: 'POST',
    body: JSON.stringify({ _format_version: '3.0', ...config }),
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(res.status, 400);
  const text = await res.text();
  const body = JSON.parse(text) as Record<string, any>;
  assert.equal(body.code, 14);
  assert.equal(body.name, 'invalid declarative configuration');
  return { body, text };
}

/** The entry whose tags are `tags` (Kong's spec finds each entry by type, name, id and tags). */
function entry(body: Record<string, any>, tags: string[]): Flat {
  const found = (body.flattened_errors as Flat[]).filter((e) => JSON.stringify(e.entity.tags) === JSON.stringify(tags));
  assert.equal(found.length, 1, `one entry tagged ${tags.join(',')}`);
  return found[0]!;
}

/** Each error's place and message: `field` (or `@entity`) and the message. */
const errorsOf = (e: Flat): string[] =>
  e.errors.map((x) => `${x.type === 'entity' ? '@entity' : x.field}: ${x.message}`);

test("an upstream's errors: the entity as posted, and its errors in Kong's order (host_header before healthchecks)", async () => {
  const upstream = {
    hash_on: 'ip',
    healthchecks: {
      active: {
        concurrency: -1,
        healthy: { interval: 0, successes: 0 },
        http_path: '/',
        https_sni: 'example.com',
        https_verify_certificate: true,
        timeout: 1,
        type: 'http',
        unhealthy: { http_failures: 0, interval: 0 },
      },
    },
    host_header: 123,
    name: 'bad',
    tags: ['upstream-01'],
  };
  const { body } = await flatten({ upstreams: [upstream] });
  assert.deepEqual(body.fields, {});
  assert.equal(body.message, 'declarative config is invalid: {}');
  assert.equal(body.flattened_errors.length, 1);
  const e = body.flattened_errors[0] as Flat;
  assert.deepEqual(
    [e.entity_type, e.entity_name, e.entity_id, e.entity_tags, e.entity],
    ['upstream', 'bad', undefined, ['upstream-01'], upstream],
  );
  assert.deepEqual(
    e.errors.map((x) => [x.type, x.field]),
    [
      ['field', 'host_header'],
      ['field', 'healthchecks.active.concurrency'],
    ],
  );
  // Kong: "expected a string"; Tollgate adds what it got
  assert.match(e.errors[0]!.message, /^expected a string/);
  assert.equal(e.errors[1]!.message, 'value should be between 1 and 2147483648');
});

test('a service whose id, name and tags are not strings: no entity_id, entity_name or entity_tags, errors last key first', async () => {
  const service = { id: 1234, name: false, tags: ['service-01', [1.5]], url: 'http://localhost:1234' };
  const { body } = await flatten({ services: [service] });
  assert.equal(body.flattened_errors.length, 1);
  const e = body.flattened_errors[0] as Flat;
  assert.deepEqual(e.entity, service);
  assert.deepEqual(Object.keys(e).sort(), ['entity', 'entity_type', 'errors']);
  assert.equal(e.entity_type, 'service');
  assert.deepEqual(
    e.errors.map((x) => [x.type, x.field]),
    [
      ['field', 'tags.2'],
      ['field', 'name'],
      ['field', 'id'],
    ],
  );
  for (const x of e.errors) assert.match(x.message, /^expected a string/);
});

test('a service with a valid id and a bad protocol: entity_id, entity_name, entity_tags and the field', async () => {
  const service = {
    host: 'localhost',
    id: '0175e0e8-3de9-56b4-96f1-b12dcb4b6691',
    name: 'nope',
    port: 1234,
    protocol: 'nope',
    tags: ['service-01'],
  };
  const { body } = await flatten({ services: [service] });
  assert.equal(body.flattened_errors.length, 1);
  const e = body.flattened_errors[0] as Flat;
  assert.deepEqual(
    [e.entity_type, e.entity_name, e.entity_id, e.entity_tags, e.entity],
    ['service', 'nope', service.id, ['service-01'], service],
  );
  // Kong lists its protocols (stream ones too); Tollgate lists those it proxies
  assert.equal(e.errors.length, 1);
  assert.equal(e.errors[0]!.field, 'protocol');
  assert.match(e.errors[0]!.message, /^expected one of: .*https.*grpcs/);
});

test("a route nested in a service with an id: its own entry, carrying the service's id; the service's without routes", async () => {
  const { body } = await flatten({
    services: [
      {
        host: 'localhost',
        id: 'cb019421-62c2-47a8-b714-d7567b114037',
        name: 'test',
        port: 1234,
        protocol: 'nope',
        routes: [{ super_duper_invalid: true, tags: ['route-01'], paths: ['/r'] }],
        tags: ['service-01'],
      },
    ],
  });
  assert.equal(body.flattened_errors.length, 2);
  const route = entry(body, ['route-01']);
  assert.deepEqual(
    [route.entity_type, route.entity_name, route.entity_id, route.entity_tags],
    ['route', undefined, undefined, ['route-01']],
  );
  assert.deepEqual(route.entity, {
    service: { id: 'cb019421-62c2-47a8-b714-d7567b114037' },
    super_duper_invalid: true,
    tags: ['route-01'],
    paths: ['/r'],
  });
  assert.equal(route.errors.length, 1);
  assert.deepEqual([route.errors[0]!.type, route.errors[0]!.field], ['field', 'super_duper_invalid']);
  assert.match(route.errors[0]!.message, /^unknown field/);
  const service = entry(body, ['service-01']);
  assert.equal(service.entity.routes, undefined);
  assert.deepEqual([service.entity_name, service.entity_id], ['test', 'cb019421-62c2-47a8-b714-d7567b114037']);
});

test('duplicate credentials, consumers and targets: an entity error, the parent id added, the password redacted', async () => {
  const cred = (id: string, tag: string, username: string) => ({ id, password: 'pwd', tags: [tag], username });
  const { body, text } = await flatten({
    consumers: [
      {
        id: 'cdac30ee-cd7e-465c-99b6-84f3e4e17015',
        username: 'consumer-01',
        tags: ['consumer-01'],
        basicauth_credentials: [
          cred('089091f4-cb8b-48f5-8463-8319097be716', 'consumer-01-credential-01', 'user-01'),
          cred('b1443d61-ccd9-4359-b82a-f37515442295', 'consumer-01-credential-02', 'user-11'),
          cred('760cf441-613c-48a2-b377-36aebc9f9ed0', 'consumer-01-credential-04', 'user-11'),
        ],
      },
      { id: 'a73dc9a7-93df-584d-97c0-7f41a1bbce3d', tags: ['consumer-1'], username: 'test-consumer-1' },
      { id: 'a73dc9a7-93df-584d-97c0-7f41a1bbce32', tags: ['consumer-2'], username: 'test-consumer-1' },
    ],
    upstreams: [
      {
        id: 'f9792964-6797-482c-bfdf-08220a4f6839',
        name: 'httproute.default.httproute-testing.1',
        targets: [
          { id: '48322e4a-b3b0-591b-8ed6-fd95a6d75019', tags: ['target-1'], target: '10.244.0.12:80', weight: 1 },
          { id: '48322e4a-b3b0-591b-8ed6-fd95a6d75019', tags: ['target-2'], target: '10.244.0.13:80', weight: 1 },
        ],
      },
    ],
  });
  assert.equal(body.flattened_errors.length, 3);
  const credential = entry(body, ['consumer-01-credential-04']);
  assert.deepEqual(
    [credential.entity_type, credential.entity_id, credential.entity_tags],
    ['basicauth_credential', '760cf441-613c-48a2-b377-36aebc9f9ed0', ['consumer-01-credential-04']],
  );
  // Kong echoes the password; the admin API never shows a credential's secret
  assert.deepEqual(credential.entity, {
    consumer: { id: 'cdac30ee-cd7e-465c-99b6-84f3e4e17015' },
    id: '760cf441-613c-48a2-b377-36aebc9f9ed0',
    password: '[redacted]',
    tags: ['consumer-01-credential-04'],
    username: 'user-11',
  });
  assert.ok(!text.includes('"pwd"'), 'no password in the answer');
  const only = (e: Flat) => {
    assert.equal(e.errors.length, 1);
    assert.equal(e.errors[0]!.type, 'entity');
    assert.equal(e.errors[0]!.field, undefined);
    return e.errors[0]!.message;
  };
  assert.match(
    only(credential),
    /^uniqueness violation: 'basicauth_credentials' entity with username set to 'user-11' already declared/,
  );
  const consumer = entry(body, ['consumer-2']);
  assert.deepEqual(
    [consumer.entity_type, consumer.entity_id, consumer.entity_name],
    ['consumer', 'a73dc9a7-93df-584d-97c0-7f41a1bbce32', undefined],
  );
  assert.match(
    only(consumer),
    /^uniqueness violation: 'consumers' entity with username set to 'test-consumer-1' already/,
  );
  const target = entry(body, ['target-2']);
  assert.deepEqual(target.entity, {
    id: '48322e4a-b3b0-591b-8ed6-fd95a6d75019',
    tags: ['target-2'],
    target: '10.244.0.13:80',
    upstream: { id: 'f9792964-6797-482c-bfdf-08220a4f6839' },
    weight: 1,
  });
  assert.match(
    only(target),
    /^uniqueness violation: 'targets' entity with primary key set to '48322e4a-b3b0-591b-8ed6-fd95a6d75019' already declared/,
  );
});

test("Kong's mixed bad config: one entry per bad entity, nested ones hoisted, names, tags and secrets as Kong's rules say", async () => {
  const key = '-----BEGIN EC PRIVATE KEY-----\nc2VjcmV0LWtleS1ub3QtcmVhbA==\n-----END EC PRIVATE KEY-----';
  const { body, text } = await flatten({
    certificates: [
      { cert: '-----BEGIN CERTIFICATE-----\nohnoooo\n-----END CERTIFICATE-----', key, tags: ['certificate-02'] },
    ],
    consumers: [
      { tags: ['consumer-01'], username: 'valid_user' },
      { not_allowed: true, tags: ['consumer-02'], username: 'bobby_in_json_body' },
      {
        username: 'credentials',
        tags: ['consumer-04'],
        basicauth_credentials: [
          { password: 'hard2guess', tags: ['basicauth_credentials-01', 'consumer-04'], username: 'superduper' },
          {
            extra_field: 'NO!',
            password: '12354',
            tags: ['basicauth_credentials-02', 'consumer-04'],
            username: 'dont-add-extra-fields-yo',
          },
        ],
      },
    ],
    services: [
      {
        name: 'bad-service-plugins',
        url: 'http://localhost:1234',
        tags: ['service-04'],
        plugins: [
          { config: {}, name: 'i-dont-exist', tags: ['service_plugin-01', 'service-04'] },
          {
            config: { deeply: { nested: { undefined: true } }, port: 1234 },
            name: 'tcp-log',
            tags: ['service_plugin-02', 'service-04'],
          },
        ],
      },
      { name: 'invalid-tags', tags: ['service-07', 'invalid-tags', [1, 2, 3], true], url: 'https://localhost:1234' },
      { name: '', tags: ['service-08', 'invalid_service_name-01'], url: 'https://localhost:1234' },
      { name: 1234, tags: ['service-09', 'invalid_service_name-02'], url: 'https://localhost:1234' },
    ],
    upstreams: [
      {
        name: 'ok-bad-targets',
        tags: ['upstream-03'],
        targets: [
          { tags: ['upstream_target-01', 'upstream-03'], target: '127.0.0.1:99' },
          { tags: ['upstream_target-02', 'upstream-03'], target: 'hostname:1.0' },
        ],
      },
    ],
    vaults: [
      {
        config: { prefix: 'SSL_' },
        name: 'vault-not-installed',
        prefix: 'env',
        tags: ['vault-02', 'vault-not-installed'],
      },
    ],
  });
  assert.deepEqual(body.fields, {});
  assert.equal(body.message, 'declarative config is invalid: {}');
  assert.equal(body.flattened_errors.length, 10);

  const vault = entry(body, ['vault-02', 'vault-not-installed']);
  assert.deepEqual([vault.entity_type, vault.entity_name], ['vault', 'vault-not-installed']);
  assert.deepEqual(vault.entity.config, { prefix: 'SSL_' });
  assert.deepEqual(
    vault.errors.map((x) => x.field),
    ['name'],
  );
  assert.match(vault.errors[0]!.message, /^vault 'vault-not-installed' is not installed/);

  const target = entry(body, ['upstream_target-02', 'upstream-03']);
  assert.deepEqual(target.entity_type, 'target');
  // the upstream has no id: no `upstream` is added, as Kong adds only a valid primary key
  assert.deepEqual(target.entity, { tags: ['upstream_target-02', 'upstream-03'], target: 'hostname:1.0' });
  assert.deepEqual(errorsOf(target), ["target: Invalid target ('hostname:1.0'); not a valid hostname or ip address"]);

  // a name that is not a non-empty string is no entity_name; the entity keeps it as posted
  for (const [tag, name] of [
    ['service-09', 1234],
    ['service-08', ''],
  ] as const) {
    const s = entry(body, [tag, `invalid_service_name-0${tag === 'service-09' ? 2 : 1}`]);
    assert.deepEqual([s.entity_type, s.entity_name, s.entity.name], ['service', undefined, name]);
    assert.deepEqual(
      s.errors.map((x) => x.field),
      ['name'],
    );
  }
  assert.equal(entry(body, ['service-08', 'invalid_service_name-01']).errors[0]!.message, 'length must be at least 1');

  // tags that are not all strings are no entity_tags; the last bad tag comes first
  const tagged = (body.flattened_errors as Flat[]).find((e) => e.entity_name === 'invalid-tags')!;
  assert.equal(tagged.entity_tags, undefined);
  assert.deepEqual(
    tagged.errors.map((x) => x.field),
    ['tags.4', 'tags.3'],
  );

  const missing = entry(body, ['service_plugin-01', 'service-04']);
  assert.deepEqual([missing.entity_type, missing.entity_name], ['plugin', 'i-dont-exist']);
  assert.deepEqual(missing.entity, { config: {}, name: 'i-dont-exist', tags: ['service_plugin-01', 'service-04'] });
  assert.match(errorsOf(missing)[0]!, /^name: plugin 'i-dont-exist' not enabled/);
  const tcp = entry(body, ['service_plugin-02', 'service-04']);
  assert.deepEqual([tcp.entity_type, tcp.entity_name], ['plugin', 'tcp-log']);
  assert.deepEqual(
    tcp.errors.map((x) => x.field),
    ['config.host', 'config.deeply'],
  );
  assert.equal(tcp.errors[0]!.message, 'required field missing');
  assert.match(tcp.errors[1]!.message, /^unknown field/);
  // the service itself has no error of its own: no entry
  assert.equal(
    (body.flattened_errors as Flat[]).filter((e) => e.entity_type === 'service').length,
    3,
    'services 07, 08, 09 only',
  );

  const credential = entry(body, ['basicauth_credentials-02', 'consumer-04']);
  assert.equal(credential.entity_type, 'basicauth_credential');
  assert.deepEqual(credential.entity, {
    extra_field: 'NO!',
    password: '[redacted]',
    tags: ['basicauth_credentials-02', 'consumer-04'],
    username: 'dont-add-extra-fields-yo',
  });
  assert.match(errorsOf(credential)[0]!, /^extra_field: unknown field/);
  const consumer = entry(body, ['consumer-02']);
  assert.deepEqual([consumer.entity_type, consumer.entity_name], ['consumer', undefined]);
  assert.match(errorsOf(consumer)[0]!, /^not_allowed: unknown field/);

  const certificate = entry(body, ['certificate-02']);
  assert.equal(certificate.entity_type, 'certificate');
  assert.equal(certificate.entity.key, '[redacted]');
  assert.ok(
    certificate.errors.some((x) => x.field === 'cert'),
    'the certificate is refused',
  );
  for (const secret of ['12354', 'c2VjcmV0LWtleS1ub3QtcmVhbA==', 'hard2guess'])
    assert.ok(!text.includes(secret), `${secret} is not shown`);
});

test('an error about no entity stays in `fields` and the message; flattened_errors is then an empty JSON array', async () => {
  const { body, text } = await flatten({ abnormal_extra_field: 123 });
  assert.deepEqual(Object.keys(body.fields), ['abnormal_extra_field']);
  assert.match(body.fields.abnormal_extra_field, /^unknown field/);
  assert.equal(
    body.message,
    `declarative config is invalid: {abnormal_extra_field="${body.fields.abnormal_extra_field}"}`,
  );
  assert.match(text, /"flattened_errors": \[\]/);
  // and beside flattened entries, as Kong's spec mixes them
  const mixed = await flatten({
    abnormal_extra_field: 123,
    services: [{ host: 'localhost', name: 'nope', port: 1234, protocol: 'nope', tags: ['service-01'] }],
  });
  assert.deepEqual(Object.keys(mixed.body.fields), ['abnormal_extra_field']);
  assert.deepEqual(
    mixed.body.flattened_errors.map((e: Flat) => [e.entity_type, e.entity_name]),
    [['service', 'nope']],
  );
});

test("a service's client_certificate written as an entity: its errors are a certificate's entry, its key redacted", async () => {
  const { body, text } = await flatten({
    services: [
      {
        name: 'bad-client-cert',
        url: 'https://localhost:1234',
        tags: ['service-01'],
        client_certificate: {
          cert: '',
          key: 'client-key-4d1f9e',
          tags: ['service_client_certificate-01', 'service-01'],
        },
      },
      {
        name: 'by-id',
        url: 'https://localhost:1234',
        tags: ['service-02'],
        client_certificate: { id: 'd2e33f63-1424-408f-be55-d9d16cd2a382', cert: 'x' },
        retries: -1,
      },
    ],
  });
  const certificate = entry(body, ['service_client_certificate-01', 'service-01']);
  assert.deepEqual(
    [certificate.entity_type, certificate.entity_name, certificate.entity_id],
    ['certificate', undefined, undefined],
  );
  assert.deepEqual(certificate.entity, {
    cert: '',
    key: '[redacted]',
    tags: ['service_client_certificate-01', 'service-01'],
  });
  // Kong checks the nested certificate itself ("length must be at least 1" for cert and key);
  // Tollgate takes a reference only (docs/kong-differences.md), so its errors name the fields
  assert.ok(certificate.errors.some((x) => x.field === 'cert'));
  assert.ok(!text.includes('client-key-4d1f9e'), 'the key is not shown');
  // the service, with no error of its own, has no entry
  assert.equal(
    (body.flattened_errors as Flat[]).find((e) => e.entity_name === 'bad-client-cert'),
    undefined,
  );
  // a service's own error: its client_certificate shows as the certificate's primary key
  const service = entry(body, ['service-02']);
  assert.deepEqual(service.entity.client_certificate, { id: 'd2e33f63-1424-408f-be55-d9d16cd2a382' });
  assert.ok(service.errors.some((x) => x.field === 'retries'));
});

test("routes Kong loads stay out of Kong's errors: a warning is only in the located `errors`", async () => {
  // Kong's spec: 'valid.route', 'invalid' and 'probably-valid' match the same requests and have no entry
  const route = (name: string, tags: string[]) => ({ hosts: ['test'], methods: ['GET'], name, tags });
  for (const flat of [true, false]) {
    const res = await fetch(`${gw.adminUrl}/config${flat ? '?flatten_errors=1' : ''}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        _format_version: '3.0',
        services: [
          { host: 'localhost', name: 'nope', port: 1234, protocol: 'nope', routes: [route('valid.route', ['r-1'])] },
          { name: 'okay', url: 'http://localhost:1234', routes: [route('probably-valid', ['r-4'])] },
        ],
      }),
    });
    const body = (await res.json()) as Record<string, any>;
    assert.equal(res.status, 400);
    if (flat) {
      assert.deepEqual(
        body.flattened_errors.map((e: Flat) => [e.entity_type, e.entity_name]),
        [['service', 'nope']],
      );
      assert.deepEqual(body.fields, {});
    } else assert.deepEqual(Object.keys(body.fields.services[0]), ['protocol']);
    assert.ok(
      body.errors.some((e: any) => e.severity === 'warning' && /probably-valid/.test(e.message)),
      'the warning is still told',
    );
  }
});
