// Raw HTTP over a socket, for requests no well-behaved client would send.
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

/** Sends `text` as is and resolves with everything the server answered until it closed (or `idleMs` of silence). */
export function rawRequest(url: string, text: string, idleMs = 1500): Promise<RawResponse> {
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
    socket.on('connect', () => {
      socket.write(text);
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
