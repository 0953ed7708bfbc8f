/** Produce (0) v3–7: record batch v2 only (magic 2 arrived with v3). */
import { defineApi } from '../api.ts';
import { array, field, int16, int32, int64, nullableString, records, string, struct } from '../schema.ts';

export const produce = defineApi({
  key: 0,
  name: 'Produce',
  minVersion: 3,
  maxVersion: 7,
  flexibleFrom: 9,
  request: struct({
    transactionalId: field(nullableString, '3+'),
    acks: int16,
    timeoutMs: int32,
    topicData: array(struct({ name: string, partitionData: array(struct({ index: int32, records })) })),
  }),
  response: struct({
    responses: array(
      struct({
        name: string,
        partitionResponses: array(
          struct({
            index: int32,
            errorCode: int16,
            baseOffset: int64,
            logAppendTimeMs: field(int64, '2+', { default: -1n }),
            logStartOffset: field(int64, '5+', { default: -1n }),
          }),
        ),
      }),
    ),
    throttleTimeMs: field(int32, '1+'),
  }),
});
