// request-transformer on multipart/form-data bodies, as Kong transforms them: what a real upstream
// parses from the body it receives.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import type { TestGateway } from '../../testing/index.ts';

let upstream: RecordingUpstream;
let gw: TestGateway;

before(async () => {
  upstream = await startRecordingUpstream();
  gw = await startServiceGateway(
    [
      {
        name: 'mp',
        paths: ['/mp'],
        plugins: [
          {
            name: 'request-transformer',
            config: {
              remove: { body: ['is_admin'] },
              rename: { body: ['nick:nickname', 'upload:document'] },
              replace: { body: ['role:user'] },
              add: { body: ['source:gateway', 'note:$(query_params.note)'] },
              append: { body: ['tags:gw'] },
            },
          },
        ],
      },
    ],
    { name: 'recorded', url: upstream.url },
  );
});

after(async () => {
  await gw?.close();
  await upstream?.close();
});

/** Posts `form` as multipart and parses the body the upstream received. */
async function sent(form: FormData, query = ''): Promise<FormData> {
  const res = await fetch(`${gw.url}/mp${query}`, { method: 'POST', body: form, signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200, await res.clone().text());
  await res.arrayBuffer();
  const seen = upstream.requests.at(-1)!;
  assert.equal(Number(seen.headers['content-length']), Buffer.byteLength(seen.body));
  return new Response(seen.body, { headers: { 'content-type': seen.headers['content-type']! } }).formData();
}

test('multipart fields are removed, renamed, replaced and added, as Kong does; append does not apply', async () => {
  const form = new FormData();
  form.append('is_admin', 'true');
  form.append('nick', 'zoë');
  form.append('role', 'admin');
  form.append('upload', new Blob(['file body'], { type: 'text/plain' }), 'cv.txt');
  form.append('keep', 'kept');
  const got = await sent(form);
  assert.equal(got.get('is_admin'), null, 'removed');
  assert.equal(got.get('nick'), null);
  assert.equal(got.get('nickname'), 'zoë');
  assert.deepEqual(got.getAll('role'), ['user']);
  assert.equal(got.get('source'), 'gateway');
  assert.equal(got.get('keep'), 'kept');
  assert.equal(got.get('tags'), null, 'Kong does not append to multipart bodies');
  // A renamed file part stays a file.
  const doc = got.get('document') as File;
  assert.equal(doc.name, 'cv.txt');
  assert.equal(await doc.text(), 'file body');
});

test('a templated value cannot close its part and open another: the boundary is fresh and unknown to the client', async () => {
  const form = new FormData();
  form.append('a', '1');
  // The client knows the boundary its own body uses; a value carrying it must stay one value.
  const res = await fetch(`${gw.url}/mp`, { method: 'POST', body: form, signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  const clientBoundary = /boundary=(.*)$/.exec(String(upstream.requests.at(-1)!.headers['content-type']))![1]!;
  assert.match(clientBoundary, /^tollgate-[0-9a-f]{32}$/);
  const evil = `x\r\n--${clientBoundary}\r\nContent-Disposition: form-data; name="is_admin"\r\n\r\ntrue`;
  const got = await sent(form, `?note=${encodeURIComponent(evil)}`);
  assert.equal(got.get('is_admin'), null);
  assert.equal(got.get('note'), evil);
});

test('a body that is not well-formed multipart is passed on unchanged', async () => {
  const body = 'not multipart at all';
  const res = await fetch(`${gw.url}/mp`, {
    method: 'POST',
    headers: { 'content-type': 'multipart/form-data; boundary=abc' },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  assert.equal(upstream.requests.at(-1)!.body, body);
});

test('a part named through name*= or a repeated name parameter is matched by every name it gives', async () => {
  const b = 'xyz';
  const body = [
    `--${b}\r\nContent-Disposition: form-data; name*=UTF-8''is_%61dmin\r\n\r\nstar\r\n`,
    `--${b}\r\nContent-Disposition: form-data; name="harmless"; name="is_admin"\r\n\r\ntwice\r\n`,
    `--${b}\r\nContent-Disposition: form-data; name*=UTF-8''nick\r\n\r\nzoe\r\n`,
    `--${b}\r\nContent-Disposition: form-data; name="keep"\r\n\r\nkept\r\n--${b}--\r\n`,
  ].join('');
  const res = await fetch(`${gw.url}/mp`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${b}` },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  const seen = upstream.requests.at(-1)!;
  assert.doesNotMatch(seen.body, /star|twice|is_admin/);
  // The renamed part has one name, the new one.
  assert.match(seen.body, /Content-Disposition: form-data; name="nickname"\r\n\r\nzoe\r\n/);
  const got = await new Response(seen.body, { headers: { 'content-type': seen.headers['content-type']! } }).formData();
  assert.equal(got.get('keep'), 'kept');
  assert.equal(got.get('nickname'), 'zoe');
});
