/**
 * The object store contract (test/storage/contract.ts) on the S3 store against a real S3 server, including
 * create-if-absent, which s3rver cannot test because it ignores If-None-Match. For example, against a local MinIO:
 *
 *   S3_ENDPOINT=http://127.0.0.1:9000 S3_FORCE_PATH_STYLE=true S3_TEST_BUCKET=floe-test \
 *   AWS_ACCESS_KEY_ID=minioadmin AWS_SECRET_ACCESS_KEY=minioadmin npm run test:engines
 *
 * The bucket must exist. Each run works under a fresh key prefix and deletes what it wrote.
 */
import { randomUUID } from 'node:crypto';
import { afterAll } from 'vitest';
import { collect, s3Store, type ObjectStore } from '../../shared/storage/index.ts';
import { describeIfAvailable } from '../helpers/requires.ts';
import { storeContract } from '../storage/contract.ts';

const env = process.env;
const bucket = env.S3_TEST_BUCKET;
const prefix = `floe-test-${randomUUID()}`;
let store: ObjectStore | undefined;

describeIfAvailable(bucket ? undefined : 'S3_TEST_BUCKET is not set: name an existing bucket (with S3_ENDPOINT, S3_REGION, S3_FORCE_PATH_STYLE and AWS_* credentials as the server needs)')(
  'S3 store against a real S3 server',
  () => {
    afterAll(async () => {
      if (!store) return;
      const left = await collect(store.list(''));
      if (left.length) await store.deleteMany(left.map((object) => object.key));
    });
    storeContract(`s3://${bucket ?? '$S3_TEST_BUCKET'}/${prefix}`, () => (store = s3Store({
      bucket: bucket!, prefix, endpoint: env.S3_ENDPOINT, region: env.S3_REGION ?? 'us-east-1',
      forcePathStyle: env.S3_FORCE_PATH_STYLE === 'true' || env.S3_FORCE_PATH_STYLE === '1',
      accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, multipartThreshold: 5 * 1024 * 1024,
    })), { conditionalPut: true });
  },
);
