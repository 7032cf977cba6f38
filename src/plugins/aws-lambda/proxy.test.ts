// aws-lambda's proxy_url, as Kong uses it: Lambda invocations and the STS calls go through an
// HTTP proxy. A real CONNECT proxy on loopback (counting its tunnels, checking Proxy-Authorization)
// stands in front of a Lambda and an STS stand-in behind https, reached by their real names
// (lambda.eu-west-3.amazonaws.com, sts.eu-west-3.amazonaws.com): the proxy resolves them, not the
// gateway. The gateway runs as its own process so that it trusts the test CA (NODE_EXTRA_CA_CERTS),
// as a gateway behind a corporate proxy trusts the CA it is given.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type GatewayProcess, spawnGateway } from '../../../test/ops/support.ts';
import { sigv4Of } from '../../../test/support/aws-sigv4.ts';
import { tempDir } from '../../../test/support/temp.ts';
import { TestCa, tool } from '../../../test/tls/support.ts';

const REGION = 'eu-west-3';
const LAMBDA_HOST = `lambda.${REGION}.amazonaws.com`;
const STS_HOST = `sts.${REGION}.amazonaws.com`;
const KEY = 'AKIDPROXIEDBASEKEY01';
const SECRET = 'base-secret-signing-through-the-proxy';
const PROXY_USER = 'edge';
const PROXY_PASS = 'proxy-pass-5f1c9a7e3b';
const WRONG_PASS = 'wrong-pass-0d2e8b4c6a';
const ASSUMED = 'ASIAPROXIEDASSUMED01';
const ASSUMED_SECRET = 'assumed-secret-through-the-proxy';
const secrets: Record<string, string> = { [KEY]: SECRET, [ASSUMED]: ASSUMED_SECRET };

interface Tunnel {
  target: string;
  auth: string | undefined;
}

const skip = tool('openssl');
const tunnels: Tunnel[] = [];
const seen: { host: string; signedBy: string | null; token: unknown }[] = [];
const forwarded: { url: string; auth: string | undefined }[] = [];
let aws: HttpsServer;
/** Lambda over plain http (disable_https), which a proxy gets in absolute form. */
let plainAws: Server;
let proxy: Server;
let gw: GatewayProcess | undefined;
const sockets = new Set<Socket>();

function awsAnswer(req: IncomingMessage, body: string): { status: number; text: string } {
  const host = String(req.headers.host).replace(/:443$/, '');
  const service = host === STS_HOST ? 'sts' : 'lambda';
  const signedBy = sigv4Of(req, body, secrets, REGION, service);
  seen.push({ host, signedBy, token: req.headers['x-amz-security-token'] });
  if (signedBy === null) return { status: 403, text: '{"message":"bad signature"}' };
  if (service === 'lambda') return { status: 200, text: '{"through":"the proxy"}' };
  const expiration = new Date(Date.now() + 3600_000).toISOString();
  return {
    status: 200,
    text:
      `<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>${ASSUMED}</AccessKeyId>` +
      `<SecretAccessKey>${ASSUMED_SECRET}</SecretAccessKey><SessionToken>token-${ASSUMED}</SessionToken>` +
      `<Expiration>${expiration}</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>`,
  };
}

before(async () => {
  if (skip) return;
  const ca = new TestCa();
  const leaf = ca.issue(LAMBDA_HOST, [LAMBDA_HOST, STS_HOST]);
  aws = createHttpsServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { status, text } = awsAnswer(req, Buffer.concat(chunks).toString());
      res.writeHead(status, { 'content-type': 'application/json' }).end(text);
    });
  });
  await new Promise<void>((r) => aws.listen(0, '127.0.0.1', r));
  const awsPort = (aws.address() as AddressInfo).port;
  plainAws = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { status, text } = awsAnswer(req, Buffer.concat(chunks).toString());
      res.writeHead(status, { 'content-type': 'application/json' }).end(text);
    });
  });
  await new Promise<void>((r) => plainAws.listen(0, '127.0.0.1', r));
  const plainPort = (plainAws.address() as AddressInfo).port;
  // A CONNECT proxy: each tunnel is counted with its target and credentials, and lands on the
  // stand-in whatever the name (the proxy is what resolves AWS's names, in a real deployment too).
  // A plain http call comes in absolute form (no tunnel): forwarded as it came.
  proxy = createServer((req, res) => {
    forwarded.push({ url: req.url!, auth: req.headers['proxy-authorization'] });
    const target = new URL(req.url!);
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const out = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: target.pathname + target.search, headers },
      (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.writeHead(502).end());
    req.pipe(out);
  });
  proxy.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    tunnels.push({ target: req.url!, auth: req.headers['proxy-authorization'] });
    const expected = `Basic ${Buffer.from(`${PROXY_USER}:${PROXY_PASS}`).toString('base64')}`;
    if (req.headers['proxy-authorization'] !== expected) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n');
      return;
    }
    const upstream = connect(awsPort, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const proxyPort = (proxy.address() as AddressInfo).port;
  const lambdaConfig = { aws_region: REGION, function_name: 'fn', aws_key: KEY, aws_secret: SECRET };
  const config = {
    _format_version: '3.0',
    routes: [
      {
        name: 'fn',
        paths: ['/fn'],
        plugins: [
          {
            name: 'aws-lambda',
            config: {
              ...lambdaConfig,
              aws_assume_role_arn: 'arn:aws:iam::123456789012:role/invoker',
              proxy_url: `http://${PROXY_USER}:${PROXY_PASS}@127.0.0.1:${proxyPort}`,
            },
          },
        ],
      },
      {
        name: 'plain',
        paths: ['/plain'],
        plugins: [
          {
            name: 'aws-lambda',
            config: {
              ...lambdaConfig,
              host: '127.0.0.1',
              port: plainPort,
              disable_https: true,
              proxy_url: `http://${PROXY_USER}:${PROXY_PASS}@127.0.0.1:${proxyPort}`,
            },
          },
        ],
      },
      {
        name: 'china',
        paths: ['/china'],
        plugins: [
          {
            name: 'aws-lambda',
            config: {
              ...lambdaConfig,
              aws_region: 'cn-north-1',
              aws_assume_role_arn: 'arn:aws-cn:iam::123456789012:role/invoker',
              proxy_url: `http://${PROXY_USER}:${PROXY_PASS}@127.0.0.1:${proxyPort}`,
            },
          },
        ],
      },
      ...[
        'https://sts.amazonaws.com',
        'https://vpce-0a1b2c3d-e4f5.sts.eu-west-3.vpce.amazonaws.com',
        'https://sts.af-south-1.amazonaws.com',
      ].map((url, i) => ({
        name: `sts-url-${i}`,
        paths: [`/sts-url-${i}`],
        plugins: [
          {
            name: 'aws-lambda',
            config: {
              ...lambdaConfig,
              aws_assume_role_arn: 'arn:aws:iam::123456789012:role/invoker',
              aws_role_session_name: `url-${i}`,
              aws_sts_endpoint_url: url,
              proxy_url: `http://${PROXY_USER}:${PROXY_PASS}@127.0.0.1:${proxyPort}`,
            },
          },
        ],
      })),
      {
        name: 'refused',
        paths: ['/refused'],
        plugins: [
          {
            name: 'aws-lambda',
            config: { ...lambdaConfig, proxy_url: `http://${PROXY_USER}:${WRONG_PASS}@127.0.0.1:${proxyPort}` },
          },
        ],
      },
    ],
  };
  const file = join(tempDir('tollgate-lambda-proxy'), 'gateway.yaml');
  writeFileSync(file, JSON.stringify(config));
  gw = await spawnGateway(file, ['--no-watch'], {
    NODE_EXTRA_CA_CERTS: ca.certFile,
    AWS_EC2_METADATA_DISABLED: 'true',
  });
});

after(async () => {
  await gw?.kill();
  for (const s of sockets) s.destroy();
  for (const server of [aws, plainAws, proxy]) {
    if (server === undefined) continue;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

async function invoke(path: string, n: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const res = await fetch(`${gw!.proxy}${path}`);
      await res.body?.cancel();
      return res.status;
    }),
  );
}

test('Lambda and STS through proxy_url: CONNECT tunnels with its credentials, TLS to the real names, reused', {
  skip,
}, async () => {
  assert.deepEqual(await invoke('/fn', 12), Array(12).fill(200));
  const auth = `Basic ${Buffer.from(`${PROXY_USER}:${PROXY_PASS}`).toString('base64')}`;
  assert.ok(tunnels.length > 0 && tunnels.every((t) => t.auth === auth));
  const targets = new Set(tunnels.map((t) => t.target));
  assert.deepEqual([...targets].sort(), [`${LAMBDA_HOST}:443`, `${STS_HOST}:443`]);
  // STS once (AssumeRole, signed with the key), then Lambda signed with what it handed out.
  const sts = seen.filter((s) => s.host === STS_HOST);
  assert.deepEqual(
    sts.map((s) => s.signedBy),
    [KEY],
  );
  const lambda = seen.filter((s) => s.host === LAMBDA_HOST);
  assert.equal(lambda.length, 12);
  assert.ok(lambda.every((s) => s.signedBy === ASSUMED && s.token === `token-${ASSUMED}`));
  const lambdaTunnels = tunnels.filter((t) => t.target.startsWith(LAMBDA_HOST)).length;
  assert.ok(lambdaTunnels <= 12);
  // Kept alive: calls one after another go through the tunnels already open.
  for (let i = 0; i < 4; i++) assert.deepEqual(await invoke('/fn', 1), [200]);
  assert.equal(tunnels.filter((t) => t.target.startsWith(LAMBDA_HOST)).length, lambdaTunnels);
});

test('an http endpoint (disable_https) through proxy_url: absolute-form requests, as Kong sends them', {
  skip,
}, async () => {
  const before = tunnels.length;
  assert.deepEqual(await invoke('/plain', 3), [200, 200, 200]);
  assert.equal(tunnels.length, before, 'a plain http call was tunneled');
  assert.equal(forwarded.length, 3);
  const auth = `Basic ${Buffer.from(`${PROXY_USER}:${PROXY_PASS}`).toString('base64')}`;
  for (const f of forwarded) {
    assert.match(f.url, /^http:\/\/127\.0\.0\.1:\d+\/2015-03-31\/functions\/fn\/invocations$/);
    assert.equal(f.auth, auth);
  }
  assert.equal(seen.at(-1)?.signedBy, KEY);
});

test("a China region's STS is sts.<region>.amazonaws.com.cn, as lua-resty-aws names it", { skip }, async () => {
  const before = tunnels.length;
  // The stand-in's certificate does not name it: the call fails, the tunnel's target is what counts.
  assert.deepEqual(await invoke('/china', 1), [500]);
  assert.deepEqual(
    tunnels.slice(before).map((t) => t.target),
    ['sts.cn-north-1.amazonaws.com.cn:443'],
  );
});

test('aws_sts_endpoint_url https://sts.amazonaws.com is made regional, as lua-resty-aws does; a VPC endpoint or a regional name is not', {
  skip,
}, async () => {
  let before = tunnels.length;
  const stsCalls = seen.filter((s) => s.host === STS_HOST).length;
  // Signed for the region at the regional name (over a tunnel to it, maybe one kept alive).
  assert.deepEqual(await invoke('/sts-url-0', 1), [200]);
  assert.equal(seen.filter((s) => s.host === STS_HOST).length, stsCalls + 1);
  assert.ok(!tunnels.slice(before).some((t) => t.target === 'sts.amazonaws.com:443'), 'the global STS was asked');
  before = tunnels.length;
  // The stand-in's certificate does not name the VPC endpoint: the tunnel's target is what counts.
  assert.deepEqual(await invoke('/sts-url-1', 1), [500]);
  assert.deepEqual(
    tunnels.slice(before).map((t) => t.target),
    ['vpce-0a1b2c3d-e4f5.sts.eu-west-3.vpce.amazonaws.com:443'],
  );
  // A name with a region keeps it (lua-resty-aws's shorter list would add a second one here).
  before = tunnels.length;
  assert.deepEqual(await invoke('/sts-url-2', 1), [500]);
  assert.deepEqual(
    tunnels.slice(before).map((t) => t.target),
    ['sts.af-south-1.amazonaws.com:443'],
  );
});

test("a proxy refusing the credentials is Kong's 500; the proxy's password shows in no log line or admin answer", {
  skip,
}, async () => {
  const before = tunnels.length;
  assert.deepEqual(await invoke('/refused', 1), [500]);
  assert.equal(tunnels.length, before + 1);
  const failed = await gw!.waitForLine(
    (l) => l.msg === 'Lambda invocation failed' && /407/.test(String(l.error)),
    'the 407 logged',
  );
  assert.ok(failed);
  const admin = await (await fetch(`${gw!.admin}/plugins`)).text();
  assert.match(admin, /proxy_url/);
  for (const pass of [PROXY_PASS, WRONG_PASS]) {
    assert.ok(!JSON.stringify(gw!.lines).includes(pass), 'a proxy password was logged');
    assert.ok(!gw!.stderr().includes(pass), 'a proxy password went to stderr');
    assert.ok(!admin.includes(pass), 'a proxy password shows in GET /plugins');
  }
});
