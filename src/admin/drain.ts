/**
 * Kong's `POST /status/ready` (Kong 3.9, the request `kong drain` sends): with `status=draining`,
 * `/status/ready` answers 503 `{"message":"draining"}` from then on while the gateway keeps
 * serving, so that a load balancer or a Kubernetes readiness probe takes the node out of rotation
 * before it is stopped (a `preStop` hook's `gateway drain`, then a sleep). As in Kong, only a
 * restart makes it ready again.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TollgateInstance } from '../instance.ts';
import { readBodyWithin } from '../lib/request-body.ts';
import { adminWriteRefusal, type PostAnswer } from './config-post.ts';

/** `{"status":"draining"}` and its form and query spellings are a few bytes: anything larger is refused. */
const MAX_BODY_BYTES = 4096;

/**
 * Kong takes the request from whoever reaches its status listener; here a write follows
 * `admin_post_config` (loopback by default), as POST /config does: turning every node's readiness
 * off takes the whole gateway out of its load balancer.
 */
export async function postReady(
  inst: TollgateInstance,
  req: IncomingMessage,
  res: ServerResponse,
  query: string,
): Promise<PostAnswer> {
  const peer = req.socket.remoteAddress;
  const refused = adminWriteRefusal(inst.runtime.config.settings.admin_post_config, peer, 'POST /status/ready');
  if (refused !== null) return { status: 403, body: { message: refused } };
  const body = await readBodyWithin(req, MAX_BODY_BYTES, res);
  if (body === null) return { status: 413, body: { message: 'Request body too large' } };
  if (requestedStatus(body, req.headers['content-type'], query) !== 'draining')
    return { status: 400, body: { message: "status must be 'draining'" } };
  inst.withdrawReadiness(peer);
  return { status: 204 };
}

/** Lapis' `self.params`, which Kong reads: the query's arguments, and the body's (JSON or a form) over them. */
function requestedStatus(body: Buffer, contentType: string | undefined, query: string): unknown {
  let status: unknown = new URLSearchParams(query).get('status') ?? undefined;
  if (body.length === 0) return status;
  const text = body.toString('utf8');
  if (/^\s*application\/json\s*(?:;|$)/i.test(contentType ?? '')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed !== null && typeof parsed === 'object' && Object.hasOwn(parsed, 'status'))
        status = (parsed as { status: unknown }).status;
    } catch {
      return undefined;
    }
    return status;
  }
  const fromForm = new URLSearchParams(text).get('status');
  return fromForm ?? status;
}
