/** DeleteTopics (20) v0–1. */
import { defineApi } from '../api.ts';
import { array, field, int16, int32, string, struct } from '../schema.ts';

export const deleteTopics = defineApi({
  key: 20,
  name: 'DeleteTopics',
  minVersion: 0,
  maxVersion: 1,
  flexibleFrom: 4,
  request: struct({ topicNames: array(string), timeoutMs: int32 }),
  response: struct({
    throttleTimeMs: field(int32, '1+'),
    responses: array(struct({ name: string, errorCode: int16 })),
  }),
});
