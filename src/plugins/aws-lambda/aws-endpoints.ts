/**
 * The AWS endpoints that hand out temporary credentials, each a small documented HTTP API: STS's
 * AssumeRole and AssumeRoleWithWebIdentity (the Query API, an XML answer), the EC2 instance
 * metadata service (IMDS, v1 or v2), and the ECS/EKS container credentials endpoint (JSON).
 *
 * Every call runs under the caller's deadline (an AbortSignal), reads at most 64 KiB of answer,
 * and its errors name the endpoint and the status but never a secret, a session token or the web
 * identity token (an answer's body is not quoted, but for STS's own error code and message).
 */
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { Credentials } from 'aws4';
import { Agent, type Dispatcher, ProxyAgent, request } from 'undici';

/** Credentials with, for temporary ones, when they expire (epoch milliseconds). */
export interface AwsCredentials extends Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: number;
}

/** A credential fetch that failed; its message names no secret. */
export class CredentialError extends Error {}

/** The most of an answer read from a credential endpoint: they answer a few hundred bytes. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** The most of a web identity or container authorization token file read. */
const MAX_TOKEN_FILE_BYTES = 64 * 1024;

/** The aws4 module, loaded at the first signature. */
let aws4: Promise<typeof import('aws4')> | null = null;

export function signer(): Promise<typeof import('aws4')> {
  aws4 ??= import('aws4').then((m) => (m as { default?: typeof import('aws4') }).default ?? m);
  return aws4;
}

/** One small pool for the credential endpoints, made at the first fetch. */
let agent: Agent | null = null;

function dispatcher(): Agent {
  agent ??= new Agent({ keepAliveTimeout: 4000, connections: 4 });
  return agent;
}

/**
 * The way to STS through an HTTP proxy (Kong's proxy_url: its STS client has http_proxy and
 * https_proxy set to it), opened at the first call. The metadata and container endpoints are
 * link-local or loopback: Kong reaches them directly, and so does the gateway.
 */
export class StsProxy {
  #agent: ProxyAgent | null = null;
  readonly #uri: string;
  constructor(uri: string) {
    this.#uri = uri;
  }
  dispatcher(): Dispatcher {
    this.#agent ??= new ProxyAgent({ uri: this.#uri, proxyTunnel: false, connections: 4, keepAliveTimeout: 4000 });
    return this.#agent;
  }
  close(): Promise<void> {
    return this.#agent?.close() ?? Promise.resolve();
  }
}

interface Answer {
  status: number;
  text: string;
}

/** One call to a credential endpoint, its answer read whole up to MAX_ANSWER_BYTES. */
async function call(
  what: string,
  url: string,
  method: 'GET' | 'PUT' | 'POST',
  headers: Record<string, string>,
  body: string | undefined,
  signal: AbortSignal,
  proxy: StsProxy | null = null,
): Promise<Answer> {
  try {
    const via = proxy === null ? dispatcher() : proxy.dispatcher();
    const res = await request(url, { method, headers, body, signal, dispatcher: via });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) {
        res.body.destroy();
        throw new CredentialError(`${what}: answer over ${MAX_ANSWER_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    return { status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') };
  } catch (err) {
    if (err instanceof CredentialError) throw err;
    if (signal.aborted) throw new CredentialError(`${what}: no answer before the deadline`);
    throw new CredentialError(`${what}: ${(err as Error).message}`.slice(0, 300));
  }
}

/**
 * A credential file (a token, the shared credentials), opened without blocking and refused unless a
 * regular file: open() of a FIFO waits for a writer in a thread of libuv's pool, past any deadline,
 * and four such threads stall every file access and DNS lookup of the process.
 */
export async function openRegular(path: string): Promise<FileHandle> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!(await fh.stat()).isFile())
      throw Object.assign(new Error('not a regular file'), { code: 'not a regular file' });
  } catch (err) {
    await fh.close();
    throw err;
  }
  return fh;
}

/** A token read from a file, trimmed, refused when it cannot go in a header or a form. */
async function tokenFile(what: string, path: string): Promise<string> {
  let text: string;
  try {
    const fh = await openRegular(path);
    try {
      const buf = Buffer.alloc(MAX_TOKEN_FILE_BYTES + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      if (bytesRead > MAX_TOKEN_FILE_BYTES) throw new CredentialError(`${what}: token file over 64 KiB`);
      text = buf.subarray(0, bytesRead).toString('utf8').trim();
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof CredentialError) throw err;
    throw new CredentialError(`${what}: token file unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!HEADER_SAFE.test(text)) throw new CredentialError(`${what}: token file empty or with control characters`);
  return text;
}

/** Printable ASCII: what a token can be to go in a header. */
const HEADER_SAFE = /^[\x20-\x7e]+$/;

/** Credentials from the JSON that IMDS and the container endpoint answer. */
function fromJson(what: string, text: string): AwsCredentials {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new CredentialError(`${what}: answer is not JSON`);
  }
  const { AccessKeyId: id, SecretAccessKey: secret, Token: token, Expiration: exp } = json;
  if (typeof id !== 'string' || typeof secret !== 'string' || id === '' || secret === '') {
    throw new CredentialError(`${what}: answer has no AccessKeyId and SecretAccessKey`);
  }
  return withExpiry(what, { accessKeyId: id, secretAccessKey: secret, ...tokenOf(token) }, exp);
}

function tokenOf(token: unknown): { sessionToken?: string } {
  return typeof token === 'string' && token !== '' ? { sessionToken: token } : {};
}

function withExpiry(what: string, creds: AwsCredentials, exp: unknown): AwsCredentials {
  const at = typeof exp === 'string' ? Date.parse(exp) : Number.NaN;
  if (Number.isNaN(at)) throw new CredentialError(`${what}: answer has no valid Expiration`);
  // Credentials already expired cannot sign: taken, they would be fetched again by every request
  // (each finds them expired) and each call refused by AWS. A failure is held for a second instead,
  // and the log says why (a wrong clock here or at the endpoint).
  if (at <= Date.now()) throw new CredentialError(`${what}: answer's Expiration is already past (check the clock)`);
  creds.expiration = at;
  return creds;
}

// ---------------------------------------------------------------- EC2 instance metadata (IMDS)

/** The instance metadata service's address. */
export const IMDS_DEFAULT = 'http://169.254.169.254';
/** The token's life asked for, in seconds: one fetch needs it for a few seconds only. */
const IMDS_TOKEN_TTL = '300';
/**
 * How long v1 waits for the token before going on without one. In a container on an instance whose
 * PUT response hop limit is 1 (IMDSv2's default there), the token's answer is dropped on the way
 * and the PUT hangs: AWS's SDKs give IMDS 1 s before they fall back to v1, and lua-resty-aws goes on
 * after its own per-call timeout. Waiting the whole fetch deadline would leave v1 no time at all.
 */
const IMDS_TOKEN_WAIT_V1_MS = 1000;
const IMDS_ROLE_PATH = '/latest/meta-data/iam/security-credentials/';

/**
 * The instance profile's credentials. v2 asks a session token first (PUT /latest/api/token) and
 * fails without one; v1 asks it too and goes on without one when IMDS refuses it, as Kong's
 * lua-resty-aws does, so that v1 (Kong's default) works on instances that allow both.
 */
export async function imdsCredentials(
  endpoint: string,
  version: 'v1' | 'v2',
  signal: AbortSignal,
): Promise<AwsCredentials> {
  const base = endpoint.replace(/\/+$/, '');
  const headers: Record<string, string> = {};
  let tokenError: string | null = null;
  // v2 needs the token: it may take the whole deadline. v1 only tries it.
  const tokenSignal = version === 'v2' ? signal : AbortSignal.any([signal, AbortSignal.timeout(IMDS_TOKEN_WAIT_V1_MS)]);
  try {
    const put = await call(
      'IMDS token',
      `${base}/latest/api/token`,
      'PUT',
      { 'x-aws-ec2-metadata-token-ttl-seconds': IMDS_TOKEN_TTL },
      undefined,
      tokenSignal,
    );
    if (put.status === 200 && HEADER_SAFE.test(put.text)) headers['x-aws-ec2-metadata-token'] = put.text;
    else tokenError = `IMDS token: status ${put.status}`;
  } catch (err) {
    if (signal.aborted) throw err;
    tokenError = (err as Error).message;
  }
  if (tokenError !== null && version === 'v2') throw new CredentialError(tokenError);
  const role = await call('IMDS role', `${base}${IMDS_ROLE_PATH}`, 'GET', headers, undefined, signal);
  if (role.status !== 200) throw new CredentialError(`IMDS role: status ${role.status}`);
  const name = role.text.split('\n', 1)[0]!.trim();
  if (name === '' || name.length > 128) throw new CredentialError('IMDS role: no instance profile role');
  const creds = await call(
    'IMDS credentials',
    `${base}${IMDS_ROLE_PATH}${encodeURIComponent(name)}`,
    'GET',
    headers,
    undefined,
    signal,
  );
  if (creds.status !== 200) throw new CredentialError(`IMDS credentials: status ${creds.status}`);
  return fromJson('IMDS credentials', creds.text);
}

// ---------------------------------------------------------------- ECS / EKS container endpoint

const ECS_RELATIVE_HOST = 'http://169.254.170.2';
/** Hosts a full URI may reach over plain http: loopback, and ECS's and EKS Pod Identity's addresses. */
const PLAIN_HTTP_HOSTS = new Set([
  'localhost',
  '127.0.0.1',
  '[::1]',
  '169.254.170.2',
  '169.254.170.23',
  '[fd00:ec2::23]',
]);

/** The container credentials URL of the environment, or null when it names none. */
export function containerUrl(env: NodeJS.ProcessEnv): string | null {
  const relative = env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI;
  if (relative) return `${ECS_RELATIVE_HOST}${relative.startsWith('/') ? '' : '/'}${relative}`;
  return env.AWS_CONTAINER_CREDENTIALS_FULL_URI || null;
}

/** Why a container full URI cannot be used (AWS's rule: https, or http to a known host), or null. */
export function containerUrlProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL';
  }
  if (u.protocol === 'https:') return null;
  if (u.protocol !== 'http:') return 'AWS_CONTAINER_CREDENTIALS_FULL_URI must be http or https';
  if (PLAIN_HTTP_HOSTS.has(u.hostname)) return null;
  return 'AWS_CONTAINER_CREDENTIALS_FULL_URI over http must name a loopback or the ECS/EKS credentials address';
}

/**
 * The task's or pod's credentials: GET the endpoint, with the authorization token of
 * AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at each fetch: EKS rotates it) or
 * AWS_CONTAINER_AUTHORIZATION_TOKEN.
 */
export async function containerCredentials(
  url: string,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal,
): Promise<AwsCredentials> {
  const headers: Record<string, string> = {};
  const file = env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
  if (file) headers.authorization = await tokenFile('container credentials', file);
  else if (env.AWS_CONTAINER_AUTHORIZATION_TOKEN) {
    const token = env.AWS_CONTAINER_AUTHORIZATION_TOKEN;
    if (!HEADER_SAFE.test(token)) throw new CredentialError('container credentials: authorization token unusable');
    headers.authorization = token;
  }
  const res = await call('container credentials', url, 'GET', headers, undefined, signal);
  if (res.status !== 200) throw new CredentialError(`container credentials: status ${res.status}`);
  return fromJson('container credentials', res.text);
}

// ---------------------------------------------------------------- STS

/**
 * STS's regional endpoint, as Kong's lua-resty-aws uses by default (sts_regional_endpoints
 * "regional"); the global one without a region. The China regions are under amazonaws.com.cn
 * (lua-resty-aws's endpoint suffix of `cn-*` regions).
 */
export function stsEndpoint(region: string | null): string {
  if (region === null) return 'https://sts.amazonaws.com';
  return `https://sts.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
}

/**
 * A label that names a region (eu-west-3, us-gov-west-1, af-south-1). lua-resty-aws checks a
 * shorter list of prefixes and would put a region into sts.af-south-1.amazonaws.com a second time;
 * any region-like label counts here.
 */
const REGION_LABEL = /(^|\.)[a-z]{2}(-[a-z]+)+-\d+\./;
const AWS_PUBLIC = /^(.+)(\.amazonaws\.com)$/;

/**
 * aws_sts_endpoint_url as lua-resty-aws uses it (sts_regional_endpoints "regional", its default):
 * a public AWS name without a region, such as the global https://sts.amazonaws.com, gets the
 * region put in (https://sts.eu-west-3.amazonaws.com), which is also the region that signs; a
 * name with a region, a VPC endpoint or any other host is used as written.
 */
export function regionalStsUrl(url: string, region: string | null): string {
  if (region === null) return url;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  const host = u.hostname;
  if (host.endsWith('.vpce.amazonaws.com') || REGION_LABEL.test(host)) return url;
  const m = AWS_PUBLIC.exec(host);
  if (m === null) return url;
  u.hostname = `${m[1]}.${region}${m[2]}`;
  return u.href;
}

const STS_FIELD = {
  AccessKeyId: /<AccessKeyId>([^<]+)<\/AccessKeyId>/,
  SecretAccessKey: /<SecretAccessKey>([^<]+)<\/SecretAccessKey>/,
  SessionToken: /<SessionToken>([^<]+)<\/SessionToken>/,
  Expiration: /<Expiration>([^<]+)<\/Expiration>/,
};
const STS_ERROR_CODE = /<Code>([^<]{1,128})<\/Code>/;
const STS_ERROR_MESSAGE = /<Message>([^<]{0,512})<\/Message>/;
const XML_ENTITY = /&(amp|lt|gt|quot|apos);/g;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unxml(text: string): string {
  return text.replace(XML_ENTITY, (_, e: string) => ENTITIES[e]!);
}

/** One STS Query API call; `base` signs it (AssumeRole) or nothing does (AssumeRoleWithWebIdentity). */
async function sts(
  action: 'AssumeRole' | 'AssumeRoleWithWebIdentity',
  params: Record<string, string>,
  endpoint: string,
  region: string | null,
  base: AwsCredentials | null,
  signal: AbortSignal,
  proxy: StsProxy | null,
): Promise<AwsCredentials> {
  const what = `STS ${action}`;
  const body = new URLSearchParams({ Action: action, Version: '2011-06-15', ...params }).toString();
  let headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new CredentialError(`${what}: the STS endpoint is not a URL`);
  }
  if (base !== null) {
    const { sign } = await signer();
    const signed = sign(
      {
        host: u.hostname,
        ...(u.port !== '' ? { port: Number(u.port) } : {}),
        path: u.pathname || '/',
        method: 'POST',
        service: 'sts',
        // The global endpoint signs for us-east-1.
        region: region ?? 'us-east-1',
        headers,
        body,
      },
      base,
    );
    headers = signed.headers as Record<string, string>;
  }
  const res = await call(what, u.href, 'POST', headers, body, signal, proxy);
  if (res.status !== 200) {
    const code = STS_ERROR_CODE.exec(res.text)?.[1];
    let message = STS_ERROR_MESSAGE.exec(res.text)?.[1];
    // STS's message goes to the log: never with the web identity token, should it quote it.
    const token = params.WebIdentityToken;
    if (message !== undefined && token !== undefined) message = unxml(message).split(token).join('[token]');
    else if (message !== undefined) message = unxml(message);
    throw new CredentialError(
      `${what}: status ${res.status}${code ? ` ${unxml(code)}` : ''}${message ? `: ${message}` : ''}`,
    );
  }
  // indexOf, not a lazy regex: linear on any answer.
  const start = res.text.indexOf('<Credentials>');
  const end = start < 0 ? -1 : res.text.indexOf('</Credentials>', start);
  const block = end < 0 ? undefined : res.text.slice(start + '<Credentials>'.length, end);
  const id = block && STS_FIELD.AccessKeyId.exec(block)?.[1];
  const secret = block && STS_FIELD.SecretAccessKey.exec(block)?.[1];
  if (!block || !id || !secret) throw new CredentialError(`${what}: answer has no Credentials`);
  const token = STS_FIELD.SessionToken.exec(block)?.[1];
  const creds: AwsCredentials = {
    accessKeyId: unxml(id),
    secretAccessKey: unxml(secret),
    ...(token ? { sessionToken: unxml(token) } : {}),
  };
  return withExpiry(what, creds, STS_FIELD.Expiration.exec(block)?.[1]);
}

/** STS AssumeRole, signed with the base credentials. */
export function assumeRole(
  base: AwsCredentials,
  roleArn: string,
  sessionName: string,
  endpoint: string,
  region: string | null,
  signal: AbortSignal,
  proxy: StsProxy | null,
): Promise<AwsCredentials> {
  return sts('AssumeRole', { RoleArn: roleArn, RoleSessionName: sessionName }, endpoint, region, base, signal, proxy);
}

/** STS AssumeRoleWithWebIdentity with the token of the file (read at each fetch: it rotates). */
export async function assumeRoleWithWebIdentity(
  tokenPath: string,
  roleArn: string,
  sessionName: string,
  endpoint: string,
  region: string | null,
  signal: AbortSignal,
  proxy: StsProxy | null,
): Promise<AwsCredentials> {
  const token = await tokenFile('web identity', tokenPath);
  return sts(
    'AssumeRoleWithWebIdentity',
    { RoleArn: roleArn, RoleSessionName: sessionName, WebIdentityToken: token },
    endpoint,
    region,
    null,
    signal,
    proxy,
  );
}
