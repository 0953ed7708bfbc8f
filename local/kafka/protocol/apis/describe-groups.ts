/** DescribeGroups (15) v0–4. */
import { defineApi } from '../api.ts';
import { array, bool, bytes, field, int16, int32, nullableString, string, struct } from '../schema.ts';

export const describeGroups = defineApi({
  key: 15,
  name: 'DescribeGroups',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 5,
  request: struct({ groups: array(string), includeAuthorizedOperations: field(bool, '3+') }),
  response: struct({
    throttleTimeMs: field(int32, '1+'),
    groups: array(
      struct({
        errorCode: int16,
        groupId: string,
        groupState: string,
        protocolType: string,
        protocolData: string,
        members: array(
          struct({
            memberId: string,
            groupInstanceId: field(nullableString, '4+'),
            clientId: string,
            clientHost: string,
            memberMetadata: bytes,
            memberAssignment: bytes,
          }),
        ),
        authorizedOperations: field(int32, '3+', { default: -2147483648 }),
      }),
    ),
  }),
});
