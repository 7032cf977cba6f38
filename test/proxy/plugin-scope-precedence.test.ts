// Which instance runs when one plugin is configured at several scopes, for every combination of
// them. Kong's plugins iterator (lookup_cfg) picks the most specific configured one, in this order:
// route+service+consumer, route+consumer, service+consumer, route+service, consumer, route, service,
// global; the consumer is the one the authentication plugin identified (the anonymous one too).
// Kong's spec (05-proxy/04-plugins_triggering) checks some of these; here each of the 255 sets of
// scopes gets its own service, route and consumer, and the instance that answered says its scope.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGateway } from '../../src/testing/index.ts';

/** Kong's precedence, least specific first. */
const LEVELS = [
  'global',
  'service',
  'route',
  'consumer',
  'route+service',
  'service+consumer',
  'route+consumer',
  'route+service+consumer',
] as const;
type Level = (typeof LEVELS)[number];

/** response-transformer (priority 800) runs after key-auth (1250): the consumer is known when it is chosen. */
function tagged(level: Level, where: Record<string, string>): Record<string, unknown> {
  return { name: 'response-transformer', ...where, config: { add: { headers: [`x-scope:${level}`] } } };
}

function mostSpecific(levels: readonly Level[]): Level | null {
  let best: Level | null = null;
  for (const l of levels) if (best === null || LEVELS.indexOf(l) > LEVELS.indexOf(best)) best = l;
  return best;
}

for (const withGlobal of [false, true]) {
  test(`every combination of scopes${withGlobal ? ' with a global instance' : ''}: the most specific runs, as Kong's lookup_cfg picks it`, async () => {
    const consumers: Record<string, unknown>[] = [];
    const services: Record<string, unknown>[] = [];
    const plugins: Record<string, unknown>[] = withGlobal ? [tagged('global', {})] : [];
    const cases: { mask: number; levels: Level[] }[] = [];
    for (let mask = 1; mask < 1 << (LEVELS.length - 1); mask++) {
      const levels = LEVELS.slice(1).filter((_, i) => (mask & (1 << i)) !== 0);
      const [s, r, c] = [`s${mask}`, `r${mask}`, `c${mask}`];
      consumers.push({ username: c, keyauth_credentials: [{ key: `key-${mask}` }] });
      services.push({
        name: s,
        url: 'echo://',
        routes: [
          { name: r, paths: [`/m${mask}`], plugins: [{ name: 'key-auth' }] },
          // The same service and consumer without authentication: no consumer, so none of its instances.
          { name: `${r}-open`, paths: [`/open${mask}`] },
        ],
      });
      for (const l of levels) {
        const where: Record<string, string> = {};
        if (l.includes('service')) where.service = s;
        if (l.includes('route')) where.route = r;
        if (l.includes('consumer')) where.consumer = c;
        plugins.push(tagged(l, where));
      }
      cases.push({ mask, levels: withGlobal ? ['global', ...levels] : levels });
    }
    const gw = await startGateway({ config: { _format_version: '3.0', consumers, services, plugins } });
    try {
      const wrong: string[] = [];
      for (const { mask, levels } of cases) {
        const res = await fetch(`${gw.url}/m${mask}`, { headers: { apikey: `key-${mask}` } });
        await res.arrayBuffer();
        const want = mostSpecific(levels);
        if (res.status !== 200 || res.headers.get('x-scope') !== want)
          wrong.push(`{${levels.join(', ')}}: ${res.status} ran ${res.headers.get('x-scope')}, want ${want}`);
        const open = await fetch(`${gw.url}/open${mask}`);
        await open.arrayBuffer();
        // On the open route neither the consumer nor the other route's instances apply.
        const openWant = mostSpecific(levels.filter((l) => l === 'global' || l === 'service'));
        if (open.headers.get('x-scope') !== openWant)
          wrong.push(`{${levels.join(', ')}} without a consumer: ran ${open.headers.get('x-scope')}, want ${openWant}`);
      }
      assert.deepEqual(wrong, []);
    } finally {
      await gw.close();
    }
  });
}

test("the anonymous consumer's instances apply as an identified consumer's, and a consumer's instance may answer for it", async () => {
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      consumers: [
        { username: 'anonymous' },
        { username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] },
        { username: 'blocked', keyauth_credentials: [{ key: 'blocked-key' }] },
      ],
      services: [
        {
          name: 'api',
          url: 'echo://',
          routes: [{ name: 'r', paths: ['/r'], plugins: [{ name: 'key-auth', config: { anonymous: 'anonymous' } }] }],
        },
      ],
      plugins: [
        tagged('route', { route: 'r' }),
        tagged('route+service+consumer', { route: 'r', service: 'api', consumer: 'anonymous' }),
        // request-termination (priority 2) runs after key-auth: only the consumer it names is stopped.
        {
          name: 'request-termination',
          consumer: 'blocked',
          config: { status_code: 403, message: 'consumer blocked' },
        },
      ],
    },
  });
  try {
    const anon = await fetch(`${gw.url}/r`);
    await anon.arrayBuffer();
    assert.equal(anon.status, 200);
    assert.equal(anon.headers.get('x-scope'), 'route+service+consumer');

    const alice = await fetch(`${gw.url}/r`, { headers: { apikey: 'alice-key' } });
    await alice.arrayBuffer();
    assert.equal(alice.status, 200);
    assert.equal(alice.headers.get('x-scope'), 'route');

    const blocked = await fetch(`${gw.url}/r`, { headers: { apikey: 'blocked-key' } });
    assert.equal(blocked.status, 403);
    assert.equal(((await blocked.json()) as { message: string }).message, 'consumer blocked');
    // Its answer still goes through the route's response phase, as Kong's header_filter runs on an exit.
    assert.equal(blocked.headers.get('x-scope'), 'route');
  } finally {
    await gw.close();
  }
});

test("a consumer's own instance meets each route's instances of the same plugin by Kong's precedence", async () => {
  const services = ['route', 'route+service', 'none', 'route+consumer'].map((level, i) => ({
    name: `s${i}`,
    url: 'echo://',
    routes: [{ name: `r${i}`, paths: [`/r${i}`], plugins: [{ name: 'key-auth' }] }],
    level,
  }));
  const plugins: Record<string, unknown>[] = [tagged('consumer', { consumer: 'alice' })];
  for (const [i, s] of services.entries()) {
    if (s.level === 'route') plugins.push(tagged('route', { route: `r${i}` }));
    if (s.level === 'route+service') plugins.push(tagged('route+service', { route: `r${i}`, service: `s${i}` }));
    if (s.level === 'route+consumer') plugins.push(tagged('route+consumer', { route: `r${i}`, consumer: 'bob' }));
  }
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      consumers: [
        { username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] },
        { username: 'bob', keyauth_credentials: [{ key: 'bob-key' }] },
      ],
      services: services.map(({ level: _, ...s }) => s),
      plugins,
    },
  });
  try {
    const ran = async (who: string) => {
      const out: (string | null)[] = [];
      for (let i = 0; i < services.length; i++) {
        const res = await fetch(`${gw.url}/r${i}`, { headers: { apikey: `${who}-key` } });
        await res.arrayBuffer();
        assert.equal(res.status, 200);
        out.push(res.headers.get('x-scope'));
      }
      return out;
    };
    // Consumer-only outranks a route's instance, route+service outranks consumer-only, and bob's
    // route+consumer instance is not alice's.
    assert.deepEqual(await ran('alice'), ['consumer', 'route+service', 'consumer', 'consumer']);
    assert.deepEqual(await ran('bob'), ['route', 'route+service', null, 'route+consumer']);
  } finally {
    await gw.close();
  }
});
