/** FindCoordinator (10) v0–2: this broker coordinates every group. */
import { defineApi } from '../api.ts';
import { field, int16, int32, int8, nullableString, string, struct } from '../schema.ts';

export const findCoordinator = defineApi({
  key: 10,
  name: 'FindCoordinator',
  minVersion: 0,
  maxVersion: 2,
  flexibleFrom: 3,
  request: struct({ key: string, keyType: field(int8, '1+') }),
  response: struct({
    throttleTimeMs: field(int32, '1+'),
    errorCode: int16,
    errorMessage: field(nullableString, '1+'),
    nodeId: int32,
    host: string,
    port: int32,
  }),
});
