// Kong's POST /config against a real gateway: a posted declarative config is loaded as the file
// is, swapped in as a reload, and never written to the file.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { test } from 'node:test';
import { startGateway } from '../testing/index.ts';

const FILE = `_format_version: "3.0"
_tollgate:
  trusted_ips: ["127.0.0.1"]
services:
  - name: file
    url: echo://
    routes: [{ name: from-file, paths: [/file] }]
`;

const POSTED = `_format_version: "3.0"
services:
  - name: posted
    url: echo://
    routes: [{ name: from-post, paths: [/posted] }]
    plugins:
      - name: request-transformer
        config: { add: { headers: ["x-token:\${UPSTREAM_TOKEN}"] } }
`;

const TOKEN = 'tok-4f1c2b11-posted';

const post = (adminUrl: string, body: string | FormData, query = '', headers: Record<string, string> = {}) =>
  fetch(`${adminUrl}/config${query}`, { method: 'POST', body, headers });

test('POST /config loads a posted config as a reload does: 201 with the entities by id, the file untouched', async () => {
  const gw = await startGateway({ config: FILE, env: { UPSTREAM_TOKEN: TOKEN } });
  try {
    // as `curl -F config=@kong.yml` sends it
    const form = new FormData();
    form.set('config', new Blob([POSTED]), 'kong.yml');
    const res = await post(gw.adminUrl, form);
    assert.equal(res.status, 201);
    const text = await res.text();
    assert.ok(!text.includes(TOKEN), 'a ${...} value never shows');
    const body = JSON.parse(text) as Record<string, Record<string, { name?: string; id: string }>>;
    const services = Object.values(body.services!);
    assert.deepEqual(
      services.map((s) => s.name),
      ['posted'],
    );
    assert.equal(Object.keys(body.services!)[0], services[0]!.id);
    assert.equal(body._tollgate, undefined);
    // the proxy serves the posted config, with its reference resolved
    const echo = (await (await fetch(`${gw.url}/posted`)).json()) as { headers: Record<string, string> };
    assert.equal(echo.headers['x-token'], TOKEN);
    assert.equal((await fetch(`${gw.url}/file`)).status, 404);
    const status = (await (await fetch(`${gw.adminUrl}/status`)).json()) as Record<string, any>;
    assert.equal(status.last_reload.trigger, 'config');
    // the serving settings stay: the posted config has no _tollgate, as Kong's has no kong.conf
    assert.equal(status.last_reload.restart_required, undefined);
    const config = (await (await fetch(`${gw.adminUrl}/config`)).json()) as Record<string, any>;
    assert.deepEqual(config._tollgate.trusted_ips, ['127.0.0.1']);
    assert.equal(await readFile(gw.configFile, 'utf8'), FILE);
    // raw YAML and a JSON document load too; check_hash=1 with the serving config changes nothing
    assert.equal((await post(gw.adminUrl, POSTED, '', { 'content-type': 'application/yaml' })).status, 201);
    const same = await post(gw.adminUrl, POSTED, '?check_hash=1', { 'content-type': 'application/yaml' });
    assert.equal(same.status, 304);
    const json = JSON.stringify({
      _format_version: '3.0',
      services: [{ name: 'j', url: 'echo://', routes: [{ paths: ['/j'] }] }],
    });
    assert.equal((await post(gw.adminUrl, json, '', { 'content-type': 'application/json' })).status, 201);
    assert.equal((await fetch(`${gw.url}/j`)).status, 200);
    // the next reload from the file replaces it
    assert.equal((await gw.reload()).ok, true);
    assert.equal((await fetch(`${gw.url}/file`)).status, 200);
    assert.equal((await fetch(`${gw.url}/j`)).status, 404);
  } finally {
    await gw.close();
  }
});

test("an invalid posted config answers Kong's 400 (code 14) with located errors, and the serving config stays", async () => {
  const gw = await startGateway({ config: FILE });
  try {
    const bad = `_format_version: "3.0"
services:
  - name: x
    url: echo://
    tags: [team-a]
    routes: [{ name: r, paths: [nope] }]
    retries: -1
`;
    const res = await post(gw.adminUrl, bad, '', { 'content-type': 'application/yaml' });
    assert.equal(res.status, 400);
    const body = (await res.json()) as Record<string, any>;
    assert.equal(body.code, 14);
    assert.equal(body.name, 'invalid declarative configuration');
    assert.match(body.message, /^declarative config is invalid: \{services=\{\{/);
    assert.equal(body.fields.services[0].retries, 'value should be between 0 and 32767');
    assert.match(body.fields.services[0].routes[0].paths[0], /should start with/);
    const retries = body.errors.find((e: any) => e.path === 'services[0].retries');
    assert.deepEqual([retries.file, retries.line], ['POST /config', 7]);
    assert.equal((await fetch(`${gw.url}/file`)).status, 200);
    // Kong's flatten_errors: one entry per entity, fields dotted and counted from 1
    const flat = (await (
      await post(gw.adminUrl, bad, '?flatten_errors=1', { 'content-type': 'application/yaml' })
    ).json()) as Record<string, any>;
    assert.deepEqual(flat.fields, {});
    const route = flat.flattened_errors.find((e: any) => e.entity_type === 'route');
    assert.equal(route.entity_name, 'r');
    assert.deepEqual(route.errors, [
      { type: 'field', field: 'paths.1', message: 'should start with: / (fixed path) or ~/ (regex path)' },
    ]);
    const service = flat.flattened_errors.find((e: any) => e.entity_type === 'service');
    assert.deepEqual(service.entity_tags, ['team-a']);
    assert.equal(service.entity.routes, undefined);
    // nothing posted, and a body over Kong's 10m
    const empty = await post(gw.adminUrl, '', '', { 'content-type': 'application/yaml' });
    assert.deepEqual([empty.status, await empty.json()], [400, { message: 'expected a declarative configuration' }]);
    const big = await post(gw.adminUrl, 'x'.repeat(10 * 1024 * 1024 + 1), '', { 'content-type': 'application/yaml' });
    assert.deepEqual([big.status, await big.json()], [413, { message: 'Payload too large' }]);
    assert.equal((await fetch(`${gw.url}/file`)).status, 200);
  } finally {
    await gw.close();
  }
});

test('a posted body that stops arriving is closed after client_body_timeout, not held', async () => {
  const gw = await startGateway({ config: FILE.replace('_tollgate:', '_tollgate:\n  client_body_timeout: 300') });
  try {
    const { hostname, port } = new URL(gw.adminUrl);
    const answer = await new Promise<string>((resolve, reject) => {
      let data = '';
      const socket = connect(Number(port), hostname, () =>
        socket.write('POST /config HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n_format_'),
      );
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (data += d));
      socket.on('error', () => {});
      socket.on('close', () => resolve(data));
      // a deadline on the test, not a measurement: the old listener held it for ever
      setTimeout(() => {
        socket.destroy();
        reject(new Error('the admin listener still holds the connection'));
      }, 15_000).unref();
    });
    // the body was waited for (not refused as an endpoint that reads none), then given up on
    assert.equal(answer, '');
    assert.equal((await fetch(`${gw.url}/file`)).status, 200);
  } finally {
    await gw.close();
  }
});

test("a config posted while another loads answers Kong's 429 with Retry-After, and the first one loads", async () => {
  const gw = await startGateway({ config: FILE });
  try {
    // large enough that compiling it outlasts reading the second body
    const services = Array.from(
      { length: 3000 },
      (_, i) => `  - name: s${i}\n    url: echo://\n    routes: [{ paths: [/s${i}] }]\n`,
    ).join('');
    const big = `_format_version: "3.0"\nservices:\n${services}`;
    const answers = await Promise.all(
      [big, big.replace('/s0]', '/t0]')].map((body) =>
        post(gw.adminUrl, body, '', { 'content-type': 'application/yaml' }),
      ),
    );
    const byStatus = new Map(answers.map((r) => [r.status, r]));
    assert.deepEqual([...byStatus.keys()].sort(), [201, 429]);
    const busy = byStatus.get(429)!;
    assert.deepEqual(await busy.json(), { message: 'Currently loading previous configuration' });
    assert.match(busy.headers.get('retry-after') ?? '', /^([1-9]|10)$/);
    assert.equal((await fetch(`${gw.url}/s1`)).status, 200);
    // once loaded, the next post is taken
    assert.equal((await post(gw.adminUrl, FILE, '', { 'content-type': 'application/yaml' })).status, 201);
  } finally {
    await gw.close();
  }
});

test('a body announced over 10 MiB with Expect: 100-continue is refused before it is sent, as nginx refuses it', async () => {
  const gw = await startGateway({ config: FILE });
  try {
    const { hostname, port } = new URL(gw.adminUrl);
    const ask = (head: string) =>
      new Promise<string>((resolve, reject) => {
        let data = '';
        const socket = connect(Number(port), hostname, () => socket.write(head));
        socket.setEncoding('latin1');
        socket.on('data', (d: string) => {
          data += d;
          // the first answer, whichever it is
          if (data.includes('\r\n\r\n')) {
            socket.destroy();
            resolve(data);
          }
        });
        socket.on('error', reject);
      });
    const expect = 'Host: x\r\nContent-Type: application/yaml\r\nExpect: 100-continue\r\n';
    assert.match(await ask(`POST /config HTTP/1.1\r\n${expect}Content-Length: 10485761\r\n\r\n`), /^HTTP\/1\.1 413 /);
    // a body the endpoint takes is asked for
    assert.match(await ask(`POST /config HTTP/1.1\r\n${expect}Content-Length: 100\r\n\r\n`), /^HTTP\/1\.1 100 /);
  } finally {
    await gw.close();
  }
});

test('a posted config full of errors gets a bounded answer: the first 1000 issues, the rest counted', async () => {
  const gw = await startGateway({ config: FILE });
  try {
    const services = Array.from({ length: 1500 }, (_, i) => ({ name: `s${i}`, url: 'echo://', bogus: i }));
    const body = JSON.stringify({ _format_version: '3.0', services });
    for (const query of ['', '?flatten_errors=1']) {
      const res = await post(gw.adminUrl, body, query, { 'content-type': 'application/json' });
      assert.equal(res.status, 400);
      const answer = (await res.json()) as Record<string, any>;
      assert.equal(answer.errors.length, 1000);
      assert.equal(answer.errors_omitted, 500);
      if (query === '') assert.equal(answer.fields.services.filter(Boolean).length, 1000);
      else assert.equal(answer.flattened_errors.length, 1000);
    }
    assert.equal((await fetch(`${gw.url}/file`)).status, 200);
  } finally {
    await gw.close();
  }
});
