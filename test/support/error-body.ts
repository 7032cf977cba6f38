/**
 * The JSON body of an error answer, without its `request_id` after checking it: every error body the
 * gateway or a plugin sends carries the request id of the `X-Request-Id` response header.
 *
 * @example
 * assert.deepEqual(await errorBody(res), { message: 'Unauthorized' });
 */
import assert from 'node:assert/strict';

export async function errorBody(res: Response, header = 'x-request-id'): Promise<Record<string, unknown>> {
  const body = (await res.json()) as Record<string, unknown>;
  assert.ok(res.headers.get(header), `the answer has ${header}`);
  assert.equal(body.request_id, res.headers.get(header), 'the error body carries the request id');
  const { request_id: _, ...rest } = body;
  return rest;
}
