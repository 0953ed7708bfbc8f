/** Heartbeat (12) v0–3. */
import { defineApi } from '../api.ts';
import { field, int16, int32, nullableString, string, struct } from '../schema.ts';

export const heartbeat = defineApi({
  key: 12,
  name: 'Heartbeat',
  minVersion: 0,
  maxVersion: 3,
  flexibleFrom: 4,
  request: struct({
    groupId: string,
    generationId: int32,
    memberId: string,
    groupInstanceId: field(nullableString, '3+'),
  }),
  response: struct({ throttleTimeMs: field(int32, '1+'), errorCode: int16 }),
});
