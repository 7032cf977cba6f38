/**
 * Kong's PDK readers of the client's request that several plugins give as Kong gives them
 * (`tollgate/kong-request`): request-termination's echo and aws-lambda's payload.
 */
import type { GatewayRequest, HeaderValue } from '../pipeline/plugin.ts';
import { parseRequestForm } from './form.ts';
import { parseRequestJson } from './json.ts';
import { multipartBoundary, parseMultipart } from './multipart.ts';
import { kongQueryArgs, type QueryArg } from './query.ts';

/**
 * The client's header lines by name: a header sent more than once is an array of its values,
 * where node joins them (`1, 2`) or keeps only the first (user-agent, host, content-type). A header
 * the gateway removed (a forged identity header) or replaced (its own request id) stays as the
 * request has it.
 */
function clientHeaderLines(req: GatewayRequest): Record<string, string | string[]> {
  const lines = new Map<string, string[]>();
  const raw = req.raw.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const seen = lines.get(name);
    if (seen === undefined) lines.set(name, [raw[i + 1]!]);
    else seen.push(raw[i + 1]!);
  }
  // Null prototype: a client's `__proto__` header is a key like any other.
  const out: Record<string, string | string[]> = Object.create(null);
  for (const name in req.headers) {
    const v = req.headers[name];
    if (v === undefined) continue;
    const sent = lines.get(name);
    const joined = typeof v === 'string' ? v : v.join(', ');
    // Node joins repeated lines with `, ` (cookie with `; `) or keeps the first.
    const asSent =
      sent !== undefined &&
      sent.length > 1 &&
      (sent.join(', ') === joined || sent.join('; ') === joined || sent[0] === joined);
    out[name] = asSent ? sent : v;
  }
  return out;
}

/**
 * Kong's `kong.request.get_headers()`: nginx's request headers after the plugins before changed
 * them with `kong.service.request.set_header` (request-transformer, an auth plugin's X-Consumer-*
 * headers), so the headers as they would go upstream. A header the client sent on several lines,
 * and no plugin changed, is the array of its lines, as Kong gives it.
 */
export function kongHeaders(req: GatewayRequest): Record<string, string | string[]> {
  const lines = clientHeaderLines(req);
  const upstream = req.getUpstreamHeaders();
  // Null prototype: a client's `__proto__` header is a key like any other.
  const out: Record<string, string | string[]> = Object.create(null);
  for (const name in upstream) {
    const v: HeaderValue = upstream[name]!;
    const sent = lines[name];
    out[name] = sent !== undefined && v === req.headers[name] ? sent : typeof v === 'string' ? v : [...v];
  }
  return out;
}

/**
 * Kong's `kong.request.get_query()`: the query as it would go upstream, as Kong's reads nginx's
 * `$args` after the plugins before changed them with `kong.service.request.set_query` or
 * `clear_query_arg` (request-transformer's changes, the key key-auth's `hide_credentials` hid);
 * the client's while no plugin changed it.
 */
export function kongQuery(req: GatewayRequest): Record<string, QueryArg | QueryArg[]> {
  const changed = req.upstreamQuery;
  return changed === null
    ? kongQueryArgs(req.rawQuery, req.query)
    : kongQueryArgs(changed, new URLSearchParams(changed));
}

/**
 * Kong's `kong.request.get_body()`: a type (parameters cut, lower-cased) that starts with
 * `application/x-www-form-urlencoded` or `application/json` is parsed, JSON only into an object
 * or array (Kong's "invalid json body" else); a multipart/form-data body gives its fields by name
 * (lua-multipart's get_all_with_arrays); other types are left out.
 */
export function kongBodyArgs(contentType: string | undefined, raw: Buffer): unknown {
  if (contentType === undefined || raw.length === 0) return undefined;
  const type = contentType.split(';', 1)[0]!.trimStart().toLowerCase();
  try {
    if (type.startsWith('application/json')) {
      const json: unknown = parseRequestJson(raw.toString('utf8'));
      return typeof json === 'object' && json !== null ? json : undefined;
    }
    if (type.startsWith('application/x-www-form-urlencoded')) {
      const form = raw.toString('utf8');
      const params = parseRequestForm(form);
      return params === null ? undefined : kongQueryArgs(form, params);
    }
    if (type.startsWith('multipart/form-data')) return multipartFields(contentType, raw);
  } catch {
    // An unparsable body is left out, as Kong does.
  }
  return undefined;
}

/**
 * A multipart body's fields as Kong's get_body gives them: each part's value (a file's content too)
 * under its name, a name given twice an array; a body that is not well-formed multipart, none.
 */
function multipartFields(contentType: string, raw: Buffer): Record<string, string | string[]> | undefined {
  const boundary = multipartBoundary(contentType);
  const parts = boundary === null ? null : parseMultipart(raw, boundary);
  if (parts === null) return undefined;
  // Null prototype: a part named `__proto__` is a key like any other.
  const out: Record<string, string | string[]> = Object.create(null);
  for (const part of parts) {
    const name = part.names[0];
    if (name === undefined) continue;
    const value = part.content.toString('utf8');
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  return out;
}
