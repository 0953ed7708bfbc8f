/** JoinGroup (11) v0–5. */
import { defineApi } from '../api.ts';
import { array, bytes, field, int16, int32, nullableString, string, struct } from '../schema.ts';

export const joinGroup = defineApi({
  key: 11,
  name: 'JoinGroup',
  minVersion: 0,
  maxVersion: 5,
  flexibleFrom: 6,
  request: struct({
    groupId: string,
    sessionTimeoutMs: int32,
    rebalanceTimeoutMs: field(int32, '1+', { default: -1 }),
    memberId: string,
    groupInstanceId: field(nullableString, '5+'),
    protocolType: string,
    protocols: array(struct({ name: string, metadata: bytes })),
  }),
  response: struct({
    throttleTimeMs: field(int32, '2+'),
    errorCode: int16,
    generationId: int32,
    protocolName: string,
    leader: string,
    memberId: string,
    members: array(struct({ memberId: string, groupInstanceId: field(nullableString, '5+'), metadata: bytes })),
  }),
});
