/** OffsetCommit (8) v0–7. */
import { defineApi } from '../api.ts';
import { array, field, int16, int32, int64, nullableString, string, struct } from '../schema.ts';

export const offsetCommit = defineApi({
  key: 8,
  name: 'OffsetCommit',
  minVersion: 0,
  maxVersion: 7,
  flexibleFrom: 8,
  request: struct({
    groupId: string,
    generationId: field(int32, '1+', { default: -1 }),
    memberId: field(string, '1+'),
    groupInstanceId: field(nullableString, '7+'),
    retentionTimeMs: field(int64, '2-4', { default: -1n }),
    topics: array(
      struct({
        name: string,
        partitions: array(
          struct({
            partitionIndex: int32,
            committedOffset: int64,
            committedLeaderEpoch: field(int32, '6+', { default: -1 }),
            commitTimestamp: field(int64, '1', { default: -1n }),
            committedMetadata: nullableString,
          }),
        ),
      }),
    ),
  }),
  response: struct({
    throttleTimeMs: field(int32, '3+'),
    topics: array(struct({ name: string, partitions: array(struct({ partitionIndex: int32, errorCode: int16 })) })),
  }),
});
