/** The acl plugin's entity: `acls`, the groups a consumer belongs to (one group per entry, once per consumer). */
import type { EntityRecord } from '../../index.ts';
import { defineEntity, hasHeaderControlChar } from '../../index.ts';

/** One group membership of a consumer. */
export interface AclGroup extends EntityRecord {
  readonly group: string;
}

export const acls = defineEntity<AclGroup>({
  name: 'acls',
  adminApi: { name: 'acls', nestedName: 'acls', nestedKey: 'group' },
  description: 'A group the consumer belongs to, for the acl plugin.',
  schema: {
    type: 'object',
    required: ['group'],
    properties: { group: { type: 'string', minLength: 1 } },
  },
  uniquePerConsumer: ['group'],
  idKey: (e, place) => `acls:${place.consumer}:${String(e.group)}`,
  // Kong loads any group name. The groups go upstream in X-Consumer-Groups, which cannot carry a
  // control character: every request of this consumer through acl would be a 500. Said at load.
  load(entity, context) {
    if (hasHeaderControlChar(entity.group))
      context.warn(
        'the group holds a control character (such as a line break), which no HTTP header can carry: every request of this consumer through acl will fail with a 500 (X-Consumer-Groups cannot be sent); remove the character',
        'group',
      );
    return undefined;
  },
});
