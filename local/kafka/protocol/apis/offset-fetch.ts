/** OffsetFetch (9) v0–7, flexible from v6 (librdkafka uses v7). */
import { defineApi } from '../api.ts';
import { array, bool, field, int16, int32, int64, nullableArray, nullableString, string, struct } from '../schema.ts';

export const offsetFetch = defineApi({
  key: 9,
  name: 'OffsetFetch',
  minVersion: 0,
  maxVersion: 7,
  flexibleFrom: 6,
  request: struct({
    groupId: string,
    /** v2+: null asks for every partition the group has committed. */
    topics: nullableArray(struct({ name: string, partitionIndexes: array(int32) })),
    requireStable: field(bool, '7+'),
  }),
  response: struct({
    throttleTimeMs: field(int32, '3+'),
    topics: array(
      struct({
        name: string,
        partitions: array(
          struct({
            partitionIndex: int32,
            committedOffset: int64,
            committedLeaderEpoch: field(int32, '5+', { default: -1 }),
            metadata: nullableString,
            errorCode: int16,
          }),
        ),
      }),
    ),
    errorCode: field(int16, '2+'),
  }),
});
