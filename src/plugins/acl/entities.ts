/** The acl plugin's entity: `acls`, the groups a consumer belongs to (one group per entry, once per consumer). */
import type { EntityRecord } from '../../index.ts';
import { defineEntity } from '../../index.ts';

/** One group membership of a consumer. */
export interface AclGroup extends EntityRecord {
  readonly group: string;
}

export const acls = defineEntity<AclGroup>({
  name: 'acls',
  adminApi: { name: 'acls', nestedName: 'acls' },
  description: 'A group the consumer belongs to, for the acl plugin.',
  schema: {
    type: 'object',
    required: ['group'],
    properties: { group: { type: 'string', minLength: 1 } },
  },
  uniquePerConsumer: ['group'],
  idKey: (e, place) => `acls:${place.consumer}:${String(e.group)}`,
});
