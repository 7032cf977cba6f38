/**
 * A real DNS server on a loopback UDP port, for `_tollgate.dns_resolver` tests: it answers A
 * queries from `records` (AAAA queries of a known name get an empty answer, unknown names
 * NXDOMAIN), counts every query, and can go silent or answer SERVFAIL, as a failing server does.
 * RFC 1035 section 4: header, question, answers with a compression pointer to the question's name.
 */
import { createSocket } from 'node:dgram';

export interface TestDns {
  /** `127.0.0.1:PORT`, for dns_resolver. */
  server: string;
  /** Name (lower case) to IPv4 addresses and their TTL in seconds. */
  records: Map<string, { addresses: string[]; ttl: number }>;
  /** `answer` (default), `silent` (drops every query), `servfail`, or `hold` (answers at `release()`). */
  mode: 'answer' | 'silent' | 'servfail' | 'hold';
  /** Queries held in `hold` mode, not answered yet. */
  held: number;
  /** Answers the held queries from `records` as they are now. */
  release(): void;
  /** Every query received, in order. */
  queries: { name: string; type: 'A' | 'AAAA' | number }[];
  /** Queries for A records of `name`. */
  aQueries(name: string): number;
  close(): Promise<void>;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;

export async function startDns(): Promise<TestDns> {
  const socket = createSocket('udp4');
  const held: (() => void)[] = [];
  const dns: TestDns = {
    server: '',
    records: new Map(),
    mode: 'answer',
    queries: [],
    held: 0,
    release: () => {
      const waiting = held.splice(0);
      dns.held = 0;
      for (const reply of waiting) reply();
    },
    aQueries: (name) => dns.queries.filter((q) => q.name === name && q.type === 'A').length,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (msg, peer) => {
    const q = parseQuestion(msg);
    if (q === null) return;
    dns.queries.push({ name: q.name, type: q.type === TYPE_A ? 'A' : q.type === TYPE_AAAA ? 'AAAA' : q.type });
    if (dns.mode === 'silent') return;
    const servfail = dns.mode === 'servfail';
    const reply = () => {
      const record = dns.records.get(q.name);
      const rcode = servfail ? 2 : record === undefined ? 3 : 0;
      const answers = rcode === 0 && q.type === TYPE_A ? record!.addresses : [];
      socket.send(answer(msg, q.end, rcode, answers, record?.ttl ?? 0), peer.port, peer.address);
    };
    if (dns.mode !== 'hold') return reply();
    held.push(reply);
    dns.held = held.length;
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  dns.server = `127.0.0.1:${socket.address().port}`;
  return dns;
}

/** The first question: its name, type and where it ends. */
function parseQuestion(msg: Buffer): { name: string; type: number; end: number } | null {
  if (msg.length < 12 || msg.readUInt16BE(4) < 1) return null;
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length && msg[i] !== 0) {
    const len = msg[i]!;
    labels.push(msg.toString('latin1', i + 1, i + 1 + len));
    i += 1 + len;
  }
  if (i + 5 > msg.length) return null;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(i + 1), end: i + 5 };
}

function answer(query: Buffer, questionEnd: number, rcode: number, addresses: string[], ttl: number): Buffer {
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // id
  // QR, the query's opcode and RD, AA, RA, rcode.
  header.writeUInt16BE(0x8000 | (query.readUInt16BE(2) & 0x7900) | 0x0400 | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(addresses.length, 6);
  const records = addresses.map((a) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // the question's name
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(ttl, 6);
    rr.writeUInt16BE(4, 10);
    a.split('.').forEach((octet, k) => rr.writeUInt8(Number(octet), 12 + k));
    return rr;
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...records]);
}
