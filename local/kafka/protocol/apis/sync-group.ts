/** SyncGroup (14) v0–3: the leader hands in the assignment, every member gets its own. */
import { defineApi } from '../api.ts';
import { array, bytes, field, int16, int32, nullableString, string, struct } from '../schema.ts';

export const syncGroup = defineApi({
  key: 14,
  name: 'SyncGroup',
  minVersion: 0,
  maxVersion: 3,
  flexibleFrom: 4,
  request: struct({
    groupId: string,
    generationId: int32,
    memberId: string,
    groupInstanceId: field(nullableString, '3+'),
    assignments: array(struct({ memberId: string, assignment: bytes })),
  }),
  response: struct({ throttleTimeMs: field(int32, '1+'), errorCode: int16, assignment: bytes }),
});
