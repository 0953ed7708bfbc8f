/**
 * Trino reads floe's tables where floe wrote them. Two real `floe start` runs (Kafka, the functions, the simulator)
 * publish production.* tables on main, each on an embedded Nessie this test starts and keeps running: one into a local
 * `file://` warehouse (what `npm start` writes), one into an `s3://` warehouse on an S3 server (moto), as in production.
 * One Trino (test/interop/trino-server.ts) reads both through its Iceberg connector's Nessie catalog: the local tables
 * with its native local file system (catalog `floe`), the S3 tables with the bi component's own catalog file
 * (kustomize/components/bi/trino/floe.properties, native S3, every value from the environment as in the cluster) as
 * catalog `floe_s3`. In each, counts equal floe's accounting, and every aggregate — by day, by lot, by status, at an
 * older snapshot with FOR VERSION AS OF — equals `floe sql` (DuckDB) on the same query over the same warehouse.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEngine } from '../../engines/engine.ts';
import { startS3 } from '../../engines/s3.ts';
import { startNessieServer, type RunningNessieServer } from '../../local/nessie/index.ts';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { loadTable, type Catalog } from '../../shared/catalog/table-catalog.ts';
import { createFileIO } from '../../shared/storage/index.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { runFloe } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { accountedRows, floeStart } from './floe-run.ts';
import { cacheEnv, startTrino, type RunningTrino } from './trino-server.ts';

/** One warehouse floe wrote and Trino reads. */
interface Warehouse {
  label: string;
  /** Trino's catalog of its tables. */
  catalog: string;
  location: string;
  /** What `floe start` and `floe sql` run with: the Nessie, the warehouse and (for S3) the server and credentials. */
  env: Record<string, string>;
  nessie: RunningNessieServer;
  tables: Catalog;
  /** Records per table as floe's accounting counted them, e.g. production.parking_entry_untrusted → 33. */
  accounted: Map<string, number>;
}

const TABLES = ['parking_entry', 'parking_exit', 'parking_sensors'];
/** Each test runs a few queries in both engines (a `floe sql` process each); generous for a loaded machine. */
const QUERY_TEST_MS = 300_000;
/** The catalog file the bi component deploys Trino with. */
const BI_CATALOG = fileURLToPath(new URL('../../kustomize/components/bi/trino/floe.properties', import.meta.url));
const progress = (line: string) => process.stderr.write(`[interop] ${line}\n`);

let tmp: { dir: string; cleanup: () => Promise<void> };
let s3: RunningEngine | undefined;
let trino: RunningTrino | undefined;
let trinoStarted: Promise<RunningTrino> | undefined;
const warehouses: Warehouse[] = [];

async function startWarehouse(
  label: string,
  catalog: string,
  location: string,
  storage: Record<string, string>,
): Promise<Warehouse> {
  const nessie = await startNessieServer({ port: 0, dataDir: path.join(tmp.dir, catalog, 'nessie') });
  const env = {
    ...storage,
    NESSIE_URI: nessie.uri,
    FLOE_WAREHOUSE: location,
    FLOE_HOME: path.join(tmp.dir, catalog),
    FLOE_LOG_LEVEL: 'warn',
  };
  const io = storage.S3_ENDPOINT
    ? createFileIO({
        s3: {
          endpoint: storage.S3_ENDPOINT,
          region: storage.S3_REGION,
          forcePathStyle: true,
          accessKeyId: storage.AWS_ACCESS_KEY_ID,
          secretAccessKey: storage.AWS_SECRET_ACCESS_KEY,
        },
      })
    : createFileIO({ localFiles: true });
  const warehouse: Warehouse = {
    label,
    catalog,
    location,
    env,
    nessie,
    tables: { client: createNessieClient({ uri: nessie.uri }), io, warehouse: location },
    accounted: new Map(),
  };
  warehouses.push(warehouse);
  return warehouse;
}

async function writeTables(warehouse: Warehouse): Promise<void> {
  const started = Date.now();
  const topics = await floeStart({
    home: warehouse.env.FLOE_HOME,
    duration: '20s',
    seed: 7,
    env: warehouse.env,
    timeoutMs: 400_000,
  });
  warehouse.accounted = accountedRows(topics);
  progress(`floe start wrote the tables into ${warehouse.location} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

beforeAll(async () => {
  tmp = await tempDir('floe-interop-trino');
  s3 = await startS3({
    home: path.join(tmp.dir, 's3'),
    env: cacheEnv(process.env),
    progress,
    timeoutMs: 120_000,
  });
  const local = await startWarehouse(
    'a local file warehouse',
    'floe',
    `file://${path.join(tmp.dir, 'warehouse')}/`,
    {},
  );
  // moto's environment names its bucket's warehouse (s3://floe/warehouse/), the endpoint and the credentials.
  const remote = await startWarehouse('an S3 warehouse', 'floe_s3', s3.env.FLOE_WAREHOUSE, s3.env);
  // Trino starts (and on a cold cache downloads) while floe writes: it only needs the catalogs' addresses up front.
  // The S3 catalog is the deployed file as it is; its ${ENV:…} values come from Trino's environment, as in the cluster.
  trinoStarted = startTrino({
    nessieUri: `${local.nessie.uri}/v2`,
    warehouse: local.location,
    home: path.join(tmp.dir, 'trino'),
    env: { ...process.env, ...remote.env },
    catalogs: { [remote.catalog]: readFileSync(BI_CATALOG, 'utf8') },
    progress,
  });
  // Keep a rejected start from going unhandled while floe runs; it is awaited below.
  trinoStarted.catch(() => undefined);
  // One run at a time: two stacks side by side would share the two cores with Trino's start.
  for (const warehouse of [local, remote]) await writeTables(warehouse);
  trino = await trinoStarted;
}, 1_200_000);

afterAll(async () => {
  // A start still under way when floe failed is waited for, so that no Trino outlives the test.
  await (trino ?? (await trinoStarted?.catch(() => undefined)))?.stop();
  for (const warehouse of warehouses) await warehouse.nessie.stop();
  await s3?.stop();
  await tmp?.cleanup();
});

/** `floe sql --json` over the warehouse: the rows as arrays in column order (every query here names its columns). */
async function floeSql(warehouse: Warehouse, query: string, ...flags: string[]): Promise<unknown[][]> {
  const result = await runFloe(['sql', query, '--json', ...flags], { env: warehouse.env, timeoutMs: 120_000 });
  expect(result.code, result.stderr).toBe(0);
  return parseJson<Record<string, unknown>[]>(result.stdout).map((row) => Object.values(row));
}

async function trinoSql(warehouse: Warehouse, query: string): Promise<unknown[][]> {
  return (await trino!.query(query, warehouse.catalog)).rows;
}

/**
 * One value as both engines can be compared: integers as bigint (DuckDB widens sums to HUGEINT, Trino keeps
 * bigint), timestamps with time zone as ISO-8601 UTC with microseconds (Trino prints `… UTC`, DuckDB `…+00`).
 */
function comparable(value: unknown): unknown {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (typeof value === 'string') {
    const timestamp = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d+))?(?: UTC|\+00(?::00)?)$/.exec(value);
    if (timestamp) return `${timestamp[1]}T${timestamp[2]}.${(timestamp[3] ?? '').padEnd(6, '0')}Z`;
  }
  return value;
}

/** Equal rows; floating-point sums and averages may differ in their last bits (the engines add in different orders). */
function expectSameRows(trinoRows: unknown[][], floeRows: unknown[][]): void {
  expect(trinoRows.length).toBe(floeRows.length);
  const exact = (rows: unknown[][]) =>
    rows.map((row) => row.map((v) => (typeof v === 'number' && !Number.isInteger(v) ? 'float' : comparable(v))));
  expect(exact(trinoRows)).toEqual(exact(floeRows));
  trinoRows.forEach((row, r) =>
    row.forEach((value, c) => {
      if (typeof value === 'number' && !Number.isInteger(value)) {
        const other = Number(floeRows[r][c]);
        expect(Math.abs(value - other)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(other)));
      }
    }),
  );
}

/** The same SQL text in both engines (Trino with the warehouse's catalog, schema production), compared. */
async function expectAgree(warehouse: Warehouse, query: string): Promise<unknown[][]> {
  const [fromTrino, fromFloe] = [await trinoSql(warehouse, query), await floeSql(warehouse, query)];
  expectSameRows(fromTrino, fromFloe);
  return fromTrino;
}

describe.each([
  { catalog: 'floe', where: 'a local file warehouse (native local file system)' },
  { catalog: 'floe_s3', where: "an S3 warehouse (native S3, the bi component's catalog file)" },
])('Trino reads floe tables in $where through the Nessie catalog', ({ catalog }) => {
  const at = () => warehouses.find((w) => w.catalog === catalog)!;

  it(
    "lists the tables and counts each as floe's accounting and floe sql do",
    async () => {
      const warehouse = at();
      const { accounted } = warehouse;
      const names = (await trinoSql(warehouse, 'show tables from production')).map(
        ([name]) => `production.${String(name)}`,
      );
      expect(names.sort()).toEqual([...accounted.keys()].sort());
      const counts = [...accounted.keys()]
        .sort()
        .map((name) => `(select count(*) from ${name}) as ${name.split('.')[1]}`)
        .join(', ');
      const [row] = await expectAgree(warehouse, `select ${counts}`);
      expect(row).toEqual([...accounted.keys()].sort().map((name) => BigInt(accounted.get(name)!)));
      for (const table of TABLES) {
        expect(accounted.get(`production.${table}`)).toBeGreaterThan(0);
        expect(accounted.get(`production.${table}_untrusted`)).toBeGreaterThan(0);
      }
    },
    QUERY_TEST_MS,
  );

  it(
    'reads data files that are all in the warehouse floe wrote',
    async () => {
      const warehouse = at();
      for (const table of TABLES) {
        const [[files, inWarehouse, rows]] = await trinoSql(
          warehouse,
          `select count(*), count_if(starts_with(file_path, '${warehouse.location}')), sum(record_count)
           from "${table}$files"`,
        );
        expect(files).toBeGreaterThan(0n);
        expect(inWarehouse).toBe(files);
        expect(rows).toBe(BigInt(warehouse.accounted.get(`production.${table}`)!));
      }
    },
    QUERY_TEST_MS,
  );

  it(
    'aggregates by day: counts, 64-bit offset sums, first and last timestamps with microseconds',
    async () => {
      const warehouse = at();
      for (const table of TABLES) {
        const rows = await expectAgree(
          warehouse,
          `select date_trunc('day', "timestamp") as day, _kafka_partition as kafka_partition, count(*) as n,
                sum(_offset) as offsets, max(_offset) as last_offset, min("timestamp") as first, max("timestamp") as last,
                min(_ingested_at) as first_ingested
           from production.${table} group by 1, 2 order by 1, 2`,
        );
        expect(rows.reduce((sum, row) => sum + (row[2] as bigint), 0n)).toBe(
          BigInt(warehouse.accounted.get(`production.${table}`)!),
        );
      }
    },
    QUERY_TEST_MS,
  );

  it(
    'aggregates by lot: counts, distinct cars, sums and averages of doubles',
    async () => {
      const warehouse = at();
      await expectAgree(
        warehouse,
        `select lot_id, camera_id, direction, count(*) as n, count(distinct car_id) as cars, count(distinct slot) as slots,
              avg(confidence) as confidence, min(latitude) as south, max(longitude) as east
         from production.parking_entry group by 1, 2, 3 order by 1, 2, 3`,
      );
      await expectAgree(
        warehouse,
        `select lot_id, camera_id, direction, count(*) as n, count(image) as images, avg(confidence) as confidence,
              count(image.uri) as image_uris, sum(image.size_bytes) as image_bytes, count(image.inline) as inlined
         from production.parking_exit group by 1, 2, 3 order by 1, 2, 3`,
      );
      const sensors = await expectAgree(
        warehouse,
        `select lot_id, kind, unit, count(*) as n, count(distinct sensor_id) as sensors, sum("value") as total,
              min("value") as low, max("value") as high, avg("value") as mean
         from production.parking_sensors group by 1, 2, 3 order by 1, 2, 3`,
      );
      expect(sensors.length).toBeGreaterThan(0);
    },
    QUERY_TEST_MS,
  );

  it(
    'aggregates by status, trusted and untrusted, with the reasons bad records carry',
    async () => {
      const warehouse = at();
      for (const table of TABLES) {
        const trusted = await expectAgree(
          warehouse,
          `select _status, count(*) as n from production.${table} group by 1 order by 1`,
        );
        expect(trusted.map(([status]) => status)).toEqual(['ok']);
        const untrusted = await expectAgree(
          warehouse,
          `select _status, count(*) as n, count(_raw) as raw, sum(_offset) as offsets, min(_ingested_at) as first
           from production.${table}_untrusted group by 1 order by 1`,
        );
        expect(untrusted.reduce((sum, row) => sum + (row[1] as bigint), 0n)).toBe(
          BigInt(warehouse.accounted.get(`production.${table}_untrusted`)!),
        );
      }
      // Arrays read alike: the first reason of each bad record (1-based in both dialects).
      await expectAgree(
        warehouse,
        `select _reasons[1] as reason, count(*) as n from production.parking_entry_untrusted
        where _reasons is not null group by 1 order by 1`,
      );
    },
    QUERY_TEST_MS,
  );

  it(
    'lists the snapshots floe committed and time travels with FOR VERSION AS OF as floe sql --snapshot does',
    async () => {
      const warehouse = at();
      const table = (await loadTable(warehouse.tables, 'main', 'production.parking_entry'))!;
      const snapshots = [...table.metadata.snapshots].sort((a, b) =>
        a.timestampMs !== b.timestampMs ? a.timestampMs - b.timestampMs : a.snapshotId < b.snapshotId ? -1 : 1,
      );
      expect(snapshots.length).toBeGreaterThan(2);
      const listed = await trinoSql(
        warehouse,
        'select snapshot_id, parent_id, operation from "parking_entry$snapshots" order by committed_at, snapshot_id',
      );
      expect(listed).toEqual(snapshots.map((s) => [s.snapshotId, s.parentSnapshotId ?? null, s.summary.operation]));

      for (const snapshot of [snapshots[0], snapshots[Math.floor(snapshots.length / 2)]]) {
        const query = (clause: string) =>
          `select count(*) as n, count(distinct event_id) as events, sum(_offset) as offsets, max(_ingested_at) as last
           from production.parking_entry ${clause}`;
        const fromTrino = await trinoSql(warehouse, query(`for version as of ${snapshot.snapshotId}`));
        const fromFloe = await floeSql(
          warehouse,
          query(''),
          '--snapshot',
          `production.parking_entry=${snapshot.snapshotId}`,
        );
        expectSameRows(fromTrino, fromFloe);
        expect(fromTrino[0][0]).toBe(BigInt(snapshot.summary['total-records']));
        expect(fromTrino[0][0]).toBeLessThan(BigInt(warehouse.accounted.get('production.parking_entry')!));
      }
    },
    QUERY_TEST_MS,
  );
});
