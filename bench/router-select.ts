/**
 * `npm run bench:router-select`: the router cases of Kong's spec/01-unit/08-router_spec.lua
 * `#benchmarks` (commit 22246ef2), each 100,000 routes of which the last is the one to select
 * ("takes < 1ms" there): the router's build time and the median time of `match()` over 21 batches
 * of 200 calls. Prints one line a case and exits 1 when a case selects another route or a match
 * takes over 1 ms. `ROUTER_SELECT_N=10000` sets the number of routes. See docs/bench.md.
 */

import { type RoutableRoute, Router } from '../src/router/router.ts';
import { route } from '../test/router/helpers.ts';

const n = Number(process.env.ROUTER_SELECT_N ?? 100_000);

interface Case {
  name: string;
  route(i: number): Partial<RoutableRoute>;
  method: string;
  host: string | undefined;
  path: string;
  headers?: Record<string, string>;
}

const cases: Case[] = [
  {
    name: 'plain [host]',
    route: (i) => ({ hosts: [`domain-${i}.org`] }),
    method: 'GET',
    host: `domain-${n}.org`,
    path: '/',
  },
  {
    name: '[method + uri + host]',
    route: (i) => ({ hosts: [`domain-${n}.org`], paths: [`/my-route-${n}`], methods: i === n ? ['POST'] : null }),
    method: 'POST',
    host: `domain-${n}.org`,
    path: `/my-route-${n}`,
  },
  {
    name: '[headers] single key',
    route: (i) => ({ headers: { location: [`somewhere-${i}`] } }),
    method: 'GET',
    host: undefined,
    path: '/',
    headers: { location: `somewhere-${n}` },
  },
  {
    name: '[headers] a key per route',
    route: (i) => ({ headers: { [`key-${i}`]: ['somewhere'] } }),
    method: 'GET',
    host: undefined,
    path: '/',
    headers: { [`key-${n}`]: 'somewhere' },
  },
  {
    name: 'same category, identical values',
    route: (i) => ({ hosts: ['domain.org'], paths: [i === n ? '/my-real-route' : `/my-route-${n}`] }),
    method: 'GET',
    host: 'domain.org',
    path: '/my-real-route',
  },
  {
    name: '[method + uri + host + headers]',
    route: (i) => ({
      hosts: [`domain-${n}.org`],
      paths: [`/my-route-${n}`],
      headers: { location: [`somewhere-${n}`] },
      methods: i === n ? ['POST'] : null,
    }),
    method: 'POST',
    host: `domain-${n}.org`,
    path: `/my-route-${n}`,
    headers: { location: `somewhere-${n}` },
  },
];

let failed = false;
for (const c of cases) {
  const routes: RoutableRoute[] = [];
  for (let i = 1; i <= n; i++) routes.push(route({ ...c.route(i), name: `r${i}` }));
  let t = performance.now();
  const router = new Router(routes);
  const buildMs = performance.now() - t;
  let name: string | null | undefined;
  const batches: number[] = [];
  for (let b = 0; b < 21; b++) {
    t = performance.now();
    for (let k = 0; k < 200; k++) name = router.match(c.method, c.host, c.path, c.headers ?? {})?.route.name;
    batches.push((performance.now() - t) / 200);
  }
  const matchMs = batches.sort((a, b) => a - b)[10]!;
  const ok = name === `r${n}` && matchMs < 1;
  if (!ok) failed = true;
  console.log(
    `${c.name.padEnd(34)} build ${buildMs.toFixed(0).padStart(5)} ms  match ${(matchMs * 1000).toFixed(2).padStart(9)} us  ${ok ? 'ok' : `FAIL (selected ${name ?? 'nothing'})`}`,
  );
}
process.exit(failed ? 1 : 0);
