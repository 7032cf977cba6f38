// Reading what a gateway logged, in tests: its in-memory log lines (TestGateway.logs, or the
// `logs` array handed to an instance), which arrive a moment after the answer.
import assert from 'node:assert/strict';

/** The access line of request `requestId` in `logs`, waiting up to 3 s for it. */
export async function accessLineOf(
  logs: readonly Record<string, unknown>[],
  requestId: string,
): Promise<Record<string, unknown>> {
  for (let i = 0; i < 300; i++) {
    const line = logs.find((l) => l.type === 'access' && l.request_id === requestId);
    if (line !== undefined) return line;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`no access line for ${requestId}`);
}
