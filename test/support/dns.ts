/**
 * A real DNS server on a loopback UDP port, for `_tollgate.dns_resolver` tests: it answers A, AAAA
 * and CNAME queries from `records` (a known name without records of the type gets an empty
 * answer, or its CNAME as an authoritative server gives it; unknown names NXDOMAIN), counts every
 * query, and can go silent or answer SERVFAIL, as a failing server does.
 * RFC 1035 section 4: header, question, answers with a compression pointer to the question's name.
 */
import { createSocket } from 'node:dgram';

export interface TestDns {
  /** `127.0.0.1:PORT`, for dns_resolver. */
  server: string;
  /** Name (lower case) to IPv4 addresses, IPv6 ones, an alias, and their TTL in seconds. */
  records: Map<string, DnsRecords>;
  /** `answer` (default), `silent` (drops every query), `servfail`, or `hold` (answers at `release()`). */
  mode: 'answer' | 'silent' | 'servfail' | 'hold';
  /** Queries held in `hold` mode, not answered yet. */
  held: number;
  /** Answers the held queries from `records` as they are now. */
  release(): void;
  /** Every query received, in order. */
  queries: { name: string; type: 'A' | 'AAAA' | 'CNAME' | number }[];
  /** Queries for A records of `name`. */
  aQueries(name: string): number;
  close(): Promise<void>;
}

export interface DnsRecords {
  addresses: string[];
  v6?: string[];
  cname?: string;
  ttl: number;
}

const TYPE_A = 1;
const TYPE_CNAME = 5;
const TYPE_AAAA = 28;
const TYPE_NAMES: Record<number, 'A' | 'AAAA' | 'CNAME'> = {
  [TYPE_A]: 'A',
  [TYPE_AAAA]: 'AAAA',
  [TYPE_CNAME]: 'CNAME',
};

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
    dns.queries.push({ name: q.name, type: TYPE_NAMES[q.type] ?? q.type });
    if (dns.mode === 'silent') return;
    const servfail = dns.mode === 'servfail';
    const reply = () => {
      const record = dns.records.get(q.name);
      const rcode = servfail ? 2 : record === undefined ? 3 : 0;
      socket.send(
        answer(msg, q.end, rcode, rcode === 0 ? rdata(record!, q.type) : [], record?.ttl ?? 0),
        peer.port,
        peer.address,
      );
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

/** The records of one type of a name, as (type, rdata) pairs: its alias stands in for missing addresses. */
function rdata(record: DnsRecords, type: number): [number, Buffer][] {
  const v4 = type === TYPE_A ? record.addresses : [];
  const v6 = type === TYPE_AAAA ? (record.v6 ?? []) : [];
  if (v4.length > 0) return v4.map((a) => [TYPE_A, Buffer.from(a.split('.').map(Number))]);
  if (v6.length > 0) return v6.map((a) => [TYPE_AAAA, ipv6Bytes(a)]);
  return record.cname === undefined ? [] : [[TYPE_CNAME, encodeName(record.cname)]];
}

function encodeName(name: string): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  return Buffer.concat([...labels, Buffer.from([0])]);
}

/** `2001:db8::1` to its 16 bytes. */
function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const groups = (part: string | undefined) => (part ? part.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
  const buf = Buffer.alloc(16);
  all.forEach((g, i) => buf.writeUInt16BE(g, i * 2));
  return buf;
}

function answer(query: Buffer, questionEnd: number, rcode: number, records: [number, Buffer][], ttl: number): Buffer {
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // id
  // QR, the query's opcode and RD, AA, RA, rcode.
  header.writeUInt16BE(0x8000 | (query.readUInt16BE(2) & 0x7900) | 0x0400 | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  const rrs = records.map(([type, data]) => {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the question's name
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(ttl, 6);
    rr.writeUInt16BE(data.length, 10);
    return Buffer.concat([rr, data]);
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...rrs]);
}
