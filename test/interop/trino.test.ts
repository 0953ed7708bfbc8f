/**
 * Trino reads floe's tables: a real `floe start` run (Kafka, the functions, the simulator) publishes production.*
 * tables on main of an embedded Nessie this test starts and keeps running; Trino (test/interop/trino-server.ts) reads
 * them through its Iceberg connector's Nessie catalog. Counts equal floe's accounting, and every aggregate — by day,
 * by lot, by status, at an older snapshot with FOR VERSION AS OF — equals `floe sql` (DuckDB) on the same query.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNessieServer, type RunningNessieServer } from '../../local/nessie/index.ts';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { loadTable, type Catalog } from '../../shared/catalog/table-catalog.ts';
import { createFileIO } from '../../shared/storage/index.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { runFloe } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startTrino, type RunningTrino } from './trino-server.ts';

interface Account {
  topic: string;
  sent: number;
  trusted: number;
  untrusted: number;
  duplicates: number;
  missing: number;
}

const TABLES = ['parking_entry', 'parking_exit', 'parking_sensors'];
/** Each test runs a few queries in both engines (a `floe sql` process each); generous for a loaded machine. */
const QUERY_TEST_MS = 300_000;
const progress = (line: string) => process.stderr.write(`[interop] ${line}\n`);

let tmp: { dir: string; cleanup: () => Promise<void> };
let nessie: RunningNessieServer | undefined;
let trino: RunningTrino | undefined;
let trinoStarted: Promise<RunningTrino> | undefined;
let catalog: Catalog;
let env: Record<string, string>;
/** Records per table as floe's accounting counted them, e.g. production.parking_entry_untrusted → 33. */
const accounted = new Map<string, number>();

beforeAll(async () => {
  tmp = await tempDir('floe-interop-trino');
  nessie = await startNessieServer({ port: 0, dataDir: path.join(tmp.dir, 'nessie') });
  const warehouse = `file://${path.join(tmp.dir, 'warehouse')}/`;
  env = { NESSIE_URI: nessie.uri, FLOE_WAREHOUSE: warehouse, FLOE_HOME: tmp.dir, FLOE_LOG_LEVEL: 'warn' };
  catalog = { client: createNessieClient({ uri: nessie.uri }), io: createFileIO({ localFiles: true }), warehouse };
  // Trino starts (and on a cold cache downloads) while floe writes: it only needs the catalog's address up front.
  trinoStarted = startTrino({
    nessieUri: `${nessie.uri}/v2`,
    warehouse,
    home: path.join(tmp.dir, 'trino'),
    progress,
  });
  // Keep a rejected start from going unhandled while floe runs; it is awaited below.
  trinoStarted.catch(() => undefined);
  const started = Date.now();
  const floe = await runFloe(
    [
      'start',
      '--home',
      tmp.dir,
      '--duration',
      '20s',
      '--rate',
      '40',
      '--bad-fraction',
      '0.1',
      '--seed',
      '7',
      '--json',
      '--kafka-port',
      '0',
      '--broker-port',
      '0',
      '--dashboard-port',
      '0',
    ],
    { env, timeoutMs: 400_000 },
  );
  expect(floe.code, floe.stderr.slice(-3000)).toBe(0);
  const summary = parseJson<{ ok: boolean; topics: Account[] }>(floe.stdout);
  expect(summary.ok, floe.stdout).toBe(true);
  for (const topic of summary.topics) {
    expect(topic.duplicates + topic.missing).toBe(0);
    const table = topic.topic.replace(/-/g, '_');
    accounted.set(`production.${table}`, topic.trusted);
    accounted.set(`production.${table}_untrusted`, topic.untrusted);
  }
  progress(`floe start wrote the tables in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  trino = await trinoStarted;
}, 840_000);

afterAll(async () => {
  // A start still under way when floe failed is waited for, so that no Trino outlives the test.
  await (trino ?? (await trinoStarted?.catch(() => undefined)))?.stop();
  await nessie?.stop();
  await tmp?.cleanup();
});

/** `floe sql --json`: the rows as arrays in column order (every query here names its columns). */
async function floeSql(query: string, ...flags: string[]): Promise<unknown[][]> {
  const result = await runFloe(['sql', query, '--json', ...flags], { env, timeoutMs: 120_000 });
  expect(result.code, result.stderr).toBe(0);
  return parseJson<Record<string, unknown>[]>(result.stdout).map((row) => Object.values(row));
}

async function trinoSql(query: string): Promise<unknown[][]> {
  return (await trino!.query(query)).rows;
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

/** The same SQL text in both engines (Trino with catalog floe, schema production), compared. */
async function expectAgree(query: string): Promise<unknown[][]> {
  const [fromTrino, fromFloe] = [await trinoSql(query), await floeSql(query)];
  expectSameRows(fromTrino, fromFloe);
  return fromTrino;
}

describe('Trino reads floe tables through the Nessie catalog', () => {
  it(
    "lists the tables and counts each as floe's accounting and floe sql do",
    async () => {
      const names = (await trinoSql('show tables from production')).map(([name]) => `production.${String(name)}`);
      expect(names.sort()).toEqual([...accounted.keys()].sort());
      const counts = [...accounted.keys()]
        .sort()
        .map((name) => `(select count(*) from ${name}) as ${name.split('.')[1]}`)
        .join(', ');
      const [row] = await expectAgree(`select ${counts}`);
      expect(row).toEqual([...accounted.keys()].sort().map((name) => BigInt(accounted.get(name)!)));
      for (const table of TABLES) {
        expect(accounted.get(`production.${table}`)).toBeGreaterThan(0);
        expect(accounted.get(`production.${table}_untrusted`)).toBeGreaterThan(0);
      }
    },
    QUERY_TEST_MS,
  );

  it(
    'aggregates by day: counts, 64-bit offset sums, first and last timestamps with microseconds',
    async () => {
      for (const table of TABLES) {
        const rows = await expectAgree(
          `select date_trunc('day', "timestamp") as day, _kafka_partition as kafka_partition, count(*) as n,
                sum(_offset) as offsets, max(_offset) as last_offset, min("timestamp") as first, max("timestamp") as last,
                min(_ingested_at) as first_ingested
           from production.${table} group by 1, 2 order by 1, 2`,
        );
        expect(rows.reduce((sum, row) => sum + (row[2] as bigint), 0n)).toBe(
          BigInt(accounted.get(`production.${table}`)!),
        );
      }
    },
    QUERY_TEST_MS,
  );

  it(
    'aggregates by lot: counts, distinct cars, sums and averages of doubles',
    async () => {
      await expectAgree(
        `select lot_id, camera_id, direction, count(*) as n, count(distinct car_id) as cars, count(distinct slot) as slots,
              avg(confidence) as confidence, min(latitude) as south, max(longitude) as east
         from production.parking_entry group by 1, 2, 3 order by 1, 2, 3`,
      );
      await expectAgree(
        `select lot_id, camera_id, direction, count(*) as n, count(image) as images, avg(confidence) as confidence,
              count(image.uri) as image_uris, sum(image.size_bytes) as image_bytes, count(image.inline) as inlined
         from production.parking_exit group by 1, 2, 3 order by 1, 2, 3`,
      );
      const sensors = await expectAgree(
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
      for (const table of TABLES) {
        const trusted = await expectAgree(
          `select _status, count(*) as n from production.${table} group by 1 order by 1`,
        );
        expect(trusted.map(([status]) => status)).toEqual(['ok']);
        const untrusted = await expectAgree(
          `select _status, count(*) as n, count(_raw) as raw, sum(_offset) as offsets, min(_ingested_at) as first
           from production.${table}_untrusted group by 1 order by 1`,
        );
        expect(untrusted.reduce((sum, row) => sum + (row[1] as bigint), 0n)).toBe(
          BigInt(accounted.get(`production.${table}_untrusted`)!),
        );
      }
      // Arrays read alike: the first reason of each bad record (1-based in both dialects).
      await expectAgree(
        `select _reasons[1] as reason, count(*) as n from production.parking_entry_untrusted
        where _reasons is not null group by 1 order by 1`,
      );
    },
    QUERY_TEST_MS,
  );

  it(
    'lists the snapshots floe committed and time travels with FOR VERSION AS OF as floe sql --snapshot does',
    async () => {
      const table = (await loadTable(catalog, 'main', 'production.parking_entry'))!;
      const snapshots = [...table.metadata.snapshots].sort((a, b) =>
        a.timestampMs !== b.timestampMs ? a.timestampMs - b.timestampMs : a.snapshotId < b.snapshotId ? -1 : 1,
      );
      expect(snapshots.length).toBeGreaterThan(2);
      const listed = await trinoSql(
        'select snapshot_id, parent_id, operation from "parking_entry$snapshots" order by committed_at, snapshot_id',
      );
      expect(listed).toEqual(snapshots.map((s) => [s.snapshotId, s.parentSnapshotId ?? null, s.summary.operation]));

      for (const snapshot of [snapshots[0], snapshots[Math.floor(snapshots.length / 2)]]) {
        const query = (clause: string) =>
          `select count(*) as n, count(distinct event_id) as events, sum(_offset) as offsets, max(_ingested_at) as last
           from production.parking_entry ${clause}`;
        const fromTrino = await trinoSql(query(`for version as of ${snapshot.snapshotId}`));
        const fromFloe = await floeSql(query(''), '--snapshot', `production.parking_entry=${snapshot.snapshotId}`);
        expectSameRows(fromTrino, fromFloe);
        expect(fromTrino[0][0]).toBe(BigInt(snapshot.summary['total-records']));
        expect(fromTrino[0][0]).toBeLessThan(BigInt(accounted.get('production.parking_entry')!));
      }
    },
    QUERY_TEST_MS,
  );
});
