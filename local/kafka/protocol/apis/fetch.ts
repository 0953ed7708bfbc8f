/** Fetch (1) v4–11 (v4 is the first that can carry record batch v2). Fetch sessions are not kept: session id 0. */
import { defineApi } from '../api.ts';
import { array, field, int16, int32, int64, int8, nullableArray, records, string, struct } from '../schema.ts';

export const fetch = defineApi({
  key: 1,
  name: 'Fetch',
  minVersion: 4,
  maxVersion: 11,
  flexibleFrom: 12,
  request: struct({
    replicaId: int32,
    maxWaitMs: int32,
    minBytes: int32,
    maxBytes: field(int32, '3+', { default: 0x7fffffff }),
    isolationLevel: field(int8, '4+'),
    sessionId: field(int32, '7+'),
    sessionEpoch: field(int32, '7+', { default: -1 }),
    topics: array(
      struct({
        topic: string,
        partitions: array(
          struct({
            partition: int32,
            currentLeaderEpoch: field(int32, '9+', { default: -1 }),
            fetchOffset: int64,
            logStartOffset: field(int64, '5+', { default: -1n }),
            partitionMaxBytes: int32,
          }),
        ),
      }),
    ),
    forgottenTopicsData: field(array(struct({ topic: string, partitions: array(int32) })), '7+'),
    rackId: field(string, '11+'),
  }),
  response: struct({
    throttleTimeMs: field(int32, '1+'),
    errorCode: field(int16, '7+'),
    sessionId: field(int32, '7+'),
    responses: array(
      struct({
        topic: string,
        partitions: array(
          struct({
            partitionIndex: int32,
            errorCode: int16,
            highWatermark: int64,
            lastStableOffset: field(int64, '4+', { default: -1n }),
            logStartOffset: field(int64, '5+', { default: -1n }),
            abortedTransactions: field(nullableArray(struct({ producerId: int64, firstOffset: int64 })), '4+'),
            preferredReadReplica: field(int32, '11+', { default: -1 }),
            records,
          }),
        ),
      }),
    ),
  }),
});
