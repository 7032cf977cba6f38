// Raw HTTP over a socket, for requests no well-behaved client would send.
import assert from 'node:assert/strict';
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

/** Between the parts of a request sent in several writes: long enough for the gateway to handle what came first. */
const PART_PAUSE_MS = 200;

/**
 * Sends `text` as is (several parts: one write each, PART_PAUSE_MS apart) and resolves with everything
 * the server answered until it closed (or `idleMs` of silence after the last part).
 */
export function rawRequest(url: string, text: string | readonly string[], idleMs = 1500): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let data = '';
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseRaw(data));
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(done, idleMs);
    };
    socket.setEncoding('latin1');
    socket.on('connect', async () => {
      for (const [i, part] of (typeof text === 'string' ? [text] : text).entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, PART_PAUSE_MS));
        socket.write(part);
      }
      arm();
    });
    socket.on('data', (d: string) => {
      data += d;
      arm();
    });
    socket.on('end', done);
    socket.on('error', (err) => (data === '' ? reject(err) : done()));
  });
}

export function parseRaw(data: string): RawResponse {
  const end = data.indexOf('\r\n\r\n');
  const head = end < 0 ? data : data.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = end < 0 ? '' : data.slice(end + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body, raw: data };
}

function dechunk(s: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const eol = s.indexOf('\r\n', i);
    if (eol < 0) return out;
    const size = parseInt(s.slice(i, eol), 16);
    if (!(size > 0)) return out;
    out += s.slice(eol + 2, eol + 2 + size);
    i = eol + 2 + size + 2;
  }
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
}

/** Sends `count` GETs of `path` in one write on one connection; the answers in order. */
export async function pipelined(url: string, path: string, count: number): Promise<RawAnswer[]> {
  const { hostname, port } = new URL(url);
  const host = `${hostname}:${port}`;
  const one = (last: boolean) => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${last ? 'Connection: close\r\n' : ''}\r\n`;
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error('no complete answer within 10 s')));
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(Array.from({ length: count }, (_, i) => one(i === count - 1)).join(''));
  });
  const answers: RawAnswer[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n\r\n', at);
    assert.ok(end > 0, `an answer's head ends (${answers.length} read)`);
    const [statusLine, ...lines] = text.slice(at, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    assert.ok(headers['content-length'] !== undefined, `answer ${answers.length} has a Content-Length`);
    answers.push({ status: Number(statusLine!.split(' ')[1]), headers });
    at = end + 4 + Number(headers['content-length']);
  }
  assert.equal(answers.length, count, 'one answer per request');
  return answers;
}
