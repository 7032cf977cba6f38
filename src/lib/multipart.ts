// multipart/form-data bodies (request-transformer, key-auth's key_in_body), as Kong's
// lua-multipart handles them: parts are addressed by the `name` of their Content-Disposition;
// untouched parts keep their bytes.
import { randomBytes } from 'node:crypto';

/**
 * One part: its head (header lines, without the blank line) and its content. `names` are all the
 * names the head gives it (`name=`, RFC 5987 `name*=`, repeated ones): parsers upstream differ in
 * which they read, so an operation on any of them applies to the part.
 */
interface Part {
  names: readonly string[];
  head: Buffer;
  content: Buffer;
}

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
const BOUNDARY = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i;
const NAMES = /;\s*name(\*?)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]+))/gi;
const DISPOSITIONS = /^content-disposition:(.*)$/gim;

/** The boundary of a multipart Content-Type, or null. */
export function multipartBoundary(contentType: string): string | null {
  const m = BOUNDARY.exec(contentType);
  return m === null ? null : (m[1] ?? m[2]!);
}

/**
 * Most parts a body is split into. Splitting is linear, but each part costs a few microseconds
 * (its head's names read, its slices made): 16 MiB of bare parts is 1.7 million of them and held
 * the event loop for 5 s. Past this, the body is treated as one that is not well-formed: the
 * plugins leave it as is (busboy and formidable cap fields at 1000 by default).
 */
export const MAX_MULTIPART_PARTS = 10_000;

const NO_HEAD = Buffer.alloc(0);

/**
 * Splits a body into parts; null when it is not well-formed multipart or has more than
 * `MAX_MULTIPART_PARTS` parts (it is then passed on as is).
 */
export function parseMultipart(body: Buffer, boundary: string): Part[] | null {
  const delimiter = Buffer.from(`--${boundary}`);
  const nextDelimiter = Buffer.concat([CRLF, delimiter]);
  let at = body.indexOf(delimiter);
  if (at < 0) return null;
  const parts: Part[] = [];
  for (;;) {
    at += delimiter.length;
    // `--boundary--` closes the body (an epilogue after it is dropped, as parsers do).
    if (body[at] === 0x2d && body[at + 1] === 0x2d) return parts;
    if (body[at] !== 0x0d || body[at + 1] !== 0x0a || parts.length === MAX_MULTIPART_PARTS) return null;
    const start = at + 2;
    const next = body.indexOf(nextDelimiter, start);
    if (next < 0) return null;
    let head: Buffer;
    let content: Buffer;
    if (body[start] === 0x0d && body[start + 1] === 0x0a) {
      // A part without header lines.
      head = NO_HEAD;
      content = body.subarray(start + 2, next);
    } else {
      // Searched only up to the next delimiter (its CRLF may close the head): a head end further
      // on belongs to another part.
      const headEnd = body.subarray(0, next + 2).indexOf(HEAD_END, start);
      if (headEnd < 0) return null;
      head = body.subarray(start, headEnd);
      content = body.subarray(headEnd + 4, next);
    }
    parts.push({ names: partNames(head.toString('latin1')), head, content });
    at = next + 2;
  }
}

function partNames(head: string): string[] {
  const names: string[] = [];
  for (const d of head.matchAll(DISPOSITIONS)) {
    for (const m of d[1]!.matchAll(NAMES)) {
      const raw = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
      names.push(m[1] === '*' ? extValue(raw) : Buffer.from(raw, 'latin1').toString('utf8'));
    }
  }
  return names;
}

/** An RFC 5987 ext-value (`UTF-8'lang'percent-encoded`), decoded; the raw text when it is not one. */
function extValue(raw: string): string {
  const m = /^[^']*'[^']*'(.*)$/.exec(raw);
  try {
    return decodeURIComponent(m === null ? raw : m[1]!);
  } catch {
    return raw;
  }
}

/** Whether the part goes by `name`. */
export function partIs(part: Part, name: string): boolean {
  return part.names.includes(name);
}

/** A name as a quoted-string in Content-Disposition: `"`, CR and LF percent-encoded (HTML's form encoding). */
function quotedName(name: string): string {
  return name.replace(/["\r\n]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** A plain field, as lua-multipart's set_simple writes one. */
export function simplePart(name: string, value: string): Part {
  return {
    names: [name],
    head: Buffer.from(`Content-Disposition: form-data; name="${quotedName(name)}"`, 'utf8'),
    content: Buffer.from(value, 'utf8'),
  };
}

/** The same part under another name, its only one (other header lines and the content kept). */
export function renamedPart(part: Part, name: string): Part {
  const head = part.head.toString('latin1');
  const named = `; name="${Buffer.from(quotedName(name), 'utf8').toString('latin1')}"`;
  let first = true;
  const renamed = head.replace(DISPOSITIONS, (line) =>
    line.replace(NAMES, () => {
      if (!first) return '';
      first = false;
      return named;
    }),
  );
  return { names: [name], head: Buffer.from(renamed, 'latin1'), content: part.content };
}

/**
 * Serializes parts under a fresh random boundary (which the content-type must then announce): a
 * value taken from the request cannot close a part and open another with a boundary it cannot know.
 */
export function serializeMultipart(parts: readonly Part[]): { body: Buffer; boundary: string } {
  for (;;) {
    const boundary = `tollgate-${randomBytes(16).toString('hex')}`;
    const delimiter = Buffer.from(`--${boundary}`);
    if (parts.some((p) => p.content.includes(delimiter) || p.head.includes(delimiter))) continue;
    const chunks: Buffer[] = [];
    for (const p of parts) {
      if (p.head.length === 0) chunks.push(delimiter, CRLF, CRLF, p.content, CRLF);
      else chunks.push(delimiter, CRLF, p.head, HEAD_END, p.content, CRLF);
    }
    chunks.push(delimiter, Buffer.from('--\r\n'));
    return { body: Buffer.concat(chunks), boundary };
  }
}

export type { Part };
