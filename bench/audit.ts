/**
 * Audit benchmark (issue 16): the per-batch cost of the auditor's `unique` check against `main` as the table grows.
 * A 1,000-record parking-entry batch (`unique: [event_id]`, random ids) is audited against `production.parking_entry`
 * on `main` holding 0.1 M, 1 M and 10 M rows, built once per run in a temp dir: rows of the production schema laid out
 * as compaction leaves them, one file of 100k rows per day(timestamp) partition, ten files per append. The measured
 * batches hold new ids (the common case); after them, one batch per size repeats an event id of the newest file and
 * one of the oldest, and the run fails unless the audit finds both.
 * The goal: the steady per-batch audit at 10 M rows costs at most 1.5× that at 0.1 M.
 *
 *   npm run bench -- audit        (AUDIT_BENCH_SIZES=100000,1000000 AUDIT_BENCH_BATCHES=4 for a quicker run)
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createNessieClient } from '../shared/catalog/nessie/index.ts';
import { commitOnBranch, loadTables, type Catalog } from '../shared/catalog/table-catalog.ts';
import type { BatchWritten, TaggedRecord } from '../shared/events/contract.ts';
import { currentSchema } from '../shared/iceberg/metadata.ts';
import { scanRows } from '../shared/iceberg/scan.ts';
import { appendFiles } from '../shared/iceberg/snapshot.ts';
import type { DataFile } from '../shared/iceberg/types.ts';
import { writeRows } from '../shared/iceberg/writer.ts';
import { loadPipelineConfig } from '../shared/runtime/pipeline-config.ts';
import { createFileIO } from '../shared/storage/index.ts';
import { bareObject } from '../shared/util/bare-object.ts';
import { CARRIED_SUMMARY_PREFIXES } from '../shared/wap/kafka-offsets.ts';
import type { WapContext } from '../shared/wap/wap-context.ts';
import { auditBatch } from '../functions/auditor/audit-step.ts';
import { publishBatch } from '../functions/publisher/publish-batch.ts';
import { writeBatch } from '../functions/writer/write-batch.ts';
import { startNessieServer } from '../local/nessie/index.ts';
import { silentLogger } from './_measure.ts';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(`Usage: npm run bench -- audit

Per-batch audit time of a 1,000-record batch with a unique rule against main holding each size of
AUDIT_BENCH_SIZES (default 100000,1000000,10000000), AUDIT_BENCH_BATCHES batches per size (default 6; the first
after each growth is reported apart as the cold one). Prints the table, the 10 M / 0.1 M ratio and whether the goal
(at most 1.5) is met.`);
  process.exit(0);
}

const SIZES = (process.env.AUDIT_BENCH_SIZES ?? '100000,1000000,10000000').split(',').map(Number);
const BATCHES = Number(process.env.AUDIT_BENCH_BATCHES ?? 6);
const BATCH_ROWS = 1000;
const FILE_ROWS = 100_000;
const FILES_PER_APPEND = 10;
const GOAL = 1.5;
const NOW = new Date('2026-11-22T10:00:00Z');
const TOPIC = 'parking-entry';
const PRODUCTION = 'production.parking_entry';
const DAY_MICROS = 86_400_000_000n;

const eventId = () => {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

function record(partition: number, offset: number, id: string): TaggedRecord {
  return {
    topic: TOPIC,
    partition,
    offset: String(offset),
    key: `car-${offset % 7}`,
    kafkaTime: NOW.toISOString(),
    ingestedAt: NOW.toISOString(),
    source: '/apis/v1/namespaces/floe/kafkasources/parking#parking-entry',
    sourceId: `partition:${partition}/offset:${offset}`,
    table: 'parking_entry',
    headers: {},
    status: 'ok',
    payload: {
      event_id: id,
      timestamp: new Date(NOW.getTime() - 60_000).toISOString(),
      car_id: `B-${offset % 5000}`,
      slot: `A-${String(offset % 50).padStart(3, '0')}`,
      latitude: 52.5205,
      longitude: 13.405,
    },
  };
}

const dir = await mkdtemp(path.join(tmpdir(), 'floe-bench-audit-'));
const nessie = await startNessieServer({ port: 0, dataDir: `${dir}/nessie` });
try {
  const catalog: Catalog = {
    client: createNessieClient({ uri: nessie.uri }),
    io: createFileIO({ localFiles: true }),
    warehouse: `file://${dir}/warehouse/`,
  };
  const ctx: WapContext = {
    catalog,
    config: loadPipelineConfig('knative/config/pipeline.yaml'),
    log: silentLogger,
    now: () => NOW,
  };
  // Kafka partition 0 holds the bulk rows' coordinates, partition 1 the first batch, 2.. the measured batches.
  const first = await writeBatch(
    ctx,
    TOPIC,
    Array.from({ length: 10 }, (_, i) => record(1, i, eventId())),
  );
  const seeded = await publishBatch(ctx, await auditBatch(ctx, first));
  if (seeded.kind !== 'published') throw new Error(`seed batch not published: ${seeded.kind}`);
  const loaded = (await loadTables(catalog, 'main', [PRODUCTION])).tables.get(PRODUCTION)!.metadata;
  const template = (await scanRows(loaded, { io: catalog.io, limit: 1 }))[0];

  let rowsOnMain = 10;
  let bulkFiles = 0;
  let nextBulkOffset = 0n;
  const knownIds: { oldest?: string; newest?: string } = {};

  /** One compacted day: FILE_ROWS rows of the production schema with random event ids. */
  function bulkRows(day: number): Record<string, unknown>[] {
    const dayStart = BigInt(NOW.getTime()) * 1000n - BigInt(day + 2) * DAY_MICROS;
    const rows = new Array<Record<string, unknown>>(FILE_ROWS);
    for (let i = 0; i < FILE_ROWS; i++) {
      const row = Object.assign(bareObject(), template);
      row.event_id = eventId();
      row.timestamp = dayStart + BigInt(i) * 800_000n;
      row.car_id = `B-${i % 5000}`;
      row._partition = 0;
      row._offset = nextBulkOffset++;
      row._source_id = `partition:0/offset:${row._offset}`;
      rows[i] = row;
    }
    return rows;
  }

  async function growTo(target: number): Promise<void> {
    const started = performance.now();
    while (rowsOnMain + FILE_ROWS <= target + 10) {
      const metadata = (await loadTables(catalog, 'main', [PRODUCTION])).tables.get(PRODUCTION)!.metadata;
      const files: DataFile[] = [];
      for (let f = 0; f < FILES_PER_APPEND && rowsOnMain + FILE_ROWS <= target + 10; f++) {
        const rows = bulkRows(bulkFiles);
        if (bulkFiles === 0) knownIds.oldest = rows[FILE_ROWS >> 1].event_id as string;
        knownIds.newest = rows[FILE_ROWS >> 1].event_id as string;
        files.push(...(await writeRows(catalog.io, metadata, rows)));
        bulkFiles++;
        rowsOnMain += FILE_ROWS;
        process.stdout.write(
          `\r  building main: ${rowsOnMain.toLocaleString('en-US')} rows in ${bulkFiles} files (${((performance.now() - started) / 1000).toFixed(0)} s)`,
        );
      }
      await commitOnBranch(
        catalog,
        'main',
        new Map([[PRODUCTION, appendFiles({ io: catalog.io, files, carrySummaryPrefixes: CARRIED_SUMMARY_PREFIXES })]]),
        { message: `bench: ${files.length} compacted files` },
      );
    }
    process.stdout.write('\n');
  }

  let batchPartition = 2;
  async function measureBatch(withDuplicates: boolean): Promise<{ wall: number; cpu: number }> {
    const records = Array.from({ length: BATCH_ROWS }, (_, i) => record(batchPartition, i, eventId()));
    if (withDuplicates) {
      records[100] = record(batchPartition, 100, knownIds.oldest!);
      records[900] = record(batchPartition, 900, knownIds.newest!);
    }
    batchPartition++;
    const written: BatchWritten = await writeBatch(ctx, TOPIC, records);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const audited = await auditBatch(ctx, written);
    const wall = (performance.now() - started) / 1000;
    const cpuUsed = process.cpuUsage(cpuBefore);
    const expected = withDuplicates ? 2 : 0;
    if (audited.untrusted !== expected || (audited.reasons.duplicate ?? 0) !== expected)
      throw new Error(
        `expected ${expected} duplicates of keys on main, the audit says ${JSON.stringify(audited.reasons)}`,
      );
    return { wall, cpu: (cpuUsed.user + cpuUsed.system) / 1e6 };
  }

  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  type Run = { wall: number; cpu: number };
  const results: { size: number; files: number; cold: Run; wall: number; cpu: number; duplicates: Run }[] = [];
  for (const size of SIZES) {
    await growTo(size);
    const runs: Run[] = [];
    for (let b = 0; b < BATCHES; b++) runs.push(await measureBatch(false));
    const duplicates = await measureBatch(true);
    const [cold, ...warm] = runs;
    const steady = warm.length ? warm : runs;
    results.push({
      size: rowsOnMain,
      files: bulkFiles,
      cold,
      wall: median(steady.map((r) => r.wall)),
      cpu: median(steady.map((r) => r.cpu)),
      duplicates,
    });
    console.log(
      `  ${rowsOnMain.toLocaleString('en-US')} rows: per-batch audit ${median(steady.map((r) => r.wall)).toFixed(3)} s wall, ${median(steady.map((r) => r.cpu)).toFixed(3)} s CPU (runs: ${runs.map((r) => r.wall.toFixed(3)).join(', ')} s)`,
    );
  }

  const properties = (await loadTables(catalog, 'main', [PRODUCTION])).tables.get(PRODUCTION)!.metadata.properties;
  const blooms = Object.entries(properties).filter(([k]) => k.startsWith('write.parquet.bloom-filter'));
  console.log(
    `\n1,000-record batch, unique [event_id] (random ids), main = production.parking_entry in ${FILE_ROWS.toLocaleString('en-US')}-row files (one per day), ` +
      `schema of ${currentSchema(loaded).fields.length} columns; ${blooms.length ? blooms.map(([k, v]) => `${k}=${v}`).join(', ') : 'no bloom filter properties'}\n`,
  );
  console.log(
    '| rows on main | data files | first batch (cold) wall / CPU | per-batch audit wall (median) | CPU (median) | batch with 2 keys on main, wall / CPU |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const r of results)
    console.log(
      `| ${r.size.toLocaleString('en-US')} | ${r.files} | ${r.cold.wall.toFixed(3)} s / ${r.cold.cpu.toFixed(3)} s | ${r.wall.toFixed(3)} s | ${r.cpu.toFixed(3)} s | ${r.duplicates.wall.toFixed(3)} s / ${r.duplicates.cpu.toFixed(3)} s |`,
    );
  const smallest = results[0];
  const largest = results.at(-1)!;
  const ratio = largest.wall / smallest.wall;
  const cpuRatio = largest.cpu / smallest.cpu;
  console.log(
    `\nratio ${largest.size.toLocaleString('en-US')} / ${smallest.size.toLocaleString('en-US')} rows: ${ratio.toFixed(2)}× wall, ${cpuRatio.toFixed(2)}× CPU ` +
      `— goal ≤ ${GOAL}×: ${ratio <= GOAL && cpuRatio <= GOAL ? 'met' : 'NOT met'}; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
  );
} finally {
  await nessie.stop();
  await rm(dir, { recursive: true, force: true });
}
