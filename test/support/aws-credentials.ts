// Stand-ins for aws-lambda's credential sources, for the tests of credentials.ts: local servers play
// STS (AssumeRole, AssumeRoleWithWebIdentity), the EC2 instance metadata service (v2: a token PUT,
// then GETs with it), the ECS container endpoint and Lambda, which checks each invocation's
// Signature Version 4 against the secret the stand-ins handed out.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { sigv4Of } from './aws-sigv4.ts';
import { tempDir } from './temp.ts';

export const REGION = 'eu-west-3';
export const KEY = 'AKIDBASEKEYFORSTS001';
export const SECRET = 'base-secret-that-signs-assume-role';
export const WEB_TOKEN = 'eyJ-web-identity-token-from-the-projected-file';
export const ECS_AUTH = 'ecs-authorization-token-value';
export const IMDS_TOKEN = 'imds-session-token-AQAEAxyz';
/** Every secret handed out, by access key id: Lambda and STS check signatures with them. */
export const secrets: Record<string, string> = { [KEY]: SECRET };
/** Every secret and token handed out, that no log line may hold. */
export const handedOut: string[] = [SECRET, WEB_TOKEN, ECS_AUTH, IMDS_TOKEN];

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  signedBy?: string | null;
}

let issued = 0;
/** The access key id handed out last. */
export let lastIssued = '';

/** How the stand-ins behave; a test sets them, each test starts from these. */
const DEFAULTS = {
  /** How long the credentials handed out live, in ms. */
  lifetime: 3600_000,
  /** Whether the metadata service refuses v2's session tokens (IMDSv1 only). */
  imdsV1Only: false,
  /** Whether the token's answer never comes (a container behind a PUT response hop limit of 1). */
  imdsTokenLost: false,
  /** Whether STS answers 503 to everything. */
  stsDown: false,
};
export const knobs = { ...DEFAULTS };

function issue(prefix: string): { id: string; secret: string; token: string; expiration: string } {
  issued++;
  const id = `${prefix}${String(issued).padStart(4, '0')}`;
  const secret = `secret-of-${id}`;
  const token = `session-token-of-${id}`;
  secrets[id] = secret;
  lastIssued = id;
  handedOut.push(secret, token);
  return { id, secret, token, expiration: new Date(Date.now() + knobs.lifetime).toISOString() };
}

type Handler = (seen: Seen, res: ServerResponse) => void;

async function stand(service: string, handler: Handler): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      s.signedBy = sigv4Of(req, s.body, secrets, REGION, service);
      seen.push(s);
      handler(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

export let lambda: Awaited<ReturnType<typeof stand>>;
export let sts: Awaited<ReturnType<typeof stand>>;
export let imds: Awaited<ReturnType<typeof stand>>;
export let ecs: Awaited<ReturnType<typeof stand>>;
/** A metadata service that takes connections and never answers. */
export let dead: Awaited<ReturnType<typeof stand>>;
let gw: TestGateway | undefined;
const saved = { ...process.env };

/** Starts the stand-ins before the file's tests, resets them and the environment after each. */
export function useStandIns(): void {
  before(async () => {
    lambda = await stand('lambda', (s, res) => {
      if (s.signedBy === null) return json(res, 403, { message: 'The request signature we calculated does not match' });
      json(res, 200, { ok: true });
    });
    sts = await stand('sts', (s, res) => {
      const p = new URLSearchParams(s.body);
      const action = p.get('Action')!;
      if (knobs.stsDown) return res.writeHead(503, { 'content-type': 'text/xml' }).end('<ErrorResponse/>');
      if (action === 'AssumeRole' && !s.signedBy) {
        res.writeHead(403, { 'content-type': 'text/xml' });
        return res.end(
          '<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>bad</Message></Error></ErrorResponse>',
        );
      }
      if (p.get('RoleArn')?.endsWith('role/refused')) {
        // An STS whose message quotes what it got.
        res.writeHead(400, { 'content-type': 'text/xml' });
        return res.end(
          `<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>Bad token ${p.get('WebIdentityToken')}</Message></Error></ErrorResponse>`,
        );
      }
      const c = issue(action === 'AssumeRole' ? 'ASIAASSUMED' : 'ASIAWEBID');
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        `<${action}Response><${action}Result><Credentials><AccessKeyId>${c.id}</AccessKeyId>` +
          `<SecretAccessKey>${c.secret}</SecretAccessKey><SessionToken>${c.token}</SessionToken>` +
          `<Expiration>${c.expiration}</Expiration></Credentials></${action}Result></${action}Response>`,
      );
    });
    imds = await stand('-', (s, res) => {
      if (s.method === 'PUT' && s.url === '/latest/api/token') {
        if (knobs.imdsTokenLost) return;
        return knobs.imdsV1Only ? res.writeHead(403).end() : res.end(IMDS_TOKEN);
      }
      if (!knobs.imdsV1Only && s.headers['x-aws-ec2-metadata-token'] !== IMDS_TOKEN) return res.writeHead(401).end();
      if (s.url === '/latest/meta-data/iam/security-credentials/') return res.end('gateway-role');
      if (s.url !== '/latest/meta-data/iam/security-credentials/gateway-role') return res.writeHead(404).end();
      const c = issue('ASIAIMDS');
      json(res, 200, {
        Code: 'Success',
        AccessKeyId: c.id,
        SecretAccessKey: c.secret,
        Token: c.token,
        Expiration: c.expiration,
      });
    });
    ecs = await stand('-', (s, res) => {
      if (s.headers.authorization !== ECS_AUTH) return res.writeHead(403).end();
      const c = issue('ASIAECS');
      json(res, 200, { AccessKeyId: c.id, SecretAccessKey: c.secret, Token: c.token, Expiration: c.expiration });
    });
    dead = await stand('-', () => {});
  });

  afterEach(async () => {
    process.env = { ...saved };
    await gw?.close();
    gw = undefined;
    Object.assign(knobs, DEFAULTS);
  });

  after(async () => {
    for (const s of [lambda, sts, imds, ecs, dead]) {
      s?.server.closeAllConnections();
      await new Promise((r) => s?.server.close(r));
    }
  });
}

/**
 * A gateway whose environment has `env` (and no static keys, and a HOME without ~/.aws: the
 * machine's own shared files are not read), with an aws-lambda route `/fn`, and one `/NAME` for
 * each of `more` with that config over `config`.
 */
export async function gateway(
  env: Record<string, string | undefined>,
  config: Record<string, unknown> = {},
  more: Record<string, Record<string, unknown>> = {},
): Promise<TestGateway> {
  for (const k of Object.keys(process.env)) if (/^(AWS|AMAZON)_/.test(k)) delete process.env[k];
  Object.assign(process.env, { AWS_EC2_METADATA_DISABLED: 'true', HOME: tempDir('tollgate-home') });
  // An undefined value leaves the variable unset.
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const { port } = new URL(lambda.url);
  const fn = (name: string, own: Record<string, unknown>) => ({
    name,
    paths: [`/${name}`],
    plugins: [
      {
        name: 'aws-lambda',
        config: {
          aws_region: REGION,
          host: '127.0.0.1',
          port: Number(port),
          disable_https: true,
          function_name: 'fn',
          ...config,
          ...own,
        },
      },
    ],
  });
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 's',
          url: 'echo://',
          routes: [
            { name: 'plain', paths: ['/plain'] },
            fn('fn', {}),
            ...Object.entries(more).map(([name, own]) => fn(name, own)),
          ],
        },
      ],
    },
  });
  return gw;
}

/** `n` invocations at once (of the route `/fn`, or `/NAME`); their statuses. */
export async function invoke(g: TestGateway, n = 1, name = 'fn'): Promise<number[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const res = await fetch(`${g.url}/${name}`);
      await res.body?.cancel();
      return res.status;
    }),
  );
}

/** The access key id and the session token of Lambda's last invocation. */
export function lastSigner(): { keyId: string | null | undefined; token: unknown } {
  const inv = lambda.seen.at(-1);
  assert.ok(inv, 'Lambda was not called');
  return { keyId: inv.signedBy, token: inv.headers['x-amz-security-token'] };
}

export function noSecretLogged(g: TestGateway): void {
  const text = JSON.stringify(g.logs);
  for (const s of handedOut) assert.ok(!text.includes(s), `a secret or token was logged: ${s.slice(0, 12)}...`);
}
