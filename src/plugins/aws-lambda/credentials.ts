/**
 * Where aws-lambda's credentials come from, in the order Kong 3 tries them (its handler, then
 * lua-resty-aws's default provider chain): aws_key/aws_secret of the config; AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) of the environment, then the AMAZON_ ones; the
 * profile of the shared credentials file (shared-file.ts, read at the first fetch); the ECS/EKS container
 * endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI); web identity
 * (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN: EKS's IRSA, through STS
 * AssumeRoleWithWebIdentity); the EC2 instance metadata service, unless
 * AWS_EC2_METADATA_DISABLED is set (to anything but false). With aws_assume_role_arn, STS
 * AssumeRole on top of whichever gave base credentials.
 *
 * Temporary credentials are cached until 15 s before they expire (lua-resty-aws's expiryWindow):
 * from 5 minutes before, a fetch starts in the background while the cached ones still sign, so the
 * request path waits for a fetch only at the start, or when a refresh failed for 5 minutes. One
 * fetch at a time per source, shared by every request and every route with the same source (and
 * across reloads); each fetch has a deadline; a failed one is remembered for a second, so a dead
 * endpoint is not asked again by every request.
 */
import { createHash } from 'node:crypto';
import type { GatewayServices } from '../../index.ts';
import {
  type AwsCredentials,
  assumeRole,
  assumeRoleWithWebIdentity,
  CredentialError,
  containerCredentials,
  containerUrl,
  containerUrlProblem,
  IMDS_DEFAULT,
  imdsCredentials,
  regionalStsUrl,
  StsProxy,
  stsEndpoint,
} from './aws-endpoints.ts';
import { NoSharedFile, sharedFileCredentials, sharedFiles } from './shared-file.ts';

export { type AwsCredentials, CredentialError, signer } from './aws-endpoints.ts';

/** lua-resty-aws refreshes credentials this long before they expire. */
const EXPIRY_WINDOW_MS = 15_000;
/** A fetch starts in the background this long before expiry, as AWS's SDKs do. */
const EARLY_REFRESH_MS = 5 * 60_000;
/** A failed fetch answers the requests of this long after it without asking again. */
const FAILURE_HOLD_MS = 1000;
/** Kong's deadline for a metadata request (lua-resty-aws: 5 s). */
export const MAX_FETCH_MS = 5000;
/** lua-resty-aws's session name of a web identity without AWS_ROLE_SESSION_NAME. */
const WEB_IDENTITY_SESSION = 'session@lua-resty-aws';

/** Credentials for a signature: those at hand, or a fetch of them. */
export interface CredentialSource {
  /** The credentials that can sign now, or null when they must be fetched first. */
  current(): AwsCredentials | null;
  /** A fetch (or the one in flight); rejects with a CredentialError. */
  refresh(): Promise<AwsCredentials>;
}

class StaticCredentials implements CredentialSource {
  readonly #creds: AwsCredentials;
  readonly #resolved: Promise<AwsCredentials>;
  constructor(creds: AwsCredentials) {
    this.#creds = creds;
    this.#resolved = Promise.resolve(creds);
  }
  current(): AwsCredentials {
    return this.#creds;
  }
  refresh(): Promise<AwsCredentials> {
    return this.#resolved;
  }
}

type Fetch = (signal: AbortSignal) => Promise<AwsCredentials>;

/** Temporary credentials, cached until they expire, fetched once at a time under a deadline. */
export class CachedCredentials implements CredentialSource {
  #creds: AwsCredentials | null = null;
  #inflight: Promise<AwsCredentials> | null = null;
  #failure: CredentialError | null = null;
  #failedAt = 0;
  readonly #fetch: Fetch;
  readonly #deadlineMs: number;

  constructor(fetch: Fetch, deadlineMs: number) {
    this.#fetch = fetch;
    this.#deadlineMs = deadlineMs;
  }

  current(): AwsCredentials | null {
    const creds = this.#creds;
    if (creds === null) return null;
    const expiration = creds.expiration ?? Number.POSITIVE_INFINITY;
    const now = Date.now();
    if (now >= expiration - EXPIRY_WINDOW_MS) return null;
    if (now >= expiration - EARLY_REFRESH_MS && this.#inflight === null && now - this.#failedAt >= FAILURE_HOLD_MS) {
      // The cached credentials still sign; a failure here shows at the next fetch that must wait.
      this.refresh().catch(() => {});
    }
    return creds;
  }

  refresh(): Promise<AwsCredentials> {
    if (this.#inflight !== null) return this.#inflight;
    if (this.#failure !== null && Date.now() - this.#failedAt < FAILURE_HOLD_MS) return Promise.reject(this.#failure);
    const signal = AbortSignal.timeout(this.#deadlineMs);
    this.#inflight = this.#fetch(signal).then(
      (creds) => {
        this.#creds = creds;
        this.#failure = null;
        this.#inflight = null;
        return creds;
      },
      (err: unknown) => {
        const failure =
          err instanceof CredentialError ? err : new CredentialError(String((err as Error)?.message).slice(0, 300));
        this.#failure = failure;
        this.#failedAt = Date.now();
        this.#inflight = null;
        throw failure;
      },
    );
    return this.#inflight;
  }
}

/** What picks the credential source: the config's fields and the environment's variables. */
export interface CredentialConfig {
  aws_key?: string | null;
  aws_secret?: string | null;
  aws_assume_role_arn?: string | null;
  aws_role_session_name?: string | null;
  aws_sts_endpoint_url?: string | null;
  aws_imds_protocol_version: 'v1' | 'v2';
  proxy_url?: string | null;
  timeout: number;
}

/** A source of the environment's chain: its name (for errors) and its fetch. */
interface Link {
  name: string;
  fetch: Fetch;
}

/** The environment's sources after the static keys, in lua-resty-aws's order. */
function environmentChain(
  env: NodeJS.ProcessEnv,
  region: string | null,
  imdsVersion: 'v1' | 'v2',
  proxy: StsProxy | null,
): Link[] {
  const links: Link[] = [];
  const files = sharedFiles(env);
  if (files.credentials !== null || files.config !== null) {
    links.push({ name: 'shared credentials', fetch: () => sharedFileCredentials(files) });
  }
  const container = containerUrl(env);
  if (container !== null) {
    const problem = env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI ? null : containerUrlProblem(container);
    links.push({
      name: 'container',
      fetch: (signal) =>
        problem === null ? containerCredentials(container, env, signal) : Promise.reject(new CredentialError(problem)),
    });
  }
  const tokenFile = env.AWS_WEB_IDENTITY_TOKEN_FILE;
  const roleArn = env.AWS_ROLE_ARN;
  if (tokenFile && roleArn) {
    const session = env.AWS_ROLE_SESSION_NAME || WEB_IDENTITY_SESSION;
    // AWS_ENDPOINT_URL_STS is AWS's variable for another STS endpoint (a VPC endpoint, a test).
    const endpoint = env.AWS_ENDPOINT_URL_STS || stsEndpoint(region);
    links.push({
      name: 'web identity',
      // Through proxy_url, as Kong's handler rebuilds this provider's STS client with it.
      fetch: (signal) => assumeRoleWithWebIdentity(tokenFile, roleArn, session, endpoint, region, signal, proxy),
    });
  }
  if (imdsEnabled(env)) {
    const endpoint = env.AWS_EC2_METADATA_SERVICE_ENDPOINT || IMDS_DEFAULT;
    links.push({ name: 'instance metadata', fetch: (signal) => imdsCredentials(endpoint, imdsVersion, signal) });
  }
  return links;
}

/** lua-resty-aws reads any value of AWS_EC2_METADATA_DISABLED but "false" as disabled. */
function imdsEnabled(env: NodeJS.ProcessEnv): boolean {
  const disabled = env.AWS_EC2_METADATA_DISABLED;
  return disabled === undefined || disabled === 'false';
}

/**
 * Whether the config or the environment names a source of credentials (keys, a container
 * endpoint, a web identity, instance metadata), the shared files aside: those are not read at
 * load, so without another source the operator is told at load that invocations may fail.
 */
export function namesCredentialSource(config: CredentialConfig, env: NodeJS.ProcessEnv = process.env): boolean {
  return (
    staticKeys(config, env) !== null ||
    containerUrl(env) !== null ||
    Boolean(env.AWS_WEB_IDENTITY_TOKEN_FILE && env.AWS_ROLE_ARN) ||
    imdsEnabled(env)
  );
}

/** The first source of the chain that gives credentials; its error lists why each failed. */
function chainFetch(links: Link[]): Fetch {
  return async (signal) => {
    const errors: string[] = [];
    let absent: string | null = null;
    for (const link of links) {
      try {
        return await link.fetch(signal);
      } catch (err) {
        if (err instanceof NoSharedFile) absent = err.message;
        else errors.push((err as Error).message);
        if (signal.aborted) break;
      }
    }
    if (errors.length === 0 && absent !== null) errors.push(absent);
    throw new CredentialError(errors.join('; ').slice(0, 600));
  };
}

const ENV_PREFIXES = ['AWS', 'AMAZON'] as const;

/** Static keys of the config, then of the environment; null when neither has both. */
function staticKeys(config: CredentialConfig, env: NodeJS.ProcessEnv): AwsCredentials | null {
  if (config.aws_key != null && config.aws_secret != null) {
    return { accessKeyId: config.aws_key, secretAccessKey: config.aws_secret };
  }
  // lua-resty-aws's chain reads the AWS_ variables, then the AMAZON_ ones.
  for (const prefix of ENV_PREFIXES) {
    const id = env[`${prefix}_ACCESS_KEY_ID`];
    const secret = env[`${prefix}_SECRET_ACCESS_KEY`];
    if (!id || !secret) continue;
    const token = env[`${prefix}_SESSION_TOKEN`];
    return { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
  }
  return null;
}

const CHAIN_VARIABLES = [
  'HOME',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_PROFILE',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_ENDPOINT_URL_STS',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_EC2_METADATA_SERVICE_ENDPOINT',
];

/**
 * The credential source of a plugin instance, or null when there is none (no keys, and instance
 * metadata disabled). Sources that fetch are shared by key (a hash: it may cover a secret).
 */
export function credentialSource(
  config: CredentialConfig,
  region: string | null,
  services: GatewayServices,
  env: NodeJS.ProcessEnv = process.env,
): CredentialSource | null {
  const deadline = Math.max(1, Math.min(MAX_FETCH_MS, config.timeout));
  const keys = staticKeys(config, env);
  let base: CredentialSource | null = keys === null ? null : new StaticCredentials(keys);
  const proxyUrl = config.proxy_url ?? null;
  const hash = createHash('sha256').update(`${region}|${deadline}|${proxyUrl}|`);
  // STS through proxy_url: one small pool per proxy (keyed by a hash: its URL may hold a password).
  const proxy =
    proxyUrl === null
      ? null
      : services.shared(
          `aws-lambda:sts-proxy:${createHash('sha256').update(proxyUrl).digest('hex')}`,
          () => new StsProxy(proxyUrl),
          (p) => p.close(),
        );
  if (keys !== null) hash.update(`${keys.accessKeyId}|${keys.secretAccessKey}|${keys.sessionToken}|`);
  else {
    for (const k of CHAIN_VARIABLES) hash.update(`${env[k] ?? ''}|`);
    hash.update(config.aws_imds_protocol_version);
    const links = environmentChain(env, region, config.aws_imds_protocol_version, proxy);
    if (links.length === 0) return null;
    base = services.shared(
      `aws-lambda:credentials:${hash.copy().digest('hex')}`,
      () => new CachedCredentials(chainFetch(links), deadline),
    );
  }
  const roleArn = config.aws_assume_role_arn;
  if (roleArn == null || base === null) return base;
  const session = config.aws_role_session_name ?? 'kong';
  const endpoint =
    config.aws_sts_endpoint_url != null
      ? regionalStsUrl(config.aws_sts_endpoint_url, region)
      : env.AWS_ENDPOINT_URL_STS || stsEndpoint(region);
  const baseSource = base;
  hash.update(`|${roleArn}|${session}|${endpoint}`);
  return services.shared(
    `aws-lambda:assumed:${hash.digest('hex')}`,
    () =>
      new CachedCredentials(async (signal) => {
        const creds = baseSource.current() ?? (await baseSource.refresh());
        return assumeRole(creds, roleArn, session, endpoint, region, signal, proxy);
      }, deadline),
  );
}
