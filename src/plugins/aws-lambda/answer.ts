/**
 * What the aws-lambda plugin answers the client from Lambda's Invoke answer, as Kong's handler and
 * `extract_proxy_response` make it.
 */
import { type HeaderValue, HOP_BY_HOP, parseRequestJson } from '../../index.ts';

/**
 * Most bytes the headers of a proxy integration answer may add up to (names and values), as an
 * upstream's response head (docs/upstreams.md); API Gateway itself caps an answer's headers at
 * 10,240 bytes. Lambda's own head is bounded by the HTTP client; without this one, an 8 MiB answer
 * of 200,000 headers held the event loop 2 s and wrote a 2.7 MB head to the client.
 */
export const MAX_ANSWER_HEADER_BYTES = 16 * 1024;

/** Kong's spellings of Lambda's headers (Node gives every name in lower case). */
const SPELLINGS: Readonly<Record<string, string>> = {
  'x-amzn-requestid': 'x-amzn-RequestId',
  'x-amz-executed-version': 'X-Amz-Executed-Version',
  'x-amz-function-error': 'X-Amz-Function-Error',
  'x-amz-log-result': 'X-Amz-Log-Result',
  'x-amzn-trace-id': 'X-Amzn-Trace-Id',
  'content-type': 'Content-Type',
  date: 'Date',
};

/**
 * Lambda's headers the client does not get: the length (the gateway frames the answer it makes,
 * as Kong drops Lambda's Content-Length) and hop-by-hop ones (RFC 9110 7.6.1).
 */
const DROPPED: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'content-length']);

/** Lambda's answer headers as the client gets them, under Kong's spellings. */
export function lambdaHeaders(headers: Record<string, string | string[] | undefined>): Record<string, HeaderValue> {
  const out: Record<string, HeaderValue> = Object.create(null);
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined || DROPPED.has(name)) continue;
    out[SPELLINGS[name] ?? name] = v;
  }
  return out;
}

/** An API Gateway proxy integration answer, checked. */
export interface ProxyAnswer {
  status: number;
  headers: Record<string, HeaderValue>;
  body: Buffer;
}

/** A header value from the function's JSON: scalars as text, a list of scalars as lines. */
function headerValue(v: unknown): HeaderValue | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) {
    const lines = v.filter((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean');
    return lines.length === 0 ? undefined : lines.map(String);
  }
  return undefined;
}

/** Sets a header of the function's answer, under its lower-case name. */
function put(headers: Record<string, HeaderValue>, name: string, v: unknown): void {
  const value = headerValue(v);
  const lower = name.toLowerCase();
  if (value !== undefined && !DROPPED.has(lower)) headers[lower] = value;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What the headers' names and values add up to, in bytes. */
function headerBytes(headers: Record<string, HeaderValue>): number {
  let bytes = 0;
  for (const name in headers) {
    bytes += Buffer.byteLength(name);
    const v = headers[name]!;
    if (typeof v === 'string') bytes += Buffer.byteLength(v);
    else for (const line of v) bytes += Buffer.byteLength(line);
  }
  return bytes;
}

/**
 * Kong's `validate_http_status_code`: a number or numeric string. Kong takes 100-599; an answer's
 * status must be 200-599 here (a 1xx is no final answer), so a 1xx is refused like a bad one.
 */
function statusOf(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  return Number.isInteger(n) && n >= 200 && n <= 599 ? n : null;
}

/**
 * The function's payload read as a proxy integration answer, or the reason it is not one, with
 * Kong's messages (`statusCode validation failed`, `headers must be a table`, ...).
 */
export function proxyAnswer(payload: Buffer): ProxyAnswer | string {
  let json: unknown;
  try {
    // The answer may be 8 MiB: bounded as a request document is (parseRequestJson refuses one past
    // 100,000 values or 1000 levels before parsing it), since an answer of `{}` values held the
    // event loop 1.2 s and grew the process 570 MB, where a real one holds a few values and its
    // body is one string. Kong's cjson decodes any shape, up to its depth of 1000.
    json = parseRequestJson(payload.toString('utf8'));
  } catch (err) {
    return payload.length === 0 ? 'Expected value but found T_END at character 1' : (err as Error).message;
  }
  if (!isRecord(json)) return 'proxy response must be json format';
  const status = statusOf(json.statusCode);
  if (status === null) return 'statusCode validation failed';
  // A JSON null is a value to Kong (cjson's null), so `"body": null` is refused as Kong refuses it;
  // only multiValueHeaders may be null ("do not throw error when 'multiValueHeaders' is JSON null").
  if (json.headers !== undefined && !isRecord(json.headers)) return 'headers must be a table';
  if (json.body !== undefined && typeof json.body !== 'string') return 'body must be a string';
  if (json.isBase64Encoded !== undefined && typeof json.isBase64Encoded !== 'boolean') {
    return 'isBase64Encoded must be a boolean';
  }
  const headers: Record<string, HeaderValue> = Object.create(null);
  if (isRecord(json.headers)) for (const name of Object.keys(json.headers)) put(headers, name, json.headers[name]);
  // multiValueHeaders replace headers of the same name, as Kong's loop over them does.
  if (isRecord(json.multiValueHeaders)) {
    for (const name of Object.keys(json.multiValueHeaders)) put(headers, name, json.multiValueHeaders[name]);
  }
  if (headerBytes(headers) >= MAX_ANSWER_HEADER_BYTES) return `headers of ${MAX_ANSWER_HEADER_BYTES} bytes or more`;
  const bodyText = typeof json.body === 'string' ? json.body : '';
  const body = json.isBase64Encoded === true ? Buffer.from(bodyText, 'base64') : Buffer.from(bodyText, 'utf8');
  return { status, headers, body };
}

/**
 * Lambda's headers with the function's over them, a name the function gave replacing Lambda's
 * whatever its case (Kong's merge: "override duplicated headers").
 */
export function mergeHeaders(
  lambda: Record<string, HeaderValue>,
  fn: Record<string, HeaderValue>,
): Record<string, HeaderValue> {
  const out: Record<string, HeaderValue> = Object.create(null);
  for (const name in lambda) if (fn[name.toLowerCase()] === undefined) out[name] = lambda[name]!;
  for (const name in fn) out[name] = fn[name]!;
  return out;
}
