// Test PKI and real TLS clients (openssl, curl) for the TLS tests. Everything stays on loopback.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { type ClientHttp2Session, connect as h2Connect } from 'node:http2';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { TollgateInstance } from '../../src/instance.ts';
import { createLogger } from '../../src/log.ts';
import { lineSink } from '../../src/testing/run-plugin.ts';
import { tempDir } from '../support/temp.ts';

/** Whether a CLI tool is present; without it a test skips, unless env CI is set (then it fails). */
export function tool(name: 'curl' | 'openssl'): string | false {
  const r = spawnSync(name, ['--version'], { encoding: 'utf8' });
  const ok = r.status === 0 || (name === 'openssl' && spawnSync('openssl', ['version']).status === 0);
  if (ok) return false;
  const why = `${name} is not installed (apt-get install ${name})`;
  if (process.env.CI !== undefined && process.env.CI !== '') throw new Error(`${why}; CI needs it`);
  console.log(`# skipped: ${why}`);
  return why;
}

export interface Issued {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  serial: string;
}

/** A throwaway CA made with the openssl CLI, issuing leaf certificates for DNS names. */
export class TestCa {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  private n = 0;

  constructor(name = 'Tollgate Test CA') {
    this.dir = tempDir('tollgate-tls');
    this.certFile = join(this.dir, 'ca.pem');
    this.keyFile = join(this.dir, 'ca.key');
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      this.keyFile,
      '-out',
      this.certFile,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    this.cert = readFileSync(this.certFile, 'utf8');
  }

  /**
   * Issues a certificate for `cn` with these DNS names (and 127.0.0.1), valid for a day, or for the
   * given window (`YYMMDDHHMMSSZ`, through `openssl ca`, to make expired ones).
   */
  issue(cn: string, names: string[], opts: { file?: string; window?: [string, string]; rsa?: boolean } = {}): Issued {
    const base = join(this.dir, opts.file ?? `leaf${++this.n}`);
    const keyFile = `${base}.key`;
    const certFile = `${base}.pem`;
    const csr = `${base}.csr`;
    const ext = `${base}.ext`;
    const san = [...names.map((d) => `DNS:${d}`), 'IP:127.0.0.1'].join(',');
    writeFileSync(ext, `basicConstraints=CA:FALSE\nsubjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    const newkey =
      opts.rsa === true ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
    openssl(['req', ...newkey, '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${cn}`]);
    if (opts.window === undefined) {
      openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        this.certFile,
        '-CAkey',
        this.keyFile,
        '-CAcreateserial',
        '-out',
        certFile,
        '-days',
        '1',
        '-extfile',
        ext,
      ]);
    } else {
      const db = join(this.dir, `db${this.n}`);
      writeFileSync(`${db}.index`, '');
      writeFileSync(`${db}.serial`, `${(1000 + this.n).toString(16).padStart(4, '0')}\n`);
      writeFileSync(
        `${db}.cnf`,
        `[ca]\ndefault_ca=d\n[d]\ndatabase=${db}.index\nserial=${db}.serial\nnew_certs_dir=${this.dir}\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n`,
      );
      openssl([
        'ca',
        '-batch',
        '-config',
        `${db}.cnf`,
        '-cert',
        this.certFile,
        '-keyfile',
        this.keyFile,
        '-in',
        csr,
        '-out',
        certFile,
        '-notext',
        '-startdate',
        opts.window[0],
        '-enddate',
        opts.window[1],
        '-extfile',
        ext,
      ]);
    }
    const serial = openssl(['x509', '-in', certFile, '-noout', '-serial'])
      .trim()
      .replace(/^serial=/, '');
    return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile, serial };
  }
}

export function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** A self-signed certificate for 127.0.0.1 (no CA anyone trusts): a receiver only an unverifying client talks to. */
export function selfSigned(): { cert: string; key: string } {
  const dir = tempDir('tollgate-self-signed');
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  // Named for its address, so a verifying client refuses it for its issuer alone.
  const san = ['-addext', 'subjectAltName=IP:127.0.0.1'];
  openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    ...san,
  ]);
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

/** Runs a command without blocking the event loop (the gateway under test runs in this process). */
export function run(
  cmd: string,
  args: string[],
  input = '',
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { encoding: 'utf8', timeout: 15_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
      },
    );
    child.stdin?.end(input);
  });
}

/** Runs curl; returns status, HTTP version, headers (lower-cased) and body. */
export async function curl(
  args: string[],
): Promise<{ status: number; version: string; headers: Record<string, string>; body: string }> {
  const r = await run('curl', [
    '-sS',
    '-D',
    '-',
    '-o',
    '-',
    '-w',
    '\n%{http_code} %{http_version}',
    '--max-time',
    '10',
    ...args,
  ]);
  if (r.code !== 0) throw new Error(`curl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  const out = r.stdout;
  const tail = out.lastIndexOf('\n');
  const [code, version] = out.slice(tail + 1).split(' ');
  const text = out.slice(0, tail);
  const sep = text.indexOf('\r\n\r\n');
  const head = text.slice(0, sep);
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(code), version: version!, headers, body: text.slice(sep + 4) };
}

/** The serial and subject of the certificate a TLS server presents (`openssl s_client`), for a server name or none. */
export async function presented(port: number, servername: string | null): Promise<{ serial: string; subject: string }> {
  const args = [
    's_client',
    '-connect',
    `127.0.0.1:${port}`,
    ...(servername === null ? ['-noservername'] : ['-servername', servername]),
  ];
  const r = await run('openssl', args);
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
  if (pem === undefined) throw new Error(`openssl s_client got no certificate: ${r.stderr}`);
  const info = openssl(['x509', '-noout', '-serial', '-subject'], pem);
  return { serial: /serial=(\S+)/.exec(info)![1]!, subject: /subject=(.*)/.exec(info)![1]!.trim() };
}

/** HTTP/2 frame bytes: 3-byte length, type, flags, stream id. */
export function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK: literal header field without indexing, name from the static table (4-bit index, value < 127 bytes). */
export function literal(index: number, value: string): Buffer {
  return Buffer.concat([Buffer.from([index, value.length]), Buffer.from(value)]);
}

/**
 * A gateway on one ssl listener (HTTP/2, and HTTP/1.1 by ALPN; or on `proxyListen`) with a certificate of `ca` for
 * `a.test`, loading `config` (gateway.yaml text without `_format_version` and `certificates`,
 * which this adds) from the CA's folder. Its log is dropped.
 */
export async function startTlsGateway(
  ca: TestCa,
  config: string,
  proxyListen = ['127.0.0.1:0 ssl'],
): Promise<TollgateInstance> {
  ca.issue('a.test', ['a.test'], { file: 'a' });
  const head = '_format_version: "3.0"\ncertificates:\n  - cert: ${file:a.pem}\n    key: ${file:a.key}\n';
  writeFileSync(join(ca.dir, 'gateway.yaml'), head + config);
  return startFromFile(join(ca.dir, 'gateway.yaml'), { proxyListen });
}

/** A gateway loading `configFile`, on `proxyListen` (one ssl listener by default), its log dropped unless `logs` is given. */
export function startFromFile(
  configFile: string,
  opts: {
    proxyListen?: string[];
    adminListen?: string[];
    statusListen?: string[];
    logs?: Record<string, unknown>[];
    watch?: boolean;
  } = {},
): Promise<TollgateInstance> {
  return TollgateInstance.start({
    configFile,
    env: {},
    proxyListen: opts.proxyListen ?? ['127.0.0.1:0 ssl'],
    adminListen: opts.adminListen ?? [],
    // Without it, the file's status_listen.
    ...(opts.statusListen === undefined ? {} : { statusListen: opts.statusListen }),
    ...(opts.watch ? { watch: true } : {}),
    log: createLogger({ level: 'info', destination: lineSink(opts.logs ?? []) as never }),
  });
}

/** The `echo` service (the built-in echo upstream) with its route `echo` on /echo: YAML items for `services:`. */
export const ECHO_SERVICE = `  - name: echo
    url: echo://
    routes:
      - name: echo
        paths: [/echo]
`;

/** An HTTP/2 session to the gateway as `a.test`; session errors are left to the streams to show. */
export function h2Session(inst: TollgateInstance, ca: TestCa): ClientHttp2Session {
  const s = h2Connect(`https://${inst.proxyAddresses[0]}`, { ca: ca.cert, servername: 'a.test' });
  s.on('error', () => undefined);
  return s;
}

/** HPACK header block of a GET of `path` for `a.test` over https: :method GET, :scheme https, :path, :authority. */
export function getHeaderBlock(path: string): Buffer {
  return Buffer.concat([Buffer.from([0x82, 0x87]), literal(4, path), literal(1, 'a.test')]);
}

/**
 * Reads HTTP/2 frames off a raw connection: `onFrame` gets each whole frame (one split over reads
 * waits for its rest). The server's SETTINGS are acknowledged first, then `onFrame` sees them too.
 */
export function readFrames(
  sock: Duplex,
  onFrame: (type: number, flags: number, stream: number, payload: Buffer) => void,
): void {
  let buf = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 9) {
      const length = buf.readUIntBE(0, 3);
      if (buf.length < 9 + length) break;
      const [type, flags] = [buf[3]!, buf[4]!];
      const stream = buf.readUInt32BE(5) & 0x7fffffff;
      const payload = buf.subarray(9, 9 + length);
      buf = buf.subarray(9 + length);
      if (type === 4 && (flags & 1) === 0) sock.write(frame(4, 1, 0, Buffer.alloc(0)));
      onFrame(type, flags, stream, payload);
    }
  });
}
