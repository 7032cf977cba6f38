// Kong's own ldap-auth specs, ported: spec/03-plugins/20-ldap-auth/02-schema_spec.lua (which configs
// Kong's schema accepts, which it refuses and with what message) and 03-decode_spec.lua at Kong
// commit 22246ef2. Kong's decode spec feeds its own ASN.1 reader the bytes of an LDAP bind
// response; Tollgate reads the directory's answer with ldapjs, so here a directory on loopback
// answers each bind with those very bytes and the client sees what the gateway made of them: the
// success a 200, result code 49 (invalidCredentials) a 401, and each malformed answer a 500
// without the process falling over (Kong: its decoder's error, logged, and a 500). Kong's cases on
// lone INTEGER, ENUMERATED and OCTET STRING values are its decoder's internals, not answers a
// directory gives, and are not ported.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { load } from '../../../test/config/helpers.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { validateText } from '../../../test/support/validate.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';
import { builtinPlugins } from '../index.ts';

const file = (config: string) => `_format_version: "3.0"\nplugins:\n  - name: ldap-auth\n    config: ${config}\n`;

test('02-schema "requires ldaps and start_tls to be mutually exclusive", in Kong\'s words', async () => {
  const r = await validateText(
    file('{ ldap_host: none, ldap_port: 389, ldaps: true, start_tls: true, base_dn: "ou=users", attribute: cn }'),
  );
  assert.equal(r.code, 1);
  assert.match(r.out + r.err, /'ldaps' and 'start_tls' cannot be enabled simultaneously/);
});

test('02-schema "default port 389 assigned", "default port override"', async () => {
  const port = async (extra: string) => {
    const text = file(`{ ldap_host: example.com, base_dn: "dc=example.com,dc=com", attribute: cn${extra} }`);
    const loaded = await load(text, { plugins: builtinPlugins });
    return (loaded.plugins[0]!.config as { ldap_port: number }).ldap_port;
  };
  assert.equal(await port(''), 389);
  assert.equal(await port(', ldap_port: 12345'), 12345);
});

/**
 * Kong's spec bytes: the LDAPMessage's content after its SEQUENCE header, message id 1 first. Sent
 * inside `30 <length>`, with the message id the client's bind request carried.
 */
const ANSWERS: Record<string, string> = {
  success: '02010161070a010004000400',
  'success in pieces': '02010161070a010004000400',
  fail: '02010161070a013104000400',
  'id is no integer': '04010161070a010004000400',
  'protocol op too long': '02010161090a010004000400',
  'result code is no number': '020101610704010004000400',
  'matched dn is no string': '02010161080a01000201010400',
  'diagnostic message is no string': '02010161080a01000400020101',
};

/** A directory answering every bind with ANSWERS[the bind's user name]. */
function startRawDirectory(): Promise<Server> {
  const server = createServer((socket: Socket) => {
    let seen = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      seen = Buffer.concat([seen, chunk]);
      // A bind request: 30 len 02 01 <id> 60 ...; the DN holds `uid=<name>,`.
      if (seen.length < 2 || seen.length < 2 + seen[1]!) return;
      const id = seen[4]!;
      const name = /uid=([^,]+),/.exec(seen.toString('latin1'))?.[1] ?? '';
      seen = Buffer.alloc(0);
      const hex = ANSWERS[name];
      if (hex === undefined) return void socket.destroy();
      const body = Buffer.from(hex, 'hex');
      if (body[0] === 0x02) body[2] = id;
      const answer = Buffer.concat([Buffer.from([0x30, body.length]), body]);
      if (name !== 'success in pieces') return void socket.write(answer);
      // A well-framed answer split anywhere is still one answer.
      socket.write(answer.subarray(0, 1));
      setTimeout(() => socket.write(answer.subarray(1, 7)), 20);
      setTimeout(() => socket.write(answer.subarray(7)), 40);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('03-decode: what the client sees of each bind answer', () => {
  let directory: Server;
  let upstream: RecordingUpstream;
  let gw: TestGateway;

  before(async () => {
    directory = await startRawDirectory();
    upstream = await startRecordingUpstream();
    const port = (directory.address() as { port: number }).port;
    gw = await startGateway({
      config: {
        _format_version: '3.0',
        services: [
          {
            name: 'mock',
            url: upstream.url,
            routes: [
              {
                name: 'ldap',
                paths: ['/'],
                plugins: [
                  {
                    name: 'ldap-auth',
                    config: {
                      ldap_host: '127.0.0.1',
                      ldap_port: port,
                      base_dn: 'dc=example,dc=com',
                      attribute: 'uid',
                      cache_ttl: 0,
                      timeout: 3000,
                    },
                  },
                ],
              },
            ],
          },
        ],
      },
    });
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
    await new Promise((resolve) => directory?.close(resolve));
  });

  const status = async (name: string): Promise<number> => {
    const auth = `ldap ${Buffer.from(`${name}:password`).toString('base64')}`;
    const res = await request(`${gw.url}/`, { headers: { authorization: auth } });
    await res.body.text();
    return res.statusCode;
  };

  test('"normal bind response -- success": the request is let through, in one piece or several', async () => {
    assert.equal(await status('success'), 200);
    assert.equal(await status('success in pieces'), 200);
  });

  test('"normal bind response -- fail" (result code 49): 401', async () => {
    assert.equal(await status('fail'), 401);
  });

  test('each "abnormal bind response" is a 500, and the gateway keeps serving', async () => {
    for (const name of [
      'id is no integer',
      'result code is no number',
      'matched dn is no string',
      'diagnostic message is no string',
    ])
      assert.equal(await status(name), 500, name);
    assert.equal(await status('success'), 200);
  });

  // ldapjs reads a bind response whose protocolOp claims more bytes than its message holds (61 09
  // in a message with 7 left) as the success it starts with; Kong's decoder refuses it, and so
  // does the gateway's check of the directory's framing (ber-framing.ts).
  test('"abnormal bind response -- invalid response protocol op" is a 500', async () => {
    assert.equal(await status('protocol op too long'), 500);
  });
});
