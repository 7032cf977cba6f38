/**
 * AWS Signature Version 4 checked again on the receiving side, computed from AWS's description
 * with node:crypto: the canonical request (each path segment encoded again, as for every service
 * but S3; the query sorted; the signed headers), the string to sign, the key derived from the
 * secret. A stand-in for an AWS service (Lambda, STS) answers 403 when it does not hold.
 *
 * @example
 * const auth = sigv4Of(req, body, { AKID: 'secret' }, 'eu-west-3', 'lambda');
 * if (auth === null) res.writeHead(403);
 */
import { createHash, createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

function sha256(data: string): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** RFC 3986 percent-encoding, as SigV4 asks for (encodeURIComponent leaves !'()* alone). */
function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/;

/** The access key id of a request signed right for `region` and `service`, or null. */
export function sigv4Of(
  req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>,
  body: string,
  secrets: Record<string, string>,
  region: string,
  service: string,
): string | null {
  const m = AUTH.exec(String(req.headers.authorization ?? ''));
  if (m === null) return null;
  const [, keyId, day, scopeRegion, scopeService, signedHeaders, signature] = m;
  const secret = secrets[keyId!];
  if (secret === undefined || scopeRegion !== region || scopeService !== service) return null;
  const names = signedHeaders!.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date')) return null;
  const [rawPath, rawQuery = ''] = req.url!.split('?');
  const path = rawPath!.split('/').map(rfc3986).join('/');
  const query = [...new URLSearchParams(rawQuery)]
    .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
    .sort()
    .join('&');
  const headers = names.map((n) => `${n}:${String(req.headers[n]).trim()}\n`).join('');
  const canonical = [req.method, path, query, headers, signedHeaders, sha256(body)].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', String(req.headers['x-amz-date']), scope, sha256(canonical)].join('\n');
  let k = hmac(`AWS4${secret}`, day!);
  for (const part of [region, service, 'aws4_request']) k = hmac(k, part);
  return hmac(k, toSign).toString('hex') === signature ? keyId! : null;
}
