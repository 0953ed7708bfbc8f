/**
 * The object store contract (test/storage/contract.ts) on the S3 store against a real S3 server, including
 * create-if-absent, which s3rver cannot test because it ignores If-None-Match; and Iceberg commits through the file
 * catalog, whose commit is exactly such a create-if-absent, with writers racing for the same commit. Under
 * `npm run test:engines` the server is moto, started by the global setup. To use another server instead, e.g. MinIO:
 *
 *   S3_ENDPOINT=http://127.0.0.1:9000 S3_FORCE_PATH_STYLE=true S3_TEST_BUCKET=floe-test \
 *   AWS_ACCESS_KEY_ID=minioadmin AWS_SECRET_ACCESS_KEY=minioadmin npm run test:engines
 *
 * The bucket must exist. Each run works under a fresh key prefix and deletes what it wrote.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { fileCatalog } from '../../shared/catalog/file-catalog.ts';
import { commitTable, CommitConflictError, type TableState } from '../../shared/iceberg/commit.ts';
import { assignFreshIds } from '../../shared/iceberg/evolution.ts';
import { newTableMetadata } from '../../shared/iceberg/metadata.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { appendFiles } from '../../shared/iceberg/snapshot.ts';
import type { Schema } from '../../shared/iceberg/types.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import { collect, createFileIO, s3Store, type ObjectStore } from '../../shared/storage/index.ts';
import { describeIfAvailable } from '../helpers/requires.ts';
import { storeContract } from '../storage/contract.ts';
import { engineEnv } from './env.ts';

const env = engineEnv();
const bucket = env.S3_TEST_BUCKET;
const prefix = `floe-test-${randomUUID()}`;
const s3 = {
  endpoint: env.S3_ENDPOINT,
  region: env.S3_REGION ?? 'us-east-1',
  forcePathStyle: env.S3_FORCE_PATH_STYLE === 'true' || env.S3_FORCE_PATH_STYLE === '1',
  accessKeyId: env.AWS_ACCESS_KEY_ID,
  secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
};
const stores: ObjectStore[] = [];

const schema: Schema = {
  ...assignFreshIds(
    {
      type: 'struct',
      fields: [
        { id: 0, name: 'id', required: true, type: 'string' },
        { id: 0, name: 'writer', required: true, type: 'string' },
      ],
    },
    { value: 0 },
  ),
  schemaId: 0,
};

describeIfAvailable(
  bucket
    ? undefined
    : 'S3_TEST_BUCKET is not set: name an existing bucket (with S3_ENDPOINT, S3_REGION, S3_FORCE_PATH_STYLE and AWS_* credentials as the server needs)',
)('S3 store against a real S3 server', () => {
  afterAll(async () => {
    for (const store of stores) {
      const left = await collect(store.list(''));
      if (left.length) await store.deleteMany(left.map((object) => object.key));
    }
  });
  storeContract(
    `s3://${bucket ?? '$S3_TEST_BUCKET'}/${prefix}`,
    () => {
      const store = s3Store({
        bucket: bucket!,
        prefix: `${prefix}/contract`,
        ...s3,
        multipartThreshold: 5 * 1024 * 1024,
      });
      stores.push(store);
      return store;
    },
    { conditionalPut: true },
  );

  it('commits Iceberg snapshots through the file catalog: of two writers racing for each commit exactly one wins', async () => {
    stores.push(s3Store({ bucket: bucket!, prefix: `${prefix}/warehouse`, ...s3 }));
    const io = createFileIO({ s3 });
    const catalog = fileCatalog(io, `s3://${bucket}/${prefix}/warehouse/`);
    const name = 'db.race';
    await commitTable(
      catalog.port(),
      name,
      async (base) => base ?? newTableMetadata({ location: catalog.tableLocation(name), schema }),
      { io },
    );
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      // Both writers load the same commit before either swaps (a barrier in the update), so they race for the
      // same next commit marker; without retries the loser's conditional write must fail.
      let loaded = 0;
      let release!: () => void;
      const bothLoaded = new Promise<void>((resolve) => (release = resolve));
      const writer = async (who: string): Promise<TableState> =>
        commitTable(
          catalog.port(),
          name,
          async (base, attempt, bases) => {
            const files = await writeRows(io, base!, [{ id: `${round}-${who}`, writer: who }]);
            if (++loaded === 2) release();
            await bothLoaded;
            return appendFiles({ io, files })(base, attempt, bases);
          },
          { io, retries: 0 },
        );
      const results = await Promise.allSettled([writer('a'), writer('b')]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0].reason).toBeInstanceOf(CommitConflictError);
    }
    const table = await catalog.load(name);
    expect(table!.metadata.snapshots).toHaveLength(rounds);
    const rows = await scanRows(table!.metadata, { io });
    expect(rows.map((r) => String(r.id).split('-')[0]).sort()).toEqual(
      Array.from({ length: rounds }, (_, i) => String(i)),
    );
  });
});
