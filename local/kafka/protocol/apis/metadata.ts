/** Metadata (3) v0–6: brokers, controller and topic/partition leadership; may auto-create topics. */
import { defineApi } from '../api.ts';
import { array, bool, field, int16, int32, nullableArray, nullableString, string, struct } from '../schema.ts';

export const metadata = defineApi({
  key: 3,
  name: 'Metadata',
  minVersion: 0,
  maxVersion: 6,
  flexibleFrom: Infinity,
  request: struct({
    /** v0: empty means all topics; v1+: null means all topics. */
    topics: nullableArray(struct({ name: string })),
    allowAutoTopicCreation: field(bool, '4+', { default: true }),
  }),
  response: struct({
    throttleTimeMs: field(int32, '3+'),
    brokers: array(struct({ nodeId: int32, host: string, port: int32, rack: field(nullableString, '1+') })),
    clusterId: field(nullableString, '2+'),
    controllerId: field(int32, '1+', { default: -1 }),
    topics: array(
      struct({
        errorCode: int16,
        name: string,
        isInternal: field(bool, '1+'),
        partitions: array(
          struct({
            errorCode: int16,
            partitionIndex: int32,
            leaderId: int32,
            replicaNodes: array(int32),
            isrNodes: array(int32),
            offlineReplicas: field(array(int32), '5+'),
          }),
        ),
      }),
    ),
  }),
});
