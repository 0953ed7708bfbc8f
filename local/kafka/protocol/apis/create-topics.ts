/** CreateTopics (19) v0–4. */
import { defineApi } from '../api.ts';
import { array, bool, field, int16, int32, nullableString, string, struct } from '../schema.ts';

export const createTopics = defineApi({
  key: 19,
  name: 'CreateTopics',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 5,
  request: struct({
    topics: array(
      struct({
        name: string,
        numPartitions: int32,
        replicationFactor: int16,
        assignments: array(struct({ partitionIndex: int32, brokerIds: array(int32) })),
        configs: array(struct({ name: string, value: nullableString })),
      }),
    ),
    timeoutMs: int32,
    validateOnly: field(bool, '1+'),
  }),
  response: struct({
    throttleTimeMs: field(int32, '2+'),
    topics: array(struct({ name: string, errorCode: int16, errorMessage: field(nullableString, '1+') })),
  }),
});
