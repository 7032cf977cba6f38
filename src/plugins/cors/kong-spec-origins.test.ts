// Kong's own cors specs, ported: the origin-matching table (`regex_testcases`) of
// spec/03-plugins/13-cors/01-access_spec.lua of Kong/kong at commit 22246ef2, each origin of it
// sent as a preflight to a route with that cors config, as Kong's spec sends it. `true`: the
// request's origin is allowed; a string: that is the Access-Control-Allow-Origin answered; `false`:
// no Access-Control-Allow-Origin.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type KongMock, send, startKongMock } from '../../../test/support/kong-mock.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const DEFAULT_METHODS = 'GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT';

interface Case {
  origins: string[];
  tests: Record<string, boolean | string>;
}

/** The origins each case of Kong's table sends, in its order; a case leaves some out. */
const ALL = [
  'http://evil.test',
  'http://foo.test',
  'http://foo.test.evil.test',
  'http://something.foo.test',
  'http://evilfoo.test',
  'http://foo.test:80',
  'http://foo.test:8000',
  'https://foo.test:8000',
  'http://foo.test:90',
  'http://foobtest',
  'https://bar.test:1234',
] as const;

/** `values` for the origins of ALL, in order, but those in `skip`. */
function row(values: (boolean | string)[], skip: readonly string[] = []): Record<string, boolean | string> {
  const origins = ALL.filter((o) => !skip.includes(o));
  assert.equal(values.length, origins.length);
  return Object.fromEntries(origins.map((o, i) => [o, values[i]!]));
}

const T = true;
const F = false;
const FOO = 'http://foo.test';
const CASES: Case[] = [
  // single entry, host only: ignore value, always return configured data
  { origins: ['foo.test'], tests: row(Array(11).fill('foo.test')) },
  // single entry, full domain (not regex): ignore value, always return configured data
  { origins: ['https://bar.test:1234'], tests: row(Array(11).fill('https://bar.test:1234')) },
  // single entry, simple regex without ":": anchored match on host only
  { origins: ['foo\\.test'], tests: row([F, T, F, F, F, FOO, T, T, T, F, F]) },
  // single entry, subdomain regex without ":": anchored match on host only
  { origins: ['(.*[./])?foo\\.test'], tests: row([F, T, F, T, F, FOO, T, T, T, F, F]) },
  // single entry, any-scheme subdomain regex with port: anchored match with scheme and port
  { origins: ['(.*[./])?foo\\.test:8000'], tests: row([F, F, F, F, F, F, T, T, F, F, F]) },
  // single entry, https subdomain regex with port: anchored match with scheme and port
  {
    origins: ['https://(.*[.])?foo\\.test:8000'],
    tests: row([F, F, F, F, F, F, T, F, F, F], ['http://evilfoo.test']),
  },
  // single entry, explicitly anchored https subdomain regex with port: anchored match with scheme and port
  {
    origins: ['^http://(.*[.])?foo\\.test(:(80|90))?$'],
    tests: row([F, T, F, T, FOO, F, F, T, F, F], ['http://evilfoo.test']),
  },
  // multiple entries, host only (not regex): match on full normalized domain (i.e. all fail)
  {
    origins: ['foo.test', 'bar.test'],
    tests: row(Array(8).fill(F), ['http://something.foo.test', 'http://evilfoo.test', 'https://foo.test:8000']),
  },
  // multiple entries, full domain (not regex): match on full normalized domain
  {
    origins: ['http://foo.test', 'https://bar.test:1234'],
    tests: row(
      [F, T, F, FOO, F, F, F, T],
      ['http://something.foo.test', 'http://evilfoo.test', 'https://foo.test:8000'],
    ),
  },
  // multiple entries, simple regex without ":": anchored match on host only
  {
    origins: ['bar.test', 'foo\\.test'],
    tests: row([F, T, F, F, FOO, T, T, F, F], ['http://evilfoo.test', 'https://foo.test:8000']),
  },
  // multiple entries, subdomain regex without ":": anchored match on host only
  {
    origins: ['bar.test', '(.*\\.)?foo\\.test'],
    tests: row([F, T, F, T, FOO, T, T, F, F], ['http://evilfoo.test', 'https://foo.test:8000']),
  },
  // multiple entries, any-scheme subdomain regex with ":": anchored match with scheme and port
  {
    origins: ['bar.test', '(.*[./])?foo\\.test:8000'],
    tests: row([F, F, F, F, F, T, T, F, F, F], ['http://evilfoo.test']),
  },
  // multiple entries, https subdomain regex with ":": anchored match with scheme and port
  {
    origins: ['bar.test', 'https://(.*\\.)?foo\\.test:8000'],
    tests: row([F, F, F, F, F, F, T, F, F, F], ['http://evilfoo.test']),
  },
];

let mock: KongMock;
let gw: TestGateway;

before(async () => {
  mock = await startKongMock();
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'mock',
          url: mock.url,
          routes: CASES.map((c, i) => ({
            hosts: [`cors-regex-${i + 1}.test`],
            plugins: [{ name: 'cors', config: { origins: c.origins } }],
          })),
        },
      ],
    },
  });
});

after(async () => {
  await gw?.close();
  await mock?.close();
});

describe('HTTP method: OPTIONS, origin matching (01-access_spec.lua regex_testcases)', () => {
  CASES.forEach((c, i) => {
    test(`${JSON.stringify(c.origins)}: ${Object.keys(c.tests).length} origins`, async () => {
      for (const [origin, accept] of Object.entries(c.tests).sort(([a], [b]) => (a < b ? -1 : 1))) {
        const res = await send(gw.url, 'OPTIONS', '/', {
          host: `cors-regex-${i + 1}.test`,
          origin,
          'access-control-request-method': 'GET',
        });
        const what = `given ${origin}, ${JSON.stringify(c.origins)} will ${accept ? 'accept' : 'reject'}`;
        assert.equal(res.status, 200, what);
        if (accept === false) {
          assert.equal(res.headers['access-control-allow-origin'], undefined, what);
          continue;
        }
        assert.equal(res.headers['access-control-allow-methods'], DEFAULT_METHODS, what);
        assert.equal(res.headers['access-control-allow-origin'], accept === true ? origin : accept, what);
        for (const name of ['headers', 'credentials', 'max-age']) {
          assert.equal(res.headers[`access-control-allow-${name}`], undefined, `${what}: no ${name}`);
        }
        assert.equal(res.headers['access-control-expose-headers'], undefined, what);
      }
    });
  });
});
