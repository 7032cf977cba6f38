/**
 * The `azure-functions` plugin: Kong 3's azure-functions. A route with it calls an Azure Functions
 * HTTP trigger, `{http|https}://{appname}.{hostdomain}/{routeprefix}/{functionname}`, with the
 * client's method, and its query, headers and body as earlier plugins left them (and
 * `x-functions-key`, `x-functions-clientid` from the config) instead of proxying, and answers the client with the function's status, headers and body.
 *
 * Differences from Kong, on purpose (docs/plugins/azure-functions.md): the function app's
 * certificate is verified unless `https_verify: false` (Kong's default is false); a body over 8 MiB
 * is refused with 413 (Kong sends none when its body outgrew the client body buffer); no `Via` on
 * the answer, as on every answer the gateway relays.
 */
import schema from '../../../schemas/plugins/azure-functions.schema.json' with { type: 'json' };
import type { GatewayRequest, GatewayServices, HeaderValue, PluginHandlers, PluginLogger } from '../../index.ts';
import { definePlugin, PluginConfigError, ProxyError } from '../../index.ts';
import { FunctionPool } from '../../lib/function-pool.ts';
import { HTTP_PROTOCOLS } from '../../lib/kong-config.ts';
import { RepeatedWarning } from '../../lib/log/index.ts';
import { answerHeaders, functionHeaders } from './headers.ts';
import { functionPath } from './path.ts';

/** The azure-functions plugin's config, defaults applied. */
export interface AzureFunctionsConfig {
  timeout: number;
  keepalive: number;
  https: boolean;
  https_verify: boolean;
  apikey?: string | null;
  clientid?: string | null;
  appname: string;
  hostdomain: string;
  routeprefix?: string | null;
  functionname: string;
}

/** Kong's priority for azure-functions: just after aws-lambda. */
export const AZURE_FUNCTIONS_PRIORITY = 749;

/** The most request body sent: more is refused with 413 rather than held in memory. */
export const MAX_BODY_SIZE = 8 * 1024 * 1024;
/** The most answer read: a longer one fails the call (500). */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/** Kong's message for any failed call (its `kong.response.exit(500, ...)`). */
const INTERNAL = 'An unexpected error occurred';

class AzureFunctions implements PluginHandlers {
  private readonly base: string;
  private readonly pool: FunctionPool;
  private readonly failed: RepeatedWarning;

  constructor(
    private readonly config: AzureFunctionsConfig,
    services: GatewayServices,
    logger: PluginLogger,
  ) {
    const scheme = config.https ? 'https' : 'http';
    const host = `${config.appname}.${config.hostdomain}`;
    let url: URL | null = null;
    try {
      url = new URL(`${scheme}://${host}/`);
    } catch {
      // Refused below.
    }
    // The two fields make the host alone: a `/`, `@`, `:` or space in them would call elsewhere.
    if (url === null || url.hostname !== host.toLowerCase() || url.port !== '' || url.username !== '') {
      throw new PluginConfigError('appname', `appname and hostdomain do not make a host name: '${host}'`);
    }
    // Kong's port is the scheme's: 443 with https, 80 without (it has no port field).
    this.base = `${url.origin}${functionPath(config.routeprefix, config.functionname)}`;
    // One pool per function app, keepalive and verification, kept across reloads (no secret in the key).
    this.pool = services.shared(
      `azure-functions:${url.origin}|${config.keepalive}|${config.https_verify}`,
      () =>
        new FunctionPool({
          keepaliveMs: config.keepalive,
          maxAnswerBytes: MAX_ANSWER_BYTES,
          verify: config.https_verify,
        }),
      (p) => p.close(),
    );
    this.failed = new RepeatedWarning(logger, 'Azure function call failed', 1000, 'error');
  }

  async access(req: GatewayRequest): Promise<void> {
    const body = await req.readBody(MAX_BODY_SIZE);
    if (body === null) return req.exitError(413, undefined, undefined, 'BODY_TOO_LARGE');
    const headers = functionHeaders(req, this.config.apikey, this.config.clientid);
    // Kong's kong.request.get_query() reads nginx's $args after earlier plugins' set_query and
    // clear_query_arg: the query as it would go upstream, without the key key-auth hid.
    const query = req.upstreamQuery ?? req.rawQuery;
    const url = query === '' ? this.base : `${this.base}?${query}`;
    let res: Awaited<ReturnType<FunctionPool['call']>>;
    try {
      res = await this.pool.call(
        url,
        { method: req.method, headers, body: body.length === 0 ? null : body },
        this.config.timeout,
        req,
      );
    } catch (err) {
      // The gateway's own refusal (the budget of held bodies spent) keeps its status.
      if (err instanceof ProxyError) throw err;
      // Kong logs the error and answers 500 (a timeout, a refused connection, a bad certificate).
      this.failed.report({ error: (err as Error).message, function: this.base });
      return req.exitError(500, INTERNAL, undefined, 'FUNCTION_FAILED');
    }
    req.exit(res.status, res.body, answerHeaders(res.headers) as Record<string, HeaderValue>);
  }
}

export default definePlugin<AzureFunctionsConfig>({
  name: 'azure-functions',
  version: '1.0.0',
  priority: AZURE_FUNCTIONS_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  create(config, context) {
    // Kong's default is false, and decK dumps write it: say so wherever the key goes over TLS.
    if (config.https && !config.https_verify) {
      context.warn(
        `https_verify is off: the certificate of ${config.appname}.${config.hostdomain} is not verified before the function key is sent to it; anyone on the path can impersonate it`,
        'https_verify',
      );
    }
    return new AzureFunctions(config, context.services, context.log);
  },
});
