/**
 * The `request-transformer` plugin: Kong 3's request-transformer. Changes the upstream request's
 * path, headers, querystring and JSON or form-urlencoded body, in Kong's order (remove, rename,
 * replace, add, append), with `$(headers.x)`, `$(query_params.x)` and `$(uri_captures.x)` value
 * templates compiled at load. See docs/plugins/request-transformer.md.
 */
import schema from '../../../schemas/plugins/request-transformer.schema.json' with { type: 'json' };
import type { GatewayRequest, HeaderValue, PluginHandlers } from '../../index.ts';
import {
  appendedField,
  definePlugin,
  hasHeaderControlChar,
  hasRequestBody,
  multipartBoundary,
  type MultipartPart as Part,
  PluginConfigError,
  ProxyError,
  parseMultipart,
  parseRequestForm,
  parseRequestJson,
  partIs,
  renamedPart,
  serializeMultipart,
  setOwnField,
  simplePart,
  tooManyFormFields,
} from '../../index.ts';
import { addArgs, FLAG, serializeArgs } from './query.ts';
import {
  compilePathTemplate,
  compileTemplate,
  isValidHeaderValue,
  readsHeaders,
  render,
  renderPath,
  Target,
  type Template,
  TemplateEnv,
  TemplateError,
} from './template.ts';

interface Lists {
  body: string[];
  headers: string[];
  querystring: string[];
}

/** The request-transformer plugin's config, defaults applied. */
export interface RequestTransformerConfig {
  http_method?: string | null;
  remove: Lists;
  rename: Lists;
  replace: Lists & { uri?: string | null };
  add: Lists;
  append: Lists;
}

/** Kong's priority for request-transformer. */
export const REQUEST_TRANSFORMER_PRIORITY = 801;

/** Bodies bigger than this are not transformed: 413, as the gateway will not hold them in memory. */
const BODY_LIMIT = 16 * 1024 * 1024;
const TOO_LARGE = { message: 'Request size limit exceeded' };
/** A header template whose result cannot be sent (control characters from the request): the client's fault. */
const BAD_HEADER_VALUE = { message: 'Bad request: invalid header value' };
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Methods after which Kong also moves form-urlencoded body parameters into the querystring. */
const QUERY_METHODS = new Set(['GET', 'HEAD', 'TRACE']);

interface Op {
  readonly name: string;
  readonly value: Template | string;
}

const enum BodyKind {
  None,
  Json,
  Form,
  Multipart,
}

/** Kong's `name:value` split: the name ends at the first colon, further colons are skipped. */
function splitPair(pair: string): [string, string] {
  const i = pair.indexOf(':');
  if (i < 0) return [pair, ''];
  let j = i + 1;
  while (pair[j] === ':') j++;
  return [pair.slice(0, i), pair.slice(j)];
}

function compileOps(
  list: readonly string[],
  path: string,
  opts: { headers?: boolean; renameHeaders?: boolean; warn?: (msg: string, field: string) => void } = {},
): Op[] {
  return list.flatMap((pair, i) => {
    const [name, value] = splitPair(pair);
    // Kong's schema takes `name:` in add, append and replace headers (only querystring and body
    // values are checked for one) and its access phase skips the entry: load it, skip it, say so.
    if (opts.headers && !opts.renameHeaders && value === '' && pair.includes(':') && HEADER_NAME.test(name)) {
      opts.warn?.(`${path}[${i}] '${pair}' has no value: the entry is skipped, as Kong skips it`, `${path}.${i}`);
      return [];
    }
    if (opts.headers && !HEADER_NAME.test(name))
      throw new PluginConfigError(`${path}.${i}`, `'${name}' is not a valid header`);
    if (opts.renameHeaders && !HEADER_NAME.test(value))
      throw new PluginConfigError(`${path}.${i}`, `'${value}' is not a valid header`);
    // A header value's own text with a control character would answer 400 to every request.
    if (opts.headers && !opts.renameHeaders && hasHeaderControlChar(value))
      throw new PluginConfigError(`${path}.${i}`, 'a header value cannot contain control characters (tab aside)');
    if (value === '' && !path.startsWith('remove'))
      throw new PluginConfigError(`${path}.${i}`, `key '${name}' has no value`);
    try {
      return {
        name: opts.headers ? name.toLowerCase() : name,
        value: opts.renameHeaders ? value.toLowerCase() : compileTemplate(value),
      };
    } catch (err) {
      if (err instanceof TemplateError) throw new PluginConfigError(`${path}.${i}`, err.message);
      throw err;
    }
  });
}

/** The value for the querystring or the body. */
function valueOf(op: Op, env: TemplateEnv | null): string {
  return render(op.value, env, Target.Text);
}

/** The value for a header: its bytes as a latin1 string. */
function headerValueOf(op: Op, env: TemplateEnv | null): string {
  return render(op.value, env, Target.Header);
}

/** The client body as plugins before this one left it (counted by request-size-limiting, or raw). */
class RequestTransformer implements PluginHandlers {
  private readonly method: string | null;
  /** http_method is GET, HEAD or TRACE: form parameters move into the querystring. */
  private readonly formToQuery: boolean;
  private readonly uri: Template | string | null;
  private readonly removeHeaders: readonly string[];
  private readonly renameHeaders: readonly Op[];
  private readonly replaceHeaders: readonly Op[];
  private readonly addHeaders: readonly Op[];
  private readonly appendHeaders: readonly Op[];
  private readonly hasQuery: boolean;
  private readonly removeQuery: readonly string[];
  private readonly renameQuery: readonly Op[];
  private readonly replaceQuery: readonly Op[];
  private readonly addQuery: readonly Op[];
  private readonly appendQuery: readonly Op[];
  private readonly hasBody: boolean;
  private readonly removeBody: readonly string[];
  private readonly renameBody: readonly Op[];
  private readonly replaceBody: readonly Op[];
  private readonly addBody: readonly Op[];
  private readonly appendBody: readonly Op[];
  /** Whether any value is a template (a run then reads the request through a TemplateEnv). */
  private readonly templated: boolean;
  /** Whether a header's new value reads a request header. */
  private readonly headerOpsReadHeaders: boolean;

  constructor(c: RequestTransformerConfig, warn: (msg: string, field: string) => void) {
    this.method = c.http_method != null ? c.http_method.toUpperCase() : null;
    this.formToQuery = this.method !== null && QUERY_METHODS.has(this.method);
    try {
      this.uri = c.replace.uri != null ? compilePathTemplate(c.replace.uri) : null;
    } catch (err) {
      if (err instanceof TemplateError) throw new PluginConfigError('replace.uri', err.message);
      throw err;
    }
    // Kong reads every entry as `name:value`, a remove entry too: `x-secret:` removes x-secret.
    this.removeHeaders = c.remove.headers.map((entry, i) => {
      const h = splitPair(entry)[0];
      if (!HEADER_NAME.test(h)) throw new PluginConfigError(`remove.headers.${i}`, `'${h}' is not a valid header`);
      return h.toLowerCase();
    });
    this.renameHeaders = compileOps(c.rename.headers, 'rename.headers', { headers: true, renameHeaders: true });
    this.replaceHeaders = compileOps(c.replace.headers, 'replace.headers', { headers: true, warn });
    this.addHeaders = compileOps(c.add.headers, 'add.headers', { headers: true, warn });
    this.appendHeaders = compileOps(c.append.headers, 'append.headers', { headers: true, warn });
    this.removeQuery = c.remove.querystring.map((e) => splitPair(e)[0]);
    this.renameQuery = compileOps(c.rename.querystring, 'rename.querystring');
    this.replaceQuery = compileOps(c.replace.querystring, 'replace.querystring');
    this.addQuery = compileOps(c.add.querystring, 'add.querystring');
    this.appendQuery = compileOps(c.append.querystring, 'append.querystring');
    this.hasQuery =
      this.removeQuery.length +
        this.renameQuery.length +
        this.replaceQuery.length +
        this.addQuery.length +
        this.appendQuery.length >
      0;
    this.removeBody = c.remove.body.map((e) => splitPair(e)[0]);
    this.renameBody = compileOps(c.rename.body, 'rename.body');
    this.replaceBody = compileOps(c.replace.body, 'replace.body');
    this.addBody = compileOps(c.add.body, 'add.body');
    this.appendBody = compileOps(c.append.body, 'append.body');
    this.hasBody =
      this.removeBody.length +
        this.renameBody.length +
        this.replaceBody.length +
        this.addBody.length +
        this.appendBody.length >
      0;
    this.templated =
      (this.uri !== null && typeof this.uri !== 'string') ||
      [
        this.renameHeaders,
        this.replaceHeaders,
        this.addHeaders,
        this.appendHeaders,
        this.renameQuery,
        this.replaceQuery,
        this.addQuery,
        this.appendQuery,
        this.renameBody,
        this.replaceBody,
        this.addBody,
        this.appendBody,
      ].some((ops) => ops.some((op) => typeof op.value !== 'string'));
    this.headerOpsReadHeaders = [this.replaceHeaders, this.addHeaders, this.appendHeaders].some((ops) =>
      ops.some((op) => readsHeaders(op.value)),
    );
  }

  access(req: GatewayRequest): void | Promise<void> {
    // Kong's template environment is made anew for each run of the plugin.
    const env = this.templated ? new TemplateEnv(req) : null;
    if (this.uri !== null) req.setUpstreamPath(renderPath(this.uri, env));
    // Kong's order: uri, method, headers, body, querystring. The method's form-to-query move reads
    // the Content-Type the client sent (Kong runs it before the headers change) and sets the query
    // the later templates read (`$(query_params.field)` of a form field); the body is read as the
    // Content-Type the upstream will get, so `add.headers: [Content-Type:application/json]` with
    // `add.body` builds a JSON body, as Kong's get_header sees its own set_header.
    const formQuery =
      this.formToQuery && bodyKind(req.headers['content-type']) === BodyKind.Form && hasRequestBody(req);
    if (this.method !== null && this.method !== req.method) req.setUpstreamMethod(this.method);
    if (formQuery) return this.formToQueryThenRest(req, env);
    return this.afterMethod(req, env, null);
  }

  /** The body once (bounded); null when the request was answered (too large). */
  private async read(req: GatewayRequest): Promise<Buffer | null> {
    let body: Buffer | null;
    try {
      body = await req.readBody(BODY_LIMIT);
    } catch (err) {
      // request-size-limiting's counted body fails past its limit: that is its 413 (417 to a client
      // that sent Expect: 100-continue), not a plugin failure.
      if (err instanceof ProxyError && (err.code === 'REQUEST_TOO_LARGE' || err.code === 'REQUEST_TOO_LARGE_EXPECT')) {
        req.exitError(err.status, TOO_LARGE.message, { connection: 'close' });
        return null;
      }
      throw err;
    }
    if (body === null) req.exitError(413, TOO_LARGE.message, { connection: 'close' });
    return body;
  }

  /** http_method GET, HEAD or TRACE: the form's parameters appended to the query, as Kong's set_uri_args does, then the rest. */
  private async formToQueryThenRest(req: GatewayRequest, env: TemplateEnv | null): Promise<void> {
    const body = await this.read(req);
    if (body === null) return;
    // A form of more fields than MAX_FORM_FIELDS is not read (tollgate/form): it stays the body.
    const form = body.length > 0 ? body.toString('utf8') : '';
    if (form !== '' && !tooManyFormFields(form))
      req.setUpstreamQuery(serializeArgs(addArgs(addArgs(new Map(), req.upstreamQuery ?? req.rawQuery), form)));
    return this.afterMethod(req, env, body);
  }

  /** Headers, body, querystring; `body` is the client body when the method's move already read it. */
  private afterMethod(req: GatewayRequest, env: TemplateEnv | null, body: Buffer | null): void | Promise<void> {
    if (!this.transformHeaders(req, env)) return req.exitError(400, BAD_HEADER_VALUE.message);
    const kind = this.hasBody ? bodyKind(firstValue(req.getUpstreamHeader('content-type'))) : BodyKind.None;
    if (kind !== BodyKind.None && body === null) return this.readThenBody(req, kind, env);
    if (body !== null) this.transformBody(req, kind, body, env);
    if (this.hasQuery) this.transformQuery(req, env);
  }

  private async readThenBody(req: GatewayRequest, kind: BodyKind, env: TemplateEnv | null): Promise<void> {
    const body = await this.read(req);
    if (body === null) return;
    this.transformBody(req, kind, body, env);
    if (this.hasQuery) this.transformQuery(req, env);
  }

  /**
   * The body changes, before the querystring's as in Kong: a body template reads the query as it
   * was before them (`remove.querystring: [token]` with `add.body: ["token:$(query_params.token)"]`
   * moves the token into the body).
   */
  private transformBody(req: GatewayRequest, kind: BodyKind, body: Buffer, env: TemplateEnv | null): void {
    const out =
      kind === BodyKind.None
        ? null
        : kind === BodyKind.Json
          ? this.jsonBody(body, env)
          : kind === BodyKind.Form
            ? this.formBody(body, env)
            : this.multipartBody(req, body, env);
    // The client body was consumed: the upstream gets the new one, or the same bytes.
    req.setUpstreamBody(out ?? body);
  }

  /** False when a templated value cannot be a header value (the request is then refused). */
  private transformHeaders(req: GatewayRequest, env: TemplateEnv | null): boolean {
    if (this.headerOpsReadHeaders) env!.readHeaders();
    for (const name of this.removeHeaders) req.removeUpstreamHeader(name);
    for (const op of this.renameHeaders) {
      if (op.name === op.value) continue;
      const v = req.getUpstreamHeader(op.name);
      if (v === undefined) continue;
      req.removeUpstreamHeader(op.name);
      req.setUpstreamHeader(op.value as string, v);
    }
    for (const op of this.replaceHeaders) {
      if (req.getUpstreamHeader(op.name) === undefined && op.name !== 'host') continue;
      const v = headerValueOf(op, env);
      if (!isValidHeaderValue(v)) return false;
      req.setUpstreamHeader(op.name, v);
    }
    for (const op of this.addHeaders) {
      if (op.name === 'host' || req.getUpstreamHeader(op.name) !== undefined) continue;
      const v = headerValueOf(op, env);
      if (!isValidHeaderValue(v)) return false;
      req.setUpstreamHeader(op.name, v);
    }
    for (const op of this.appendHeaders) {
      if (op.name === 'host') continue;
      const v = headerValueOf(op, env);
      if (!isValidHeaderValue(v)) return false;
      req.appendUpstreamHeader(op.name, v);
    }
    return true;
  }

  private transformQuery(req: GatewayRequest, env: TemplateEnv | null): void {
    // Kong's get_query reads nginx's $args, which an earlier plugin's set_query or clear_query_arg
    // changed (key-auth's hide_credentials): the client's query would put a hidden key back.
    const q = addArgs(new Map(), req.upstreamQuery ?? req.rawQuery);
    for (const name of this.removeQuery) q.delete(name);
    for (const op of this.renameQuery) {
      const to = valueOf(op, env);
      const values = q.get(op.name);
      if (to === op.name || values === undefined) continue;
      q.delete(op.name);
      q.set(to, values);
    }
    for (const op of this.replaceQuery) if (q.has(op.name)) q.set(op.name, [valueOf(op, env)]);
    for (const op of this.addQuery) if (!q.has(op.name)) q.set(op.name, [valueOf(op, env)]);
    for (const op of this.appendQuery) {
      const values = q.get(op.name);
      // Kong's append_value keeps a string or a list and appends; a lone flag (`?debug`, Lua's
      // true) is neither, and the value takes its place.
      if (values === undefined || (values.length === 1 && values[0] === FLAG)) q.set(op.name, [valueOf(op, env)]);
      else values.push(valueOf(op, env));
    }
    req.setUpstreamQuery(serializeArgs(q));
  }

  private jsonBody(body: Buffer, env: TemplateEnv | null): string | null {
    let params: Record<string, unknown>;
    if (body.length === 0) params = {};
    else {
      let parsed: unknown;
      try {
        parsed = parseRequestJson(body.toString('utf8'));
      } catch {
        return null;
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
      params = parsed as Record<string, unknown>;
    }
    // Keys are the document's own: an inherited name (`constructor`, `toString`) is absent, and
    // `__proto__` is an ordinary key.
    const has = (name: string): boolean => Object.hasOwn(params, name);
    const get = (name: string): unknown => (has(name) ? params[name] : undefined);
    let changed = false;
    if (body.length > 0) {
      for (const name of this.removeBody) {
        delete params[name];
        changed = true;
      }
      // Kong's Lua truthiness: a JSON null is present (cjson.null is truthy), only false is not.
      for (const op of this.renameBody) {
        const to = valueOf(op, env);
        if (to !== op.name && has(op.name) && params[op.name] !== false) {
          setOwnField(params, to, params[op.name]);
          delete params[op.name];
          changed = true;
        }
      }
      for (const op of this.replaceBody) {
        if (has(op.name) && params[op.name] !== false) {
          setOwnField(params, op.name, valueOf(op, env));
          changed = true;
        }
      }
    }
    for (const op of this.addBody) {
      if (!has(op.name) || params[op.name] === false) {
        setOwnField(params, op.name, valueOf(op, env));
        changed = true;
      }
    }
    for (const op of this.appendBody) {
      setOwnField(params, op.name, appendedField(get(op.name), valueOf(op, env)));
      changed = true;
    }
    return changed ? JSON.stringify(params) : null;
  }

  /**
   * Kong's multipart transform (lua-multipart): rename, remove, replace, add, in that order, by
   * part name; `append` does not apply (as in Kong). Renamed parts keep their other header lines
   * (a file stays a file); replaced and added ones are plain fields.
   */
  private multipartBody(req: GatewayRequest, body: Buffer, env: TemplateEnv | null): Buffer | null {
    const boundary = multipartBoundary(firstValue(req.getUpstreamHeader('content-type')) ?? '');
    let parts: Part[] | null = boundary === null ? null : body.length === 0 ? [] : parseMultipart(body, boundary);
    if (parts === null) return null;
    const has = (name: string): boolean => parts!.some((p) => partIs(p, name));
    let changed = false;
    if (body.length > 0) {
      for (const op of this.renameBody) {
        const to = valueOf(op, env);
        if (to === op.name || !has(op.name)) continue;
        parts = parts.filter((p) => !partIs(p, to)).map((p) => (partIs(p, op.name) ? renamedPart(p, to) : p));
        changed = true;
      }
      for (const name of this.removeBody) {
        parts = parts.filter((p) => !partIs(p, name));
        changed = true;
      }
      for (const op of this.replaceBody) {
        if (!has(op.name)) continue;
        const value = valueOf(op, env);
        parts = parts.filter((p) => !partIs(p, op.name));
        parts.push(simplePart(op.name, value));
        changed = true;
      }
    }
    for (const op of this.addBody) {
      if (has(op.name)) continue;
      parts.push(simplePart(op.name, valueOf(op, env)));
      changed = true;
    }
    if (!changed) return null;
    const out = serializeMultipart(parts);
    req.setUpstreamHeader('content-type', `multipart/form-data; boundary=${out.boundary}`);
    return out.body;
  }

  private formBody(body: Buffer, env: TemplateEnv | null): string | null {
    const params = parseRequestForm(body.toString('utf8'));
    if (params === null) return null;
    let changed = false;
    if (body.length > 0) {
      for (const name of this.removeBody) {
        params.delete(name);
        changed = true;
      }
      for (const op of this.renameBody) {
        const to = valueOf(op, env);
        if (to !== op.name && params.has(op.name)) {
          const values = params.getAll(op.name);
          params.delete(op.name);
          params.delete(to);
          for (const v of values) params.append(to, v);
          changed = true;
        }
      }
      for (const op of this.replaceBody) {
        if (params.has(op.name)) {
          params.set(op.name, valueOf(op, env));
          changed = true;
        }
      }
    }
    for (const op of this.addBody) {
      if (!params.has(op.name)) {
        params.set(op.name, valueOf(op, env));
        changed = true;
      }
    }
    for (const op of this.appendBody) {
      params.append(op.name, valueOf(op, env));
      changed = true;
    }
    return changed ? params.toString() : null;
  }
}

/** A header's value as Kong's get_header gives it: the first when the header came more than once. */
function firstValue(v: HeaderValue | undefined): string | undefined {
  return v === undefined || typeof v === 'string' ? v : v[0];
}

function bodyKind(contentType: string | undefined): BodyKind {
  if (contentType === undefined) return BodyKind.None;
  const ct = contentType.toLowerCase();
  if (ct.includes('application/json')) return BodyKind.Json;
  // Kong's order of tests: a content type naming several is taken as the first of these.
  if (ct.includes('multipart/form-data')) return BodyKind.Multipart;
  if (ct.includes('application/x-www-form-urlencoded')) return BodyKind.Form;
  return BodyKind.None;
}

export default definePlugin<RequestTransformerConfig>({
  name: 'request-transformer',
  version: '1.0.0',
  priority: REQUEST_TRANSFORMER_PRIORITY,
  schema,
  create(config, context) {
    return new RequestTransformer(config, context.warn);
  },
});
