/**
 * The body of an error the gateway answers itself (a catalogued error, or a plugin's `error()`),
 * in the format the client asked for, as Kong's error handler and `kong.response.error` choose it
 * (kong/tools/utils.lua get_response_type): the `Accept` entry with the highest q wins (the first
 * one on a tie); `text/html`, `text/plain` (or `text/*`), `application/xml` get Kong's templates,
 * everything else JSON. Kong's templates carry the request id in every format; our JSON keeps its
 * established shape (`request_id` only where it always had it).
 *
 * The Accept header is bounded by the request-head limits and read in one linear pass.
 */

export type ErrorFormat = 'json' | 'html' | 'plain' | 'xml';

export const ERROR_CONTENT_TYPES: Readonly<Record<ErrorFormat, string>> = {
  json: 'application/json; charset=utf-8',
  html: 'text/html; charset=utf-8',
  plain: 'text/plain; charset=utf-8',
  xml: 'application/xml; charset=utf-8',
};

/** Kong's MIME_TYPES table, by lower-cased media range. */
const BY_RANGE: Readonly<Record<string, ErrorFormat>> = {
  'text/html': 'html',
  'text/plain': 'plain',
  'text/*': 'plain',
  'application/xml': 'xml',
  'application/json': 'json',
  'application/*': 'json',
  '*/*': 'json',
};

const RANGE = /^\s*([a-z0-9*][a-z0-9!#$&^_+.*-]*\/[a-z0-9*][a-z0-9!#$&^_+.*-]*)\s*(;.*)?$/i;
const QUALITY = /;\s*q\s*=\s*(1(?:\.0{0,3})?|0(?:\.\d{0,3})?)\s*(?:;|$)/i;

/** The format an `Accept` header asks for (JSON when absent or unknown). */
export function errorFormat(accept: string | string[] | undefined): ErrorFormat {
  if (accept === undefined) return 'json';
  const text = typeof accept === 'string' ? accept : accept.join(',');
  if (text === '') return 'json';
  let best: ErrorFormat = 'json';
  let bestQ = 0;
  for (const entry of text.split(',')) {
    const m = RANGE.exec(entry);
    if (m === null) continue;
    const q = m[2] === undefined ? 1 : Number(QUALITY.exec(m[2])?.[1] ?? 1);
    if (q > bestQ) {
      bestQ = q;
      // Kong: a range it has no template for means its default, JSON.
      best = BY_RANGE[m[1]!.toLowerCase()] ?? 'json';
    }
  }
  return best;
}

function escapeMarkup(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Kong's non-JSON error templates. `json` is the caller's (the gateway's JSON bodies keep their
 * shape); markup is escaped, since a message may come from configuration and an id from a proxy.
 */
export function errorBodyText(format: Exclude<ErrorFormat, 'json'>, message: string, requestId: string): string {
  switch (format) {
    case 'plain':
      return `${message}\nrequest_id: ${requestId}\n`;
    case 'html':
      return `<!doctype html>\n<html>\n  <head>\n    <meta charset="utf-8">\n    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>${escapeMarkup(message)}.</p>\n    <p>request_id: ${escapeMarkup(requestId)}</p>\n  </body>\n</html>\n`;
    case 'xml':
      return `<?xml version="1.0" encoding="UTF-8"?>\n<error>\n  <message>${escapeMarkup(message)}</message>\n  <requestid>${escapeMarkup(requestId)}</requestid>\n</error>\n`;
  }
}
