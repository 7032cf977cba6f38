/**
 * The `acl` plugin: Kong 3's acl. Allows or denies the consumer by its groups (the `acls` of the
 * consumer in gateway.yaml), or by the groups an authentication plugin put in
 * `req.ctx.authenticated_groups` (Kong's `kong.ctx.shared.authenticated_groups`).
 * See docs/plugins/acl.md.
 */

import schema from '../../../schemas/plugins/acl.schema.json' with { type: 'json' };
import type { ConsumerDirectory, GatewayRequest, PluginConfigIssue, PluginHandlers } from '../../index.ts';
import { definePlugin, PluginConfigError, utf8HeaderText } from '../../index.ts';
import { HTTP_PROTOCOLS, KONG3_RENAMED_FIELDS, NO_CONSUMER_GROUPS, renamedFieldIssues } from '../../lib/kong-config.ts';
import { acls } from './entities.ts';

/** The acl plugin's config, defaults applied. */
export interface AclConfig {
  allow?: string[] | null;
  deny?: string[] | null;
  hide_groups_header: boolean;
  always_use_authenticated_groups: boolean;
}

/** Kong's priority for acl. */
export const ACL_PRIORITY = 950;

const FORBIDDEN = { message: 'You cannot consume this service' };
const UNAUTHORIZED = { message: 'Unauthorized' };

/** `true` to block, or the header value to send when allowed. */
type Decision = true | string;

class Acl implements PluginHandlers {
  private readonly deny: boolean;
  private readonly groups: ReadonlySet<string>;
  private readonly hideHeader: boolean;
  private readonly alwaysAuthenticated: boolean;
  private readonly consumers: ConsumerDirectory;
  /** Decisions per consumer id: consumers and their groups are fixed for the life of a config. */
  private readonly decisions = new Map<string, Decision | null>();

  constructor(config: AclConfig, consumers: ConsumerDirectory) {
    this.deny = (config.deny?.length ?? 0) > 0;
    this.groups = new Set(this.deny ? config.deny! : config.allow!);
    this.hideHeader = config.hide_groups_header;
    this.alwaysAuthenticated = config.always_use_authenticated_groups;
    this.consumers = consumers;
  }

  access(req: GatewayRequest): void {
    // A client's X-Consumer-Groups and X-Authenticated-Groups never get this far (the gateway drops
    // identity headers at the edge); one an earlier plugin set (session restoring the groups of the
    // sign-in) is left as it is, as Kong's acl leaves it, hide_groups_header or not.
    const consumer = req.consumer;
    const authenticated = authenticatedGroups(req);

    if (consumer === null || ((req.credential === null || this.alwaysAuthenticated) && authenticated !== null)) {
      if (authenticated === null) {
        if (req.credential) return req.exitError(403, FORBIDDEN.message, null, 'ACL_DENIED');
        return req.exitError(401, UNAUTHORIZED.message, null, 'NO_CONSUMER');
      }
      const decision = this.decide(authenticated);
      if (decision === true) return req.exitError(403, FORBIDDEN.message, null, 'ACL_DENIED');
      if (!this.hideHeader) req.setUpstreamHeader('x-authenticated-groups', decision);
      return;
    }

    let decision = this.decisions.get(consumer.id);
    if (decision === undefined) {
      const groups = this.consumers.ofConsumer(acls, consumer.id).map((a) => a.group);
      decision = groups.length === 0 && !this.deny ? null : this.decide(groups);
      this.decisions.set(consumer.id, decision);
    }
    if (decision === null) {
      // An allow list and a consumer without any group: Kong's 403 with a credential, 401 without.
      if (req.credential) return req.exitError(403, FORBIDDEN.message, null, 'ACL_DENIED');
      return req.exitError(401, UNAUTHORIZED.message, null, 'NO_CONSUMER');
    }
    if (decision === true) return req.exitError(403, FORBIDDEN.message, null, 'ACL_DENIED');
    // A consumer without groups past a deny list gets an empty X-Consumer-Groups, as Kong sends
    // it (its spec pins `""`): the upstream can tell "acl ran, no groups" from "acl did not run".
    if (!this.hideHeader) req.setUpstreamHeader('x-consumer-groups', decision);
  }

  private decide(groups: readonly string[]): Decision {
    const inGroup = groups.some((g) => this.groups.has(g));
    const blocked = this.deny ? inGroup : !inGroup;
    // A group may be any UTF-8 text (`日本`): sent as its bytes, as Kong does; as a JS string past
    // U+00FF the header could not be set and every request of the consumer was a 500.
    return blocked ? true : utf8HeaderText(groups.join(', '));
  }
}

/**
 * The groups an authentication plugin set, or null for none. An empty list is groups all the same,
 * as Kong's acl takes any table: a user authenticated into no group is refused by an allow list
 * rather than decided by the anonymous consumer's groups.
 */
function authenticatedGroups(req: GatewayRequest): readonly string[] | null {
  const g = req.ctx.authenticated_groups;
  if (Array.isArray(g) && g.every((x) => typeof x === 'string')) return g as string[];
  return null;
}

/**
 * What Kong says of an acl config with a message of its own: the fields Kong 3.0 renamed, and
 * Kong Gateway's consumer groups (Kong's default is false; true with no consumer groups matches
 * what false does, so it loads with a warning).
 */
function configIssues(config: Readonly<Record<string, unknown>>): PluginConfigIssue[] {
  const issues = renamedFieldIssues(config, KONG3_RENAMED_FIELDS);
  if (config.include_consumer_groups === true)
    issues.push({
      at: ['include_consumer_groups'],
      message: `include_consumer_groups: Kong Enterprise's consumer groups in allow and deny (Kong 3.6) have no effect here: ${NO_CONSUMER_GROUPS}, so no consumer is in one and allow and deny match the consumer's acls groups, as Kong's do when no consumer is in a group: remove the field, or set it to false`,
      severity: 'warning',
    });
  return issues;
}

export default definePlugin<AclConfig>({
  name: 'acl',
  version: '1.0.0',
  priority: ACL_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  configIssues,
  consumerScoped: false,
  entities: [acls],
  create(config, context) {
    const allow = config.allow?.length ?? 0;
    const deny = config.deny?.length ?? 0;
    // Kong's acl schema: only_one_of and at_least_one_of on config.allow and config.deny.
    if (allow > 0 && deny > 0)
      throw new PluginConfigError('', "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'");
    if (allow === 0 && deny === 0)
      throw new PluginConfigError('', "at least one of these fields must be non-empty: 'config.allow', 'config.deny'");
    return new Acl(config, context.services.consumers);
  },
});
