// Passive health checks read a proxied answer's status as Kong's healthchecker does.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { closeBalancers, make, upstream } from '../support/balancer.ts';

after(closeBalancers);

test("a status in both healthy and unhealthy http_statuses is a success: Kong's healthchecker reads the healthy list first", () => {
  const b = make(
    upstream([['127.0.0.1:9', 100]], {
      healthchecks: {
        passive: {
          healthy: { http_statuses: [200, 404] },
          unhealthy: { http_statuses: [404, 500], http_failures: 1 },
        },
      },
    }),
  );
  const [t] = b.targets;
  b.report(t!, { status: 404 });
  assert.equal(t!.healthy, true, '404 is listed healthy as well');
  b.report(t!, { status: 500 });
  assert.equal(t!.healthy, false, 'only unhealthy: one http failure marks it down');
});
