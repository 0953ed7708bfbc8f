/** LeaveGroup (13) v0–3; v3 leaves several members at once. */
import { defineApi } from '../api.ts';
import { array, field, int16, int32, nullableString, string, struct } from '../schema.ts';

export const leaveGroup = defineApi({
  key: 13,
  name: 'LeaveGroup',
  minVersion: 0,
  maxVersion: 3,
  flexibleFrom: 4,
  request: struct({
    groupId: string,
    memberId: field(string, '0-2'),
    members: field(array(struct({ memberId: string, groupInstanceId: nullableString })), '3+'),
  }),
  response: struct({
    throttleTimeMs: field(int32, '1+'),
    errorCode: int16,
    members: field(array(struct({ memberId: string, groupInstanceId: nullableString, errorCode: int16 })), '3+'),
  }),
});
