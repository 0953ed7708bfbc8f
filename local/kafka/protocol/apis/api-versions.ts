/** ApiVersions (18) v0–3; v3 is flexible and carries the client's software name and version. */
import { defineApi } from '../api.ts';
import { array, field, int16, int32, int64, bool, string, struct } from '../schema.ts';

export const apiVersions = defineApi({
  key: 18,
  name: 'ApiVersions',
  minVersion: 0,
  maxVersion: 3,
  flexibleFrom: 3,
  request: struct({
    clientSoftwareName: field(string, '3+'),
    clientSoftwareVersion: field(string, '3+'),
  }),
  response: struct({
    errorCode: int16,
    apiKeys: array(struct({ apiKey: int16, minVersion: int16, maxVersion: int16 })),
    throttleTimeMs: field(int32, '1+'),
    supportedFeatures: field(array(struct({ name: string, minVersion: int16, maxVersion: int16 })), '3+', { tag: 0 }),
    finalizedFeaturesEpoch: field(int64, '3+', { tag: 1, default: -1n }),
    finalizedFeatures: field(array(struct({ name: string, maxVersionLevel: int16, minVersionLevel: int16 })), '3+', {
      tag: 2,
    }),
    zkMigrationReady: field(bool, '3+', { tag: 3 }),
  }),
});
