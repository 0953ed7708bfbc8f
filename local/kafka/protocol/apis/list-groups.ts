/** ListGroups (16) v0–4, flexible from v3; v4 filters by state. */
import { defineApi } from '../api.ts';
import { array, field, int16, int32, string, struct } from '../schema.ts';

export const listGroups = defineApi({
  key: 16,
  name: 'ListGroups',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 3,
  request: struct({ statesFilter: field(array(string), '4+') }),
  response: struct({
    throttleTimeMs: field(int32, '1+'),
    errorCode: int16,
    groups: array(struct({ groupId: string, protocolType: string, groupState: field(string, '4+') })),
  }),
});
