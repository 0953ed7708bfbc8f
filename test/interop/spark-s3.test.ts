/**
 * Apache Spark on an S3 warehouse, as in production: a real `floe start` run writes its tables into `s3://` on an S3
 * server (moto) with their commits on an embedded Nessie; Spark reaches them through Iceberg's NessieCatalog with
 * Iceberg's S3FileIO (the iceberg-aws-bundle jar, test/interop/spark-setup.ts) on the same endpoint. Spark reads every
 * table with the record ids floe's scan reads from S3 and floe's accounting counted, sees only `s3://` data files, and
 * writes a table of its own (CTAS) into the bucket that floe reads back.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEngine } from '../../engines/engine.ts';
import { startS3 } from '../../engines/s3.ts';
import { startNessieServer, type RunningNessieServer } from '../../local/nessie/index.ts';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { loadTable, type Catalog } from '../../shared/catalog/table-catalog.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { createFileIO } from '../../shared/storage/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { accountedRows, floeStart } from './floe-run.ts';
import { runSpark, type StepResult } from './spark-run.ts';
import { cacheEnv } from './trino-server.ts';

const TOPICS = ['parking-entry', 'parking-exit', 'parking-sensors'];
const TABLES = TOPICS.flatMap((t) => {
  const name = `production.${t.replace('-', '_')}`;
  return [name, `${name}_untrusted`];
});
const ENTRY = 'production.parking_entry';
const progress = (line: string) => process.stderr.write(`[interop] ${line}\n`);

let tmp: { dir: string; cleanup: () => Promise<void> };
let s3: RunningEngine | undefined;
let nessie: RunningNessieServer | undefined;
let catalog: Catalog;
let warehouse: string;
let accounted: Map<string, number>;
let results: StepResult[];

/** `_source_id`s of a table as floe's own scan reads them from S3 (what `floe scan` runs). */
async function floeIds(table: string): Promise<string[]> {
  const loaded = await loadTable(catalog, 'main', table);
  if (!loaded) throw new Error(`${table} is not on main`);
  const rows = await scanRows(loaded.metadata, { io: catalog.io, columns: ['_source_id'] });
  return rows.map((r) => String(r._source_id)).sort();
}

function rowsOf(result: StepResult): Record<string, unknown>[] {
  expect(result.error).toBeUndefined();
  return result.rows!;
}

beforeAll(async () => {
  tmp = await tempDir('floe-interop-spark-s3');
  s3 = await startS3({ home: path.join(tmp.dir, 's3'), env: cacheEnv(process.env), progress, timeoutMs: 120_000 });
  nessie = await startNessieServer({ port: 0, dataDir: path.join(tmp.dir, 'nessie') });
  // moto's environment: the warehouse in its bucket (s3://floe/warehouse/), the endpoint, path style, the credentials.
  const env: Record<string, string> = { ...s3.env, NESSIE_URI: nessie.uri, FLOE_HOME: tmp.dir, FLOE_LOG_LEVEL: 'warn' };
  warehouse = env.FLOE_WAREHOUSE;
  catalog = {
    client: createNessieClient({ uri: nessie.uri }),
    io: createFileIO({
      s3: {
        endpoint: env.S3_ENDPOINT,
        region: env.S3_REGION,
        forcePathStyle: true,
        accessKeyId: env.AWS_ACCESS_KEY_ID,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      },
    }),
    warehouse,
  };
  accounted = accountedRows(await floeStart({ home: tmp.dir, duration: '6s', seed: 17, env, timeoutMs: 300_000 }));
  // Iceberg's S3FileIO on moto, with the same endpoint and credentials floe used (AWS SDK v2 property names).
  const properties = {
    'io-impl': 'org.apache.iceberg.aws.s3.S3FileIO',
    's3.endpoint': env.S3_ENDPOINT,
    's3.path-style-access': 'true',
    's3.access-key-id': env.AWS_ACCESS_KEY_ID,
    's3.secret-access-key': env.AWS_SECRET_ACCESS_KEY,
    'client.region': env.S3_REGION,
  };
  results = await runSpark(
    {
      catalog: { uri: `${nessie.uri}/v2`, ref: 'main', warehouse: warehouse.replace(/\/$/, ''), properties },
      steps: [
        ...TABLES.map((t) => `SELECT _source_id FROM nessie.${t}`),
        `SELECT file_path, record_count FROM nessie.${ENTRY}.files`,
        `CREATE TABLE nessie.production.spark_copy USING iceberg AS SELECT _source_id, event_id, timestamp FROM nessie.${ENTRY}`,
        'SELECT file_path FROM nessie.production.spark_copy.files',
      ],
      s3: true,
    },
    tmp.dir,
  );
}, 900_000);

afterAll(async () => {
  await nessie?.stop();
  await s3?.stop();
  await tmp?.cleanup();
});

describe('Spark reads and writes floe tables in an S3 warehouse through the Nessie catalog and S3FileIO', () => {
  it("reads every production table with the ids floe's scan reads from S3 and the counts floe's accounting has", async () => {
    for (const [i, table] of TABLES.entries()) {
      const ids = rowsOf(results[i])
        .map((r) => String(r._source_id))
        .sort();
      expect(ids.length, table).toBe(accounted.get(table));
      expect(ids, table).toEqual(await floeIds(table));
    }
    expect(accounted.get(ENTRY)).toBeGreaterThan(0);
  });

  it('reads data files that are all in the bucket', () => {
    const files = rowsOf(results[TABLES.length]);
    expect(files.length).toBeGreaterThan(0);
    expect(files.filter((f) => !String(f.file_path).startsWith(warehouse))).toEqual([]);
    expect(files.reduce((sum, f) => sum + Number(f.record_count), 0)).toBe(accounted.get(ENTRY));
  });

  it("writes a table into the bucket (CTAS) that floe's scan reads back", async () => {
    expect(results[TABLES.length + 1].error).toBeUndefined();
    const files = rowsOf(results[TABLES.length + 2]);
    expect(files.length).toBeGreaterThan(0);
    expect(files.filter((f) => !String(f.file_path).startsWith(warehouse))).toEqual([]);
    const copy = (await loadTable(catalog, 'main', 'production.spark_copy'))!;
    expect(copy.metadataLocation.startsWith(warehouse)).toBe(true);
    expect(await floeIds('production.spark_copy')).toEqual(await floeIds(ENTRY));
  });
});
