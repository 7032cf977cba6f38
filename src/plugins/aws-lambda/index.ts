/**
 * The `aws-lambda` plugin: Kong 3's aws-lambda. A route with it invokes an AWS Lambda function
 * (the Invoke API, `POST /2015-03-31/functions/<name>/invocations`, signed with AWS Signature
 * Version 4) instead of proxying, and answers with what the function returned.
 *
 * Credentials come from Kong's sources in Kong's order (credentials.ts). Differences from Kong, on
 * purpose (docs/plugins/aws-lambda.md): STS's certificate is verified whatever ssl_verify (Kong
 * 3.14's, for Lambda's) says, also through proxy_url's tunnel, where Kong before 3.14 verified
 * neither; the function's answer goes out as it came (Kong's legacy empty_arrays_mode re-encodes
 * JSON).
 */
import { createHash } from 'node:crypto';
import type { Request as SignedRequest } from 'aws4';
import schema from '../../../schemas/plugins/aws-lambda.schema.json' with { type: 'json' };
import type {
  GatewayRequest,
  GatewayServices,
  HeaderValue,
  PluginConfigIssue,
  PluginHandlers,
  PluginLogger,
} from '../../index.ts';
import { definePlugin, PluginConfigError, ProxyError } from '../../index.ts';
import { type FunctionAnswer, FunctionPool } from '../../lib/function-pool.ts';
import { HTTP_PROTOCOLS } from '../../lib/kong-config.ts';
import { RepeatedWarning } from '../../lib/log/index.ts';
import { lambdaHeaders, mergeHeaders, proxyAnswer } from './answer.ts';
import {
  type AwsCredentials,
  type CredentialSource,
  credentialSource,
  namesCredentialSource,
  signer,
} from './credentials.ts';
import {
  type BodyRead,
  buildPayload,
  MAX_BODY_SIZE,
  type PayloadConfig,
  readsBody,
  SKIPPED_BODY_SIZE,
} from './payload.ts';

/** The aws-lambda plugin's config, defaults applied. */
export interface AwsLambdaConfig extends PayloadConfig {
  timeout: number;
  keepalive: number;
  aws_key?: string | null;
  aws_secret?: string | null;
  aws_assume_role_arn?: string | null;
  aws_role_session_name?: string | null;
  aws_sts_endpoint_url?: string | null;
  aws_region?: string | null;
  function_name?: string | null;
  qualifier?: string | null;
  invocation_type: 'RequestResponse' | 'Event' | 'DryRun';
  log_type: 'Tail' | 'None';
  host?: string | null;
  port: number;
  disable_https: boolean;
  ssl_verify: boolean;
  unhandled_status?: number | null;
  preserve_lambda_api_error_code: boolean;
  is_proxy_integration: boolean;
  proxy_url?: string | null;
  aws_imds_protocol_version: 'v1' | 'v2';
  empty_arrays_mode: 'legacy' | 'correct';
}

/** Kong's priority for aws-lambda: after authentication, rate limiting and request-transformer. */
export const AWS_LAMBDA_PRIORITY = 750;

/** Kong's schema rules, with Kong's messages, and the fields the gateway refuses. */
function configIssues(config: Record<string, unknown>): PluginConfigIssue[] {
  const issues: PluginConfigIssue[] = [];
  const set = (k: string): boolean => config[k] !== undefined && config[k] !== null;
  if (set('aws_key') !== set('aws_secret')) {
    issues.push({
      at: [set('aws_key') ? 'aws_secret' : 'aws_key'],
      message: "all or none of these fields must be set: 'config.aws_key', 'config.aws_secret'",
      severity: 'error',
    });
  }
  if (set('aws_sts_endpoint_url') && !httpUrl(String(config.aws_sts_endpoint_url))) {
    // Kong types it as a URL (typedefs.url); STS is reached over http(s) only.
    issues.push({
      at: ['aws_sts_endpoint_url'],
      message: 'aws_sts_endpoint_url: must be an http or https URL',
      severity: 'error',
    });
  }
  if (set('proxy_url')) {
    const url = String(config.proxy_url);
    // Kong's rule and message: an http proxy only (an https target goes through a CONNECT tunnel).
    const scheme = PROXY_SCHEME.exec(url)?.[1];
    if (scheme !== undefined && scheme !== 'http') {
      issues.push({ at: ['proxy_url'], message: 'proxy_url scheme must be http', severity: 'error' });
    } else if (!httpUrl(url)) {
      // Kong types it as a URL (typedefs.url). The value is not quoted: it may hold a password.
      issues.push({ at: ['proxy_url'], message: 'proxy_url: must be an http URL', severity: 'error' });
    }
  }
  return issues;
}

const PROXY_SCHEME = /^([^:]+):\/\//;

const INTERNAL = 'An unexpected error occurred';
/** Kong's sanitized body of preserve_lambda_api_error_code. */
const PRESERVED = 'Upstream Lambda invocation failed';

/** The most answer read: Lambda's synchronous answers stop at 6 MB. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

class AwsLambda implements PluginHandlers {
  private readonly url: string | null;
  private readonly signing: SignedRequest;
  private readonly credentials: CredentialSource | null;
  private readonly region: string | null;
  private readonly bodyLimit: number;
  private readonly readsBody: boolean;
  private readonly failed: RepeatedWarning;
  private readonly skipped: RepeatedWarning;
  private readonly badAnswer: RepeatedWarning;
  private readonly pool: FunctionPool;

  constructor(
    private readonly config: AwsLambdaConfig,
    services: GatewayServices,
    logger: PluginLogger,
    warn: (message: string, field?: string) => void,
  ) {
    if (config.function_name == null) throw new PluginConfigError('function_name', 'required: the function to invoke');
    // Kong reads the region of the environment once, at start (AWS_REGION, else AWS_DEFAULT_REGION).
    const env = process.env;
    this.region = config.aws_region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? null;
    if (this.region === null) {
      warn('no region: set aws_region, or AWS_REGION in the gateway environment; invocations answer 500', 'aws_region');
    }
    this.credentials = credentialSource(config, this.region, services);
    if (this.credentials === null || !namesCredentialSource(config, env)) {
      // The shared credentials file is read at the first invocation, not here (no I/O at load).
      warn(
        'no AWS credentials but perhaps the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials, not read at load): set aws_key and aws_secret, or give the gateway AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a container or web identity role, or instance metadata, which AWS_EC2_METADATA_DISABLED turns off); otherwise invocations answer 500',
        'aws_key',
      );
    }
    const host = config.host ?? (this.region === null ? null : `lambda.${this.region}.amazonaws.com`);
    const scheme = config.disable_https ? 'http' : 'https';
    let path = `/2015-03-31/functions/${encodeURIComponent(config.function_name)}/invocations`;
    if (config.qualifier != null) path += `?Qualifier=${encodeURIComponent(config.qualifier)}`;
    const defaultPort = config.disable_https ? 80 : 443;
    this.url = host === null ? null : `${scheme}://${hostForUrl(host)}:${config.port}${path}`;
    if (!config.disable_https && !config.ssl_verify) {
      // Kong 3.14's ssl_verify: false. The signature keeps the keys safe, not the payload or the answer.
      warn(
        `ssl_verify is off: the certificate of ${host ?? 'the Lambda endpoint'} is not verified; anyone on the path can read the requests sent to the function and forge its answers`,
        'ssl_verify',
      );
    }
    // What every invocation signs, but the body and the time (aws4 fills them per call).
    this.signing = {
      host: host ?? '',
      ...(config.port !== defaultPort ? { port: config.port } : {}),
      path,
      method: 'POST',
      service: 'lambda',
      region: this.region ?? '',
      headers: {
        'Content-Type': 'application/json',
        'X-Amz-Invocation-Type': config.invocation_type,
        'X-Amz-Log-Type': config.log_type,
      },
    };
    this.readsBody = readsBody(config);
    this.bodyLimit = config.skip_large_bodies ? SKIPPED_BODY_SIZE : MAX_BODY_SIZE;
    this.failed = new RepeatedWarning(logger, 'Lambda invocation failed', 1000, 'error');
    this.badAnswer = new RepeatedWarning(logger, 'could not JSON decode Lambda function response', 1000, 'error');
    // One pool per endpoint, keepalive, verification and proxy, kept across reloads. The key names
    // no secret: the proxy is in it by a hash, as its URL may hold a password.
    const origin = this.url === null ? '' : new URL(this.url).origin;
    const proxy = config.proxy_url ?? undefined;
    const proxyKey = proxy === undefined ? '' : `|${createHash('sha256').update(proxy).digest('hex')}`;
    this.pool = services.shared(
      `aws-lambda:${origin}|${config.keepalive}|${config.ssl_verify}${proxyKey}`,
      () =>
        new FunctionPool({
          keepaliveMs: config.keepalive,
          maxAnswerBytes: MAX_ANSWER_BYTES,
          verify: config.ssl_verify,
          ...(proxy === undefined ? {} : { proxy }),
        }),
      (p) => p.close(),
    );
    this.skipped = new RepeatedWarning(logger, 'request body was buffered to disk, too large: left out of the payload');
  }

  async access(req: GatewayRequest): Promise<void> {
    const started = Date.now();
    // Kong's KONG_WAITING_TIME: from the plugin's start to Lambda's answer, logged as `proxy`.
    const waitStart = performance.now();
    let body: BodyRead = null;
    if (this.readsBody) {
      body = await req.readBody(this.bodyLimit);
      if (body === null) {
        if (!this.config.skip_large_bodies) return req.exitError(413, undefined, undefined, 'BODY_TOO_LARGE');
        this.skipped.report({ limit: this.bodyLimit });
      }
    }
    if (this.url === null || this.credentials === null) {
      this.failed.report({ error: this.url === null ? 'no region specified' : 'no AWS credentials' });
      return req.exitError(500, INTERNAL, undefined, 'LAMBDA_FAILED');
    }
    let credentials: AwsCredentials;
    try {
      credentials = this.credentials.current() ?? (await this.credentials.refresh());
    } catch (err) {
      // Kong raises the credential provider's error: a 500. The message names no secret.
      this.failed.report({ error: (err as Error).message, function: this.config.function_name });
      return req.exitError(500, INTERNAL, undefined, 'LAMBDA_FAILED');
    }
    const payload = buildPayload(req, this.config, body, started);
    const { sign } = await signer();
    const signed = sign({ ...this.signing, headers: { ...this.signing.headers }, body: payload }, credentials);
    let res: FunctionAnswer;
    try {
      res = await this.pool.call(
        this.url,
        { method: 'POST', headers: signed.headers as Record<string, string>, body: payload },
        this.config.timeout,
        req,
      );
    } catch (err) {
      // The gateway's own refusal (the budget of held bodies spent) keeps its status.
      if (err instanceof ProxyError) throw err;
      req.recordUpstreamLatency(performance.now() - waitStart);
      // Kong raises the error: a 500 (a timeout as well).
      this.failed.report({ error: (err as Error).message, function: this.config.function_name });
      return req.exitError(500, INTERNAL, undefined, 'LAMBDA_FAILED');
    }
    req.recordUpstreamLatency(performance.now() - waitStart);
    if (res.status >= 400) {
      // Kong raises Lambda's Message (ResourceNotFoundException, AccessDenied, throttling): a 500.
      this.failed.report({ status: res.status, error: lambdaMessage(res.body), function: this.config.function_name });
      if (this.config.preserve_lambda_api_error_code && res.status <= 599) {
        // Kong 3.15: Lambda's status, with a body that names no AWS message or ARN.
        return req.exit(res.status, { message: PRESERVED }, undefined, 'LAMBDA_FAILED');
      }
      return req.exitError(500, INTERNAL, undefined, 'LAMBDA_FAILED');
    }
    const headers = lambdaHeaders(res.headers);
    if (this.config.is_proxy_integration) {
      const answer = proxyAnswer(res.body);
      if (typeof answer === 'string') {
        this.badAnswer.report({ error: answer, function: this.config.function_name });
        return req.exit(
          502,
          { message: 'Bad Gateway', error: `could not JSON decode Lambda function response: ${answer}` },
          undefined,
          'LAMBDA_BAD_ANSWER',
        );
      }
      return req.exit(answer.status, answer.body, mergeHeaders(headers, answer.headers));
    }
    const unhandled =
      this.config.unhandled_status != null && res.headers['x-amz-function-error'] === 'Unhandled'
        ? this.config.unhandled_status
        : null;
    req.exit(unhandled ?? res.status, res.body, headers as Record<string, HeaderValue>);
  }
}

function httpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

/** An IPv6 address goes in brackets in a URL. */
function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** Lambda's error message (`{"Message": ...}` or `{"message": ...}`), cut short for the log. */
function lambdaMessage(body: Buffer): string {
  try {
    const json = JSON.parse(body.subarray(0, 4096).toString('utf8')) as Record<string, unknown>;
    const m = json.Message ?? json.message;
    if (typeof m === 'string') return m.slice(0, 512);
  } catch {
    // Not JSON: the start of the text.
  }
  return body.subarray(0, 256).toString('utf8');
}

export default definePlugin<AwsLambdaConfig>({
  name: 'aws-lambda',
  version: '1.0.0',
  priority: AWS_LAMBDA_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  configIssues,
  create(config, context) {
    return new AwsLambda(config, context.services, context.log, context.warn);
  },
});
