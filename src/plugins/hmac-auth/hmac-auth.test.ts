// hmac-auth through the gateway: Kong's signing string and messages, every algorithm, clock skew,
// enforce_headers, the body Digest, hide_credentials and anonymous.
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { rawRequest } from '../../../test/support/raw.ts';
import type { TestGateway } from '../../testing/index.ts';
import { parseHmacAuthorization } from './signature.ts';

const SECRET = 'alice-hmac-secret-0123456789';
type Echo = { headers: Record<string, string>; body: string };

interface Signed {
  method?: string;
  path: string;
  algorithm?: string;
  headers?: string[];
  date?: Date;
  dateHeader?: 'date' | 'x-date';
  body?: string;
  digest?: string | null;
  secret?: string;
  username?: string;
  extra?: Record<string, string>;
}

/** Signs as a Kong hmac-auth client does. */
function sign(s: Signed): Record<string, string> {
  const method = s.method ?? 'GET';
  const algorithm = s.algorithm ?? 'hmac-sha256';
  const names = s.headers ?? ['date', 'request-line'];
  const h: Record<string, string> = { ...s.extra };
  h[s.dateHeader ?? 'date'] = (s.date ?? new Date()).toUTCString();
  if (s.body !== undefined && s.digest !== null)
    h.digest = s.digest ?? `SHA-256=${createHash('sha256').update(s.body).digest('base64')}`;
  const lines = names.map((n) =>
    n === 'request-line'
      ? `${method} ${s.path} HTTP/1.1`
      : (h[n] ?? h[n.replaceAll('_', '-')]) === undefined
        ? `${n}:`
        : `${n}: ${h[n] ?? h[n.replaceAll('_', '-')]}`,
  );
  const hash = algorithm.replace('hmac-', '');
  const signature = createHmac(hash, s.secret ?? SECRET)
    .update(lines.join('\n'))
    .digest('base64');
  h.authorization = `hmac username="${s.username ?? 'alice'}", algorithm="${algorithm}", headers="${names.join(' ')}", signature="${signature}"`;
  return h;
}

describe('hmac-auth', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startServiceGateway(
      [
        { name: 'hmac', paths: ['/hmac'], plugins: [{ name: 'hmac-auth' }] },
        {
          name: 'strict',
          paths: ['/strict'],
          plugins: [
            {
              name: 'hmac-auth',
              config: {
                enforce_headers: ['date', 'request-line'],
                algorithms: ['hmac-sha512'],
                validate_request_body: true,
                hide_credentials: true,
                clock_skew: 60,
              },
            },
          ],
        },
        { name: 'anon', paths: ['/anon'], plugins: [{ name: 'hmac-auth', config: { anonymous: 'guest' } }] },
        {
          name: 'sha224',
          paths: ['/sha224'],
          plugins: [{ name: 'hmac-auth', config: { algorithms: ['hmac-sha224'] } }],
        },
      ],
      {
        extra: {
          consumers: [
            { username: 'alice', hmacauth_credentials: [{ username: 'alice', secret: SECRET }] },
            { username: 'zoe', hmacauth_credentials: [{ username: 'zoé', secret: SECRET }] },
            { username: 'guest' },
          ],
        },
      },
    );
  });
  after(async () => {
    await gw?.close();
  });

  const send = async (path: string, headers: Record<string, string>, method = 'GET', body?: string) => {
    const res = await request(`${gw.url}${path}`, { method, headers, body, headersTimeout: 5000, bodyTimeout: 5000 });
    const text = await res.body.text();
    return { status: res.statusCode, json: JSON.parse(text) as Echo & { message?: string } };
  };
  const refused = async (r: { status: number; json: { message?: string } }, message: string) => {
    assert.equal(r.status, 401);
    assert.equal(r.json.message, message);
  };

  test('a correctly signed request passes with every algorithm; the consumer goes upstream', async () => {
    for (const algorithm of ['hmac-sha1', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512']) {
      const r = await send('/hmac/orders?x=1', sign({ path: '/hmac/orders?x=1', algorithm }));
      assert.equal(r.status, 200, algorithm);
      assert.equal(r.json.headers['x-consumer-username'], 'alice');
      assert.equal(r.json.headers['x-credential-identifier'], 'alice');
    }
    const xdate = await send(
      '/hmac',
      sign({ path: '/hmac', dateHeader: 'x-date', headers: ['x-date', 'request-line'] }),
    );
    assert.equal(xdate.status, 200, 'X-Date works as Date');
  });

  test("hmac-sha224 (Kong Gateway 3.14) verifies where it is listed; the default list, Kong 3.13's, leaves it out", async () => {
    const ok = await send('/sha224', sign({ path: '/sha224', algorithm: 'hmac-sha224' }));
    assert.equal(ok.status, 200);
    assert.equal(ok.json.headers['x-consumer-username'], 'alice');
    await refused(
      await send('/hmac', sign({ path: '/hmac', algorithm: 'hmac-sha224' })),
      'HMAC signature cannot be verified',
    );
    const wrongHash = sign({ path: '/sha224', algorithm: 'hmac-sha256' });
    wrongHash.authorization = wrongHash.authorization!.replace('algorithm="hmac-sha256"', 'algorithm="hmac-sha224"');
    await refused(await send('/sha224', wrongHash), 'HMAC signature does not match');
  });

  test('a listed header the request lacks is signed as "name:", one it has as "name: value"', async () => {
    const headers = ['date', 'x-absent', 'x-tenant', 'request-line'];
    const r = await send('/hmac', sign({ path: '/hmac', headers, extra: { 'x-tenant': 'north' } }));
    assert.equal(r.status, 200);
    const forged = sign({ path: '/hmac', headers, extra: { 'x-tenant': 'north' } });
    forged['x-tenant'] = 'south';
    assert.equal((await send('/hmac', forged)).status, 401, 'a signed header changed on the way');
  });

  test('a listed name with _ signs the header written with -, as kong.request.get_header reads it', async () => {
    const headers = ['date', 'x_tenant', 'request-line'];
    const r = await send('/hmac', sign({ path: '/hmac', headers, extra: { 'x-tenant': 'north' } }));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const forged = sign({ path: '/hmac', headers, extra: { 'x-tenant': 'north' } });
    forged['x-tenant'] = 'south';
    assert.equal((await send('/hmac', forged)).status, 401, 'the value is signed, not the bare name');
  });

  test('a repeated header counts by its first line, as kong.request.get_header returns it', async () => {
    const signed = sign({
      path: '/hmac',
      headers: ['date', 'x-tenant', 'request-line'],
      extra: { 'x-tenant': 'north' },
    });
    // Flat name/value lists keep the repeated lines apart on the wire.
    const lines = (extra: string[]) => ['date', signed.date!, ...extra, 'authorization', signed.authorization!];
    const send2 = async (headers: string[]) => {
      const res = await request(`${gw.url}/hmac`, { headers, headersTimeout: 5000, bodyTimeout: 5000 });
      return { status: res.statusCode, json: (await res.body.json()) as Echo & { message?: string } };
    };
    const tenant = await send2(lines(['x-tenant', 'north', 'x-tenant', 'south']));
    assert.equal(tenant.status, 200, JSON.stringify(tenant.json));
    const date = await send2(lines(['x-tenant', 'north', 'date', 'Thu, 01 Jan 1970 00:00:00 GMT']));
    assert.equal(date.status, 200, JSON.stringify(date.json));
  });

  test("Kong's refusals: no credentials, a bad signature, an unknown user, an algorithm not allowed", async () => {
    await refused(await send('/hmac', { date: new Date().toUTCString() }), 'Unauthorized');
    await refused(
      await send('/hmac', sign({ path: '/hmac', secret: 'wrong-secret' })),
      'HMAC signature does not match',
    );
    await refused(await send('/hmac/other', sign({ path: '/hmac' })), 'HMAC signature does not match');
    await refused(
      await send('/hmac', sign({ path: '/hmac', username: 'mallory' })),
      'HMAC signature cannot be verified',
    );
    await refused(
      await send('/hmac', sign({ path: '/hmac', algorithm: 'hmac-md5' })),
      'HMAC signature cannot be verified',
    );
    await refused(
      await send('/hmac', { ...sign({ path: '/hmac' }), authorization: 'hmac username="alice"' }),
      'HMAC signature cannot be verified',
    );
  });

  test('the date must be within clock_skew (default 300 s), in Date or X-Date', async () => {
    const message =
      'HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication';
    const old = new Date(Date.now() - 301_000);
    await refused(await send('/hmac', sign({ path: '/hmac', date: old })), message);
    await refused(await send('/hmac', sign({ path: '/hmac', date: new Date(Date.now() + 301_000) })), message);
    const { date: _, ...noDate } = sign({ path: '/hmac' });
    await refused(await send('/hmac', noDate), message);
    assert.equal((await send('/hmac', sign({ path: '/hmac', date: new Date(Date.now() - 200_000) }))).status, 200);
    // The strict route allows 60 seconds.
    const body = '{"a":1}';
    const late = sign({
      path: '/strict',
      method: 'POST',
      algorithm: 'hmac-sha512',
      body,
      date: new Date(Date.now() - 90_000),
    });
    await refused(await send('/strict', late, 'POST', body), message);
  });

  test('a header value in UTF-8 is signed as the bytes sent, as Kong signs it', async () => {
    const date = new Date().toUTCString();
    const lines = `date: ${date}\nx-name: José Müller`;
    const signature = createHmac('sha256', SECRET).update(Buffer.from(lines, 'utf8')).digest('base64');
    const res = await rawRequest(
      gw.url,
      `GET /hmac HTTP/1.1\r\nHost: t\r\nDate: ${date}\r\nX-Name: José Müller\r\n` +
        `Authorization: hmac username="alice", algorithm="hmac-sha256", headers="date x-name", signature="${signature}"\r\n` +
        'Connection: close\r\n\r\n',
    );
    assert.equal(res.status, 200, res.body);
  });

  test("request-line names the request's own version: HTTP/1.0 for an HTTP/1.0 request, as Kong's HTTP/%.01f", async () => {
    const date = new Date().toUTCString();
    const send10 = (version: string) => {
      const signature = createHmac('sha256', SECRET)
        .update(`date: ${date}\nGET /hmac/v HTTP/${version}`)
        .digest('base64');
      return rawRequest(
        gw.url,
        `GET /hmac/v HTTP/1.0\r\nHost: t\r\nDate: ${date}\r\n` +
          `Authorization: hmac username="alice", algorithm="hmac-sha256", headers="date request-line", signature="${signature}"\r\n\r\n`,
      );
    };
    assert.equal((await send10('1.0')).status, 200);
    const as11 = await send10('1.1');
    assert.equal(as11.status, 401, 'a line signed as HTTP/1.1 is not the request sent');
  });

  test('a UTF-8 username is matched by its bytes, as Kong matches it', async () => {
    const date = new Date().toUTCString();
    const signature = createHmac('sha256', SECRET).update(`date: ${date}`).digest('base64');
    const send1 = (username: string) =>
      rawRequest(
        gw.url,
        `GET /hmac HTTP/1.1\r\nHost: t\r\nDate: ${date}\r\n` +
          `Authorization: hmac username="${username}", algorithm="hmac-sha256", headers="date", signature="${signature}"\r\n` +
          'Connection: close\r\n\r\n',
      );
    const ok = await send1('zoé');
    assert.equal(ok.status, 200, ok.body);
    assert.equal((JSON.parse(ok.body) as Echo).headers['x-consumer-username'], 'zoe');
    assert.equal((await send1('zoe')).status, 401);
  });

  test('an asctime date means GMT whatever the local time zone (RFC 9110 5.6.7)', async () => {
    const asctime = (d: Date) => {
      const [wd, , mon, , time] = d.toUTCString().split(' ');
      return `${wd!.slice(0, 3)} ${mon} ${String(d.getUTCDate()).padStart(2, ' ')} ${time} ${d.getUTCFullYear()}`;
    };
    const previous = process.env.TZ;
    process.env.TZ = 'Etc/GMT+9'; // UTC-9, no daylight saving
    try {
      const fresh = { ...sign({ path: '/hmac', headers: ['request-line'] }), date: asctime(new Date()) };
      assert.equal((await send('/hmac', fresh)).status, 200, fresh.date);
      // Nine hours old: read as local time at UTC-9 it would look current, and be replayable.
      const stale = { ...fresh, date: asctime(new Date(Date.now() - 9 * 3600_000)) };
      assert.equal((await send('/hmac', stale)).status, 401, stale.date);
    } finally {
      if (previous === undefined) delete process.env.TZ;
      else process.env.TZ = previous;
    }
  });

  test('a date with a numeric zone or none after the time counts, read as GMT, as ngx.parse_http_time reads it', async () => {
    // Python's email.utils.formatdate() writes -0000, PHP's DATE_RFC2822 +0000.
    const now = new Date().toUTCString().replace(/ GMT$/, '');
    for (const date of [`${now} -0000`, `${now} +0000`, now, now.replace(/^\w{3}/, 'Sunday')]) {
      const signed = { ...sign({ path: '/hmac', headers: ['request-line'] }), date };
      assert.equal((await send('/hmac', signed)).status, 200, date);
    }
    // The zone is not applied (nginx ignores it): the time is read as GMT.
    const zoned = { ...sign({ path: '/hmac', headers: ['request-line'] }), date: `${now} +0200` };
    assert.equal((await send('/hmac', zoned)).status, 200);
    const bad = ['2026-12-05T08:00:00Z', now.replace(/ \d{2} /, ' 32 '), now.replace(/\d{2}:/, '24:')];
    for (const date of bad) {
      const signed = { ...sign({ path: '/hmac', headers: ['request-line'] }), date };
      assert.equal((await send('/hmac', signed)).status, 401, date);
    }
  });

  test('validate_request_body: the Digest must match the body; enforce_headers and algorithms apply', async () => {
    const body = '{"order":42}';
    const ok = await send(
      '/strict',
      sign({ path: '/strict', method: 'POST', algorithm: 'hmac-sha512', body }),
      'POST',
      body,
    );
    assert.equal(ok.status, 200);
    assert.equal(ok.json.body, body, 'the body still reaches the upstream');
    assert.equal(ok.json.headers.authorization, undefined, 'hide_credentials');
    const tampered = sign({ path: '/strict', method: 'POST', algorithm: 'hmac-sha512', body });
    await refused(await send('/strict', tampered, 'POST', '{"order":43}'), 'HMAC signature does not match');
    const noDigest = sign({ path: '/strict', method: 'POST', algorithm: 'hmac-sha512', body, digest: null });
    await refused(await send('/strict', noDigest, 'POST', body), 'HMAC signature does not match');
    const emptyOk = await send('/strict', sign({ path: '/strict', algorithm: 'hmac-sha512' }));
    assert.equal(emptyOk.status, 200, 'no body and no Digest is fine');
    await refused(
      await send('/strict', sign({ path: '/strict', algorithm: 'hmac-sha512', headers: ['date'] })),
      'HMAC signature cannot be verified',
    );
    await refused(
      await send('/strict', sign({ path: '/strict', algorithm: 'hmac-sha256' })),
      'HMAC signature cannot be verified',
    );
  });

  test('a signing string past 64 KiB is refused unverified: a header listed again and again', async () => {
    // 20 x 4 KB = 80 KB of signing string, signed correctly: without the bound it passes (and a
    // client can list a header thousands of times, a string of megabytes built per request).
    const x = 'v'.repeat(4000);
    const long = sign({ path: '/hmac', headers: ['date', ...Array<string>(20).fill('x')], extra: { x } });
    await refused(await send('/hmac', long), 'HMAC signature cannot be verified');
    const fits = sign({ path: '/hmac', headers: ['date', ...Array<string>(10).fill('x')], extra: { x } });
    assert.equal((await send('/hmac', fits)).status, 200, '40 KB signs as before');
  });

  test('anonymous: failures continue as the anonymous consumer', async () => {
    const r = await send('/anon', sign({ path: '/anon', secret: 'nope' }));
    assert.equal(r.status, 200);
    assert.equal(r.json.headers['x-consumer-username'], 'guest');
    assert.equal(r.json.headers['x-anonymous-consumer'], 'true');
  });

  test('the admin API never shows the secret', async () => {
    const text = await (await fetch(`${gw.adminUrl}/config`)).text();
    assert.ok(!text.includes(SECRET));
    const cfg = JSON.parse(text) as { hmacauth_credentials: { username: string; secret: string }[] };
    assert.deepEqual(
      cfg.hmacauth_credentials.map((c) => [c.username, c.secret]),
      [
        ['alice', '[redacted]'],
        ['zoé', '[redacted]'],
      ],
    );
  });
});

test('parseHmacAuthorization: linear, bounded, Kong’s scheme spellings', () => {
  const p = parseHmacAuthorization(
    'Hmac username="u", algorithm="hmac-sha1", headers="Date request-line", signature="c2ln"',
  );
  assert.deepEqual(p, { username: 'u', algorithm: 'hmac-sha1', headers: ['Date', 'request-line'], signature: 'c2ln' });
  assert.equal(parseHmacAuthorization('Basic dTpw'), null);
  assert.equal(parseHmacAuthorization('hmac username="u"'), null);
  assert.equal(parseHmacAuthorization(`hmac username="${'a'.repeat(9000)}"`), null);
  assert.equal(parseHmacAuthorization(`hmac ${'x="",'.repeat(2000)}`), null);
});

test('parseHmacAuthorization: spaces and tabs around the scheme and commas, names in any case, quoted values kept whole', () => {
  const full = { username: 'u', algorithm: 'hmac-sha256', headers: ['date', 'request-line'], signature: 'c2ln=,x' };
  assert.deepEqual(
    parseHmacAuthorization(
      '\t hmac USERNAME="u" ,\talgorithm="hmac-sha256",headers="date request-line" , signature="c2ln=,x",',
    ),
    full,
  );
  const value = 'hmac username="u", algorithm="hmac-sha256", headers="date request-line", signature="c2ln=,x"';
  const longest = value + ' '.repeat(8192 - value.length);
  assert.deepEqual(parseHmacAuthorization(longest), full, '8192 characters are read');
  assert.equal(parseHmacAuthorization(`${longest} `), null, 'one more is not');
  // RFC 7235 §2.1 (auth-param = token BWS "=" BWS ...): whitespace between a name and its `=` is
  // read past, as names in any case are (Kong's regex accepts neither).
  assert.deepEqual(
    parseHmacAuthorization(
      'hmac username ="u", algorithm\t="hmac-sha256", headers  ="date request-line", signature="c2ln=,x"',
    ),
    full,
  );
});

test('parseHmacAuthorization: a double quote not followed by a comma or the end belongs to the value', () => {
  assert.deepEqual(parseHmacAuthorization('hmac username="a "b"c", algorithm="x" , headers="date", signature="s" '), {
    username: 'a "b"c',
    algorithm: 'x',
    headers: ['date'],
    signature: 's',
  });
  assert.equal(parseHmacAuthorization('hmac username="a" b, algorithm="x", headers="date", signature="s"'), null);
});

test('parseHmacAuthorization: a parameter without a quoted value, an unclosed quote, junk between parameters, or one of the four missing or empty is refused', () => {
  const ok = 'username="u", algorithm="a", headers="date", signature="s"';
  assert.notEqual(parseHmacAuthorization(`hmac ${ok}`), null);
  for (const bad of [
    'hmacusername="u", algorithm="a", headers="date", signature="s"x',
    'HMAC username="u", algorithm="a", headers="date", signature="s"',
    `hmac ${ok}, extra`,
    `hmac ${ok}, extra=x`,
    `hmac ${ok}, extra="x`,
    `hmac ${ok} x`,
    `hmac extra=xy", ${ok}`,
    'hmac username="u" algorithm="a", headers="date", signature="s"',
    // Whitespace between `=` and the quote: refused, as Kong's regex refuses it.
    'hmac username= "u", algorithm="a", headers="date", signature="s"',
    'hmac username="", algorithm="a", headers="date", signature="s"',
    'hmac username="u", algorithm="", headers="date", signature="s"',
    'hmac username="u", algorithm="a", headers="", signature="s"',
    'hmac username="u", algorithm="a", headers="date", signature=""',
    'hmac algorithm="a", headers="date", signature="s"',
    'hmac username="u", headers="date", signature="s"',
    'hmac username="u", algorithm="a", signature="s"',
    'hmac username="u", algorithm="a", headers="date"',
  ]) {
    assert.equal(parseHmacAuthorization(bad), null, bad);
  }
});
