// The gateway and the pathological inputs of test/traffic/hostile-input.test.ts, shared with
// bench/linear-time.ts, which times the same requests against the same plugins.
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from './gateway.ts';
import { type Listening, listen } from './upstream.ts';

/** The largest header value the listener accepts (32 KiB of headers in all). */
export const HEADER_BYTES = 30 * 1024;

/** Pathological shapes of `n` characters, each a classic backtracking trigger for some parser. */
export function shapes(n: number): Record<string, string> {
  const fill = (unit: string): string => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
  return {
    spaces: fill(' '),
    // HTTP parsers trim blanks at both ends of a value: runs inside a value are what reach plugins.
    'inner spaces': `x${fill(' ').slice(2)}x`,
    'inner tabs': `B${fill('\t').slice(2)}B`,
    'inner blanks': `b${fill(' \t').slice(2)}!`,
    'blanks between commas': `,${fill(' ').slice(2)},`,
    'blanks between equals': `=${fill('\t ').slice(2)}=`,
    'blanks between quotes': `"${fill(' ').slice(2)}"`,
    tabs: fill('\t'),
    'mixed blanks': fill(' \t'),
    commas: fill(','),
    semicolons: fill(';'),
    equals: fill('='),
    'cookie pairs': fill('a=;'),
    'comma list': fill('x, '),
    'unclosed quote': `"${fill('a')}`.slice(0, n),
    'quoted escapes': `"${fill('\\"')}`.slice(0, n),
    'bearer blanks': `Bearer${fill(' ')}`.slice(0, n),
    'bearer repeated': fill('bearer '),
    dots: fill('.'),
    colons: fill(':'),
    'percent runs': fill('%'),
    'base64url run': fill('eyJ'),
    'token dots': fill('a.'),
  };
}

/** Fields the built-ins read from headers, each on the route whose plugin parses it. */
export const HEADER_FIELDS: [route: string, header: string][] = [
  ['/jwt', 'authorization'],
  ['/jwt', 'cookie'],
  ['/basic', 'authorization'],
  ['/basic', 'proxy-authorization'],
  ['/oidc', 'cookie'],
  ['/oidc', 'authorization'],
  ['/key', 'apikey'],
  ['/key', 'content-type'],
  ['/cors', 'origin'],
  ['/cors', 'access-control-request-headers'],
  ['/corr', 'x-correlation-id'],
  ['/rl', 'x-client'],
  ['/ip', 'x-forwarded-for'],
  ['/ip', 'x-forwarded-proto'],
  ['/ip', 'forwarded'],
  ['/ip', 'x-real-ip'],
  ['/rt', 'x-tenant'],
  ['/versioned', 'x-version'],
  ['/bots', 'user-agent'],
  ['/cache', 'cache-control'],
  ['/cache', 'accept-encoding'],
  ['/size', 'content-length'],
  ['/jwt', 'connection'],
  ['/jwt', 'upgrade'],
  ['/jwt', 'x-request-id'],
];

/**
 * A gateway with every built-in that parses request data configured, one route each (the routes
 * of HEADER_FIELDS), and `/regex-free-normal-probe` matching none. `close` stops it and its IdP.
 */
export async function startHostileGateway(): Promise<{ gw: TestGateway; close: () => Promise<void> }> {
  // An IdP discovery endpoint that is down: oidc answers its error at once, after reading cookies.
  const idp: Listening = await listen((_req, res) => {
    res.writeHead(503);
    res.end();
  });
  const plugin = (name: string, config: Record<string, unknown> = {}) => ({ name, config });
  const gw = await startServiceGateway(
    [
      {
        name: 'jwt',
        paths: ['/jwt'],
        plugins: [plugin('jwt', { cookie_names: ['jwt', 'session'], uri_param_names: ['jwt', 'token'] })],
      },
      { name: 'basic', paths: ['/basic'], plugins: [plugin('basic-auth')] },
      {
        name: 'oidc',
        paths: ['/oidc'],
        plugins: [
          plugin('oidc', {
            client_id: 'c',
            client_secret: 's',
            session_secret: '0123456789abcdef0123456789abcdef0123456789',
            discovery: `${idp.url}/.well-known/openid-configuration`,
          }),
        ],
      },
      {
        name: 'key',
        paths: ['/key'],
        plugins: [plugin('key-auth', { key_in_body: true, key_in_query: true, key_names: ['apikey', 'x-key'] })],
      },
      {
        name: 'cors',
        paths: ['/cors'],
        plugins: [plugin('cors', { origins: ['https://app.example.com', 'https://[a-z0-9-]+\\.example\\.org'] })],
      },
      { name: 'corr', paths: ['/corr'], plugins: [plugin('correlation-id', { echo_downstream: true })] },
      {
        name: 'rl',
        paths: ['/rl'],
        plugins: [plugin('rate-limiting', { minute: 100000, limit_by: 'header', header_name: 'x-client' })],
      },
      { name: 'ip', paths: ['/ip'], plugins: [plugin('ip-restriction', { allow: ['127.0.0.0/8'] })] },
      {
        name: 'rt',
        paths: ['/rt'],
        plugins: [
          plugin('request-transformer', {
            replace: { uri: '/t/$(headers.x_tenant)/$(query_params.q)' },
            add: { headers: ['x-q:$(query_params.q)'], body: ['seen:$(headers.x_tenant)'] },
          }),
        ],
      },
      { name: 'versioned', paths: ['/versioned'], headers: { 'x-version': ['v1', '~*^v\\d+(\\.\\d+)?$'] } },
      { name: 'bots', paths: ['/bots'], plugins: [plugin('bot-detection')] },
      { name: 'cache', paths: ['/cache'], plugins: [plugin('proxy-cache', { strategy: 'memory' })] },
      {
        name: 'size',
        paths: ['/size'],
        plugins: [plugin('request-size-limiting', { allowed_payload_size: 1 })],
      },
      { name: 'regex', paths: ['~/r/(?<id>[^/]+)/x$'] },
      {
        name: 'echo-back',
        paths: ['/echo-back'],
        plugins: [plugin('request-termination', { echo: true, status_code: 200 })],
      },
    ],
    { extra: { _tollgate: { trusted_ips: ['127.0.0.1'] } } },
  );
  return {
    gw,
    close: async () => {
      await gw.close();
      await idp.close();
    },
  };
}
