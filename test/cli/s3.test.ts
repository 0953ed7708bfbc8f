/**
 * floe on tables stored in S3 (a real S3 server, s3rver), through the S3 implementation: `floe inspect` and `floe scan`
 * of the Spark fixture table, uploaded under another bucket and read with its recorded `s3a://` locations mapped there;
 * `floe sql` over a catalog (the embedded Nessie) whose warehouse is in S3, as the chain writes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { startNessieServer } from '../../local/nessie/index.ts';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { loadTable, type Catalog } from '../../shared/catalog/table-catalog.ts';
import type { TaggedRecord } from '../../shared/events/contract.ts';
import { planScan } from '../../shared/iceberg/scan.ts';
import { loadEnv, warehouseIO } from '../../shared/runtime/env.ts';
import { s3Store } from '../../shared/storage/index.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { runFloe } from '../helpers/cli.ts';
import { ICEBERG_FIXTURES } from '../helpers/fixtures.ts';
import { goodRecord, record } from '../helpers/records.ts';
import { startS3rver, type RunningS3 } from '../helpers/s3rver.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { tempDir } from '../helpers/tmp.ts';

let s3: RunningS3;
let env: Record<string, string>;

async function upload(
  dir: string,
  prefix: string,
  put: (key: string, body: Uint8Array) => Promise<void>,
): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await upload(full, `${prefix}${entry.name}/`, put);
    else await put(`${prefix}${entry.name}`, await readFile(full));
  }
}

beforeAll(async () => {
  s3 = await startS3rver(['lake']);
  const store = s3Store({
    bucket: 'lake',
    endpoint: s3.endpoint,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
  });
  await upload(
    path.join(ICEBERG_FIXTURES, 'icebird/hyperparam-iceberg/spark/rename_column'),
    'tables/rename_column/',
    (key, body) => store.put(key, body),
  );
  env = {
    S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    S3_REGION: 'us-east-1',
  };
});
afterAll(() => s3?.stop());

describe('floe on S3', () => {
  const metadata = 's3://lake/tables/rename_column/metadata/v3.metadata.json';
  const map = ['--map', 's3a://hyperparam-iceberg/spark/rename_column/=s3://lake/tables/rename_column/'];

  it('inspects and scans a table in S3', async () => {
    const inspect = await runFloe(['inspect', metadata, ...map, '--json'], { env });
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(parseJson<{ files: unknown[] }>(inspect.stdout).files).toHaveLength(3);
    const scan = await runFloe(['scan', '--metadata', metadata, ...map, '--json', '--where', 'id >= 3'], { env });
    expect(scan.code, scan.stderr).toBe(0);
    expect(
      scan.stdout
        .trim()
        .split('\n')
        .map((l) => parseJson<{ name: string }>(l).name)
        .sort(),
    ).toEqual(['Cottontail', 'Thumper']);
  });

  it('names the object when it is missing', async () => {
    const missing = await runFloe(['inspect', 's3://lake/tables/none/v1.metadata.json'], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('tables/none/v1.metadata.json');
  });
});

describe('floe sql over a warehouse in S3', () => {
  const warehouse = 's3://lake/warehouse/';
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let nessie: Awaited<ReturnType<typeof startNessieServer>>;
  let sqlEnv: Record<string, string>;
  let catalog: Catalog;

  beforeAll(async () => {
    tmp = await tempDir('floe-sql-s3');
    nessie = await startNessieServer({ port: 0, dataDir: path.join(tmp.dir, 'nessie') });
    sqlEnv = { ...env, NESSIE_URI: nessie.uri, FLOE_WAREHOUSE: warehouse, FLOE_HOME: tmp.dir };
    const floeEnv = loadEnv({ ...sqlEnv, FLOE_CONFIG: 'knative/config/pipeline.yaml' });
    catalog = { client: createNessieClient({ uri: nessie.uri }), io: warehouseIO(floeEnv), warehouse };
    const ctx: WapContext = { catalog, config: floeEnv.pipeline, log: silentLogger };
    const publish = async (topic: string, records: TaggedRecord[]) =>
      publishBatch(ctx, await auditBatch(ctx, await writeBatch(ctx, topic, records)));
    await publish('parking-entry', [goodRecord(0), goodRecord(1), record(2), goodRecord(3)]);
    await publish('parking-entry', [goodRecord(4), record(5)]);
    // Bad records only: parking_exit_untrusted is a second table, which a query about entries does not need.
    await publish(
      'parking-exit',
      [record(0), record(1)].map((r) => ({ ...r, topic: 'parking-exit', table: 'parking_exit' })),
    );
  }, 60_000);
  afterAll(async () => {
    await nessie?.stop();
    await tmp?.cleanup();
  });

  async function sql(query: string) {
    return runFloe(['sql', query, '--json'], { env: sqlEnv });
  }

  it('reads the data files the chain wrote to S3, and only those of the tables the query names', async () => {
    const entries = await sql(
      'select count(*) as n, count(distinct event_id) as events, sum(_offset) as offsets from production.parking_entry',
    );
    expect(entries.code, entries.stderr).toBe(0);
    expect(parseJson(entries.stdout)).toEqual([{ n: 4, events: 4, offsets: 8 }]);

    // With one data file of parking_exit_untrusted gone, what needs only parking_entry still answers; what names the
    // other table fails naming the missing object.
    const exits = (await loadTable(catalog, 'main', 'production.parking_exit_untrusted'))!;
    const [task] = (await planScan(exits.metadata, { io: catalog.io })).tasks;
    expect(task.file.filePath.startsWith(warehouse)).toBe(true);
    await catalog.io.delete(task.file.filePath);
    const untrusted = await sql('select count(*) as n from production.parking_entry_untrusted');
    expect(untrusted.code, untrusted.stderr).toBe(0);
    expect(parseJson(untrusted.stdout)).toEqual([{ n: 2 }]);
    const missing = await sql('select count(*) as n from production.parking_exit_untrusted');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(task.file.filePath.slice('s3://lake/'.length));
  }, 60_000);
});
