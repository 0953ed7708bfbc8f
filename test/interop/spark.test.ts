/**
 * Apache Spark (PySpark, with Iceberg's Spark runtime: test/interop/spark-setup.ts) reads and writes floe's tables
 * through Iceberg's own NessieCatalog, against the Nessie API the chain used (the embedded Nessie, restarted on the
 * same data directory after a real `floe start` run). Spark must read what `floe scan` reads — counts, ids, types,
 * time travel, a WAP branch — and prune partitions; its commits (a CTAS, a manifest rewrite, a snapshot expiry that
 * cuts floe's record of published Kafka offsets) must leave the next `floe start` run exactly-once.
 *
 * floe's Kafka partition column is `_kafka_partition`: Iceberg's Spark integration reserves `_partition` (the name
 * earlier floe versions used) for its metadata column, which made `SELECT *` and `rewrite_data_files` fail. Now Spark
 * selects every column and rewrites floe's data files, and floe goes on ingesting exactly once.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { loadTable, type Catalog } from '../../shared/catalog/table-catalog.ts';
import type { TaggedRecord } from '../../shared/events/contract.ts';
import { ancestors, currentSchema } from '../../shared/iceberg/metadata.ts';
import { planScan, scanRows } from '../../shared/iceberg/scan.ts';
import { loadPipelineConfig } from '../../shared/runtime/pipeline-config.ts';
import { createFileIO } from '../../shared/storage/index.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { REPAIRED_SUMMARY_KEY } from '../../shared/wap/offsets-repair.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { runFloe } from '../helpers/cli.ts';
import { record } from '../helpers/records.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { tempDir } from '../helpers/tmp.ts';
import { floeStart, type Account } from './floe-run.ts';
import { runSpark, type StepResult } from './spark-run.ts';

const FLOE = fileURLToPath(new URL('../../cli/floe.js', import.meta.url));
const TOPICS = ['parking-entry', 'parking-exit', 'parking-sensors'];
const TABLES = TOPICS.flatMap((t) => {
  const name = `production.${t.replace('-', '_')}`;
  return [name, `${name}_untrusted`];
});
const ENTRY = 'production.parking_entry';

let tmp: { dir: string; cleanup: () => Promise<void> };
let nessie: { uri: string; child: ChildProcessWithoutNullStreams } | undefined;
let firstRun: Account[];

/** `floe nessie` on the stack's catalog directory, as a separate process; resolves with its API URI. */
async function startNessie(): Promise<void> {
  const child = spawn(process.execPath, [FLOE, 'nessie', '--port', '0', '--data', path.join(tmp.dir, 'nessie')], {
    env: { ...process.env, FLOE_LOG_LEVEL: 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const uri = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      const line = /^(http:\/\/\S+\/api)\s*$/m.exec(stdout);
      if (line) resolve(line[1]);
    });
    child.once('exit', (code) => reject(new Error(`floe nessie exited with ${code}:\n${stderr}`)));
  });
  nessie = { uri, child };
}

async function stopNessie(): Promise<void> {
  if (!nessie) return;
  const { child } = nessie;
  nessie = undefined;
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

function catalog(): Catalog {
  return {
    client: createNessieClient({ uri: nessie!.uri }),
    io: createFileIO({ localFiles: true }),
    warehouse: `file://${tmp.dir}/warehouse/`,
  };
}

function floeEnv(): Record<string, string> {
  return { NESSIE_URI: nessie!.uri, FLOE_HOME: tmp.dir, FLOE_LOG_LEVEL: 'warn' };
}

/** A real `floe start` run on the temporary home (its own Nessie): every record on main exactly once. */
function floeRun(seed: number): Promise<Account[]> {
  return floeStart({ home: tmp.dir, duration: '6s', seed, env: { FLOE_LOG_LEVEL: 'warn' }, timeoutMs: 300_000 });
}

/** The `_source_id`s (the record ids) of a table, read with floe's own scan (what `floe scan` runs). */
async function floeIds(table: string, options: { ref?: string; snapshotId?: bigint } = {}): Promise<string[]> {
  const loaded = await loadTable(catalog(), options.ref ?? 'main', table);
  if (!loaded) throw new Error(`${table} is not on ${options.ref ?? 'main'}`);
  const rows = await scanRows(loaded.metadata, {
    io: catalog().io,
    columns: ['_source_id'],
    ...(options.snapshotId !== undefined ? { snapshotId: options.snapshotId } : {}),
  });
  return rows.map((r) => String(r._source_id)).sort();
}

/** Runs spark_job.py: one Spark session, the steps in order. */
async function spark(steps: string[], catalogs: Record<string, string> = {}): Promise<StepResult[]> {
  return runSpark(
    { catalog: { uri: `${nessie!.uri}/v2`, ref: 'main', warehouse: `file://${tmp.dir}/warehouse` }, catalogs, steps },
    tmp.dir,
  );
}

function rowsOf(result: StepResult): Record<string, unknown>[] {
  expect(result.error).toBeUndefined();
  return result.rows!;
}

const sorted = (rows: Record<string, unknown>[], column: string) => rows.map((r) => String(r[column])).sort();
/** A row's Kafka coordinate, `partition:offset`. */
const coordinate = (r: Record<string, unknown>) => `${String(r[Column.partition])}:${String(r[Column.offset])}`;

beforeAll(async () => {
  tmp = await tempDir('floe-spark');
  firstRun = await floeRun(11);
  await startNessie();
}, 600_000);
afterAll(async () => {
  await stopNessie();
  await tmp?.cleanup();
});

/** A row for every column of floe's table, in schema order (Spark has no defaults for Iceberg columns). */
function insertSql(columns: string[]): string {
  const values: Record<string, string> = {
    _ingested_at: 'current_timestamp()',
    _source: "'spark'",
    _source_id: "'spark:1'",
    _topic: "'spark'",
    _kafka_partition: '0',
    _offset: '0',
    _batch_id: "'spark'",
    _status: "'ok'",
    _headers: 'map()',
    event_id: "'spark-1'",
    timestamp: "TIMESTAMP '2026-01-01 00:00:00Z'",
    car_id: "'S-1'",
    slot: "'A-001'",
    latitude: '52.5205',
    longitude: '13.405',
  };
  return `INSERT INTO nessie.${ENTRY} VALUES (${columns.map((c) => values[c] ?? 'NULL').join(', ')})`;
}

/** Spark's commits after the INSERT, run in the same session after the reads (one JVM start less). */
const WRITES = [
  `CALL nessie.system.rewrite_data_files(table => '${ENTRY}', options => map('rewrite-all', 'true'))`,
  `CREATE TABLE nessie.production.spark_copy USING iceberg AS SELECT _source_id, event_id, timestamp FROM nessie.${ENTRY}`,
  `CALL nessie.system.rewrite_manifests(table => '${ENTRY}')`,
  `CALL nessie.system.expire_snapshots(table => '${ENTRY}', older_than => TIMESTAMP '2100-01-01 00:00:00Z', retain_last => 1)`,
  `SELECT snapshot_id, operation, summary FROM nessie.${ENTRY}.snapshots`,
];
let writes: StepResult[];
let before: Map<string, number>;
/** The data files of floe's table before Spark rewrote them. */
let filesBefore: Set<string>;
/** `_source_id` → Kafka coordinate of floe's table before Spark's commits, read with floe's scan. */
let coordinates: Map<string, string>;

describe('Spark reads floe tables through the Nessie catalog', () => {
  let results: StepResult[];
  let expected: Map<string, string[]>;
  let older: { id: bigint; ids: string[] };
  let wap: { branch: string; ids: string[] };

  beforeAll(async () => {
    expected = new Map();
    for (const table of TABLES) expected.set(table, await floeIds(table));
    // time travel: a snapshot in the middle of main's ancestry
    const entry = (await loadTable(catalog(), 'main', ENTRY))!;
    const history = ancestors(entry.metadata, entry.metadata.currentSnapshotId);
    const id = history[Math.floor(history.length / 2)].snapshotId;
    older = { id, ids: await floeIds(ENTRY, { snapshotId: id }) };
    const scanned = await scanRows(entry.metadata, {
      io: catalog().io,
      columns: ['_source_id', Column.partition, Column.offset],
    });
    coordinates = new Map(scanned.map((r) => [String(r._source_id), coordinate(r)]));
    filesBefore = new Set((await planScan(entry.metadata, { io: catalog().io })).tasks.map((t) => t.file.filePath));
    // a WAP branch: a batch written and audited but not published
    const ctx: WapContext = {
      catalog: catalog(),
      config: loadPipelineConfig('knative/config/pipeline.yaml'),
      log: silentLogger,
    };
    const written = await writeBatch(
      ctx,
      'parking-entry',
      [0, 1, 2].map((i) => wapRecord(9_000_000 + i)),
    );
    await auditBatch(ctx, written);
    wap = { branch: written.branch, ids: await floeIds(ENTRY, { ref: written.branch }) };

    const steps = [
      ...TABLES.map((t) => `SELECT _source_id FROM nessie.${t}`),
      `DESCRIBE TABLE nessie.${ENTRY}`,
      `SELECT _source_id, event_id, timestamp, _ingested_at, image, lot_id FROM nessie.${ENTRY}`,
      `SELECT _source_id FROM nessie.${ENTRY} VERSION AS OF ${older.id}`,
      `EXPLAIN SELECT event_id FROM nessie.${ENTRY} WHERE timestamp >= TIMESTAMP '2000-01-02 00:00:00Z'`,
      `SELECT _source_id FROM wap.${ENTRY}`,
      `SELECT _source_id FROM nessie.production.\`parking_entry@${wap.branch}\``,
      `SELECT * FROM nessie.${ENTRY}`,
    ];
    const columns = currentSchema(entry.metadata).fields.map((f) => f.name);
    const all = await spark([...steps, insertSql(columns), ...WRITES], { wap: wap.branch });
    results = all.slice(0, steps.length);
    writes = all.slice(steps.length);
    before = new Map([...expected].map(([table, ids]) => [table, ids.length]));
    await catalog().client.deleteReference(
      wap.branch,
      'BRANCH',
      (await catalog().client.getReference(wap.branch)).hash,
    );
  }, 600_000);

  it('reads every production table with the rows floe scan reads', () => {
    TABLES.forEach((table, i) => {
      const ids = sorted(rowsOf(results[i]), '_source_id');
      expect(ids.length, table).toBe(expected.get(table)!.length);
      expect(ids, table).toEqual(expected.get(table));
    });
    const entry = firstRun.find((a) => a.topic === 'parking-entry')!;
    expect(expected.get(ENTRY)!.length).toBe(entry.trusted);
    expect(expected.get(`${ENTRY}_untrusted`)!.length).toBe(entry.untrusted);
  });

  it('types as floe wrote them: timestamptz, the claim-check struct, columns added by schema evolution', async () => {
    const described = rowsOf(results[TABLES.length]);
    const types = new Map(
      described.filter((r) => r.col_name && !String(r.col_name).startsWith('#')).map((r) => [r.col_name, r.data_type]),
    );
    // Spark's TIMESTAMP is Iceberg's timestamptz (timestamp_ntz would be the zoneless one)
    expect(types.get('timestamp')).toBe('timestamp');
    expect(types.get('_ingested_at')).toBe('timestamp');
    expect(types.get('_offset')).toBe('bigint');
    expect(types.get('image')).toBe(
      'struct<uri:string,size_bytes:bigint,content_type:string,sha256:string,inline:binary>',
    );
    const schema = currentSchema((await loadTable(catalog(), 'main', ENTRY))!.metadata);
    expect([...types.keys()].slice(0, schema.fields.length)).toEqual(schema.fields.map((f) => f.name));
    // the simulator's fields beyond the configured ones were added as columns by floe's schema evolution
    expect(types.get('lot_id')).toBe('string');

    const rows = rowsOf(results[TABLES.length + 1]);
    const scanned = await runFloe(
      ['scan', ENTRY, '--json', '--columns', '_source_id,event_id,timestamp,_ingested_at,image,lot_id'],
      { env: floeEnv() },
    );
    const floeRows = scanned.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => parseJson<Record<string, unknown>>(l))
      // the row Spark inserts (later in the same session) is checked with the writes
      .filter((r) => r._source_id !== 'spark:1');
    const key = (r: Record<string, unknown>) => String(r._source_id);
    const utc = (value: unknown) => {
      const [seconds, fraction = ''] = String(value)
        .replace(/(\+00:00|Z)$/, '')
        .split('.');
      return `${seconds}.${fraction.padEnd(6, '0')}Z`;
    };
    const comparable = (r: Record<string, unknown>) => {
      const image = r.image as Record<string, unknown> | null;
      return {
        id: key(r),
        event_id: r.event_id,
        timestamp: utc(r.timestamp),
        ingested: utc(r._ingested_at),
        lot_id: r.lot_id ?? null,
        image: image && { uri: image.uri, size: String(image.size_bytes), sha256: image.sha256 },
      };
    };
    const bySpark = rows.map(comparable).sort((a, b) => a.id.localeCompare(b.id));
    const byFloe = floeRows.map(comparable).sort((a, b) => a.id.localeCompare(b.id));
    expect(bySpark).toEqual(byFloe);
    expect(bySpark.some((r) => r.image !== null)).toBe(true);
    expect(bySpark.some((r) => r.lot_id !== null)).toBe(true);
  });

  it('time travels to an older snapshot as floe scan --snapshot does', () => {
    const ids = sorted(rowsOf(results[TABLES.length + 2]), '_source_id');
    expect(older.ids.length).toBeLessThan(expected.get(ENTRY)!.length);
    expect(ids).toEqual(older.ids);
  });

  it('pushes a filter on the partition source column into the Iceberg scan', () => {
    const plan = String(rowsOf(results[TABLES.length + 3])[0].plan);
    expect(plan).toMatch(/BatchScan nessie\.production\.parking_entry\[/);
    expect(plan).toMatch(/filters=[^\]]*timestamp >= \d+/);
  });

  it('reads a WAP branch of an audited, unpublished batch: by catalog ref and as table@branch', () => {
    expect(wap.ids.length).toBe(expected.get(ENTRY)!.length + 3);
    expect(sorted(rowsOf(results[TABLES.length + 4]), '_source_id')).toEqual(wap.ids);
    expect(sorted(rowsOf(results[TABLES.length + 5]), '_source_id')).toEqual(wap.ids);
  });

  it('selects every column, the Kafka partition column _kafka_partition included', async () => {
    const { columns, rows } = results[TABLES.length + 6];
    expect(results[TABLES.length + 6].error).toBeUndefined();
    const schema = currentSchema((await loadTable(catalog(), 'main', ENTRY))!.metadata);
    expect(columns).toEqual(schema.fields.map((f) => f.name));
    expect(columns).toContain(Column.partition);
    expect(new Map(rows!.map((r) => [String(r._source_id), coordinate(r)]))).toEqual(coordinates);
  });
});

function wapRecord(offset: number): TaggedRecord {
  return {
    ...record(offset, {
      event_id: `wap-${offset}`,
      timestamp: new Date().toISOString(),
      car_id: `W-${offset}`,
      slot: 'A-001',
      latitude: 52.5205,
      longitude: 13.405,
    }),
    source: '/spark-interop',
  };
}

describe('Spark commits to floe tables, then floe ingests exactly once', () => {
  const names = ['INSERT', 'rewrite_data_files', 'CTAS', 'rewrite_manifests', 'expire_snapshots', 'snapshots'];
  const results = () => writes;

  it("inserts a row floe reads; rewrites floe's data files, and floe reads the files Spark wrote", async () => {
    expect(results()[0].error).toBeUndefined();
    const loaded = (await loadTable(catalog(), 'main', ENTRY))!;
    const rows = await scanRows(loaded.metadata, {
      io: catalog().io,
      filter: { op: 'eq', ref: 'event_id', value: 'spark-1' },
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ _topic: 'spark', car_id: 'S-1', slot: 'A-001' });
    // 2026-01-01T00:00:00Z in microseconds, as floe's scan returns timestamptz
    expect(String(rows[0].timestamp)).toBe(String(Date.UTC(2026, 0, 1) * 1000));
    const rewrite = rowsOf(results()[1])[0];
    expect(Number(rewrite.rewritten_data_files_count), names[1]).toBeGreaterThan(0);
    expect(Number(rewrite.added_data_files_count), names[1]).toBeGreaterThan(0);
    expect(Number(rewrite.failed_data_files_count ?? 0), names[1]).toBe(0);
    // every live file is one Spark wrote: what floe reads now comes from Spark's files, resolved by field id
    const files = (await planScan(loaded.metadata, { io: catalog().io })).tasks.map((t) => t.file.filePath);
    expect(files.length).toBeGreaterThan(0);
    expect(files.filter((f) => filesBefore.has(f))).toEqual([]);
    const all = await scanRows(loaded.metadata, {
      io: catalog().io,
      columns: ['_source_id', Column.partition, Column.offset],
    });
    expect(all).toHaveLength(before.get(ENTRY)! + 1);
    const floeRows = all.filter((r) => r._source_id !== 'spark:1');
    expect(new Map(floeRows.map((r) => [String(r._source_id), coordinate(r)]))).toEqual(coordinates);
  });

  it('creates a table floe reads back (CTAS through the Nessie catalog)', async () => {
    expect(results()[2].error).toBeUndefined();
    expect(await floeIds('production.spark_copy')).toEqual(await floeIds(ENTRY));
  });

  it("rewrites manifests and expires every snapshot recording floe's offsets", () => {
    expect(Number(rowsOf(results()[3])[0].rewritten_manifests_count)).toBeGreaterThan(0);
    expect(results()[4].error).toBeUndefined();
    const snapshots = rowsOf(results()[5]);
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0].operation).toBe('replace');
    expect(Object.keys(snapshots[0].summary as object).some((k) => k.startsWith('floe.kafka.offsets.'))).toBe(false);
  });

  it('the next floe start run recovers the offsets and lands every record exactly once', async () => {
    await stopNessie();
    const secondRun = await floeRun(23);
    for (const account of secondRun) {
      expect(account.missing, account.topic).toBe(0);
      expect(account.duplicates, account.topic).toBe(0);
      expect(account.trusted + account.untrusted, account.topic).toBe(account.sent);
    }
    await startNessie();
    const after = await spark([
      ...TABLES.map((t) => `SELECT count(*) AS n, count(DISTINCT _source_id) AS ids FROM nessie.${t}`),
      `SELECT summary FROM nessie.${ENTRY}.snapshots`,
    ]);
    TOPICS.forEach((topic, i) => {
      const account = secondRun.find((a) => a.topic === topic)!;
      const [trusted, untrusted] = [after[2 * i], after[2 * i + 1]].map((r) => rowsOf(r)[0]);
      const inserted = topic === 'parking-entry' ? 1 : 0;
      expect(Number(trusted.n), topic).toBe(before.get(TABLES[2 * i])! + account.trusted + inserted);
      expect(Number(untrusted.n), topic).toBe(before.get(TABLES[2 * i + 1])! + account.untrusted);
      expect(Number(trusted.ids), topic).toBe(Number(trusted.n));
      expect(Number(untrusted.ids), topic).toBe(Number(untrusted.n));
    });
    const summaries = rowsOf(after[TABLES.length]).map((r) => r.summary as Record<string, string>);
    expect(summaries.filter((s) => s[REPAIRED_SUMMARY_KEY] === 'parking-entry')).toHaveLength(1);
    const entry = secondRun.find((a) => a.topic === 'parking-entry')!;
    expect(await floeIds(ENTRY)).toHaveLength(before.get(ENTRY)! + entry.trusted + 1);
  }, 600_000);
});
