/** ListOffsets (2) v0–3: earliest (-2), latest (-1) or the first offset at or after a timestamp. */
import { defineApi } from '../api.ts';
import { array, field, int16, int32, int64, int8, string, struct } from '../schema.ts';

export const listOffsets = defineApi({
  key: 2,
  name: 'ListOffsets',
  minVersion: 0,
  maxVersion: 3,
  flexibleFrom: 6,
  request: struct({
    replicaId: int32,
    isolationLevel: field(int8, '2+'),
    topics: array(
      struct({
        name: string,
        partitions: array(
          struct({ partitionIndex: int32, timestamp: int64, maxNumOffsets: field(int32, '0', { default: 1 }) }),
        ),
      }),
    ),
  }),
  response: struct({
    throttleTimeMs: field(int32, '2+'),
    topics: array(
      struct({
        name: string,
        partitions: array(
          struct({
            partitionIndex: int32,
            errorCode: int16,
            oldStyleOffsets: field(array(int64), '0'),
            timestamp: field(int64, '1+', { default: -1n }),
            offset: field(int64, '1+', { default: -1n }),
          }),
        ),
      }),
    ),
  }),
});
