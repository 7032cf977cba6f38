// Which source of aws-lambda's credentials a route gets, and when it asks again, through a real
// gateway and the stand-ins of test/support/aws-credentials.ts: the warning at load, sources told
// apart by their variables, routes that must not share credentials, failures held a second.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ecs,
  gateway,
  handedOut,
  imds,
  invoke,
  KEY,
  knobs,
  lastSigner,
  SECRET,
  secrets,
  sts,
  useStandIns,
} from '../../../test/support/aws-credentials.ts';
import type { TestGateway } from '../../testing/index.ts';

useStandIns();

test("routes with other base keys, another role or session name each assume their own role: none signs with another's", async () => {
  const otherKey = 'AKIDOTHERBASEKEY0002';
  secrets[otherKey] = 'other-base-secret';
  handedOut.push(secrets[otherKey]!);
  const role = 'arn:aws:iam::123456789012:role/invoker';
  const g = await gateway(
    {},
    { aws_key: KEY, aws_secret: SECRET, aws_assume_role_arn: role, aws_sts_endpoint_url: sts.url },
    {
      role: { aws_assume_role_arn: 'arn:aws:iam::123456789012:role/admin' },
      session: { aws_role_session_name: 'billing' },
      keys: { aws_key: otherKey, aws_secret: secrets[otherKey] },
    },
  );
  sts.seen.length = 0;
  const signers: string[] = [];
  for (const name of ['fn', 'role', 'session', 'keys', 'fn']) {
    assert.deepEqual(await invoke(g, 1, name), [200], name);
    signers.push(String(lastSigner().keyId));
  }
  assert.deepEqual(
    sts.seen.map((s) => {
      const p = new URLSearchParams(s.body);
      return `${s.signedBy} ${p.get('RoleArn')?.split('/')[1]} ${p.get('RoleSessionName')}`;
    }),
    [`${KEY} invoker kong`, `${KEY} admin kong`, `${KEY} invoker billing`, `${otherKey} invoker kong`],
  );
  assert.equal(new Set(signers.slice(0, 4)).size, 4, `a route signed with another's role: ${signers}`);
  assert.equal(signers[4], signers[0]);
});

test('the load warning is for a config and an environment that name no source; any one source silences it', async () => {
  const warned = (g: TestGateway) => g.logs.some((l) => String(l.msg).includes('no AWS credentials'));
  const cases: [string, Record<string, string | undefined>, Record<string, unknown>, boolean][] = [
    ['aws_key and aws_secret', {}, { aws_key: KEY, aws_secret: SECRET }, false],
    ['AWS_ACCESS_KEY_ID', { AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: SECRET }, {}, false],
    ['a container endpoint', { AWS_CONTAINER_CREDENTIALS_FULL_URI: `${ecs.url}/creds` }, {}, false],
    ['a web identity', { AWS_WEB_IDENTITY_TOKEN_FILE: '/t', AWS_ROLE_ARN: 'arn:aws:iam::1:role/r' }, {}, false],
    ['instance metadata (unset variable)', { AWS_EC2_METADATA_DISABLED: undefined }, {}, false],
    ['a token file without a role', { AWS_WEB_IDENTITY_TOKEN_FILE: '/t' }, {}, true],
    ['a role without a token file', { AWS_ROLE_ARN: 'arn:aws:iam::1:role/r' }, {}, true],
  ];
  for (const [what, env, config, warning] of cases) {
    const g = await gateway(env, config);
    assert.equal(warned(g), warning, what);
    await g.close();
  }
});

test("AWS_EC2_METADATA_DISABLED unset: instance metadata is asked, as Kong's default chain does", async () => {
  const g = await gateway({ AWS_EC2_METADATA_DISABLED: undefined, AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url });
  assert.deepEqual(await invoke(g), [200]);
  assert.match(String(lastSigner().keyId), /^ASIAIMDS/);
});

test('routes asking instance metadata v1 and v2 do not share one fetch: each its own protocol', async () => {
  knobs.imdsV1Only = true;
  const g = await gateway(
    { AWS_EC2_METADATA_DISABLED: 'false', AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url },
    { aws_imds_protocol_version: 'v1' },
    { v2: { aws_imds_protocol_version: 'v2' } },
  );
  assert.deepEqual(await invoke(g), [200]);
  assert.deepEqual(await invoke(g, 1, 'v2'), [500]);
});

test('AWS_ACCESS_KEY_ID without its secret is no key: the AMAZON_ pair signs', async () => {
  const id = 'AKIDAMAZONPAIR000001';
  secrets[id] = 'amazon-pair-secret';
  handedOut.push(secrets[id]!);
  const g = await gateway({ AWS_ACCESS_KEY_ID: KEY, AMAZON_ACCESS_KEY_ID: id, AMAZON_SECRET_ACCESS_KEY: secrets[id] });
  assert.deepEqual(await invoke(g), [200]);
  assert.equal(lastSigner().keyId, id);
});

test('a container full URI over http to another host is refused, not asked (AWS: https, or a loopback)', async () => {
  const { port } = new URL(ecs.url);
  ecs.seen.length = 0;
  const g = await gateway({ AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.2:${port}/creds` });
  assert.deepEqual(await invoke(g), [500]);
  const failed = g.logs.find((l) => l.msg === 'Lambda invocation failed');
  assert.match(String(failed?.error), /FULL_URI over http must name a loopback/);
  assert.equal(ecs.seen.length, 0);
});

test('a failed fetch is held a second, then tried again; a failed refresh ahead of expiry is held too', async () => {
  const g = await gateway(
    {},
    { aws_key: KEY, aws_secret: SECRET, aws_assume_role_arn: 'arn:aws:iam::1:role/r', aws_sts_endpoint_url: sts.url },
  );
  sts.seen.length = 0;
  knobs.stsDown = true;
  assert.deepEqual(await invoke(g), [500]);
  knobs.stsDown = false;
  // 60 s left on those fetched next: inside the 5 minutes of early refresh.
  knobs.lifetime = 60_000;
  await new Promise((r) => setTimeout(r, 1100));
  assert.deepEqual(await invoke(g), [200], 'the first failure was held for good');
  assert.equal(sts.seen.length, 2);
  // Each request in the early window would start a refresh, but a failed one holds a second.
  knobs.stsDown = true;
  sts.seen.length = 0;
  for (let i = 0; i < 6; i++) assert.deepEqual(await invoke(g), [200]);
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(sts.seen.length <= 2, `STS was asked ${sts.seen.length} times for 6 requests`);
});
