// aws-lambda's credentials beyond static keys, through a real gateway and the stand-ins of
// test/support/aws-credentials.ts (STS, instance metadata, the ECS endpoint, Lambda checking each
// invocation's Signature Version 4 against the secret handed out).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  dead,
  ECS_AUTH,
  ecs,
  gateway,
  handedOut,
  imds,
  invoke,
  KEY,
  knobs,
  lambda,
  lastIssued,
  lastSigner,
  noSecretLogged,
  SECRET,
  secrets,
  sts,
  useStandIns,
  WEB_TOKEN,
} from '../../../test/support/aws-credentials.ts';
import { tempDir } from '../../../test/support/temp.ts';

useStandIns();

test('IMDSv2: a token PUT, the role, its credentials sign the call; one fetch for many requests', async () => {
  const g = await gateway(
    { AWS_EC2_METADATA_DISABLED: 'false', AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url },
    { aws_imds_protocol_version: 'v2' },
  );
  imds.seen.length = 0;
  assert.deepEqual(await invoke(g, 12), Array(12).fill(200));
  assert.deepEqual(
    imds.seen.map((s) => `${s.method} ${s.url}`),
    [
      'PUT /latest/api/token',
      'GET /latest/meta-data/iam/security-credentials/',
      'GET /latest/meta-data/iam/security-credentials/gateway-role',
    ],
  );
  assert.equal(imds.seen[0]!.headers['x-aws-ec2-metadata-token-ttl-seconds'], '300');
  const { keyId, token } = lastSigner();
  assert.match(String(keyId), /^ASIAIMDS/);
  assert.equal(token, `session-token-of-${keyId}`);
  assert.deepEqual(await invoke(g, 3), [200, 200, 200]);
  assert.equal(imds.seen.length, 3, 'the cached credentials were fetched again');
  noSecretLogged(g);
});

test('IMDS refusing session tokens: v1 (the default) goes on without one, v2 answers 500', async () => {
  knobs.imdsV1Only = true;
  const env = { AWS_EC2_METADATA_DISABLED: 'false', AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url };
  const v2 = await gateway(env, { aws_imds_protocol_version: 'v2' });
  assert.deepEqual(await invoke(v2), [500]);
  const failed = v2.logs.find((l) => l.msg === 'Lambda invocation failed');
  assert.match(String(failed?.error), /IMDS token: status 403/);
  await v2.close();
  imds.seen.length = 0;
  const v1 = await gateway(env);
  assert.deepEqual(await invoke(v1), [200]);
  assert.deepEqual(
    imds.seen.map((s) => `${s.method} ${s.url} ${s.headers['x-aws-ec2-metadata-token'] ?? '-'}`),
    [
      'PUT /latest/api/token -',
      'GET /latest/meta-data/iam/security-credentials/ -',
      'GET /latest/meta-data/iam/security-credentials/gateway-role -',
    ],
  );
  assert.match(String(lastSigner().keyId), /^ASIAIMDS/);
});

test('IMDS v1 whose token answer is lost (hop limit 1 in a container): goes on without a token after 1 s', async () => {
  knobs.imdsTokenLost = true;
  knobs.imdsV1Only = true;
  const g = await gateway({ AWS_EC2_METADATA_DISABLED: 'false', AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url });
  imds.seen.length = 0;
  const started = performance.now();
  assert.deepEqual(await invoke(g), [200]);
  const took = performance.now() - started;
  assert.ok(took >= 900 && took < 3000, `took ${took} ms: a deadline check, the 1 s wait for the token`);
  assert.deepEqual(
    imds.seen.map((s) => `${s.method} ${s.url} ${s.headers['x-aws-ec2-metadata-token'] ?? '-'}`),
    [
      'PUT /latest/api/token -',
      'GET /latest/meta-data/iam/security-credentials/ -',
      'GET /latest/meta-data/iam/security-credentials/gateway-role -',
    ],
  );
  assert.match(String(lastSigner().keyId), /^ASIAIMDS/);
});

test('aws_assume_role_arn: STS AssumeRole signed with aws_key, at aws_sts_endpoint_url, once for many requests', async () => {
  const g = await gateway(
    {},
    {
      aws_key: KEY,
      aws_secret: SECRET,
      aws_assume_role_arn: 'arn:aws:iam::123456789012:role/invoker',
      aws_role_session_name: 'edge-gw',
      aws_sts_endpoint_url: sts.url,
    },
  );
  sts.seen.length = 0;
  assert.deepEqual(await invoke(g, 10), Array(10).fill(200));
  assert.equal(sts.seen.length, 1);
  const call = sts.seen[0]!;
  assert.equal(call.signedBy, KEY);
  assert.deepEqual(Object.fromEntries(new URLSearchParams(call.body)), {
    Action: 'AssumeRole',
    Version: '2011-06-15',
    RoleArn: 'arn:aws:iam::123456789012:role/invoker',
    RoleSessionName: 'edge-gw',
  });
  const { keyId, token } = lastSigner();
  assert.match(String(keyId), /^ASIAASSUMED/);
  assert.equal(token, `session-token-of-${keyId}`);
  noSecretLogged(g);
});

test('web identity (IRSA): AssumeRoleWithWebIdentity with the file token, then AssumeRole on top of it', async () => {
  const file = join(tempDir('tollgate-irsa'), 'token');
  writeFileSync(file, `${WEB_TOKEN}\n`);
  const g = await gateway(
    {
      AWS_WEB_IDENTITY_TOKEN_FILE: file,
      AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/pod',
      AWS_ROLE_SESSION_NAME: 'pod-session',
      AWS_ENDPOINT_URL_STS: sts.url,
    },
    { aws_assume_role_arn: 'arn:aws:iam::210987654321:role/cross-account' },
  );
  sts.seen.length = 0;
  assert.deepEqual(await invoke(g, 5), Array(5).fill(200));
  assert.equal(sts.seen.length, 2);
  const [web, assumed] = sts.seen.map((s) => Object.fromEntries(new URLSearchParams(s.body)));
  assert.deepEqual(web, {
    Action: 'AssumeRoleWithWebIdentity',
    Version: '2011-06-15',
    RoleArn: 'arn:aws:iam::123456789012:role/pod',
    RoleSessionName: 'pod-session',
    WebIdentityToken: WEB_TOKEN,
  });
  assert.equal(sts.seen[0]!.headers.authorization, undefined);
  assert.equal(assumed!.RoleSessionName, 'kong');
  assert.match(String(sts.seen[1]!.signedBy), /^ASIAWEBID/);
  assert.match(String(lastSigner().keyId), /^ASIAASSUMED/);
  noSecretLogged(g);
});

test("STS refusing a web identity is Kong's 500; the log has STS's code and message, not the token", async () => {
  const file = join(tempDir('tollgate-irsa'), 'token');
  writeFileSync(file, WEB_TOKEN);
  const g = await gateway({
    AWS_WEB_IDENTITY_TOKEN_FILE: file,
    AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/refused',
    AWS_ENDPOINT_URL_STS: sts.url,
  });
  const res = await fetch(`${g.url}/fn`);
  assert.equal(res.status, 500);
  assert.equal(((await res.json()) as { message: string }).message, 'An unexpected error occurred');
  const failed = g.logs.find((l) => l.msg === 'Lambda invocation failed');
  assert.equal(failed?.error, 'STS AssumeRoleWithWebIdentity: status 400 InvalidIdentityToken: Bad token [token]');
  // Without AWS_ROLE_SESSION_NAME, lua-resty-aws's own session name.
  assert.equal(new URLSearchParams(sts.seen.at(-1)!.body).get('RoleSessionName'), 'session@lua-resty-aws');
  noSecretLogged(g);
});

test('ECS container credentials: the full URI, with the authorization token of its file', async () => {
  const file = join(tempDir('tollgate-ecs'), 'token');
  writeFileSync(file, ECS_AUTH);
  const g = await gateway({
    AWS_CONTAINER_CREDENTIALS_FULL_URI: `${ecs.url}/v2/credentials/abc`,
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: file,
  });
  assert.deepEqual(await invoke(g, 4), Array(4).fill(200));
  assert.equal(ecs.seen.length, 1);
  assert.equal(ecs.seen[0]!.url, '/v2/credentials/abc');
  const { keyId, token } = lastSigner();
  assert.match(String(keyId), /^ASIAECS/);
  assert.equal(token, `session-token-of-${keyId}`);
});

test('credentials near expiry are fetched again: in the background first, then before signing', async () => {
  const g = await gateway(
    {},
    { aws_key: KEY, aws_secret: SECRET, aws_assume_role_arn: 'arn:aws:iam::1:role/r', aws_sts_endpoint_url: sts.url },
  );
  sts.seen.length = 0;
  // 60 s left: inside the 5 minutes of early refresh, outside the 15 s when they no longer sign.
  knobs.lifetime = 60_000;
  await invoke(g);
  const first = lastSigner().keyId;
  await invoke(g);
  assert.equal(lastSigner().keyId, first, 'the cached credentials still sign while the refresh runs');
  for (let i = 0; i < 50 && sts.seen.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(sts.seen.length, 2, 'no refresh started ahead of expiry');
  await invoke(g);
  const second = lastSigner().keyId;
  assert.notEqual(second, first);
  // 10 s left: inside lua-resty-aws's 15 s window, so each invocation waits for new ones.
  knobs.lifetime = 10_000;
  await invoke(g);
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < 2; i++) {
    const calls: number = sts.seen.length;
    await invoke(g);
    assert.equal(sts.seen.length, calls + 1, 'credentials about to expire signed');
    assert.equal(lastSigner().keyId, lastIssued);
  }
});

test('credentials that come already expired are a failure, held a second: not a fetch per request', async () => {
  const g = await gateway(
    {},
    { aws_key: KEY, aws_secret: SECRET, aws_assume_role_arn: 'arn:aws:iam::1:role/r', aws_sts_endpoint_url: sts.url },
  );
  sts.seen.length = 0;
  lambda.seen.length = 0;
  knobs.lifetime = -60_000;
  for (let i = 0; i < 6; i++) assert.deepEqual(await invoke(g), [500]);
  // One fetch, or two should this slow machine take over a second for the six.
  assert.ok(sts.seen.length <= 2, `STS was asked ${sts.seen.length} times for 6 requests`);
  assert.equal(lambda.seen.length, 0, 'expired credentials signed a call');
  const failed = g.logs.find((l) => l.msg === 'Lambda invocation failed');
  assert.match(String(failed?.error), /STS AssumeRole: answer's Expiration is already past/);
});

/** A key, secret and session token Lambda accepts, written in a shared file. */
function fileKeys(name: string): { id: string; secret: string; token: string } {
  const id = `AKIDFILE${name.toUpperCase().padEnd(12, '0')}`;
  secrets[id] = `file-secret-of-${name}`;
  handedOut.push(secrets[id]!);
  return { id, secret: secrets[id]!, token: `file-token-of-${name}` };
}

test("the shared credentials file: AWS_PROFILE's section, before instance metadata; ~/.aws/config without it", async () => {
  const home = tempDir('tollgate-home');
  mkdirSync(join(home, '.aws'));
  const def = fileKeys('default');
  const edge = fileKeys('edge');
  writeFileSync(
    join(home, '.aws', 'credentials'),
    `# written by aws configure\n[default]\naws_access_key_id = ${def.id}\naws_secret_access_key = ${def.secret}\n\n` +
      `[edge]\r\naws_access_key_id=${edge.id}\r\n; a comment\r\naws_secret_access_key = ${edge.secret}\r\naws_session_token = ${edge.token}\r\n`,
  );
  const imdsEnv = { AWS_EC2_METADATA_DISABLED: 'false', AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url };
  imds.seen.length = 0;
  let g = await gateway({ HOME: home, AWS_PROFILE: 'edge', ...imdsEnv });
  assert.deepEqual(await invoke(g, 3), [200, 200, 200]);
  assert.deepEqual(lastSigner(), { keyId: edge.id, token: edge.token });
  assert.equal(imds.seen.length, 0, 'instance metadata was asked before the shared file');
  noSecretLogged(g);
  await g.close();
  // No credentials file: the config file's [profile NAME] section, as lua-resty-aws falls back.
  const cfg = fileKeys('config');
  const config = join(tempDir('tollgate-aws'), 'config');
  writeFileSync(config, `[profile ops]\naws_access_key_id = ${cfg.id}\naws_secret_access_key = ${cfg.secret}\n`);
  g = await gateway({ AWS_CONFIG_FILE: config, AWS_PROFILE: 'ops' });
  assert.deepEqual(await invoke(g), [200]);
  assert.equal(lastSigner().keyId, cfg.id);
  await g.close();
  // AMAZON_ variables come before the shared file (lua-resty-aws's second environment source).
  g = await gateway({ HOME: home, AMAZON_ACCESS_KEY_ID: cfg.id, AMAZON_SECRET_ACCESS_KEY: cfg.secret });
  assert.deepEqual(await invoke(g), [200]);
  assert.deepEqual(lastSigner(), { keyId: cfg.id, token: undefined });
});

test('a shared credentials file over 256 KiB is refused, without a value of it in the log', async () => {
  const file = join(tempDir('tollgate-aws'), 'credentials');
  const big = fileKeys('big');
  writeFileSync(
    file,
    `[default]\naws_access_key_id = ${big.id}\naws_secret_access_key = ${big.secret}\n${'# padding\n'.repeat(30_000)}`,
  );
  const g = await gateway({ AWS_SHARED_CREDENTIALS_FILE: file });
  assert.deepEqual(await invoke(g), [500]);
  const failed = g.logs.find((l) => l.msg === 'Lambda invocation failed');
  assert.match(String(failed?.error), /shared credentials: .* is over 256 KiB/);
  noSecretLogged(g);
});

test('a token or credentials file that is a FIFO is refused at once, not waited on past any deadline', async (t) => {
  const dir = tempDir('tollgate-irsa');
  const fifo = join(dir, 'token');
  execFileSync('mkfifo', [fifo]);
  // Should open() block (the defect), a writer releases it at the end, whatever the outcome.
  t.after(() => {
    const w = spawn('sh', ['-c', `printf x > '${fifo}'`]);
    setTimeout(() => w.kill(), 1000).unref();
  });
  const g = await gateway(
    {
      AWS_SHARED_CREDENTIALS_FILE: fifo,
      AWS_WEB_IDENTITY_TOKEN_FILE: fifo,
      AWS_ROLE_ARN: 'arn:aws:iam::1:role/pod',
      AWS_ENDPOINT_URL_STS: sts.url,
    },
    { timeout: 400 },
  );
  const res = await fetch(`${g.url}/fn`, { signal: AbortSignal.timeout(4000) });
  assert.equal(res.status, 500);
  await res.body?.cancel();
  const failed = g.logs.find((l) => l.msg === 'Lambda invocation failed');
  assert.match(String(failed?.error), /shared credentials: .* unreadable \(not a regular file\)/);
  assert.match(String(failed?.error), /web identity: token file unreadable \(not a regular file\)/);
  assert.match(
    String(failed?.error),
    /\(not a regular file\); web identity: /,
    'each source failed, one after another',
  );
});

test('no source at all (no keys, instance metadata disabled): a warning at load, and 500', async () => {
  const g = await gateway({ AWS_EC2_METADATA_DISABLED: '1' });
  assert.ok(g.logs.some((l) => String(l.msg).includes('no AWS credentials')));
  assert.deepEqual(await invoke(g), [500]);
  // The shared files, the only source left, are absent: that is what the log says.
  const failed = g.logs.find((l) => l.msg === 'Lambda invocation failed');
  assert.equal(failed?.error, 'shared credentials (profile default): no credentials or config file');
});

test('a dead metadata service fails only the Lambda route, with Kong 500 after the deadline, one fetch for all', async () => {
  const g = await gateway(
    { AWS_EC2_METADATA_DISABLED: 'false', AWS_EC2_METADATA_SERVICE_ENDPOINT: dead.url },
    { timeout: 400 },
  );
  dead.seen.length = 0;
  const started = performance.now();
  let answered = false;
  const lambdaCalls = invoke(g, 8).finally(() => {
    answered = true;
  });
  const other = await fetch(`${g.url}/plain`);
  assert.equal(other.status, 200);
  await other.body?.cancel();
  assert.equal(answered, false, 'another route waited for the metadata service');
  assert.deepEqual(await lambdaCalls, Array(8).fill(500));
  assert.ok(performance.now() - started < 3000, 'a deadline check: answered long after the 400 ms metadata timeout');
  assert.equal(dead.seen.length, 1, 'each request asked the metadata service');
  const failed = g.logs.find((l) => l.msg === 'Lambda invocation failed');
  assert.match(String(failed?.error), /IMDS token: no answer before the deadline/);
});
