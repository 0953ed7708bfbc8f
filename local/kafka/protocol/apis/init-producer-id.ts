/** InitProducerId (22) v0–4 (flexible from v2); v3+ may ask to bump the epoch of an existing producer id. */
import { defineApi } from '../api.ts';
import { field, int16, int32, int64, nullableString, struct } from '../schema.ts';

export const initProducerId = defineApi({
  key: 22,
  name: 'InitProducerId',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 2,
  request: struct({
    transactionalId: nullableString,
    transactionTimeoutMs: int32,
    producerId: field(int64, '3+', { default: -1n }),
    producerEpoch: field(int16, '3+', { default: -1 }),
  }),
  response: struct({ throttleTimeMs: int32, errorCode: int16, producerId: int64, producerEpoch: int16 }),
});
