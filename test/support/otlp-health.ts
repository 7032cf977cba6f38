// What a collector that never answers, and one that is dead, do to a gateway exporting to them
// over OTLP: requests are answered all the same, and /status shows each queue's state.
import assert from 'node:assert/strict';
import type { TestGateway } from '../../src/testing/index.ts';
import { until } from './wait.ts';

export interface StuckAndDead {
  /** Exporting to a collector that takes exports and never answers them. */
  stuck: TestGateway;
  /** Exporting to a port where nothing listens. */
  dead: TestGateway;
  /** The stuck collector's URL, as /status names it. */
  stuckEndpoint: string;
  /** Whether the stuck collector has been sent an export yet. */
  stuckReached: () => boolean;
  /** The /status dependency kind of the queue (`otlp_logs`, `otlp_access_logs`). */
  kind: string;
  path: string;
  /** The status every request gets. */
  status: number;
}

/** Requests through both gateways, then their /status: the stuck queue holds records, the dead one fails. */
export async function assertStuckAndDeadCollectors(o: StuckAndDead): Promise<void> {
  for (let i = 0; i < 5; i++) {
    assert.equal((await fetch(`${o.stuck.url}${o.path}`)).status, o.status);
    assert.equal((await fetch(`${o.dead.url}${o.path}`)).status, o.status);
  }
  await until('an export reached the stuck collector', o.stuckReached, 10_000);
  assert.equal((await fetch(`${o.stuck.url}${o.path}`)).status, o.status, 'answered while an export hangs');
  const status = (await (await fetch(`${o.stuck.adminUrl}/status`)).json()) as {
    dependencies: { kind: string; target: string; queue_depth: number }[];
  };
  const queues = status.dependencies.filter((d) => d.kind === o.kind);
  assert.deepEqual(
    queues.map((d) => d.target),
    [o.stuckEndpoint],
  );
  assert.ok(queues[0]!.queue_depth > 0, JSON.stringify(queues));
  await until(
    'the dead collector in /status',
    async () => {
      const s = (await (await fetch(`${o.dead.adminUrl}/status`)).json()) as {
        dependencies: { kind: string; healthy: boolean; failures: number }[];
      };
      return s.dependencies.some((d) => d.kind === o.kind && !d.healthy && d.failures > 0);
    },
    10_000,
  );
}
