import type { RoutableRoute } from '../../src/router/router.ts';

export interface TestRoute extends RoutableRoute {
  readonly service: string;
}

let counter = 0;

/** A route with Kong's defaults for every field the test does not set. */
export function route(fields: Partial<TestRoute> & { name: string }): TestRoute {
  counter++;
  return {
    id: `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`,
    service: 'svc',
    hosts: null,
    paths: null,
    methods: null,
    headers: null,
    snis: null,
    regex_priority: 0,
    strip_path: true,
    path_handling: 'v0',
    ...fields,
  };
}
